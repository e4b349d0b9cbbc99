"""Same-state retrieval of one checkpoint on states from three sources: its own training frames,
fresh starts of the env, and the pool retrieval is scored on (random-policy episodes).

Whether a code that fails retrieval fails on the states it was trained on (capacity), on new states
of the same kind (memorised states), or only on the kind of state the scoring pool holds and its
frames seldom showed (coverage). Only ``train``-group pairs are scored, so what this shows may
choose settings. On the scoring pool the states are also split by whether the agent faces a wall
from close by (the env's ``wall_ahead`` below 0.5, where it has one).

Usage:
    python benchmarks/retrieval_by_states.py --vision runs/tinv_ada30k/vision/b4f5da75c624 --name resets \\
        --json benchmarks/results/retrieval_by_states.json --figure docs/results/retrieval_by_states.png
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np
import torch

from darla.checkpoint import load_vision, read_config
from darla.device import describe_machine
from darla.files import write_json_atomic
from darla.frames import FrameDataset
from darla.inspect import encoder
from darla.metrics.ground_truth import EnvGroundTruth
from darla.metrics.invariance import distinct_states, draw_spread, invariance_pairs, nearest_codes
from darla.metrics.scores import represent_all
import envs

#: a wall nearer than this straight ahead makes a close-up (world units), as in benchmarks/state_coverage.py
CLOSE_UP = 0.5
SOURCES = ("training frames", "fresh starts", "scoring pool")


def training_states(folder: Path, n_task: int) -> np.ndarray:
    """The task factors of every frame a checkpoint was trained on."""
    frames = FrameDataset(read_config(folder)["data"]["path"])
    return np.concatenate([np.load(path)["factors"][:, :n_task] for path in frames.paths]).astype(np.float64)


def fresh_starts(env_id: str, n: int, seed: int, n_task: int) -> np.ndarray:
    """The task factors of ``n`` resets of the env, at seeds no collection uses."""
    env = envs.make(env_id)
    rows = [env.reset(seed=seed + i)[1]["factors"][:n_task] for i in range(n)]
    env.close()
    return np.stack(rows).astype(np.float64)


def main() -> None:
    """Score one checkpoint and add it to the JSON (and the figure, when asked)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vision", type=Path, required=True, help="a vision checkpoint folder (its frames must be on disk)")
    parser.add_argument("--name", required=True, help="the checkpoint's row in the JSON")
    parser.add_argument("--env", default="darla/SeekAvoid2D-v0")
    parser.add_argument("--states", type=int, default=500, help="states per draw")
    parser.add_argument("--draws", type=int, default=5)
    parser.add_argument("--pool", type=int, default=2000, help="states of each source to draw from")
    parser.add_argument("--json", type=Path, default=Path(__file__).parent / "results" / "retrieval_by_states.json")
    parser.add_argument("--figure", type=Path, help="a bar chart of every checkpoint in the JSON")
    args = parser.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    model = load_vision(args.vision, device="cpu")
    represent = encoder(model, general=bool(model.config.general_latents))
    truth = EnvGroundTruth(args.env, ("train",), pool=args.pool, seed=0)
    n_task = len(truth.task_names)
    rng = np.random.default_rng(0)
    own = training_states(args.vision, n_task)
    pools = {"training frames": own[rng.choice(len(own), size=min(args.pool, len(own)), replace=False)],
             "fresh starts": fresh_starts(args.env, args.pool, 10**6, n_task), "scoring pool": truth.pool}
    names = [d.name for d in truth.domains]
    wall_ahead = getattr(truth.env, "wall_ahead", None)
    scores: dict[str, dict[str, object]] = {}
    for pair in (p for p in invariance_pairs(truth.groups, names) if p.role == "train"):
        index = [names.index(pair.a), names.index(pair.b)]
        row: dict[str, object] = {}
        for source, pool in pools.items():
            draws, close, close_right = [], 0, 0
            for draw in range(args.draws):
                task, frames, _ = distinct_states(truth, index, args.states, np.random.default_rng(draw), pool)
                right = nearest_codes(*(represent_all(represent, f) for f in frames)) == np.arange(len(task))
                draws.append(float(right.mean()))
                if source == "scoring pool" and wall_ahead is not None:
                    near = wall_ahead(task) < CLOSE_UP
                    close, close_right = close + int(near.sum()), close_right + int(right[near].sum())
            row[source] = {"retrieval": float(np.mean(draws)), "sd": draw_spread(draws)}
            if close:
                row[source] |= {"close_up_share": close / (args.draws * args.states), "close_up_retrieval": close_right / close}
        scores[pair.name] = row
        print(pair.name, "  ".join(f"{s}: {v['retrieval']:.3f}" for s, v in row.items()), flush=True)
    truth.close()
    report = json.loads(args.json.read_text()) if args.json.is_file() else {}
    report[args.name] = {"vision": str(args.vision), "env": args.env, "states": args.states, "draws": args.draws,
                         "pairs": scores, "machine": describe_machine()}
    write_json_atomic(args.json, report)
    if args.figure:
        plot(report, args.figure)


def plot(report: dict[str, dict], path: Path) -> None:
    """One panel per train pair: each checkpoint's retrieval on each source of states."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pairs = sorted({p for entry in report.values() for p in entry["pairs"]})
    fig, axes = plt.subplots(1, len(pairs), figsize=(4.2 * len(pairs), 3.6), sharey=True, squeeze=False)
    width = 0.8 / len(report)
    for ax, pair in zip(axes[0], pairs):
        for k, (name, entry) in enumerate(report.items()):
            values = [entry["pairs"].get(pair, {}).get(s, {}).get("retrieval", np.nan) for s in SOURCES]
            errors = [entry["pairs"].get(pair, {}).get(s, {}).get("sd", 0.0) for s in SOURCES]
            ax.bar(np.arange(len(SOURCES)) + k * width, values, width, yerr=errors, label=name)
        ax.set_xticks(np.arange(len(SOURCES)) + 0.4 - width / 2, SOURCES, fontsize=8)
        ax.set_title(pair, fontsize=9)
        ax.set_ylim(0.7, 1.0)
        ax.axhline(0.95, color="grey", lw=0.8, ls="--")
    axes[0][0].set_ylabel("same-state retrieval (general part)")
    fig.legend(*axes[0][0].get_legend_handles_labels(), loc="lower center", ncol=len(report), fontsize=8)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()
