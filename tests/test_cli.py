"""The ``darla`` command: the jobs run end to end, and every bad input gets one clear line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import SMALL_FLAGS, assert_one_line_error, write_rooms
from darla.checkpoint import CONFIG_FILE, MODEL_FILE
from darla.cli import main
from darla.models import get_variant

def run_cli(args: list[str], capsys: pytest.CaptureFixture) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


TRAINED_FLAGS = ["--steps", "30", "--teacher-steps", "20", "--batch-size", "16", "--beta", "2", "--device", "cpu", *SMALL_FLAGS]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A beta_vae_dae trained through the CLI, with its DAE trained first."""
    data = write_rooms(tmp_path_factory.mktemp("data"), 256)
    out = tmp_path_factory.mktemp("runs") / "bvd"
    code = main(["pretrain", "--model", "beta_vae_dae", "--data", str(data), "--out", str(out), *TRAINED_FLAGS])
    assert code == 0
    return out


def test_pretrain_writes_checkpoint_figures_and_logs(trained: Path) -> None:
    for name in ("model.safetensors", "config.json", "reconstructions.png", "traversals.png", "kl_per_dim.png"):
        assert (trained / name).stat().st_size > 100, name
    assert (trained / "dae" / MODEL_FILE).is_file(), "the DAE is kept beside the result"
    config = json.loads((trained / CONFIG_FILE).read_text())["model"]
    assert config["beta"] == 2.0 and config["latent_dim"] == 8 and config["dae"]["variant"] == "dae"
    # each records the learning rate it was trained with, not "the variant's default"
    lrs = [json.loads((folder / CONFIG_FILE).read_text())["train"]["lr"] for folder in (trained, trained / "dae")]
    assert lrs == [get_variant("beta_vae_dae").lr, get_variant("dae").lr]
    from PIL import Image

    # the beta_vae_dae grid has two more rows (input and reconstruction through the DAE) than the DAE's own
    assert Image.open(trained / "reconstructions.png").height > 1.5 * Image.open(trained / "dae" / "reconstructions.png").height
    events = list((trained / "tensorboard").glob("events.out.tfevents.*"))
    assert events and events[0].stat().st_size > 0


def test_pretrain_with_given_dae_does_not_retrain_it(trained: Path, tmp_path: Path, capsys) -> None:
    data = write_rooms(tmp_path / "data", 64)
    code, out, _ = run_cli(["pretrain", "--model", "beta_vae_dae", "--data", data, "--out", tmp_path / "o", "--steps", "3",
                            "--batch-size", "8", "--dae", trained / "dae", "--device", "cpu", "--no-figures", *SMALL_FLAGS], capsys)
    assert code == 0 and "outputs in" in out
    assert not (tmp_path / "o" / "dae").exists()


def _copy_checkpoint(src: Path, dst: Path) -> Path:
    dst.mkdir()
    for name in (MODEL_FILE, CONFIG_FILE):
        (dst / name).write_bytes((src / name).read_bytes())
    return dst


@pytest.mark.parametrize(
    "damage,fragment",
    [
        (lambda d: (d / MODEL_FILE).unlink(), "model.safetensors is missing"),
        (lambda d: (d / CONFIG_FILE).unlink(), "config.json is missing"),
        (lambda d: (d / MODEL_FILE).write_bytes((d / MODEL_FILE).read_bytes()[:200]), "model.safetensors is corrupted"),
        (lambda d: (d / CONFIG_FILE).write_text("{not json"), "config.json is corrupted"),
        (lambda d: (d / CONFIG_FILE).write_text(json.dumps({**json.loads((d / CONFIG_FILE).read_text()), "format_version": 99})),
         "checkpoint format 99"),
        (lambda d: (d / CONFIG_FILE).write_text(json.dumps({**json.loads((d / CONFIG_FILE).read_text()),
                                                            "model": {"variant": "dae", "wings": 2}})), "does not fit this darla version"),
    ],
)
def test_damaged_checkpoint(damage, fragment: str, trained: Path, tmp_path: Path, capsys) -> None:
    dae = _copy_checkpoint(trained / "dae", tmp_path / "dae")
    damage(dae)
    data = write_rooms(tmp_path / "data", 16)
    code, _, err = run_cli(["pretrain", "--model", "beta_vae_dae", "--data", data, "--out", tmp_path / "o", "--dae", dae], capsys)
    assert_one_line_error(code, err, fragment)


def test_existing_run_is_not_overwritten(trained: Path, tmp_path: Path, capsys) -> None:
    before = (trained / MODEL_FILE).read_bytes()
    data = write_rooms(tmp_path / "data", 16)
    code, _, err = run_cli(["pretrain", "--model", "ae", "--data", data, "--out", trained, "--steps", "1"], capsys)
    assert_one_line_error(code, err, "already holds files", "--resume")
    assert (trained / MODEL_FILE).read_bytes() == before


def test_resume_with_other_config_is_refused(trained: Path, capsys) -> None:
    code, _, err = run_cli(["pretrain", "--model", "beta_vae_dae", "--data", trained, "--out", trained, "--resume"], capsys)
    assert code == 2 and "no .npy or .npz" in err  # the data folder is checked first
    data = json.loads((trained / "pretrain.json").read_text())["data"]
    code, _, err = run_cli(["pretrain", "--model", "beta_vae_dae", "--data", data, "--out", trained, "--resume", "--latent-dim", "4"], capsys)
    assert_one_line_error(code, err, "holds a run with other settings (", "latent_dim")


@pytest.mark.parametrize("change,field", [(["--lr", "0.5"], "train.lr"), (["--seed", "7"], "train.seed"), ([], "data")])
def test_resume_with_other_data_lr_or_seed_leaves_the_finished_run_alone(change: list[str], field: str, trained: Path,
                                                                         tmp_path: Path, capsys) -> None:
    kept = {p: p.read_bytes() for p in (trained / MODEL_FILE, trained / "pretrain.json")}
    data = json.loads((trained / "pretrain.json").read_text())["data"] if change else write_rooms(tmp_path / "other", 64)
    code, _, err = run_cli(["pretrain", "--model", "beta_vae_dae", "--data", data, "--out", trained, "--resume",
                            *TRAINED_FLAGS, *change], capsys)
    assert_one_line_error(code, err, f"holds a run with other settings ({field})")
    assert {p: p.read_bytes() for p in kept} == kept


def test_entry_point_prints_no_traceback(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "darla", "pretrain", "--model", "ae", "--data", str(tmp_path / "nope"), "--out", str(tmp_path / "o")],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [f"darla: error: frame folder {tmp_path / 'nope'} does not exist: pass the folder that holds your .npy/.npz frames"]


@pytest.mark.slow
def test_demo_runs_the_chain_and_prints_the_transfer_table(tmp_path: Path, capsys) -> None:
    args = ["demo", "--out", tmp_path / "demo", "--budget", "smoke", "--workers", "1", "--device", "cpu"]
    code, out, _ = run_cli(args, capsys)
    assert code == 0
    # DARLA's sharper test: agents learn in A_default alone
    assert "| single | beta_vae_dae |" in out and "| single | pixels |" in out
    assert "Same-state invariance" in out and "retrieval (source~target)" in out
    assert f"  {tmp_path / 'demo' / 'results.png'}" in out and "traversals.png" in out
    results = json.loads((tmp_path / "demo" / "results.json").read_text())
    assert set(results["results"]["single"]) == {"beta_vae_dae", "pixels"}
    report = json.loads((tmp_path / "demo" / "inspect" / "beta_vae_dae" / "metrics.json").read_text())
    assert results["invariance"]["beta_vae_dae"]["same_state_retrieval"] == report["scores"]["same_state_retrieval"]
    # a second run reuses everything instead of failing or starting over
    code, out, _ = run_cli(args, capsys)
    assert code == 0
    assert json.loads((tmp_path / "demo" / "results.json").read_text())["cell_seconds_this_run"] == {}


def test_domains_lists_presets_and_draws_them(tmp_path: Path, capsys) -> None:
    from PIL import Image

    code, out, _ = run_cli(["domains", "--env", "darla/SeekAvoid2D-v0", "--out", tmp_path / "d.png"], capsys)
    assert code == 0
    assert "group target: A_alternate" in out and "A_default: " in out and "object_set=A" in out
    image = np.asarray(Image.open(tmp_path / "d.png").convert("RGB"))
    assert image.shape[0] > 300 and image.std() > 20


def test_domains_refuses_an_out_that_is_not_a_png(tmp_path: Path, capsys) -> None:
    domain = tmp_path / "existing.json"
    domain.write_text('{"wall_colour": "purple"}')
    code, _, err = run_cli(["domains", "--env", "darla/SeekAvoid2D-v0", "--out", domain], capsys)
    assert_one_line_error(code, err, "must name a .png file")
    assert domain.read_text() == '{"wall_colour": "purple"}'


def test_a_domain_tint_that_is_not_three_numbers_is_one_line(tmp_path: Path, capsys) -> None:
    domain = tmp_path / "tinted.json"
    domain.write_text('{"tint": "abc"}')
    code, _, err = run_cli(["collect", "--domain", domain, "--frames", "10", "--out", tmp_path / "frames"], capsys)
    assert_one_line_error(code, err, "tint must be three non-negative channel multipliers, got 'abc'")
    assert not (tmp_path / "frames").exists()


@pytest.mark.parametrize("damaged,fragment", [("pretrain.json", "pretrain.json is corrupted"),
                                              ("trainer.json", "trainer.json is corrupted: remove")])
def test_resume_over_a_corrupted_record_is_one_line(damaged: str, fragment: str, trained: Path, tmp_path: Path, capsys) -> None:
    import shutil

    run = tmp_path / "bvd"
    shutil.copytree(trained, run)
    data = json.loads((run / "pretrain.json").read_text())["data"]
    target = run / "pretrain.json" if damaged == "pretrain.json" else sorted((run / "checkpoints").iterdir())[-1] / damaged
    target.write_text('{"step": ')
    kept = (run / MODEL_FILE).read_bytes()
    code, _, err = run_cli(["pretrain", "--model", "beta_vae_dae", "--data", data, "--out", run, "--resume", *TRAINED_FLAGS], capsys)
    assert_one_line_error(code, err, fragment)
    assert (run / MODEL_FILE).read_bytes() == kept
