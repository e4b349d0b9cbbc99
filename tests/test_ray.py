"""The experiment's cells as Ray tasks on a local 2-CPU instance: the same numbers as the process pool,
and a run killed midway resumes."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from darla.errors import DarlaError
from darla.reproduce import ReproduceConfig, reproduce
from darla.runner import _ray

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.slow

ARGS = ["reproduce", "--budget", "smoke", "--protocol", "single", "--method", "vae", "--method", "pixels", "--device", "cpu"]


def cli(out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "darla", *ARGS, "--out", str(out), *extra]


@pytest.fixture(scope="module")
def on_ray(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A smoke run whose cells ran as Ray tasks, two at a time, on a local instance (this machine's 2 CPUs)."""
    out = tmp_path_factory.mktemp("ray") / "run"
    done = subprocess.run(cli(out, "--executor", "ray", "--workers", "2"), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    return out


def test_ray_gives_the_process_pools_numbers(on_ray: Path, tmp_path: Path) -> None:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a Ray task of one CPU computes with one thread
    try:
        reproduce(ReproduceConfig(budget="smoke", protocols=("single",), methods=("vae", "pixels"), device="cpu"), tmp_path / "pool")
    finally:
        torch.set_num_threads(threads)
    pool, ray_run = (json.loads((folder / "results.json").read_text()) for folder in (tmp_path / "pool", on_ray))
    assert ray_run["running"]["executor"] == "ray" and pool["running"]["executor"] == "process"
    assert ray_run["results"] == pool["results"] and ray_run["invariance"] == pool["invariance"]
    assert set(ray_run["cell_seconds_this_run"]) == set(pool["cell_seconds_this_run"])


def test_a_killed_ray_run_resumes(on_ray: Path, tmp_path: Path) -> None:
    out = tmp_path / "killed"
    proc = subprocess.Popen(cli(out, "--executor", "ray", "--workers", "2"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # killed once some cells have finished and others have not
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and not (out / "cells" / "vision").is_dir():
        time.sleep(0.5)
    proc.kill()
    proc.wait()
    finished_before = {p.relative_to(out / "cells").as_posix() for p in (out / "cells").rglob("*.json")}
    assert finished_before and not (out / "results.json").exists()
    done = subprocess.run(cli(out, "--executor", "ray", "--workers", "2"), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    resumed = json.loads((out / "results.json").read_text())
    # the cells finished before the kill are not run again, and the numbers are the uninterrupted run's
    assert not {f"{name}.json" for name in resumed["cell_seconds_this_run"]} & finished_before
    assert resumed["results"] == json.loads((on_ray / "results.json").read_text())["results"]


def test_a_node_that_cannot_see_the_run_folder_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("darla.runner._sees", lambda path, token: False)
    with pytest.raises(DarlaError, match="cannot read the run folder .*: put --out on storage every node mounts"):
        with _ray(tmp_path, None):
            pass
    assert not list(tmp_path.glob(".ray_probe_*"))
