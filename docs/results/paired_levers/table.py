"""The invariance rows of levers.py's inspect reports as one markdown table.

Usage: python docs/results/paired_levers/table.py LABEL=INSPECT_FOLDER [LABEL=INSPECT_FOLDER ...]
"""
import json
import sys
from pathlib import Path

rows = [arg.partition("=")[::2] for arg in sys.argv[1:]]
reports = {label: json.loads((Path(folder) / "metrics.json").read_text())["invariance"] for label, folder in rows}
first = next(iter(reports.values()))["pairs"]
# the train pairs, which choose, before the target, which is only reported
pairs = sorted(first, key=lambda p: first[p]["role"] != "train")
print("| candidate | " + " | ".join(f"{p} ({first[p]['role']})" for p in pairs) + " | train pairs' mean |")
print("|---" * (len(pairs) + 2) + "|")
for label, report in reports.items():
    cells = [f"{report['pairs'][p]['same_state_retrieval']:.3f}" for p in pairs]
    print(f"| {label} | " + " | ".join(cells) + f" | **{report['summary']['train_same_state_retrieval']:.3f}** |")
