"""Why the pixel Ada-GVAE's reconstructions are grey: how much colour its reconstructions hold, of frames as they are and
of frames colour-mixed as in training (``augment="mix"``), against the inputs'.

Colour spread: the standard deviation over R, G, B of each pixel, averaged. Under the mix, each output channel is a
random convex mix of the input's channels with weights of mean 1/3, so a decoder that is not told the mix minimises
its squared error by drawing every channel as the mean of the three: grey, with the input's brightness.

Usage: python docs/results/paired_levers/colour_spread.py --data FRAMES CKPT ...   (prints one JSON line per checkpoint)
"""
import argparse
import json

import numpy as np
import torch

from agents.augment import random_colour_mix
from darla.checkpoint import load_vision
from darla.frames import FrameDataset
from darla.models.base import frames_to_tensor

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("checkpoints", nargs="+")
parser.add_argument("--data", required=True)
parser.add_argument("--frames", type=int, default=256)
args = parser.parse_args()
torch.set_num_threads(1)
frames = FrameDataset(args.data)
idx = np.sort(np.random.default_rng(0).choice(len(frames), args.frames, replace=False))
clean = frames_to_tensor(frames.get(idx), "cpu").float().contiguous()
torch.manual_seed(0)
(mixed,) = random_colour_mix(clean)
for path in args.checkpoints:
    model = load_vision(path, "cpu").eval()
    row = {"checkpoint": path}
    for name, x in (("as_they_are", clean), ("mixed", mixed)):
        with torch.no_grad():
            recon = model.decode(model.encode(x))
        row[name] = {"input_colour_spread": round(x.std(dim=1).mean().item(), 4),
                     "reconstruction_colour_spread": round(recon.std(dim=1).mean().item(), 4),
                     # how far the reconstruction lies from the input's grey (its per-pixel channel mean)
                     "error_to_input_grey": round((recon - x.mean(dim=1, keepdim=True)).abs().mean().item(), 4),
                     "error_to_input": round((recon - x).abs().mean().item(), 4)}
    print(json.dumps(row))
