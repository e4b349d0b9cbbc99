"""darla tune: the source-only search on an Optuna study, its trials run as cells, resumable after a kill."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from darla.cli import main
from darla.errors import DarlaError
from darla.tune import TuneConfig, spec_of, trial_cells

optuna = pytest.importorskip("optuna")

SMOKE = ["tune", "--budget", "smoke", "--method", "vae", "--seeds", "1", "--device", "cpu"]


def test_candidates_are_scored_in_the_source_and_kept(tmp_path: Path) -> None:
    args = [*SMOKE, "--out", str(tmp_path / "t"), "--candidate", 'slow={"lr": 1e-5}', "--candidate", 'fast={"lr": 3e-3, "agent": {"learning_rate": 1e-3}}']
    assert main(args) == 0
    (summary,) = json.loads((tmp_path / "t" / "tune.json").read_text()).values()
    rows = {r["candidate"]: r for r in summary["trials"]}
    assert set(rows) == {"slow", "fast"} and rows["fast"]["spec"]["agent"] == {"learning_rate": 1e-3}
    assert summary["best"]["source_return"] == max(r["source_return"] for r in rows.values())
    # scored on the source alone: the evaluation drew no other domain
    evaluation = json.loads(next((tmp_path / "t" / "eval").glob("*/evaluation.json")).read_text())
    assert [r["domain"] for r in evaluation["results"]] == ["source"] and evaluation["config"]["domains"] == []
    # the frames are shared by both trials; a rerun finds both finished and runs nothing
    assert len(list((tmp_path / "t" / "frames").iterdir())) == 1
    # a tune.json from before one file held several studies is its study's summary alone
    (tmp_path / "t" / "tune.json").write_text(json.dumps(summary))
    before = (tmp_path / "t" / "tune.json").stat().st_mtime_ns
    assert main(args) == 0
    study = optuna.load_study(study_name=summary["study"], storage=summary["storage"])
    assert len(study.trials) == 2 and (tmp_path / "t" / "tune.json").stat().st_mtime_ns > before
    assert list(json.loads((tmp_path / "t" / "tune.json").read_text())) == [summary["study"]]


def test_a_killed_search_resumes_with_the_trial_it_left(tmp_path: Path) -> None:
    out = tmp_path / "space"
    space = json.dumps({"lr": {"low": 1e-4, "high": 3e-3, "log": True}, "model.beta": {"choices": [1.0, 4.0]}})
    command = [sys.executable, "-m", "darla", *SMOKE, "--out", str(out), "--space", space, "--trials", "2"]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    # killed once the first trial's vision model is trained, before its agent is
    while time.monotonic() < deadline and not list((out / "cells" / "vision").glob("*.json")):
        time.sleep(0.5)
    proc.kill()
    proc.wait()
    storage = f"sqlite:///{(out / 'study.db').resolve()}"
    (left,) = optuna.load_study(study_name="darla/SeekAvoid2D-v0 vae ppo smoke", storage=storage).trials
    assert left.state == optuna.trial.TrialState.RUNNING
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    trials = optuna.load_study(study_name="darla/SeekAvoid2D-v0 vae ppo smoke", storage=storage).trials
    states = [t.state for t in trials]
    assert states.count(optuna.trial.TrialState.COMPLETE) == 2 and states[0] == optuna.trial.TrialState.FAIL
    # the left trial was asked again with its own values, and its vision model was not trained again
    assert trials[1].params == left.params
    assert len(list((out / "vision").iterdir())) == 2


def test_spec_paths_nest() -> None:
    assert spec_of({"model.beta": 4.0, "lr": 1e-3, "agent.learning_rate": 3e-4}) == {
        "model": {"beta": 4.0}, "lr": 1e-3, "agent": {"learning_rate": 3e-4}}


def test_bad_searches_are_refused() -> None:
    for config, fragment in (({}, "give either --candidate NAME=JSON"),
                             ({"candidates": {"a": {"betta": 1}}}, "candidate 'a' sets betta; a spec sets model"),
                             ({"space": {"lr": {"low": 1e-4, "high": 1e-3}}}, "--space needs --trials N"),
                             ({"space": {"gamma": {"choices": [0.9]}}, "trials": 1}, "--space 'gamma': a spec path, one of lr"),
                             ({"space": {"lr": {"low": 1e-4, "high": 1e-3}}, "trials": 0}, "trials must be at least 1"),
                             ({"candidates": {"a": {"teacher_steps": 0}}}, "teacher_steps must be a whole number"),
                             ({"candidates": {"a": {"lr": -1}}}, "lr must be a positive number"),
                             ({"candidates": {"a": {}}, "method": "ada_gvae"}, "ada_gvae learns from pairs"),
                             ({"candidates": {"a": {}}, "method": "pixels", "vision_seeds": 2}, "--vision-seeds needs a vision model")):
        with pytest.raises(DarlaError, match=fragment):
            TuneConfig(**config)


def test_vision_seeds_train_a_model_and_its_teacher_per_seed_and_score_every_agent(tmp_path: Path) -> None:
    spec = {"teacher_steps": 30}
    one, evaluation_one = trial_cells(TuneConfig(budget="smoke", candidates={"a": spec}, seeds=2), spec, tmp_path)
    two, evaluation_two = trial_cells(TuneConfig(budget="smoke", candidates={"a": spec}, seeds=2, vision_seeds=2), spec, tmp_path)
    cells = {c.name: c for c in two}
    seeds = {kind: sorted(c.job.args["seed"] for n, c in cells.items() if n.startswith(kind)) for kind in ("teachers/", "vision/")}
    assert seeds == {"teachers/": [0, 1], "vision/": [0, 1]}
    # both vision seeds read the one frame collection; each gets its own two agents, all scored together
    assert sum(n.startswith("frames/") for n in cells) == 1 and sum(n.startswith("agents/") for n in cells) == 4
    (evaluation,) = [c for n, c in cells.items() if n.startswith("eval/")]
    assert len(evaluation.job.args["config"]["agents"]) == 4 and len(evaluation.needs) == 4
    # the first vision seed's cells are those a search without vision seeds plans, so an older search continues
    assert {c.name for c in one} - {"eval/" + evaluation_one.name} <= set(cells) and evaluation_one != evaluation_two


def test_a_trial_that_weighs_objects_collects_their_masks(tmp_path: Path) -> None:
    def frames_args(spec: dict) -> dict:
        cells, _ = trial_cells(TuneConfig(budget="smoke", method="vae", candidates={"a": spec}), spec, tmp_path)
        return next(c.job.args for c in cells if c.name.startswith("frames/"))

    assert frames_args({"model": {"object_weight": 50.0}})["masks"] is True
    # without the weight, the frames (and their folder's name) are as before
    assert "masks" not in frames_args({"model": {"beta": 2.0}})
