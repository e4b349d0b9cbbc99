"""A claim budget's paired cell (the PAIRED_RECIPE) with some of its settings changed, on a claim run's own frames and
DAE, scored by the claim run's own inspect cell (train pairs only choose; the target row is reported, never used).

Usage: python docs/results/paired_levers/levers.py --run RUN --seed 0 --out OUT [--variant ada_gvae_dae]
       [--model JSON] [--batch-size N] [--steps N] [--data FRAMES] [--threads N]
RUN is a claim run folder holding `frames_domains-train` and, for ada_gvae_dae, `vision/dae`; the env is the frames'.
"""
import argparse
import json

import torch

from darla.checkpoint import load_vision
from darla.models import make_config
from darla.reproduce import PAIRED_RECIPE, Job
from darla.train import TrainConfig, pretrain

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--run", required=True)
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--variant", default="ada_gvae_dae", choices=["ada_gvae_dae", "ada_gvae"])
parser.add_argument("--model", type=json.loads, default={}, help="config fields that differ from the recipe's")
parser.add_argument("--batch-size", type=int, default=64)
parser.add_argument("--steps", type=int, default=6000)
parser.add_argument("--data", help="paired frames other than RUN/frames_domains-train")
parser.add_argument("--threads", type=int, default=2)
parser.add_argument("--out", required=True)
args = parser.parse_args()
torch.set_num_threads(args.threads)
data = args.data or f"{args.run}/frames_domains-train"
env = json.loads(open(f"{data}/manifest.json").read())["config"]["env"]
recipe = {k: v for k, v in PAIRED_RECIPE.items() if k not in ("lr", "augment", "collect")}
through_dae = args.variant == "ada_gvae_dae"
student = f"{args.out}/{args.variant}"
pretrain(make_config(args.variant, **{**recipe, **({"dae_layer": "output"} if through_dae else {}), **args.model}),
         TrainConfig(steps=args.steps, lr=PAIRED_RECIPE["lr"], seed=args.seed, device="cpu", checkpoint_every=args.steps // 4,
                     augment=PAIRED_RECIPE["augment"], batch_size=args.batch_size),
         data, student, resume=True, teacher=load_vision(f"{args.run}/vision/dae", device="cpu") if through_dae else None)
Job.plan("inspect", {"checkpoint": student, "config": {
    "device": "cpu", "discriminator_epochs": 15, "discriminator_samples": 1000, "env": env, "frames_per_domain": 128,
    "general": True, "metrics": {"n_estimators": 50, "num_eval": 250, "num_train": 500, "num_variance_estimate": 500}, "pool": 2000,
    "seed": 0}, "out": f"{args.out}/inspect"}).run()
