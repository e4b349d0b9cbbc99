"""``darla inspect`` on tiny models writes every artefact it promises."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import numpy as np
import pytest

from conftest import SMALL
from darla.checkpoint import save_vision
from darla.cli import main
from darla.models import build_model, make_config
from darla.inspect import InspectConfig, inspect_model
from darla.metrics import HEADLINES

# a few samples of everything: the test is about the artefacts, not the numbers
TINY = ["--num-train", "40", "--num-eval", "20", "--batch-size", "8", "--num-variance-estimate", "100",
        "--n-estimators", "5", "--pool", "100", "--frames-per-domain", "16", "--discriminator-samples", "100",
        "--discriminator-epochs", "2", "--invariance-states", "50", "--device", "cpu"]
TINY_CONFIG = InspectConfig(metrics={"num_train": 40, "num_eval": 20, "batch_size": 8, "num_variance_estimate": 100, "n_estimators": 5}, pool=200,
                            frames_per_domain=16, discriminator_samples=100, discriminator_epochs=2, invariance_states=50, device="cpu")


def tiny_checkpoint(folder: Path, variant: str, image_size: int = 64) -> Path:
    """An untrained model of ``variant`` on the narrow trunk: its codes still vary with the frame."""
    return save_vision(build_model(make_config(variant, image_size=image_size, **SMALL)), folder)


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("inspect")
    ckpt = tiny_checkpoint(root / "bvae", "beta_vae")
    out = root / "report"
    assert main(["inspect", str(ckpt), "--out", str(out), *TINY]) == 0
    return out


def test_report_holds_every_figure_and_metric(report: Path) -> None:
    domains = ["A_default", "B_default", "B_alternate", "A_alternate"]  # the train group, then target
    for name in [*(f"reconstructions_{d}.png" for d in domains), "traversals.png", "kl_per_dim.png", "metrics.png", "latents_by_domain.png"]:
        assert (report / name).stat().st_size > 1000, name
    metrics = json.loads((report / "metrics.json").read_text())
    assert metrics["domains"] == domains and metrics["variant"] == "beta_vae"
    assert metrics["factors"] == ["agent_x", "agent_y", "heading", "domain"] and metrics["factor_sizes"] == [20, 20, 20, 4]
    scores = metrics["scores"]
    for name, headline in HEADLINES.items():
        # accuracies and gaps lie in [0, 1]; a held-out BCE near chance (0.693) on an untrained code
        assert 0 <= scores[name] <= (1.0 if headline.unit_interval else 1.5), (name, scores[name])
    assert scores["factor_vae_active_dims"] in range(SMALL["latent_dim"] + 1), scores["factor_vae_active_dims"]
    assert len(metrics["latent_factor_information"]) == SMALL["latent_dim"]
    assert metrics["active_latents"], "an untrained encoder's codes vary with the frame"
    # same-state invariance: the train group's pairs and the source against the target, 50 states each
    pairs = metrics["invariance"]["pairs"]
    assert set(pairs) == {"A_default~B_default", "A_default~B_alternate", "B_default~B_alternate", "A_default~A_alternate"}
    assert [pairs[p]["role"] for p in sorted(pairs)] == ["target", "train", "train", "train"]
    assert all(p["states"] == 50 and len(p["domain_leak_per_latent"]) == SMALL["latent_dim"] for p in pairs.values())
    assert metrics["scores"]["same_state_retrieval"] == pairs["A_default~A_alternate"]["same_state_retrieval"]
    train = [p["same_state_retrieval"] for p in pairs.values() if p["role"] == "train"]
    assert metrics["scores"]["train_same_state_retrieval"] == pytest.approx(np.mean(train))
    assert (report / "domain_leak.png").stat().st_size > 1000


def test_index_links_every_figure_and_tabulates_every_metric(report: Path) -> None:
    index = (report / "index.md").read_text()
    linked = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", index)
    assert sorted(linked) == sorted(p.name for p in report.glob("*.png"))
    for headline in HEADLINES.values():
        assert f"| {headline.label} |" in index
    assert "discriminator" in index and "| z" in index
    assert "## Same-state invariance" in index and "| A_default~A_alternate | target |" in index


def test_a_model_without_kl_is_reported_without_that_figure(tmp_path: Path) -> None:
    out = inspect_model(tiny_checkpoint(tmp_path / "ae", "ae"), tmp_path / "report", TINY_CONFIG)
    assert not (out / "kl_per_dim.png").exists()
    assert "No KL per latent" in (out / "index.md").read_text()
    assert (out / "metrics.png").is_file()


def test_a_folder_holding_files_is_refused(report: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    ckpt = tiny_checkpoint(tmp_path / "bvae", "beta_vae")
    before = (report / "index.md").read_text()
    assert main(["inspect", str(ckpt), "--out", str(report), *TINY]) == 2
    assert "already holds files" in capsys.readouterr().err
    assert (report / "index.md").read_text() == before


def test_a_model_for_other_frames_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    ckpt = tiny_checkpoint(tmp_path / "small", "beta_vae", image_size=32)
    assert main(["inspect", str(ckpt), "--out", str(tmp_path / "r"), *TINY]) == 2
    err = capsys.readouterr().err
    assert "the model takes (32, 32, 3)" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "r").exists()


def test_unknown_factor_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    ckpt = tiny_checkpoint(tmp_path / "bvae", "beta_vae")
    assert main(["inspect", str(ckpt), "--out", str(tmp_path / "r"), "--factor", "colour", *TINY]) == 2
    assert "no factor(s) colour" in capsys.readouterr().err


def test_a_domain_name_never_writes_outside_the_report(tmp_path: Path) -> None:
    # issue 15's first finding: a domain named like a path replaced a file in another run's folder
    victim = tmp_path / "other_run" / "traversals.png"
    victim.parent.mkdir()
    victim.write_bytes(b"keep me")
    hostile = tmp_path / "hostile.json"
    hostile.write_text(json.dumps({"name": "x/../../other_run/traversals", "wall_colour": "purple"}))
    out = inspect_model(tiny_checkpoint(tmp_path / "bvae", "beta_vae"), tmp_path / "runs" / "report",
                        dataclasses.replace(TINY_CONFIG, domains=("A_default", str(hostile))))
    assert victim.read_bytes() == b"keep me"
    assert (out / "reconstructions_A_default.png").is_file() and (out / "reconstructions_domain1.png").is_file()
    assert sorted(p.parent for p in (tmp_path / "runs").rglob("*.png")) == [out] * len(list(out.glob("*.png")))


def test_metric_flags_change_only_what_they_name() -> None:
    """The metrics' flags fill InspectConfig.metrics: a flag given sets its field, the rest keep
    inspect's defaults (a fifth of disentanglement_lib's), not MetricConfig's own."""
    from darla.cli import build_parser, dataclass_from_args
    from darla.inspect import INSPECT_METRICS

    parse = build_parser().parse_args
    assert dataclass_from_args(InspectConfig, parse(["inspect", "ckpt", "--out", "r"])).metrics == INSPECT_METRICS
    config = dataclass_from_args(InspectConfig, parse(["inspect", "ckpt", "--out", "r", "--num-train", "40", "--bins", "7"]))
    assert (config.metrics.num_train, config.metrics.bins, config.metrics.num_eval) == (40, 7, 1000)
    assert InspectConfig(metrics={"num_eval": 9}).metrics == dataclasses.replace(INSPECT_METRICS, num_eval=9)
