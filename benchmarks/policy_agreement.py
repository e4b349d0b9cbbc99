"""Same-state invariance where it counts, at the policy: does a trained agent act alike on one state drawn in its
source domain and in a target domain?

The states and the agent's actions on them come from :func:`darla.metrics.agreement.same_state_actions` (what
``darla evaluate --agreement-steps`` reports too). Reported here per agent besides: the share of states where its
most likely actions agree, the mean total-variation distance between its two action distributions, the agreement
split by whether an object is in view, and, for latent agents, how far a state's code moves between the domains
against how far apart the codes of two different states lie (median over states of |z_source - z_target| / median
|z_i - z_j|). Beside them, each agent's own transfer ratio (its mean return in the target over the source's,
``--episodes`` from the same starts in both), and a figure of the ratio against the agreement.

Usage: python benchmarks/policy_agreement.py --agent [LABEL=]AGENT_FOLDER [--agent ...] [--target A_alternate]
       [--steps 2000] [--episodes 100] [--threads 2] [--out benchmarks/results/policy_agreement.json]
       [--figure docs/results/policy_agreement.png]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from darla.agent import load_agent
from darla.device import describe_machine
from darla.evaluate import EvaluateConfig, episode_returns
from darla.files import atomic_path, write_json_atomic
from darla.metrics.agreement import same_state_actions


def agreement(label: str, folder: Path, source: str, target: str, steps: int, episodes: int, seed: int) -> dict[str, Any]:
    """The policy-level and code-level same-state measures of one agent folder, and its transfer ratio."""
    agent = load_agent(folder, device="cpu")
    [seen] = same_state_actions(agent, [source], [[target]], steps, seed)
    evaluation = EvaluateConfig(agents=(str(folder),), episodes=episodes, seed=seed, device="cpu")
    returns = {d: float(episode_returns(agent, [d], evaluation).mean()) for d in (source, target)}
    agree, in_view = seen.agree, seen.objects_in_view
    result: dict[str, Any] = {
        "label": label,
        "agent": str(folder),
        "source_return": returns[source],
        "target_return": returns[target],
        "transfer_ratio": returns[target] / returns[source] if returns[source] > 0 else None,
        "mode": agent.config.mode,
        "states": len(seen.states),
        "action_agreement": seen.agreement,
        "action_total_variation": seen.total_variation,
        # an agent wandering alike but turning the other way at an object loses its return there
        "object_in_view_share": float(in_view.mean()),
        "action_agreement_object_in_view": float(agree[in_view].mean()) if in_view.any() else None,
        "action_agreement_no_object": float(agree[~in_view].mean()) if (~in_view).any() else None,
    }
    if agent.config.mode == "latent":
        codes = seen.observations
        shift = np.linalg.norm(codes[0] - codes[1], axis=1)
        # states half a rollout apart stand for different states (neighbours along a rollout are near twins)
        other = np.roll(np.arange(len(codes[0])), 1 + len(codes[0]) // 2)
        between = np.linalg.norm(codes[0] - codes[0][other], axis=1)
        result["code_shift_over_state_distance"] = float(np.median(shift) / np.median(between))
    return result


def figure(rows: list[dict[str, Any]], path: Path, title: str) -> None:
    """Each agent's transfer ratio against its action agreement, one colour per label."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4.5))
    for label in dict.fromkeys(r["label"] for r in rows):
        mine = [r for r in rows if r["label"] == label and r["transfer_ratio"] is not None]
        ax.scatter([r["action_agreement"] for r in mine], [r["transfer_ratio"] for r in mine], label=label, s=40)
    ax.axhline(0.95, color="grey", lw=0.8, ls="--")
    ax.set_xlabel("action agreement on the same states (source vs target look)")
    ax.set_ylabel("transfer ratio (target / source return)")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    plt.close(fig)


def parse_agent(text: str) -> tuple[str, Path]:
    """``LABEL=FOLDER`` or ``FOLDER`` (labelled by its own name)."""
    label, _, folder = text.rpartition("=")
    return (label or Path(folder).name), Path(folder)


def main() -> None:
    """Measure each agent and write one JSON file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agent", type=parse_agent, action="append", required=True,
                        help="an agent folder, LABEL=FOLDER to name its group in the figure; repeat for several")
    parser.add_argument("--source", default="A_default")
    parser.add_argument("--target", default="A_alternate")
    parser.add_argument("--steps", type=int, default=2000, help="env steps of the source rollout (one state each)")
    parser.add_argument("--episodes", type=int, default=100, help="episodes of each agent's returns per domain")
    parser.add_argument("--seed", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "policy_agreement.json")
    parser.add_argument("--figure", type=Path, default=Path(__file__).parents[1] / "docs" / "results" / "policy_agreement.png")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows = [agreement(label, folder, args.source, args.target, args.steps, args.episodes, args.seed) for label, folder in args.agent]
    report = {"machine": {**describe_machine(), "threads": args.threads}, "source": args.source,
              "target": args.target, "steps": args.steps, "episodes": args.episodes, "seed": args.seed, "agents": rows}
    write_json_atomic(args.out, report)
    figure(rows, args.figure, f"{args.source} -> {args.target}: {args.steps} visited states, {args.episodes} episodes per domain")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
