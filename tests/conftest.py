"""Shared fixtures and helpers: small frame folders with real structure, small model settings, and the\ncheck of a one-line CLI refusal."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from darla.synthetic import make_rooms, relook_rooms, render_rooms

# a narrow trunk keeps CPU tests fast; the architecture is the same as DARLA's
SMALL = {"conv_channels": [16, 16, 32, 32], "hidden_dim": 64, "latent_dim": 8}
#: the same on the command line
SMALL_FLAGS = ["--set", "conv_channels=[16,16,32,32]", "--set", "hidden_dim=64", "--latent-dim", "8"]


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist each worker takes one thread (and so do the subprocesses it starts): the
    README's test command runs one worker per core, and more threads than cores slow every worker."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        torch.set_num_threads(1)
        os.environ["OMP_NUM_THREADS"] = "1"


def assert_one_line_error(code: int, err: str, *fragments: str) -> None:
    """A refusal as the CLI should give one: exit status 2, one ``darla: error:`` line holding every
    fragment, no traceback."""
    assert code == 2
    lines = [line for line in err.splitlines() if line.startswith("darla: error:")]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def write_rooms(folder: Path, n: int, image_size: int = 32, seed: int = 0, shards: int = 1) -> Path:
    """Write ``n`` room frames as ``shards`` uncompressed .npz files in ``folder``, each frame
    with a pair (the same object in a room of other colours, ``pair_frames``) and a domain id (its
    wall colour, ``domain``), as collect writes them."""
    folder.mkdir(parents=True, exist_ok=True)
    frames, factors = make_rooms(n, image_size=image_size, seed=seed)
    pairs = render_rooms(relook_rooms(factors, seed), image_size)[:, None]
    domains = factors[:, 0].astype(np.int16)
    for i, (f, y, p, d) in enumerate(zip(*(np.array_split(a, shards) for a in (frames, factors, pairs, domains)))):
        np.savez(folder / f"shard_{i}.npz", frames=f, factors=y, pair_frames=p, domain=d)
    return folder


@pytest.fixture(scope="session")
def rooms_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """1,024 room frames, 32x32, in two shards."""
    return write_rooms(tmp_path_factory.mktemp("rooms"), 1024, shards=2)
