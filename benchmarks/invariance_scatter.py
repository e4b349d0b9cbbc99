"""DARLA's disentanglement-transfer correlation, measured here: each representation of each run
as a point, its same-state retrieval (and MIG) against its transfer ratio.

Reads the ``results.json`` of ``darla reproduce`` runs; a run written before the invariance scores
existed has none and is refused.

Usage:
    python benchmarks/invariance_scatter.py --results docs/results/seekavoid2d_invariance/results.json \\
        --protocol single --out docs/results/invariance_scatter.png
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from scipy.stats import spearmanr

from darla.figures import save_figure


def points(paths: list[Path], protocol: str) -> list[dict]:
    """One point per representation and run: its scores and its target row's ratio."""
    rows = []
    for path in paths:
        report = json.loads(path.read_text())
        if "invariance" not in report:
            raise SystemExit(f"{path} has no invariance scores: rerun that experiment with this version")
        for rep, scores in report["invariance"].items():
            target = next(r for r in report["results"][protocol][rep] if r["domain"] == "target")
            rows.append({"run": path.parent.name, "representation": rep, "ratio": target["ratio"], "ratio_ci": target["ratio_ci"],
                         "mig": report["disentanglement"][rep].get("mig"), **scores})
    return rows


def main() -> None:
    """Plot each representation's same-state retrieval (and MIG) against its transfer ratio, for the runs named."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, action="append", required=True, help="a reproduce run's results.json; repeat")
    parser.add_argument("--protocol", default="single")
    parser.add_argument("--out", type=Path, required=True, help="the PNG to write")
    args = parser.parse_args()
    rows = [r for r in points(args.results, args.protocol) if r["ratio"] is not None]
    fig = Figure(figsize=(11.0, 3.6), layout="constrained")
    # one colour per run, so points of one experiment can be told apart from the others
    runs = list(dict.fromkeys(r["run"] for r in rows))
    colours = {run: f"C{i % 10}" for i, run in enumerate(runs)}
    for ax, key, label in zip(fig.subplots(1, 2), ("same_state_retrieval", "mig"), ("same-state retrieval (source~target)", "MIG")):
        for r in rows:
            low, high = r["ratio_ci"] if r["ratio_ci"] else (r["ratio"], r["ratio"])
            ax.errorbar(r[key], r["ratio"], yerr=[[r["ratio"] - low], [high - r["ratio"]]], fmt="o", capsize=3, color=colours[r["run"]])
            ax.annotate(r["representation"], (r[key], r["ratio"]), fontsize=7, xytext=(4, 4), textcoords="offset points")
        ax.axhline(0.8, color="k", ls="--", lw=1)
        if key == "same_state_retrieval":
            ax.set_xlim(0, 1)  # the whole scale: 1 is a code that ignores the look
        ax.set_xlabel(label, fontsize=9)
        ax.set_ylabel(f"transfer ratio ({args.protocol}), 95% CI", fontsize=9)
    fig.legend(handles=[Line2D([], [], marker="o", ls="", color=colour, label=run) for run, colour in colours.items()],
               loc="outside right center", fontsize=7, title="run", title_fontsize=8)
    fig.suptitle(f"{len(rows)} representation(s) from {len(args.results)} run(s); dashed: the 0.8 target", fontsize=10)
    save_figure(fig, args.out)
    for key in ("same_state_retrieval", "mig"):
        scored = [r for r in rows if r.get(key) is not None]
        rho, p = spearmanr([r[key] for r in scored], [r["ratio"] for r in scored])
        print(f"Spearman's rho of {key} with the transfer ratio over {len(scored)} representations: {rho:.2f} (p = {p:.2g})")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
