"""SIGKILL at random points of collect, pretrain, train and reproduce, then the same command again:
each ends where an uninterrupted run ends (byte for byte where README promises it)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from conftest import write_rooms
from darla.agent import load_agent

pytestmark = pytest.mark.slow

#: kills per command, each at a random point of an uninterrupted run's wall-clock (two keep CI under its limit)
KILLS = 2


def command(args: Sequence[object]) -> list[str]:
    return [sys.executable, "-m", "darla", *map(str, args)]


def run(args: Sequence[object]) -> float:
    """Run to the end; the seconds it took."""
    start = time.perf_counter()
    result = subprocess.run(command(args), capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    return time.perf_counter() - start


def kill_at_random_points(args: Sequence[object], out: Path, seconds: float, seed: int) -> None:
    """Start the command ``KILLS`` times, each killed (SIGKILL) a random share of the way through its work unless it
    finished first: the clock starts when the command has claimed ``out`` (its run record is there), so no kill
    lands while Python and torch are still importing. At least the first start must have been killed."""
    killed = 0
    for share in np.random.default_rng(seed).uniform(0.1, 0.8, size=KILLS):
        start = time.perf_counter()
        proc = subprocess.Popen(command([*args, "--out", out]), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while proc.poll() is None and not any(out.glob("*.json")):
            time.sleep(0.02)
        work = max(seconds - (time.perf_counter() - start), 0.1)
        try:
            proc.wait(timeout=share * work)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            killed += 1
    assert killed, "every start finished before its kill: nothing was interrupted"


def files(folder: Path, pattern: str) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.glob(pattern))}


def test_collect_killed_anywhere_ends_with_the_same_shards(tmp_path: Path) -> None:
    args = ["--frames", "1500", "--shard-size", "125", "--pairs", "1", "--domain", "train"]
    seconds = run(["collect", "--out", tmp_path / "straight", *args])
    kill_at_random_points(["collect", *args], tmp_path / "killed", seconds, seed=0)
    run(["collect", "--out", tmp_path / "killed", *args])
    straight, killed = (files(tmp_path / name, "shard_*.npz") for name in ("straight", "killed"))
    assert len(straight) == 12 and killed == straight
    assert (tmp_path / "killed" / "manifest.json").read_text() == (tmp_path / "straight" / "manifest.json").read_text()


def test_pretrain_killed_anywhere_resumes_to_the_same_weights(tmp_path: Path) -> None:
    data = write_rooms(tmp_path / "data", 512)
    args = ["pretrain", "--model", "vae", "--data", data, "--resume", "--steps", "200", "--batch-size", "16",
            "--checkpoint-every", "20", "--device", "cpu", "--precision", "fp32", "--no-figures",
            "--set", "conv_channels=[16,16,32,32]", "--set", "hidden_dim=64", "--latent-dim", "8"]
    seconds = run([*args, "--out", tmp_path / "straight"])
    kill_at_random_points(args, tmp_path / "killed", seconds, seed=1)
    run([*args, "--out", tmp_path / "killed"])
    assert files(tmp_path / "killed", "model.safetensors") == files(tmp_path / "straight", "model.safetensors")


def test_train_killed_anywhere_resumes_to_the_asked_steps(tmp_path: Path) -> None:
    out = tmp_path / "agent"
    args = ["train", "--pixels", "--resume", "--steps", "512", "--n-envs", "1", "--eval-freq", "10000",
            "--checkpoint-freq", "64", "--hyperparams", "n_steps=64", "--hyperparams", "batch_size=64", "--device", "cpu"]
    seconds = run([*args, "--out", tmp_path / "straight"])
    kill_at_random_points(args, out, seconds, seed=2)
    if not (out / "model.zip").is_file():  # the second start may have finished it
        run([*args, "--out", out])
    assert load_agent(out, device="cpu").model.num_timesteps == 512


def test_reproduce_killed_anywhere_ends_with_the_same_results(tmp_path: Path) -> None:
    args = ["reproduce", "--budget", "smoke", "--protocol", "single", "--method", "ae", "--device", "cpu"]
    seconds = run([*args, "--out", tmp_path / "straight"])
    kill_at_random_points(args, tmp_path / "killed", seconds, seed=3)
    run([*args, "--out", tmp_path / "killed"])
    straight, killed = (json.loads((tmp_path / name / "results.json").read_text()) for name in ("straight", "killed"))
    assert killed["results"] == straight["results"]
    assert killed["invariance"] == straight["invariance"]
