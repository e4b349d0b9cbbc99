"""Same-state invariance where it counts, at the policy: does a trained agent act alike on one state drawn in its
source domain and in a target domain?

Each agent is rolled out in the source domain (the states it meets there); each visited state is drawn again in
the source and in the target (the env's ``render_factors``), turned into the agent's own observations (its frozen
encoder, its general part where it uses one; pixels as they are) and given to its policy. Reported per agent: the
share of states where its most likely actions agree, the mean total-variation distance between its two action
distributions (the agreement also split by whether an object is in view, where the env says), and, for latent agents, how far a state's code moves between the domains against how far apart
the codes of two different states lie (median over states of |z_source - z_target| / median |z_i - z_j|).
Beside them, each agent's own transfer ratio (its mean return in the target over the source's, ``--episodes``
from the same starts in both), and a figure of the ratio against the agreement.

Usage: python benchmarks/policy_agreement.py --agent [LABEL=]AGENT_FOLDER [--agent ...] [--target A_alternate]
       [--steps 2000] [--episodes 100] [--threads 2] [--out benchmarks/results/policy_agreement.json]
       [--figure docs/results/policy_agreement.png]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from bench_vision import cpu_name
from darla.agent import LoadedAgent, load_agent
from darla.errors import DarlaError
from darla.evaluate import EvaluateConfig, episode_returns
from darla.files import atomic_path, write_json_atomic
from darla.metrics.ground_truth import EnvGroundTruth
from darla.statistics import seeded
from darla.wrappers import FrameEncoder


def visited_states(agent: LoadedAgent, domain: str, steps: int, seed: int, n_task: int) -> np.ndarray:
    """The task factors of the states the agent meets along ``steps`` env steps in ``domain`` (sampled actions)."""
    venv = agent.make_env(domain, 1, seed)
    states = []
    with seeded(seed):
        obs = venv.reset()
        for _ in range(steps):
            action, _ = agent.model.predict(obs, deterministic=False)
            obs, _, _, infos = venv.step(action)
            states.append(np.asarray(infos[0]["factors"][:n_task]))
    venv.close()
    return np.stack(states)


def action_probabilities(agent: LoadedAgent, observations: np.ndarray) -> np.ndarray:
    """The policy's action distribution (N, actions) for a batch of observations."""
    policy = agent.model.policy
    with torch.no_grad():
        tensor, _ = policy.obs_to_tensor(observations)
        return policy.get_distribution(tensor).distribution.probs.cpu().numpy()


def agreement(label: str, folder: Path, source: str, target: str, steps: int, episodes: int, seed: int) -> dict[str, Any]:
    """The policy-level and code-level same-state measures of one agent folder, and its transfer ratio."""
    agent = load_agent(folder, device="cpu")
    cfg = agent.config
    if not isinstance(agent.model.action_space, gym.spaces.Discrete):
        raise DarlaError(f"{folder} acts in {agent.model.action_space}; this measure compares discrete actions: use an agent of a discrete-action env")
    if cfg.stack != 1:
        raise DarlaError(f"{folder} stacks {cfg.stack} codes; this measure compares single frames: use an agent with stack 1")
    truth = EnvGroundTruth(cfg.env, (source, target), pool=10, seed=seed)
    names = [d.name for d in truth.domains]
    states = visited_states(agent, source, steps, seed, len(truth.task_names))
    frames = {d: truth.render(states, np.full(len(states), names.index(d))) for d in (source, target)}
    if cfg.mode == "latent":
        encode = FrameEncoder(cfg.vision, truth.env.observation_space, device="cpu", general=cfg.general, precision=cfg.precision)
        obs = {d: encode(f) for d, f in frames.items()}
    else:
        obs = frames
    probs = {d: action_probabilities(agent, o) for d, o in obs.items()}
    agree = probs[source].argmax(1) == probs[target].argmax(1)
    evaluation = EvaluateConfig(agents=(str(folder),), episodes=episodes, seed=seed, device="cpu")
    returns = {d: float(episode_returns(agent, [d], evaluation).mean()) for d in (source, target)}
    result: dict[str, Any] = {
        "label": label,
        "agent": str(folder),
        "source_return": returns[source],
        "target_return": returns[target],
        "transfer_ratio": returns[target] / returns[source] if returns[source] > 0 else None,
        "mode": cfg.mode,
        "states": len(states),
        "action_agreement": float(agree.mean()),
        "action_total_variation": float(np.mean(0.5 * np.abs(probs[source] - probs[target]).sum(1))),
    }
    in_view = getattr(truth.env, "objects_in_view", None)
    if in_view is not None:
        # an agent wandering alike but turning the other way at an object loses its return there
        seen = in_view(states)
        result["object_in_view_share"] = float(seen.mean())
        result["action_agreement_object_in_view"] = float(agree[seen].mean()) if seen.any() else None
        result["action_agreement_no_object"] = float(agree[~seen].mean()) if (~seen).any() else None
    if cfg.mode == "latent":
        shift = np.linalg.norm(obs[source] - obs[target], axis=1)
        # states half a rollout apart stand for different states (neighbours along a rollout are near twins)
        other = np.roll(np.arange(len(states)), 1 + len(states) // 2)
        between = np.linalg.norm(obs[source] - obs[source][other], axis=1)
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
    report = {"machine": {"cpu": cpu_name(), "threads": args.threads, "torch": torch.__version__}, "source": args.source,
              "target": args.target, "steps": args.steps, "episodes": args.episodes, "seed": args.seed, "agents": rows}
    write_json_atomic(args.out, report)
    figure(rows, args.figure, f"{args.source} -> {args.target}: {args.steps} visited states, {args.episodes} episodes per domain")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
