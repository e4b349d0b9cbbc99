"""Vision throughput in one run: beta_vae_dae pretraining (images/s and FLOP/s, in float32, at
the trainer's default precision, and that precision with the compiled step), encoder inference (frames/s at
batch 1, 8, 64), a FrameEncoder over many frames at two pass sizes, and a large float32 matmul's FLOP rate as
the machine's reference.

Usage: python benchmarks/bench_vision.py [--device auto] [--out benchmarks/results/vision_cpu.json]
Targets: encoder inference at batch 64 reaches at least half the matmul FLOP rate; pretraining at
least 0.6 of it, each image counted at its float32 forward and backward FLOPs.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

import darla
from darla.device import cpu_name, describe_machine, resolve_device, resolve_precision
from darla.files import write_json_atomic
from darla.frames import FrameDataset
from darla.inference import compiled_encoder
from darla.models import build_model, frames_to_tensor, make_config
from darla.synthetic import make_rooms
from darla.train import TrainConfig, fit
from darla.wrappers import ENCODE_BATCH, FrameEncoder


def seconds_per_call(fn: Callable[[], object], device: torch.device, min_time: float = 2.0) -> float:
    """Median seconds of ``fn`` over repeated timed blocks, after a warm-up."""
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    for _ in range(3):
        fn()
    sync()
    times = []
    start = time.perf_counter()
    while time.perf_counter() - start < min_time or len(times) < 5:
        t = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def matmul_flops(device: torch.device, n: int = 4096, dtype: torch.dtype = torch.float32, min_time: float = 2.0) -> float:
    """FLOP/s of an n x n matmul in ``dtype``: the machine's reference rate."""
    a, b = torch.randn(n, n, device=device, dtype=dtype), torch.randn(n, n, device=device, dtype=dtype)
    return 2 * n**3 / seconds_per_call(lambda: a @ b, device, min_time=min_time)


def encoder_inference(device: torch.device, batches: tuple[int, ...] = (1, 8, 16, 64)) -> dict:
    """Frames/s and FLOP/s of DARLA's encoder (64x64x3 -> 32 latents) at each batch size,
    eager and compiled (:func:`darla.inference.compiled_encoder`); 16 is the frames the 2D latent agent encodes a step.

    Each figure is the median over several freshly allocated inputs: on this machine's CPU the
    speed of one allocation can differ from the next by up to 2x. Inputs are random uint8 frames made
    float as :class:`~darla.wrappers.FrameEncoder` makes them (:func:`~darla.models.frames_to_tensor`:
    channels-last strides, which eager convolutions on a CPU run up to 2x faster than contiguous NCHW).
    """

    def frames(batch: int) -> torch.Tensor:
        return frames_to_tensor(torch.randint(0, 256, (batch, 64, 64, 3), dtype=torch.uint8), device)

    model = build_model(make_config("vae")).to(device).eval()
    with FlopCounterMode(display=False) as counter:
        model.encode(torch.rand(1, 3, 64, 64, device=device))
    flops_per_frame = counter.get_total_flops()
    results: dict = {"flops_per_frame": flops_per_frame}
    for mode, encode in (("eager", model.encode), ("compiled", compiled_encoder(model))):
        with torch.inference_mode(mode == "eager"):
            for batch in batches:
                encode(frames(batch))  # compile outside the timing
                fps = float(np.median([
                    batch / seconds_per_call(lambda: encode(x), device, min_time=0.3)
                    for x in (frames(batch) for _ in range(8))
                ]))
                results[f"{mode}_batch_{batch}"] = {"frames_per_s": fps, "flops_per_s": fps * flops_per_frame}
    return results


def frame_encoder(device: torch.device, batches: tuple[int, ...] = (ENCODE_BATCH, 512), frames: int = 4096, rounds: int = 6) -> dict:
    """Frames/s of :class:`~darla.wrappers.FrameEncoder` in float32 (what reports and metrics encode with) over
    ``frames`` random uint8 frames, at each number of frames per forward pass; the median of ``rounds`` rounds that
    take the pass sizes in turn, after one of warm-up."""
    model = build_model(make_config("vae")).to(device)
    space = gym.spaces.Box(0, 255, (64, 64, 3), np.uint8)
    encoders = {batch: FrameEncoder(model, space, precision="fp32", batch=batch) for batch in batches}
    images = np.random.default_rng(0).integers(0, 256, (frames, 64, 64, 3), dtype=np.uint8)
    rates: dict[int, list[float]] = {batch: [] for batch in batches}
    for round_ in range(rounds + 1):
        for batch, encode in encoders.items():
            start = time.perf_counter()
            encode(images)
            if round_:
                rates[batch].append(frames / (time.perf_counter() - start))
    return {f"batch_{batch}": {"frames_per_s": float(np.median(r)), "rounds": r} for batch, r in rates.items()}


def training_flops_per_image(model: torch.nn.Module, batch_size: int) -> float:
    """FLOPs of one training step's forward and backward, per image, counted in float32 where the model is
    (a count, not a timing: the device does not change it)."""
    x = torch.rand(batch_size, 3, 64, 64, device=next(model.parameters()).device)
    with FlopCounterMode(display=False) as counter:
        model.loss(x)["loss"].backward()
    model.zero_grad(set_to_none=True)
    return counter.get_total_flops() / batch_size


#: (name, precision, compiled) of each pretraining measurement
PRETRAINING_SETTINGS = (("fp32", "fp32", False), ("auto", "auto", False), ("auto_compiled", "auto", True))


def pretraining(device: torch.device, steps: int = 40, batch_size: int = 64,
                settings: tuple[tuple[str, str, bool], ...] = PRETRAINING_SETTINGS) -> dict:
    """Images/s of beta_vae_dae training steps (VAE plus frozen DAE, J at the DAE's output) through the
    real trainer, for each of ``settings`` (as PRETRAINING_SETTINGS), and the FLOP rate each reaches."""
    with tempfile.TemporaryDirectory() as tmp:
        frames, _ = make_rooms(4096)
        np.save(Path(tmp) / "frames.npy", frames)
        data = FrameDataset(tmp)
        dae = build_model(make_config("dae"))
        model = build_model(make_config("beta_vae_dae", dae=dae.config.to_dict()))
        flops = training_flops_per_image(model, batch_size)
        results: dict = {"steps": steps, "batch_size": batch_size, "flops_per_image": flops}
        for name, precision, compiled in settings:
            cfg = TrainConfig(steps=steps, batch_size=batch_size, device=str(device), checkpoint_every=10**9, precision=precision,
                              compile="on" if compiled else "off")
            # the first steps (compilation included) are left out of the timing, as a long run amortises them
            warmup = fit_seconds(model, data, dataclasses.replace(cfg, steps=5), Path(tmp) / f"{name}_warmup")
            seconds = fit_seconds(model, data, dataclasses.replace(cfg, steps=5 + steps), Path(tmp) / f"{name}_warmup", resume=True)
            images_per_s = steps * batch_size / seconds
            results[name] = {"precision": resolve_precision(precision, device), "compiled": compiled, "images_per_s": images_per_s,
                             "flops_per_s": images_per_s * flops, "first_5_steps_s": warmup}
    return results


def fit_seconds(model: torch.nn.Module, data: FrameDataset, cfg: TrainConfig, out: Path, resume: bool = False) -> float:
    """Wall-clock seconds of one call of the trainer."""
    start = time.perf_counter()
    fit(model, data, cfg, out, resume=resume)
    return time.perf_counter() - start


def main() -> None:
    """Run every measurement and write one JSON file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    device = resolve_device(args.device)
    matmul = matmul_flops(device)
    encoder = encoder_inference(device)
    result = {
        "machine": {**describe_machine(), "device": torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_name(),
                    "cpu_threads": torch.get_num_threads(), "darla": darla.__version__},
        "matmul_flops_per_s": matmul,
        "encoder_inference": encoder,
        "encoder_batch64_over_matmul": {
            mode: encoder[f"{mode}_batch_64"]["flops_per_s"] / matmul for mode in ("eager", "compiled")
        },
        "frame_encoder": frame_encoder(device),
        "pretraining_beta_vae_dae": pretraining(device),
    }
    result["pretraining_over_matmul"] = {
        precision: result["pretraining_beta_vae_dae"][precision]["flops_per_s"] / matmul for precision, *_ in PRETRAINING_SETTINGS
    }
    out = args.out or Path(__file__).parent / "results" / f"vision_{device.type}.json"
    write_json_atomic(out, result)
    print(json.dumps(result, indent=2))
    print(f"written to {out}")


if __name__ == "__main__":
    main()
