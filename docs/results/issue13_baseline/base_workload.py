"""Run a ``darla`` command with the ``quick`` budget set back to what it held at b97f1c5, the commit issue 13 was
filed against: the same work as that commit's demo and quick reproduction, done by today's code.

What the budget held then (``git show b97f1c5:darla/reproduce.py``): 10,000 frames of the train group started
afresh, every vision model 1,000 steps, beta_vae_dae at lr 1e-3 with J at the DAE's bottleneck and no colour mix,
ada_gvae and cycle_vae 3,000 steps at lr 5e-4, reports with one draw of invariance states and no action agreement
(neither the draws nor the agreement existed then). The reports' pool stays today's 2,000 states: today's invariance
score leaves out states that look alike, and 1,000 held 499 others, fewer than the 500 it draws. Agents keep today's
hyperparameter files (chosen on source return).

Usage: python docs/results/issue13_baseline/base_workload.py demo --out runs/demo_head_base
       python docs/results/issue13_baseline/base_workload.py reproduce --budget quick --workers 2 --out ...
"""

from __future__ import annotations

import sys

from darla import reproduce
from darla.cli import main

BASE_QUICK = reproduce.Budget(
    frames=10_000, vision_steps=1000, agent_steps=60_000, episodes=30, seeds=3,
    vision={"beta_vae_dae": {"lr": 1e-3, "dae_layer": "bottleneck"},
            "ada_gvae": {"lr": 5e-4, "steps": 3000},
            "cycle_vae": {"lr": 5e-4, "steps": 3000, "cycle_weight": 1.0}},
    collect=reproduce.COVERING,
    inspect={**reproduce.QUICK_INSPECT, "invariance_draws": 1},
    agreement_steps=0)

if __name__ == "__main__":
    reproduce.BUDGETS["quick"] = BASE_QUICK
    sys.exit(main(sys.argv[1:]))
