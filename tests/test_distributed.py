"""torchrun with two CPU processes (gloo) trains the same model as one process on the whole batch."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import safetensors.torch
import torch

from conftest import SMALL, SMALL_FLAGS, write_rooms
from darla.models import build_model, make_config
from darla.checkpoint import MODEL_FILE
from darla.cli import main


def test_two_process_ddp_matches_single_process(tmp_path: Path) -> None:
    data = write_rooms(tmp_path / "data", 256)
    # float32: bfloat16's rounding of half a batch differs from the whole batch's, so only fp32 can match to 1e-5
    common = ["pretrain", "--model", "ae", "--data", str(data), "--steps", "6", "--batch-size", "16",
              "--device", "cpu", "--precision", "fp32", "--no-figures", *SMALL_FLAGS]
    assert main([*common, "--out", str(tmp_path / "single")]) == 0
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
         "-m", "darla.cli", *common, "--out", str(tmp_path / "ddp")],
        capture_output=True, text=True, timeout=300, env=env,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    single = safetensors.torch.load_file(str(tmp_path / "single" / MODEL_FILE))
    ddp = safetensors.torch.load_file(str(tmp_path / "ddp" / MODEL_FILE))
    torch.manual_seed(0)
    initial = build_model(make_config("ae", image_size=32, **SMALL)).state_dict()
    moved = max(float((single[k] - initial[k]).abs().max()) for k in single)
    diff = max(float((single[k] - ddp[k]).abs().max()) for k in single)
    # each process sees half of every batch; averaged gradients equal the whole batch's
    assert moved > 1e-3, "training moved the weights"
    assert diff < 1e-5, f"DDP differs from one process by {diff} (training moved weights by {moved})"
