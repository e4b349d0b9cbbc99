"""Checkpoints round-trip exactly, resume equals an uninterrupted run, and bad files are refused."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import safetensors.torch
import torch

from conftest import SMALL
import darla
from darla.checkpoint import CONFIG_FILE, MODEL_CARD, MODEL_FILE
from darla.frames import FrameDataset
from darla.models import VAE, frames_to_tensor, make_config
from darla.train import TrainConfig, pretrain


def small_config(name: str = "vae", **overrides):
    return make_config(name, **{**SMALL, **overrides})


@pytest.mark.parametrize("name", ["vae", "beta_vae_dae", "pca", "sparse_ae"])
def test_round_trip_gives_identical_codes(name: str, rooms_dir: Path, tmp_path: Path) -> None:
    trunk = {"latent_dim": 8} if name == "pca" else SMALL
    train = TrainConfig(steps=5, teacher_steps=5, batch_size=16, device="cpu")
    model = pretrain(make_config(name, **trunk), train, rooms_dir, tmp_path / "run", figures=False)
    loaded = darla.load_vision(tmp_path / "run", device="cpu")
    assert not loaded.training and type(loaded) is type(model)
    x = frames_to_tensor(FrameDataset(rooms_dir).get(np.arange(20)))
    with torch.no_grad():
        assert torch.equal(model.encode(x), loaded.encode(x))
    config = json.loads((tmp_path / "run" / CONFIG_FILE).read_text())
    assert config["model"]["variant"] == name
    assert config["darla_version"] == darla.__version__
    assert len(config["data"]["manifest_hash"]) == 64 and config["data"]["frames"] == 1024
    assert config["normalisation"]["scale"] == pytest.approx(1 / 255)


def test_load_vision_auto_device_is_eval(rooms_dir: Path, tmp_path: Path) -> None:
    pretrain(small_config("ae"), TrainConfig(steps=2, batch_size=8, device="cpu"), rooms_dir, tmp_path / "ae", figures=False)
    model = darla.load_vision(tmp_path / "ae" / MODEL_FILE)
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert model.device.type == expected and not model.training


def test_non_finite_weights_are_refused_on_load(rooms_dir: Path, tmp_path: Path) -> None:
    from darla.errors import DarlaError

    pretrain(small_config("vae"), TrainConfig(steps=2, batch_size=8, device="cpu"), rooms_dir, tmp_path / "vae", figures=False)
    tensors = safetensors.torch.load_file(str(tmp_path / "vae" / MODEL_FILE))
    name = sorted(tensors)[0]
    tensors[name] = torch.full_like(tensors[name], float("nan"))
    safetensors.torch.save_file(tensors, str(tmp_path / "vae" / MODEL_FILE))
    with pytest.raises(DarlaError, match=f"holds non-finite weights \\({name}\\)"):
        darla.load_vision(tmp_path / "vae", device="cpu")


@pytest.mark.parametrize("field,value", [("hidden_dim", 1_000_000), ("latent_dim", 1_000_000_000)])
def test_a_config_asking_for_huge_layers_is_refused_before_allocating(field: str, value: int, rooms_dir: Path,
                                                                      tmp_path: Path) -> None:
    import subprocess
    import sys

    pretrain(small_config("vae"), TrainConfig(steps=2, batch_size=8, device="cpu"), rooms_dir, tmp_path / "vae", figures=False)
    config = json.loads((tmp_path / "vae" / CONFIG_FILE).read_text())
    config["model"][field] = value
    (tmp_path / "vae" / CONFIG_FILE).write_text(json.dumps(config))
    # a fresh process, so its peak memory before the load is known
    script = (
        "import resource, sys, darla\n"
        "from darla.errors import DarlaError\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "try:\n    darla.load_vision(sys.argv[1], device='cpu')\nexcept DarlaError as exc:\n    print(exc)\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)\n"
    )
    result = subprocess.run([sys.executable, "-c", script, str(tmp_path / "vae")], capture_output=True, text=True, timeout=120)
    message, grown_kib = result.stdout.strip().splitlines()
    assert "does not match its config.json" in message, result.stdout + result.stderr
    # the layer asked for is gigabytes (latent_dim 1e9: 256 GB); the load grew the peak by under 100 MB
    assert int(grown_kib) < 100_000, grown_kib


# the compiled step too: Inductor's kernels are deterministic on CPU, so a resumed compiled run is the uninterrupted one
@pytest.mark.parametrize("name,compile_mode", [("vae", "off"), ("dae", "off"), ("vae", "on")])
def test_resume_equals_uninterrupted(name: str, compile_mode: str, rooms_dir: Path, tmp_path: Path) -> None:
    cfg = small_config(name)
    full = TrainConfig(steps=20, batch_size=16, device="cpu", checkpoint_every=5, seed=3, compile=compile_mode)
    pretrain(cfg, full, rooms_dir, tmp_path / "straight", figures=False)
    # the interrupted run stops at step 10 (its last checkpoint), then resumes to 20
    pretrain(cfg, TrainConfig(**{**full.__dict__, "steps": 10}), rooms_dir, tmp_path / "resumed", figures=False)
    assert not (tmp_path / "resumed" / "checkpoints" / "step_00000015").exists()
    pretrain(cfg, full, rooms_dir, tmp_path / "resumed", resume=True, figures=False)
    a = safetensors.torch.load_file(str(tmp_path / "straight" / MODEL_FILE))
    b = safetensors.torch.load_file(str(tmp_path / "resumed" / MODEL_FILE))
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    a0 = safetensors.torch.load_file(str(tmp_path / "straight" / "checkpoints" / "step_00000020" / MODEL_FILE))
    assert all(torch.equal(a0[k], v) for k, v in a.items()), "the final checkpoint holds the final weights"


def test_non_finite_loss_stops_and_keeps_last_good_checkpoint(
    rooms_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_loss = VAE.loss

    def loss_that_blows_up(self, x, step=0):
        terms = real_loss(self, x, step)
        if step >= 13:
            terms["kl"] = terms["kl"] * float("nan")
            terms["loss"] = terms["recon"] + terms["kl"]
        return terms

    monkeypatch.setattr(VAE, "loss", loss_that_blows_up)
    out = tmp_path / "run"
    train = TrainConfig(steps=30, batch_size=8, device="cpu", checkpoint_every=5)
    with pytest.raises(darla.DarlaError, match=r"'kl' became non-finite at step 13; the last good checkpoint is .*step_00000010"):
        pretrain(small_config("vae"), train, rooms_dir, out, figures=False)
    kept = sorted(p.name for p in (out / "checkpoints").iterdir())
    assert kept == ["step_00000005", "step_00000010"]
    weights = safetensors.torch.load_file(str(out / "checkpoints" / "step_00000010" / MODEL_FILE))
    assert all(torch.isfinite(w).all() for w in weights.values())
    assert not (out / MODEL_FILE).exists()
    monkeypatch.setattr(VAE, "loss", real_loss)
    pretrain(small_config("vae"), train, rooms_dir, out, resume=True, figures=False)
    assert darla.load_vision(out, device="cpu").latent_dim == SMALL["latent_dim"]


def test_periodic_checkpoints_are_whole_and_pruned(rooms_dir: Path, tmp_path: Path) -> None:
    train = TrainConfig(steps=12, batch_size=8, device="cpu", checkpoint_every=3, keep_checkpoints=2)
    pretrain(small_config("ae"), train, rooms_dir, tmp_path / "run", figures=False)
    ckpts = sorted((tmp_path / "run" / "checkpoints").iterdir())
    assert [p.name for p in ckpts] == ["step_00000009", "step_00000012"]
    for p in ckpts:
        assert {f.name for f in p.iterdir()} == {MODEL_FILE, CONFIG_FILE, MODEL_CARD, "optimizer.safetensors", "trainer.json"}
