"""Collect the leave-one-cell-out agents' evaluations (lodo_agents.sh) into one JSON and a markdown table.

Usage: python docs/results/lodo_agents/table.py ROOT [--out docs/results/lodo_agents/lodo_agents.json]
ROOT holds one folder per env (3d, 2d), each with one folder per candidate, each with eval/evaluation.json.
"""
import argparse
import json
from pathlib import Path

import numpy as np

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("root", type=Path)
parser.add_argument("--out", type=Path, default=Path(__file__).with_name("lodo_agents.json"))
args = parser.parse_args()
rows = []
for report in sorted(args.root.glob("*/*/eval/evaluation.json")):
    results = {r["domain"]: r for r in json.loads(report.read_text())["results"]}
    row = {"env": report.parents[2].name, "candidate": report.parents[1].name}
    for domain, r in results.items():
        row[domain] = {"mean": r["mean"], "ci": r["mean_ci"], "per_seed": [float(np.mean(s)) for s in r["returns"]],
                       "ratio": r["ratio"], "ratio_ci": r["ratio_ci"]}
    rows.append(row)
args.out.write_text(json.dumps(rows, indent=1) + "\n")
print("| env | candidate | A_default (source) | B_default (held-out cell) | ratio | B_alternate (trained cell) | ratio |")
print("|---|---|---|---|---|---|---|")
for row in rows:
    src, held, trained = row["source"], row["B_default"], row["B_alternate"]
    cells = [f"{d['mean']:.2f} ({', '.join(f'{s:.2f}' for s in d['per_seed'])})" for d in (src, held, trained)]
    print(f"| {row['env']} | {row['candidate']} | {cells[0]} | {cells[1]} | {held['ratio']:.2f} [{held['ratio_ci'][0]:.2f}, "
          f"{held['ratio_ci'][1]:.2f}] | {cells[2]} | {trained['ratio']:.2f} |")
