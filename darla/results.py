"""An experiment's results: per protocol and method, the source and target returns, the
transfer ratios, and beside them each representation's invariance and disentanglement scores,
as Markdown tables."""

from __future__ import annotations

import json
from pathlib import Path

from darla.errors import DarlaError
from darla.evaluate import REPORT_FILE, read_results
from darla.inspect import METRICS_FILE
from darla.metrics import HEADLINES
from darla.statistics import SOURCE, DomainResult, format_agreement, format_ci

#: the evaluation domain group every agent is scored in besides its source
TARGET = "target"


def collect_results(out: Path, protocols: tuple[str, ...], methods: tuple[str, ...]) -> dict[str, dict[str, list[DomainResult]]]:
    """Per protocol and method, the source and target results of the run's evaluations (``out/eval/<protocol>/<method>``)."""
    return {p: {m: read_results(out / "eval" / p / m / REPORT_FILE) for m in methods} for p in protocols}


def _score(values: dict[str, float] | None, key: str) -> str:
    if values is None or key not in values:
        return "-"
    # a score drawn several times (retrieval) carries its spread over the draws
    spread = values.get(f"{key}_sd")
    return f"{values[key]:.3f}" + (f" ± {spread:.3f}" if spread else "")


def results_table(results: dict[str, dict[str, list[DomainResult]]], scores: dict[str, dict[str, float]] | None = None) -> str:
    """Markdown: per protocol and method, source and target mean return, the transfer ratio, and
    beside it the agents' action agreement on the same states in both looks and the representation's
    same-state retrieval between source and target ("-" where not measured)."""
    scores = scores or {}
    lines = ["| protocol | method | source return [95% CI] | target return [95% CI] | transfer ratio [95% CI] | "
             "action agreement (per seed) | same-state retrieval (source~target) | CIs resample |",
             "|---|---|---|---|---|---|---|---|"]
    for protocol, methods in results.items():
        for method, rows in methods.items():
            by = {r.domain: r for r in rows}
            src, tgt = by[SOURCE], by[TARGET]
            lines.append(f"| {protocol} | {method} | {format_ci(src.mean, src.mean_ci)} | {format_ci(tgt.mean, tgt.mean_ci)} | "
                         f"{format_ci(tgt.ratio, tgt.ratio_ci)} | {format_agreement(tgt.agreement)} | "
                         f"{_score(scores.get(method), 'same_state_retrieval')} | {tgt.unit} |")
    return "\n".join(lines) + "\n"


#: the report's headline scores shown beside the transfer ratios, with their column names
HEADLINE_SCORES = {k: h.column for k, h in HEADLINES.items() if h.column is not None}
#: the same-state invariance scores, train-group pairs (a setting may be chosen by these) and
#: source-target (what transfer meets), with their column names
INVARIANCE_SCORES = {"train_same_state_retrieval": "retrieval (train pairs)", "same_state_retrieval": "retrieval (source~target)",
                     "train_probe_transfer_r2": "probe R² (train pairs)", "probe_transfer_r2": "probe R² (source~target)",
                     "domain_leak": "leak (source~target)"}


def read_scores(out: Path, representations: tuple[str, ...]) -> dict[str, dict[str, float]]:
    """Each representation's scores, from its inspect report (``out/inspect/<name>``)."""
    scores = {}
    for rep in representations:
        path = out / "inspect" / rep / METRICS_FILE
        try:
            scores[rep] = json.loads(path.read_text())["scores"]
        except (OSError, json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError) as exc:
            raise DarlaError(f"{path} is not a readable inspect report ({exc}); delete {path.parent} and rerun") from None
    return scores


def scores_table(scores: dict[str, dict[str, float]], results: dict[str, dict[str, list[DomainResult]]],
                 columns: dict[str, str]) -> str:
    """Markdown: each representation's scores named in ``columns`` beside its transfer ratio per protocol.

    :param scores: representation -> its inspect report's scores.
    :param results: the evaluations, per protocol and method.
    :param columns: score key -> column name (:data:`HEADLINE_SCORES`, :data:`INVARIANCE_SCORES`).
    """
    protocols = list(results)
    lines = ["| representation | " + " | ".join(columns.values()) + " | " +
             " | ".join(f"transfer ratio ({p})" for p in protocols) + " |",
             "|---|" + "---|" * (len(columns) + len(protocols))]
    for rep, values in scores.items():
        ratios = []
        for p in protocols:
            target = next(r for r in results[p][rep] if r.domain == TARGET)
            ratios.append(format_ci(target.ratio, target.ratio_ci))
        lines.append(f"| {rep} | " + " | ".join(_score(values, k) for k in columns) + " | " + " | ".join(ratios) + " |")
    return "\n".join(lines) + "\n"
