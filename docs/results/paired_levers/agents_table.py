"""The source returns source_agent.py printed, one row per vision checkpoint, normalisation and action choice (the
most likely action, or sampled ones: rows from before --sample existed took the most likely), as a markdown table.

Usage: python docs/results/paired_levers/agents_table.py LABEL=CHECKPOINT [LABEL=CHECKPOINT ...] < RESULTS.jsonl
"""
import json
import sys

import numpy as np

labels = {checkpoint: label for label, _, checkpoint in (arg.partition("=") for arg in sys.argv[1:])}
runs = [json.loads(line) for line in sys.stdin if line.strip()]
print("| vision checkpoint | observations | actions | source return per agent seed (40 episodes each) | mean |")
print("|---|---|---|---|---|")
for checkpoint, label in labels.items():
    for normalize in (False, True):
        for sample in (False, True):
            rows = sorted((r for r in runs if r["vision"] == checkpoint and r["normalize"] == normalize
                           and r.get("sample", False) == sample), key=lambda r: r["seed"])
            if rows:
                seeds = ", ".join(f"{r['return']:.3f} (seed {r['seed']})" for r in rows)
                print(f"| {label} | {'VecNormalize' if normalize else 'codes as they are'} | {'sampled' if sample else 'most likely'} "
                      f"| {seeds} | **{np.mean([r['return'] for r in rows]):.2f}** |")
