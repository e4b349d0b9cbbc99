"""Collate docs/results/latent_envs/run.sh's agents: mean source return per code and setting, and darla train's seconds.

Usage: python docs/results/latent_envs/summary.py [--runs runs/nenv] [--out docs/results/latent_envs/summary]
writes OUT.json and OUT.md.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent
SETTINGS = {"e8": "8 envs x 128 steps", "e16": "16 envs x 64 steps", "e32": "32 envs x 32 steps",
            "e16b512": "16 envs x 64 steps, minibatch 512", "e16b1024": "16 envs x 64 steps, minibatch 1,024"}
CODES = {"adadae": "Ada-GVAE_DAE general part (claim run, 12k-step DAE)", "bvd": "beta_vae_dae (the demo's)",
         "objw3d": "3D pixel Ada-GVAE general part, object pixels weighed 200 times (claim run, seed 0)"}


def main() -> None:
    """Write the two tables' files."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=Path, default=Path("runs/nenv"))
    parser.add_argument("--out", type=Path, default=HERE / "summary")
    args = parser.parse_args()
    returns: dict[tuple[str, str], list[float]] = defaultdict(list)
    for path in sorted(args.runs.glob("*_s*/eval/evaluation.json")):
        code, setting, _ = path.parts[-3].split("_")
        returns[code, setting].append(json.loads(path.read_text())["results"][0]["mean"])
    seconds: dict[tuple[str, str], list[float]] = defaultdict(list)
    for line in (args.runs / "times.txt").read_text().splitlines():
        code, setting, _, _, value = line.split()
        seconds[code, setting].append(float(value))
    rows = {f"{c}/{s}": {"returns": returns[c, s], "mean": float(np.mean(returns[c, s])), "train_seconds": seconds[c, s]}
            for c, s in sorted(returns)}
    overall = {s: float(np.mean([r for (_, t), rs in returns.items() if t == s for r in rs]))
               for s in SETTINGS if any(t == s for _, t in returns)}
    args.out.with_suffix(".json").write_text(json.dumps({"rows": rows, "mean_over_codes": overall}, indent=2) + "\n")
    lines = ["| code | setting | source return per seed (100 episodes) | mean | darla train seconds per seed |", "|---|---|---|---|---|"]
    for (c, s), rs in sorted(returns.items()):
        lines.append(f"| {CODES[c]} | {SETTINGS[s]} | {', '.join(f'{r:.2f}' for r in rs)} | {np.mean(rs):.2f} | "
                     f"{', '.join(f'{t:.0f}' for t in seconds[c, s])} |")
    lines += ["", "| setting | mean source return over the codes' agents |", "|---|---|"]
    lines += [f"| {SETTINGS[s]} | {m:.3f} |" for s, m in overall.items()]
    args.out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
