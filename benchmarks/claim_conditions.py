"""Issue 14's four conditions, run by run: source return, transfer ratio, same-state retrieval between source and
target, and a target interval above pixels_aug's, for one method of ``darla reproduce`` runs grouped by recipe.

Each ``--run`` names a recipe and a run's ``results.json``; ``--baseline`` names runs whose pixels_aug row gives the
target interval to clear (the highest upper bound among them), since a run of one method holds no pixels_aug row.
Writes a JSON of every run's numbers and verdicts, and a figure of retrieval against ratio with the thresholds.

Usage:
    python benchmarks/claim_conditions.py --method ada_gvae \\
        --run "canonical + half=docs/results/seekavoid3d_claim_canonical_half/seed0/results.json" ... \\
        --baseline docs/results/seekavoid3d_claim_objw/results.json --json OUT.json --out OUT.png
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from darla.figures import save_figure

#: issue 14's thresholds: source return (of at most 3), transfer ratio, same-state retrieval
SOURCE_MIN, RATIO_MIN, RETRIEVAL_MIN = 2.0, 0.95, 0.95


def _rows(path: Path, report: dict, method: str) -> dict[str, dict]:
    """The single protocol's rows of ``method`` in one run's ``report`` (read from ``path``), by domain."""
    try:
        return {r["domain"]: r for r in report["results"]["single"][method]}
    except KeyError:
        raise SystemExit(f"{path} holds no single-protocol rows of {method}: pass a run of that method") from None


def baseline_high(paths: list[Path]) -> float:
    """The highest upper bound of pixels_aug's target interval among ``paths``."""
    return max(_rows(p, json.loads(p.read_text()), "pixels_aug")["target"]["mean_ci"][1] for p in paths)


def conditions(path: Path, method: str, above: float) -> dict:
    """One run's four numbers and whether each meets its threshold (``above``: the target interval to clear)."""
    report = json.loads(path.read_text())
    rows = _rows(path, report, method)
    retrieval = report["invariance"][method]["same_state_retrieval"]
    source, target = rows["source"]["mean"], rows["target"]
    met = {"source": source >= SOURCE_MIN, "ratio": target["ratio"] >= RATIO_MIN, "retrieval": retrieval >= RETRIEVAL_MIN,
           "target_above_pixels_aug": target["mean_ci"][0] > above}
    return {"source": source, "target": target["mean"], "target_ci": target["mean_ci"], "ratio": target["ratio"],
            "ratio_ci": target["ratio_ci"], "retrieval": retrieval, "met": met, "all_met": all(met.values())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", action="append", required=True, help="RECIPE=PATH of a run's results.json; repeat")
    parser.add_argument("--baseline", type=Path, action="append", required=True, help="a run's results.json with pixels_aug; repeat")
    parser.add_argument("--method", default="ada_gvae")
    parser.add_argument("--json", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True, help="the PNG to write")
    args = parser.parse_args()
    if any("=" not in r for r in args.run):
        raise SystemExit("--run takes RECIPE=PATH, e.g. 'canonical=docs/results/x/seed0/results.json'")
    above = baseline_high(args.baseline)
    runs = [{"recipe": recipe, "path": path, **conditions(Path(path), args.method, above)}
            for recipe, path in (r.split("=", 1) for r in args.run)]
    args.json.write_text(json.dumps({"method": args.method, "pixels_aug_target_high": above, "thresholds":
                                     {"source": SOURCE_MIN, "ratio": RATIO_MIN, "retrieval": RETRIEVAL_MIN}, "runs": runs}, indent=1))
    fig = Figure(figsize=(7.5, 4.2), layout="constrained")
    ax = fig.subplots()
    recipes = list(dict.fromkeys(r["recipe"] for r in runs))
    for r in runs:
        colour = f"C{recipes.index(r['recipe']) % 10}"
        low, high = r["ratio_ci"]
        # filled where the run meets every condition, hollow where it misses one
        ax.errorbar(r["retrieval"], r["ratio"], yerr=[[r["ratio"] - low], [high - r["ratio"]]], fmt="o", capsize=3, color=colour,
                    mfc=colour if r["all_met"] else "white")
    ax.axvline(RETRIEVAL_MIN, color="k", ls="--", lw=1)
    ax.axhline(RATIO_MIN, color="k", ls="--", lw=1)
    ax.set_xlabel("same-state retrieval, source~target", fontsize=9)
    ax.set_ylabel("transfer ratio (single), 95% CI", fontsize=9)
    fig.legend(handles=[Line2D([], [], marker="o", ls="", color=f"C{i % 10}", label=recipe) for i, recipe in enumerate(recipes)],
               loc="outside right center", fontsize=7, title="recipe", title_fontsize=8)
    met = sum(r["all_met"] for r in runs)
    fig.suptitle(f"{args.method}: {met} of {len(runs)} runs meet all four conditions (filled); dashed: 0.95", fontsize=10)
    save_figure(fig, args.out)
    for r in runs:
        missed = [k for k, ok in r["met"].items() if not ok]
        print(f"{r['recipe']:30s} source {r['source']:.2f} target {r['target']:.2f} ratio {r['ratio']:.2f} "
              f"retrieval {r['retrieval']:.3f}  {'all met' if not missed else 'misses ' + ', '.join(missed)}")
    print(f"wrote {args.json} and {args.out}")


if __name__ == "__main__":
    main()
