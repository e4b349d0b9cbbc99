"""A claim budget's paired cell (the PAIRED_RECIPE) with some of its settings changed, on a claim run's own frames and
DAE, scored by the claim run's own inspect cell (train pairs only choose; the target row is reported, never used).

Usage: python docs/results/paired_levers/levers.py --run RUN --seed 0 --out OUT [--variant ada_gvae_dae]
       [--model JSON] [--steps N] [--data FRAMES] [--threads N] [--augment none|hue|mix|mix_apart|mix_room|mix_room_apart|mix_room_apart_half]
       [--reconstruct-drawn | --canonical DOMAIN] [--no-report] [--precision auto|bf16|fp32]
RUN is a claim run folder holding `frames_domains-train` and, for ada_gvae_dae, `vision/dae`; the env is the frames'.
"""
import argparse
import json

import torch

from darla.reproduce import BUDGETS, PAIRED_RECIPE, Job

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--run", required=True)
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--variant", default="ada_gvae_dae", choices=["ada_gvae_dae", "ada_gvae"])
parser.add_argument("--model", type=json.loads, default={}, help="config fields that differ from the recipe's")
parser.add_argument("--steps", type=int, default=BUDGETS["claim"].vision_steps)
parser.add_argument("--data", help="paired frames other than RUN/frames_domains-train")
parser.add_argument("--threads", type=int, default=2)
parser.add_argument("--augment", default=PAIRED_RECIPE["augment"], help="the frames' augmentation (the recipe's by default)")
parser.add_argument("--reconstruct-drawn", action="store_true", help="reconstruct the frames as drawn, not as augmented")
parser.add_argument("--canonical", default="", help="reconstruct every frame as this domain of the frames draws its state")
parser.add_argument("--no-report", action="store_true",
                    help="train only: no inspect report (whose pairs include the target); score with benchmarks/tune_invariance.py")
parser.add_argument("--precision", default="auto", help="what the student trains in (darla pretrain --precision)")
parser.add_argument("--out", required=True)
args = parser.parse_args()
torch.set_num_threads(args.threads)
data = args.data or f"{args.run}/frames_domains-train"
env = json.loads(open(f"{data}/manifest.json").read())["config"]["env"]
through_dae = args.variant == "ada_gvae_dae"
model = {k: v for k, v in PAIRED_RECIPE.items() if k not in ("lr", "augment", "collect")}
student = f"{args.out}/{args.variant}"
# the stages a claim run's cells run, with the claim budget's inspect settings
Job.plan("vision", {"variant": args.variant, "model": {**model, **({"dae_layer": "output"} if through_dae else {}), **args.model},
                    "data": data, "out": student, "steps": args.steps, "lr": PAIRED_RECIPE["lr"], "augment": args.augment,
                    **({"reconstruct_drawn": True} if args.reconstruct_drawn else {}),
                    **({"canonical": args.canonical} if args.canonical else {}),
                    **({"precision": args.precision} if args.precision != "auto" else {}),
                    "seed": args.seed, "device": "cpu", "teacher": f"{args.run}/vision/dae" if through_dae else None}).run()
if not args.no_report:
    Job.plan("inspect", {"checkpoint": student, "out": f"{args.out}/inspect",
                         "config": {"env": env, "seed": 0, "device": "cpu", "general": True, **BUDGETS["claim"].inspect}}).run()
