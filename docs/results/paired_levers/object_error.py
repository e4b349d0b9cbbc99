"""Reconstruction error of each vision checkpoint on the pixels where objects are drawn and on the rest, over frames
that show an object (frames collected with --masks); prints one JSON line per checkpoint.

Usage: python docs/results/paired_levers/object_error.py --data FRAMES CKPT [CKPT ...]
"""
import argparse
import json

import numpy as np
import torch

from darla.checkpoint import load_vision
from darla.frames import FrameDataset
from darla.models import frames_to_tensor, masks_to_tensor

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--data", required=True)
parser.add_argument("--frames", type=int, default=1000)
parser.add_argument("checkpoints", nargs="+")
args = parser.parse_args()
data = FrameDataset(args.data, masks=True)
masks = data.get_masks(np.arange(len(data)))
shown = np.flatnonzero(masks.any(axis=(1, 2)))
index = np.random.default_rng(0).choice(shown, size=min(args.frames, len(shown)), replace=False)
x, mask = frames_to_tensor(data.get(index)), masks_to_tensor(data.get_masks(index))
for checkpoint in args.checkpoints:
    model = load_vision(checkpoint, "cpu")
    with torch.no_grad():
        error = (model.decode(model.encode(x)) - x).pow(2).mean(dim=1, keepdim=True)
    print(json.dumps({"checkpoint": checkpoint, "frames": len(index), "object_pixels": float((error * mask).sum() / mask.sum()),
                      "other_pixels": float((error * (1 - mask)).sum() / (1 - mask).sum())}))
