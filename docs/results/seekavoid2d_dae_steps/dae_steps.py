"""The claim budget's Ada-GVAE_DAE cell through a DAE trained --dae-steps steps (the claim's own cells' settings,
frames and inspection otherwise), for one vision seed of the student.

Usage: python docs/results/seekavoid2d_dae_steps/dae_steps.py --run RUN --dae-steps 6000 --seed 0 --out OUT [--dae DAE]
RUN is a claim run folder holding `frames` and `frames_domains-train`; --dae reuses a DAE already trained.
"""
import argparse

from darla.reproduce import Job

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--run", required=True)
parser.add_argument("--dae-steps", type=int, default=6000)
parser.add_argument("--dae", help="a DAE already trained (its steps are then not retrained)")
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--out", required=True)
args = parser.parse_args()
dae = args.dae or f"{args.out}/dae"
if not args.dae:
    Job.plan("vision", {"augment": "mix", "data": f"{args.run}/frames", "device": "cpu", "lr": None, "model": {}, "out": dae,
                        "seed": 0, "steps": args.dae_steps, "teacher": None, "variant": "dae"}).run()
Job.plan("vision", {"augment": "mix", "data": f"{args.run}/frames_domains-train", "device": "cpu", "lr": 0.0005,
                    "model": {"beta": 4.0, "consistency": 10.0, "contrast": 30.0, "dae_layer": "output", "memory": 512,
                              "temperature": 0.2},
                    "out": f"{args.out}/ada_gvae_dae", "seed": args.seed, "steps": 6000, "teacher": dae, "variant": "ada_gvae_dae"}).run()
Job.plan("inspect", {"checkpoint": f"{args.out}/ada_gvae_dae", "config": {
    "device": "cpu", "discriminator_epochs": 15, "discriminator_samples": 1000, "env": "darla/SeekAvoid2D-v0", "frames_per_domain": 128,
    "general": True, "metrics": {"n_estimators": 50, "num_eval": 250, "num_train": 500, "num_variance_estimate": 500}, "pool": 2000,
    "seed": 0}, "out": f"{args.out}/inspect"}).run()
