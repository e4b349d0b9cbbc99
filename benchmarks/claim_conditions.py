"""Issue 14's four conditions, run by run: source return, transfer ratio, same-state retrieval between source and
target, and a target interval above pixels_aug's, for one method of ``darla reproduce`` runs grouped by recipe.

Each ``--run`` names a recipe and a run's ``results.json``; ``--baseline`` names runs whose pixels_aug row gives the
target interval to clear (the highest upper bound among them), since a run of one method holds no pixels_aug row.
A recipe of several runs is also judged as one experiment: the agents of all its runs pooled (the bootstrap resamples
them, each a run in rliable's sense, ignoring that agents of one vision seed share their vision model) and its runs'
mean retrieval. Writes a JSON of every run's and recipe's numbers and verdicts, and a figure of retrieval against
ratio with the thresholds.

Usage:
    python benchmarks/claim_conditions.py --method ada_gvae \\
        --run "canonical + half=docs/results/seekavoid3d_claim_canonical_half/seed0/results.json" ... \\
        --baseline docs/results/seekavoid3d_claim_objw/results.json --json OUT.json --out OUT.png
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from darla.figures import save_figure
from darla.statistics import SOURCE, summarise

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


def verdicts(source: float, target: dict, retrieval: float, above: float) -> dict:
    """The four numbers of one experiment and whether each meets its threshold (``target``: a result row with its
    mean, interval and ratio; ``above``: the target interval to clear)."""
    met = {"source": source >= SOURCE_MIN, "ratio": target["ratio"] >= RATIO_MIN, "retrieval": retrieval >= RETRIEVAL_MIN,
           "target_above_pixels_aug": target["mean_ci"][0] > above}
    return {"source": source, "target": target["mean"], "target_ci": target["mean_ci"], "ratio": target["ratio"],
            "ratio_ci": target["ratio_ci"], "retrieval": retrieval, "met": met, "all_met": all(met.values())}


def read_run(path: Path, method: str) -> tuple[dict[str, dict], float]:
    """One run's source and target rows of ``method``, and its same-state retrieval between source and target."""
    report = json.loads(path.read_text())
    rows = _rows(path, report, method)
    return rows, report["invariance"][method]["same_state_retrieval"]


def conditions(path: Path, method: str, above: float) -> dict:
    """One run's four numbers and whether each meets its threshold (``above``: the target interval to clear)."""
    rows, retrieval = read_run(path, method)
    return verdicts(rows["source"]["mean"], rows["target"], retrieval, above)


def pooled(paths: list[Path], method: str, above: float) -> dict:
    """A recipe's runs judged as one experiment: every agent of every run in one bootstrap, the runs' mean retrieval."""
    runs = [read_run(p, method) for p in paths]
    episodes = {len(seed) for rows, _ in runs for row in rows.values() for seed in row["returns"]}
    if len(episodes) != 1:
        raise SystemExit(f"the runs of one recipe must play the same number of episodes per agent, not {sorted(episodes)}: "
                         "pool runs of one budget")
    returns = {domain: np.array([seed for rows, _ in runs for seed in rows[domain]["returns"]]).T for domain in (SOURCE, "target")}
    source, target = summarise(returns)
    retrievals = [r for _, r in runs]
    return {**verdicts(source.mean, asdict(target), float(np.mean(retrievals)), above),
            "runs": len(runs), "agents": returns[SOURCE].shape[1], "retrievals": retrievals}


def main() -> None:
    """Print issue 14's four conditions, run by run, for the runs named on the command line."""
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
    recipes = list(dict.fromkeys(r["recipe"] for r in runs))
    paths = {recipe: [Path(r["path"]) for r in runs if r["recipe"] == recipe] for recipe in recipes}
    pools = {recipe: pooled(group, args.method, above) for recipe, group in paths.items() if len(group) > 1}
    args.json.write_text(json.dumps({"method": args.method, "pixels_aug_target_high": above, "thresholds":
                                     {"source": SOURCE_MIN, "ratio": RATIO_MIN, "retrieval": RETRIEVAL_MIN}, "runs": runs,
                                     "recipes_pooled": pools}, indent=1))
    fig = Figure(figsize=(7.5, 4.2), layout="constrained")
    ax = fig.subplots()
    for r in [*runs, *({"recipe": recipe, **pool} for recipe, pool in pools.items())]:
        colour = f"C{recipes.index(r['recipe']) % 10}"
        low, high = r["ratio_ci"]
        # filled where it meets every condition, hollow where it misses one; a diamond for a recipe's pooled runs
        ax.errorbar(r["retrieval"], r["ratio"], yerr=[[r["ratio"] - low], [high - r["ratio"]]], fmt="D" if "agents" in r else "o",
                    ms=9 if "agents" in r else 6, capsize=3, color=colour, mfc=colour if r["all_met"] else "white")
    ax.axvline(RETRIEVAL_MIN, color="k", ls="--", lw=1)
    ax.axhline(RATIO_MIN, color="k", ls="--", lw=1)
    ax.set_xlabel("same-state retrieval, source~target", fontsize=9)
    ax.set_ylabel("transfer ratio (single), 95% CI", fontsize=9)
    fig.legend(handles=[*(Line2D([], [], marker="o", ls="", color=f"C{i % 10}", label=recipe) for i, recipe in enumerate(recipes)),
                        Line2D([], [], marker="D", ls="", color="grey", label="a recipe's runs pooled")],
               loc="outside right center", fontsize=7, title="recipe", title_fontsize=8)
    met = sum(r["all_met"] for r in runs)
    pooled_met = sum(pool["all_met"] for pool in pools.values())
    fig.suptitle(f"{args.method}: {met} of {len(runs)} runs and {pooled_met} of {len(pools)} pooled recipes meet all four conditions "
                 "(filled); dashed: 0.95", fontsize=10)
    save_figure(fig, args.out)
    for r in runs:
        missed = [k for k, ok in r["met"].items() if not ok]
        print(f"{r['recipe']:30s} source {r['source']:.2f} target {r['target']:.2f} ratio {r['ratio']:.2f} "
              f"retrieval {r['retrieval']:.3f}  {'all met' if not missed else 'misses ' + ', '.join(missed)}")
    for recipe, pool in pools.items():
        missed = [k for k, ok in pool["met"].items() if not ok]
        print(f"{recipe:30s} pooled, {pool['runs']} runs, {pool['agents']} agents: source {pool['source']:.2f} target "
              f"{pool['target']:.2f} [{pool['target_ci'][0]:.2f}, {pool['target_ci'][1]:.2f}] ratio {pool['ratio']:.3f} "
              f"[{pool['ratio_ci'][0]:.2f}, {pool['ratio_ci'][1]:.2f}] mean retrieval {pool['retrieval']:.3f}  "
              f"{'all met' if not missed else 'misses ' + ', '.join(missed)}")
    print(f"wrote {args.json} and {args.out}")


if __name__ == "__main__":
    main()
