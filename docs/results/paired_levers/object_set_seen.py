"""Which object set a vision checkpoint's reconstruction draws: the same states, with an object in view, rendered in
each domain of the 2x2 (object set A or B, default or alternate room); a reconstruction counts as drawing the other set
when, over the pixels where either set's objects are drawn, it lies nearer that state's render with the other set
(the same room, the same pose) than to its own input. With --recolour, each state's two renders in a room first have
that room recoloured by one random channel mix (the objects, and the pixels either set covers, kept as drawn): rooms of
colours no frame showed, around the objects each train domain holds. Prints one JSON line per checkpoint.

Usage: python docs/results/paired_levers/object_set_seen.py [--env darla/SeekAvoid-v0] [--states 300] [--recolour] CKPT [CKPT ...]
"""
import argparse
import json

import numpy as np
import torch

from agents.augment import random_room_mix
from darla.checkpoint import load_vision
from darla.metrics.ground_truth import EnvGroundTruth
from darla.models import frames_to_tensor

DOMAINS = ("A_default", "B_default", "B_alternate", "A_alternate")
#: each domain's twin with the other object set, in the same room
OTHER_SET = {"A_default": "B_default", "B_default": "A_default", "B_alternate": "A_alternate", "A_alternate": "B_alternate"}

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--env", default="darla/SeekAvoid-v0")
parser.add_argument("--states", type=int, default=300)
parser.add_argument("--recolour", action="store_true", help="recolour the rooms by a random channel mix first")
parser.add_argument("checkpoints", nargs="+")
args = parser.parse_args()
truth = EnvGroundTruth(args.env, DOMAINS)
env = truth.env
names = [d.name for d in truth.domains]
task = truth.pool[env.objects_in_view(truth.pool)][: args.states]
frames = {d: truth.render(task, np.full(len(task), names.index(d))) for d in DOMAINS}
domain_factors = {d: truth.domains[names.index(d)].factors() for d in DOMAINS}
# the pixels either set's objects cover, per state and room
masks = {d: env.object_masks(np.concatenate([task, np.tile(domain_factors[d], (len(task), 1))], axis=1), frames[d]) for d in DOMAINS}
inputs = {d: frames_to_tensor(frames[d]) for d in DOMAINS}
targets = {d: frames_to_tensor(frames[OTHER_SET[d]]) for d in DOMAINS}
unions = {d: torch.as_tensor(masks[d] | masks[OTHER_SET[d]])[:, None].float() for d in DOMAINS}
if args.recolour:
    torch.manual_seed(0)
    for d in DOMAINS:
        inputs[d], targets[d] = random_room_mix(inputs[d], targets[d], masks=(unions[d], unions[d]))
for checkpoint in args.checkpoints:
    model = load_vision(checkpoint, "cpu")
    report = {"checkpoint": checkpoint, "states": len(task), "recolour": args.recolour}
    for d in DOMAINS:
        with torch.no_grad():
            recon = model.decode(model.encode(inputs[d]))
        own = (((recon - inputs[d]) ** 2) * unions[d]).sum(dim=(1, 2, 3))
        other = (((recon - targets[d]) ** 2) * unions[d]).sum(dim=(1, 2, 3))
        report[d] = round(float((other < own).float().mean()), 3)
    print(json.dumps(report), flush=True)
