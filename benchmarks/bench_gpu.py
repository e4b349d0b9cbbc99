"""The whole chain on a CUDA GPU in one run, with its timings (issue 13's GPU check):
- the vision trainer: beta_vae_dae pretraining images/s in float32, under bfloat16 autocast and compiled, at
  batch 64 and at a GPU-sized batch, over the device's float32 and bfloat16 matmul rates;
- encoding in the wrapper: VecLatentObservation env steps/s with the encoder on the GPU;
- the SB3 policy: PPO env steps/s on latents (policy on the GPU, and on the CPU beside the GPU's encoder) and on
  pixels, with their time shares;
- the experiment end to end: ``darla reproduce --device cuda`` at a small budget, its wall-clock and cell seconds.

The JSON is rewritten after each stage, so a run stopped at a time limit keeps what it measured.

Usage: python benchmarks/bench_gpu.py [--device cuda] [--budget smoke] [--workers 8] [--steps 16384]
                                      [--out benchmarks/results/gpu.json]
``--device cpu`` runs the same stages on the CPU (to check the script where no GPU is lent).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
import darla
from bench_agents import ENV, agent_envs, encoding_steps_per_second, ppo_steps_per_second, train_envs, untrained_vision, vec_steps_per_second
from bench_vision import encoder_inference, matmul_flops, pretraining
from darla.device import cpu_name, describe_machine, resolve_device
from darla.files import write_json_atomic

#: a batch that fills a GPU far better than DARLA's 64 (timed without compilation)
LARGE_BATCH = 512
#: (name, precision, compiled) of each pretraining measurement: both precisions named, since ``auto`` means
#: float32 on a GPU
SETTINGS = (("fp32", "fp32", False), ("bf16", "bf16", False), ("fp32_compiled", "fp32", True))


def matmul_rates(device: torch.device, n: int = 8192) -> dict[str, float]:
    """FLOP/s of an n x n matmul in float32 and in bfloat16 (on CPU, n = 4096 as bench_vision)."""
    n = n if device.type == "cuda" else 4096
    return {name: matmul_flops(device, n, dtype, min_time=1.0) for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16))}


def machine(device: torch.device) -> dict[str, Any]:
    """What the figures were measured on."""
    return {**describe_machine(), "device": torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_name(),
            "cuda": torch.version.cuda, "darla": darla.__version__}


def agents(device: torch.device, steps: int) -> dict[str, Any]:
    """Encoding in the wrapper and PPO on latents and pixels, everything that runs in torch on ``device``."""
    with tempfile.TemporaryDirectory() as tmp:
        vision = untrained_vision(Path(tmp))
        encoding = encoding_steps_per_second(vision, steps, str(device))
        raw = vec_steps_per_second(train_envs(), steps)
        latent, latent_shares = ppo_steps_per_second("latent", vision, steps, "auto", str(device))
        # SB3 advises an MLP policy on the CPU: the encoder stays on the GPU
        latent_cpu_policy, latent_cpu_shares = ppo_steps_per_second("latent", vision, steps, "auto", str(device), "cpu")
        pixels, pixel_shares = ppo_steps_per_second("pixels", None, steps, "auto", str(device))
    return {
        "env": ENV,
        "n_envs": agent_envs(),
        "steps_per_second": {
            "raw frames (DummyVecEnv)": raw,
            "VecLatentObservation, fp32": encoding["fp32"],
            "VecLatentObservation, auto": encoding["auto"],
            "PPO training on latents (MlpPolicy), encoder auto": latent,
            "PPO training on latents (MlpPolicy on the CPU), encoder auto": latent_cpu_policy,
            "PPO training on pixels (CnnPolicy)": pixels,
        },
        "time_shares": {"PPO training on latents": latent_shares, "PPO training on latents, policy on the CPU": latent_cpu_shares,
                        "PPO training on pixels": pixel_shares},
        "ppo_latent_over_pixels": latent / pixels,
        "ppo_latent_policy_on_cpu_over_pixels": latent_cpu_policy / pixels,
    }


def chain(device: torch.device, budget: str, workers: int, out: Path) -> dict[str, Any]:
    """``darla reproduce`` on ``device`` at ``budget``, as a user runs it: its wall-clock and its report."""
    command = [sys.executable, "-m", "darla", "reproduce", "--env", ENV, "--budget", budget, "--device", device.type,
               "--workers", str(workers), "--out", str(out)]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        return {"command": " ".join(command[1:]), "wall_seconds": wall, "returncode": done.returncode, "stderr_tail": done.stderr[-3000:]}
    report = json.loads((out / "results.json").read_text())
    return {
        "command": " ".join(command[1:]),
        "wall_seconds": wall,
        "returncode": 0,
        "cores_busy_share": report["cores_busy_share_this_run"],
        "cell_seconds": report["cell_seconds_this_run"],
        "mean_returns": {protocol: {method: {row["domain"]: row["mean"] for row in rows} for method, rows in methods.items()}
                         for protocol, methods in report["results"].items()},
    }


def main() -> None:
    """Run every stage, rewriting one JSON file after each."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", help="cuda (default) or cpu, to check the script")
    parser.add_argument("--budget", default="smoke", help="the reproduce budget of the end-to-end stage")
    parser.add_argument("--workers", type=int, default=8, help="reproduce's cells at once")
    parser.add_argument("--steps", type=int, default=16_384, help="env steps of each agent measurement")
    parser.add_argument("--pretraining-steps", type=int, default=100, help="timed training steps of each pretraining setting")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "gpu.json")
    args = parser.parse_args()
    device = resolve_device(args.device)
    report: dict[str, Any] = {"machine": machine(device), "stage_seconds": {}}

    def stage(name: str, work: Any) -> None:
        start = time.perf_counter()
        report[name] = work()
        report["stage_seconds"][name] = time.perf_counter() - start
        write_json_atomic(args.out, report)
        print(f"{name}: {report['stage_seconds'][name]:.1f} s", flush=True)

    stage("matmul_flops_per_s", lambda: matmul_rates(device))
    stage("encoder_inference", lambda: encoder_inference(device))
    stage("pretraining_batch_64", lambda: pretraining(device, steps=args.pretraining_steps, settings=SETTINGS))
    stage(f"pretraining_batch_{LARGE_BATCH}", lambda: pretraining(device, steps=args.pretraining_steps, batch_size=LARGE_BATCH,
                                                                 settings=SETTINGS[:2]))
    # each setting over the matmul rate of its own precision
    report["pretraining_over_matmul"] = {
        f"batch {batch}, {name}": report[f"pretraining_batch_{batch}"][name]["flops_per_s"] / report["matmul_flops_per_s"][precision]
        for batch in (64, LARGE_BATCH) for name, precision, _ in SETTINGS if name in report[f"pretraining_batch_{batch}"]
    }
    stage("agents", lambda: agents(device, args.steps))
    with tempfile.TemporaryDirectory() as tmp:
        stage("reproduce", lambda: chain(device, args.budget, args.workers, Path(tmp) / "run"))
    write_json_atomic(args.out, report)
    print(json.dumps(report, indent=2, default=float))
    print(f"written to {args.out}")
    if report["reproduce"]["returncode"] != 0:
        sys.exit(f"bench_gpu: darla reproduce failed (exit {report['reproduce']['returncode']}); its stderr's end is in {args.out}")


if __name__ == "__main__":
    main()
