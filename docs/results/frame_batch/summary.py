"""Medians of ab.sh's alternated measurements, per label: PPO steps/s on latents and on pixels, and their ratio."""

from __future__ import annotations

import json
import statistics
import sys
from collections import defaultdict

from darla.device import describe_machine

runs: dict[str, list[dict]] = defaultdict(list)
for line in open(sys.argv[1]):
    if line.strip():
        row = json.loads(line)
        runs[row["label"]].append(row)
summary = {"machine": describe_machine()}
for label, rows in runs.items():
    latent, pixels = [r["rates"]["latent"] for r in rows], [r["rates"]["pixels"] for r in rows]
    summary[label] = {
        "commit": rows[0]["commit"],
        "rounds": len(rows),
        "latent_steps_per_second_median": statistics.median(latent),
        "pixel_steps_per_second_median": statistics.median(pixels),
        "latent_over_pixels_per_round": [round(a / b, 3) for a, b in zip(latent, pixels)],
        "latent_over_pixels_median": statistics.median(a / b for a, b in zip(latent, pixels)),
    }
print(json.dumps(summary, indent=2))
