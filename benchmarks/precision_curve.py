"""Does bfloat16 autocast change what pretraining learns? fp32 against bf16, several seeds each.

Each run trains beta_vae_dae (J at the DAE's output, batch 64) through the real trainer on
SeekAvoid2D ``train``-group frames, at ``--precision fp32`` and ``--precision bf16``. The DAE is
trained once, in float32, and shared. The trained models are scored in float32 on one fixed set of
held-out frames, so the score does not carry bfloat16's rounding, and by the mean logged loss over
the last sixth of training (less noisy than one evaluation of the final weights). For each score
the verdict compares the gap between the precisions' means with the spread between seeds of one
precision. The figure shows the training curves (the logged loss) of every run.

Usage:
    python benchmarks/precision_curve.py [--steps 600] [--seeds 3] [--threads 2]
Writes benchmarks/results/precision_curve.json and docs/results/precision_curve.png.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from darla.collect import CollectConfig, collect
from darla.device import cpu_name, describe_machine
from darla.files import write_json_atomic
from darla.frames import FrameDataset
from darla.models import build_model, frames_to_tensor, make_config
from darla.train import TrainConfig, fit


def logged_loss(run: Path) -> tuple[list[int], list[float]]:
    """Steps and values of the ``loss/loss`` scalar a run logged to TensorBoard."""
    events = EventAccumulator(str(run / "tensorboard"))
    events.Reload()
    scalars = events.Scalars("loss/loss")
    return [s.step for s in scalars], [s.value for s in scalars]


@torch.no_grad()
def held_out_loss(model: torch.nn.Module, frames: np.ndarray) -> float:
    """Mean float32 loss of ``model`` on ``frames``, its sampling noise fixed."""
    model.train()  # the loss samples z; a fixed seed makes every model see the same noise
    torch.manual_seed(1234)
    return float(model.loss(frames_to_tensor(frames))["loss"])


def main() -> None:
    """Train beta_vae_dae in float32 and in bfloat16, several seeds each, and compare what they learn."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--frames", type=int, default=4000)
    parser.add_argument("--lr", type=float, default=5e-4)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path, default=Path("benchmarks/results/precision_curve.json"))
    parser.add_argument("--figure", type=Path, default=Path("docs/results/precision_curve.png"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        collect(CollectConfig(env="darla/SeekAvoid2D-v0", domains=("train",), frames=args.frames, policy="resets", seed=0), tmp / "frames")
        held = FrameDataset(tmp / "frames").get(np.arange(0, args.frames, max(1, args.frames // 256)))
        data = FrameDataset(tmp / "frames")
        torch.manual_seed(0)
        dae = build_model(make_config("dae"))
        fit(dae, data, TrainConfig(steps=args.steps, precision="fp32", checkpoint_every=10**9), tmp / "dae")
        runs: dict[str, dict] = {}
        for precision in ("fp32", "bf16"):
            for seed in range(args.seeds):
                torch.manual_seed(seed)
                model = build_model(make_config("beta_vae_dae", dae=dae.config.to_dict(), dae_layer="output"))
                model.dae.load_state_dict(dae.state_dict())
                out = tmp / f"{precision}_{seed}"
                cfg = TrainConfig(steps=args.steps, lr=args.lr, seed=seed, precision=precision, checkpoint_every=10**9, log_every=10)
                fit(model, data, cfg, out)
                steps, values = logged_loss(out)
                end = [v for s, v in zip(steps, values) if s >= args.steps * 5 / 6]
                runs[f"{precision}_seed{seed}"] = {"precision": precision, "seed": seed, "held_out_loss": held_out_loss(model, held),
                                                   "curve_end_loss": float(np.mean(end)), "curve": {"step": steps, "loss": values}}
    verdicts = {}
    for key in ("held_out_loss", "curve_end_loss"):
        score = {p: [r[key] for r in runs.values() if r["precision"] == p] for p in ("fp32", "bf16")}
        gap = abs(np.mean(score["bf16"]) - np.mean(score["fp32"]))
        spread = max(np.ptp(score["fp32"]), np.ptp(score["bf16"]))
        verdicts[key] = {**score, "gap_between_precision_means": float(gap), "largest_spread_between_seeds": float(spread),
                         "within_noise": bool(gap <= spread)}
    result = {
        "machine": {**describe_machine(), "threads": args.threads},
        "settings": {"variant": "beta_vae_dae", "dae_layer": "output", "steps": args.steps, "lr": args.lr, "batch_size": 64,
                     "frames": args.frames, "held_out_frames": len(held)},
        **verdicts,
        "runs": runs,
    }
    write_json_atomic(args.json, result)
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for name, run in runs.items():
        ax.plot(run["curve"]["step"], run["curve"]["loss"], label=name, color="C0" if run["precision"] == "fp32" else "C3",
                alpha=0.8, linestyle="-" if run["seed"] == 0 else "--")
    ax.set(xlabel="step", ylabel="training loss (logged)", yscale="log",
           title=f"beta_vae_dae, batch 64: fp32 vs bf16 autocast\n{cpu_name()}, {args.threads} threads")
    ax.legend(fontsize=8)
    fig.tight_layout()
    args.figure.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.figure, dpi=120)
    for key, v in verdicts.items():
        print(f"{key}: fp32 {np.round(v['fp32'], 1)}, bf16 {np.round(v['bf16'], 1)}; gap {v['gap_between_precision_means']:.1f}, "
              f"seed spread {v['largest_spread_between_seeds']:.1f}")
    print(f"written to {args.json} and {args.figure}")


if __name__ == "__main__":
    main()
