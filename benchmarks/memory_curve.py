"""The contrast memory's size against train-pair retrieval, per vision seed, with and without momentum.

Reads the pixel recipe's candidates from a ``tune_invariance.py`` JSON (those whose spec differs from
the claim recipe only in ``memory``, ``momentum`` and the vision ``seed``) and draws the general
part's mean retrieval over the ``train`` group's pairs, with the spread over draws as error bars.
Nothing is trained: it only reads what the search measured.

Usage:
    python benchmarks/memory_curve.py [--json benchmarks/results/tune_invariance_ada30k.json]
        [--out docs/results/memory_curve.png]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

#: the settings every plotted candidate shares: the claim budget's pixel recipe without its memory
RECIPE = {"variant": "ada_gvae", "augment": "mix", "lr": 0.0005, "steps": 6000,
          "collect": {"domains": ["train", "rooms"], "frames": 30000, "pairs": 1, "policy": "resets"},
          "model": {"beta": 4.0, "consistency": 10.0, "contrast": 30.0, "temperature": 0.2}}


def memory_points(results: dict) -> dict[tuple[int, float], list[tuple[int, float, float]]]:
    """``(seed, momentum)`` to sorted ``(memory, train mean, train sd)`` of the general part."""
    lines: dict[tuple[int, float], list[tuple[int, float, float]]] = {}
    for entry in results.values():
        spec = dict(entry["spec"])
        model = dict(spec.pop("model", {}))
        memory, momentum, seed = model.pop("memory", 0), model.pop("momentum", 0.0), spec.pop("seed", 0)
        if {**spec, "model": model} != RECIPE or "general" not in entry:
            continue
        general = entry["general"]
        point = (memory, general["train_same_state_retrieval"], general["train_same_state_retrieval_sd"])
        lines.setdefault((seed, momentum), []).append(point)
    return {key: sorted(points) for key, points in sorted(lines.items())}


def main() -> None:
    """Plot train-pair retrieval against the contrast memory's size, from a tune_invariance.py JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, default=Path("benchmarks/results/tune_invariance_ada30k.json"))
    parser.add_argument("--key", default="darla/SeekAvoid2D-v0 quick", help="the env and budget the search ran on")
    parser.add_argument("--out", type=Path, default=Path("docs/results/memory_curve.png"))
    args = parser.parse_args()
    if not args.json.is_file():
        raise SystemExit(f"{args.json} does not exist: run benchmarks/tune_invariance.py first, or pass --json")
    results = json.loads(args.json.read_text()).get(args.key)
    if not results:
        raise SystemExit(f"{args.json} holds no candidates for {args.key!r}: pass the --key its search ran on")
    lines = memory_points(results)
    if not lines:
        raise SystemExit(f"{args.json} holds no candidates of the pixel recipe with a memory under {args.key!r}")
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    for (seed, momentum), points in lines.items():
        memory, mean, sd = zip(*points)
        # the batch alone (memory 0) drawn at 64 codes, its 63 other states and the pair itself
        ax.errorbar([m or 64 for m in memory], mean, yerr=sd, marker="o" if momentum == 0 else "s", capsize=3,
                    linestyle="-" if momentum == 0 else "--", label=f"vision seed {seed}" + (f", momentum {momentum:g}" if momentum else ""))
    ax.axhline(0.95, color="grey", linewidth=0.8, linestyle=":", label="issue 14's 0.95")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("codes in the contrast's memory (64: the batch alone)")
    ax.set_ylabel("train-pair retrieval, general part")
    ax.set_title("Ada-GVAE in pixels, SeekAvoid2D, 30,000 frames, 6,000 steps")
    ax.legend(fontsize=8)
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=120)
    print(f"wrote {args.out}: {sum(len(p) for p in lines.values())} candidates on {len(lines)} lines")


if __name__ == "__main__":
    main()
