"""darla reproduce: the smoke budget end to end, and an interrupted run that resumes."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml

import agents.factory as agents_factory
import darla.reproduce as reproduce_module
import envs
import darla.runner as runner_module
from darla.cli import main
from darla.errors import DarlaError
from darla.models import get_variant
from darla.reproduce import REPRESENTATIONS, SHORT_TRAINING, Job, ReproduceConfig, plan_cells, reproduce
from darla.runner import Cell, chain_lengths, finished_cells, run_cells
from conftest import assert_one_line_error


@pytest.mark.slow
def test_smoke_budget_runs_every_cell_and_writes_its_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "smoke"
    assert main(["reproduce", "--budget", "smoke", "--out", str(out), "--device", "cpu"]) == 0
    table = (out / "results.md").read_text()
    assert table in capsys.readouterr().out
    transfer, rest = table.split("Same-state invariance of each representation")
    invariance, disentanglement = rest.split("Disentanglement of each representation")
    rows = [line for line in transfer.splitlines()[2:] if line.startswith("| ")]
    assert len(rows) == 2 * 9  # two protocols x seven representations and two pixel baselines
    # beside each ratio, every agent's action agreement on the same states, and the representation's
    # source~target retrieval (none for the pixel agents)
    assert all(r.split(" | ")[5].startswith(("0.", "1.00")) for r in rows)
    assert all(r.split(" | ")[6] not in ("", "-") for r in rows if "pixels" not in r)
    assert all(r.split(" | ")[6] == "-" for r in rows if "pixels" in r)
    for section in (invariance, disentanglement):
        score_rows = [line for line in section.splitlines()[4:] if line.startswith("| ")]
        assert [r.split(" | ")[0] for r in score_rows] == [f"| {rep}" for rep in REPRESENTATIONS]
    results = json.loads((out / "results.json").read_text())
    assert results["source_domains"] == {"single": ["A_default"], "multi": ["train"]}
    for protocol in ("single", "multi"):
        for method, rows_ in results["results"][protocol].items():
            domains = [r["domain"] for r in rows_]
            assert domains == ["source", "target"], (protocol, method)
            assert all(len(r["returns"][0]) == 2 for r in rows_)  # the smoke budget's episodes
            source, target = rows_
            assert source["agreement"] is None and len(target["agreement"]) == 1 and 0.0 <= target["agreement"][0] <= 1.0
    agent = json.loads((out / "agents" / "single" / "beta_vae_dae" / "seed0" / "agent.json").read_text())
    assert agent["config"]["domains"] == ["A_default"] and agent["vision"]["copied_from"].endswith("vision/beta_vae_dae")
    assert (out / "results.png").stat().st_size > 10_000
    assert set(results["disentanglement"]) == set(REPRESENTATIONS)
    # every score in the results is its inspect report's
    reports = {rep: json.loads((out / "inspect" / rep / "metrics.json").read_text())["scores"] for rep in REPRESENTATIONS}
    assert results["disentanglement"] == reports
    assert (out / "inspect" / "beta_vae_dae" / "index.md").is_file()
    # the budget's settings for a representation reach its checkpoint; the others keep their defaults
    trained = {rep: json.loads((out / "vision" / rep / "config.json").read_text()) for rep in ("beta_vae_dae", "vae")}
    assert trained["beta_vae_dae"]["train"]["lr"] == SHORT_TRAINING["beta_vae_dae"]["lr"]
    assert trained["beta_vae_dae"]["model"]["dae_layer"] == SHORT_TRAINING["beta_vae_dae"]["dae_layer"]
    assert trained["vae"]["train"]["lr"] == get_variant("vae").lr
    # every representation's invariance, the source~target retrieval under its own key
    assert set(results["invariance"]) == set(REPRESENTATIONS)
    assert all(v["same_state_retrieval"] == reports[rep]["same_state_retrieval"] and
               v["train_same_state_retrieval"] == reports[rep]["train_same_state_retrieval"] for rep, v in results["invariance"].items())
    # ada_gvae learns from pairs: the frames carry them, and its agents see its domain-general latents;
    # cycle_vae's general code is its first latents
    cycle = json.loads((out / "agents" / "single" / "cycle_vae" / "seed0" / "agent.json").read_text())
    assert cycle["config"]["general"] is True
    assert json.loads((out / "vision" / "cycle_vae" / "config.json").read_text())["model"]["general_latents"] == list(range(6))
    assert json.loads((out / "frames" / "manifest.json").read_text())["pairs"] == 1
    ada = json.loads((out / "agents" / "single" / "ada_gvae" / "seed0" / "agent.json").read_text())
    assert ada["config"]["general"] is True and "general=True" in ada["wrappers"][-1]
    assert json.loads((out / "vision" / "ada_gvae" / "config.json").read_text())["model"]["general_latents"]


@pytest.mark.slow
def test_interrupted_run_resumes_where_it_stopped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = ReproduceConfig(budget="smoke", protocols=("single",), methods=("vae", "pixels"), device="cpu")
    out = tmp_path / "run"
    real = runner_module.run_cell

    def interrupted(cell):
        if cell.name == "eval/single/pixels":
            raise KeyboardInterrupt
        real(cell)

    monkeypatch.setattr(runner_module, "run_cell", interrupted)
    with pytest.raises(KeyboardInterrupt):
        reproduce(cfg, out)
    assert not (out / "results.json").exists()
    kept = {p: p.stat().st_mtime_ns for p in [out / "vision" / "vae" / "model.safetensors",
                                             out / "agents" / "single" / "vae" / "seed0" / "model.zip",
                                             out / "eval" / "single" / "vae" / "evaluation.json"]}
    monkeypatch.setattr(runner_module, "run_cell", real)
    report = reproduce(cfg, out)
    assert set(report["cell_seconds_this_run"]) == {"eval/single/pixels"}, report["cell_seconds_this_run"]
    assert {p: p.stat().st_mtime_ns for p in kept} == kept
    assert set(report["results"]["single"]) == {"vae", "pixels"}
    # an agent whose output is gone is trained again, and the evaluation that used it is redone too
    (out / "agents" / "single" / "pixels" / "seed0" / "model.zip").unlink()
    report = reproduce(cfg, out)
    assert set(report["cell_seconds_this_run"]) == {"agents/single/pixels/seed0", "eval/single/pixels"}, report["cell_seconds_this_run"]
    assert {p: p.stat().st_mtime_ns for p in kept} == kept
    assert set(report["cell_seconds"]) == {c.name for c in plan_cells(cfg, out)}
    assert 0.0 < report["cores_busy_share_this_run"] <= 1.0
    assert report["machine"]["cores"] == os.cpu_count() and report["machine"]["cpu"] and report["machine"]["torch"] == torch.__version__
    # a moved run folder is the same run: cells are matched on arguments relative to it
    out.rename(tmp_path / "moved")
    assert reproduce(cfg, tmp_path / "moved")["cell_seconds_this_run"] == {}


def test_the_rest_of_the_family_is_planned_when_named_and_takes_the_trunk_shape_where_it_has_one(tmp_path: Path) -> None:
    assert not {"stacked_ae", "dim", "mae"} & set(ReproduceConfig().methods)
    cells = {c.name: c for c in plan_cells(ReproduceConfig(budget="smoke", protocols=("single",), methods=("stacked_ae", "dim", "mae"),
                                                           device="cpu"), tmp_path)}
    models = {name: cells[f"vision/{name}"].args["model"] for name in ("stacked_ae", "dim", "mae")}
    assert models["stacked_ae"]["conv_channels"] == models["dim"]["conv_channels"] == [16, 16, 32, 32]
    # a transformer has no conv trunk to shrink; it takes the budget's code size alone
    assert models["mae"] == {"latent_dim": 8}
    assert {"agents/single/mae/seed0", "inspect/dim", "eval/single/stacked_ae"} <= set(cells)


def test_the_claim_budgets_extra_rooms_never_hold_the_targets_objects(tmp_path: Path) -> None:
    cells = {c.name: c for c in plan_cells(ReproduceConfig(budget="claim", methods=("beta_vae_dae",)), tmp_path)}
    assert cells["frames"].args["domains"] == ["train", "rooms"]
    rooms = envs.catalogue("darla/SeekAvoid2D-v0").resolve("rooms")
    target = envs.catalogue("darla/SeekAvoid2D-v0").resolve("target")[0]
    assert len(rooms) == 12 and {d.object_set for d in rooms} == {"B"} != {target.object_set}
    # the DAE learns on the same mixed colours as the beta-VAE that reads it
    assert cells["vision/dae"].args["augment"] == cells["vision/beta_vae_dae"].args["augment"] == "mix"
    # the paired variants learn on frames of the train group alone, where most pairs join the two object sets
    paired = {c.name: c for c in plan_cells(ReproduceConfig(budget="claim", methods=("ada_gvae", "ada_gvae_dae")), tmp_path)}
    assert paired["frames_domains-train"].args["domains"] == ["train"] and paired["frames_domains-train"].args["pairs"] == 1
    assert paired["vision/ada_gvae_dae"].needs[0] == "frames_domains-train" and "pairs" not in paired["frames"].args
    # in 2D the pixel Ada-GVAE's canonical target has each state drawn in all three train domains: frames of its own
    assert paired["vision/ada_gvae"].needs == ("frames_domains-train_pairs-2",)
    assert paired["frames_domains-train_pairs-2"].args["domains"] == ["train"]
    # an env without extra rooms collects from its train group
    reacher = {c.name: c for c in plan_cells(ReproduceConfig(env="darla/ReacherPixels-v0", budget="claim", methods=("vae",)), tmp_path)}
    assert reacher["frames"].args["domains"] == ["train"] and "augment" not in reacher["vision/vae"].args


def test_an_agent_planned_under_other_hyperparameters_is_redone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = ReproduceConfig(budget="smoke", protocols=("single",), methods=("vae", "pixels"), device="cpu")
    cells = plan_cells(cfg, tmp_path)
    for cell in cells:  # every cell finished, as a whole run leaves them
        Path(cell.output).parent.mkdir(parents=True, exist_ok=True)
        Path(cell.output).touch()
        runner_module._finish(tmp_path, cell, 1.0)
    assert set(finished_cells(cells, tmp_path)) == {c.name for c in cells}
    table = yaml.safe_load((agents_factory.HYPERPARAMS / "ppo.yml").read_text())
    table["darla/SeekAvoid2D-v0"]["latent"]["n_epochs"] = 3
    (tmp_path / "hyperparams").mkdir()
    (tmp_path / "hyperparams" / "ppo.yml").write_text(yaml.safe_dump(table))
    monkeypatch.setattr(agents_factory, "HYPERPARAMS", tmp_path / "hyperparams")
    replanned = plan_cells(cfg, tmp_path)
    # the latent agent and its evaluation are redone; the pixel agent's settings did not change
    assert {c.name for c in replanned} - set(finished_cells(replanned, tmp_path)) == {"agents/single/vae/seed0", "eval/single/vae"}


def test_cells_with_the_longest_chain_behind_them_run_first(tmp_path: Path) -> None:
    cells = plan_cells(ReproduceConfig(budget="smoke", protocols=("single",), methods=("vae", "pixels"), device="cpu"), tmp_path)
    chain = chain_lengths(cells)
    # frames -> vision -> agent -> evaluation; the inspect report ends its own chain
    assert chain["frames"] == 4 and chain["vision/vae"] == 3 and chain["eval/single/vae"] == 1
    assert chain["agents/single/pixels/seed0"] == 2


def test_plan_trains_beta_vae_dae_through_the_dae_and_never_shows_vision_the_target(tmp_path: Path) -> None:
    cells = {c.name: c for c in plan_cells(ReproduceConfig(budget="quick"), tmp_path)}
    assert cells["vision/beta_vae_dae"].needs == ("frames", "vision/dae")
    # the train group and rooms of object set B; never the target's objects in the alternate room
    assert cells["frames"].args["env"] == "darla/SeekAvoid2D-v0" and cells["frames"].args["domains"] == ["train", "rooms"]
    assert sum(c.job.kind == "agent" for c in cells.values()) == 2 * 9 * 3
    # covering frames, with pairs for ada_gvae; no other method's agent sees a part of its code
    assert cells["frames"].args["policy"] == "resets" and cells["frames"].args["pairs"] == 1
    assert [m for m in REPRESENTATIONS if cells[f"agents/single/{m}/seed0"].args["config"]["general"]] == ["ada_gvae", "cycle_vae"]
    assert {c.args["config"]["domains"][0] for c in cells.values() if c.job.kind == "evaluate"} == {"target"}
    assert all(f"vision/{r}" in cells and cells[f"inspect/{r}"].needs == (f"vision/{r}",) for r in REPRESENTATIONS)
    # a method list without dae still trains the DAE that beta_vae_dae learns through, but does not report on it
    planned = {c.name: c for c in plan_cells(ReproduceConfig(budget="quick", methods=("beta_vae_dae",)), tmp_path)}
    assert "vision/dae" in planned and "inspect/dae" not in planned and "inspect/beta_vae_dae" in planned
    assert "pairs" not in planned["frames"].args  # no method learns from pairs: none are drawn


def test_a_budget_setting_chosen_for_one_env_applies_there_alone(tmp_path: Path) -> None:
    def frames_of(env: str) -> dict[str, Any]:
        cells = {c.name: c for c in plan_cells(ReproduceConfig(env=env, budget="claim", protocols=("single",),
                                                               methods=("ada_gvae", "ada_gvae_dae")), tmp_path)}
        return {rep: cells[cells[f"vision/{rep}"].needs[0]].args for rep in ("ada_gvae", "ada_gvae_dae")}

    flat, solid = frames_of("darla/SeekAvoid2D-v0"), frames_of("darla/SeekAvoid-v0")
    assert flat["ada_gvae"]["policy"] == flat["ada_gvae_dae"]["policy"] == solid["ada_gvae_dae"]["policy"] == "resets"
    assert solid["ada_gvae"]["policy"] == "random" and solid["ada_gvae"]["domains"] == ["train"]
    # each env's canonical target draws every state in all three train domains, with the masks its object weight reads
    assert flat["ada_gvae"]["pairs"] == solid["ada_gvae"]["pairs"] == 2 and flat["ada_gvae"]["masks"] is True
    assert flat["ada_gvae_dae"].get("pairs", 1) == 1 and "masks" not in flat["ada_gvae_dae"]
    # what a run records is the budget as it ran there, with nothing left to apply
    plan = ReproduceConfig(env="darla/SeekAvoid-v0", budget="claim").plan
    assert plan.env_vision == {} and plan.vision["ada_gvae"]["memory"] == 512
    assert plan.vision["ada_gvae"]["collect"]["policy"] == "random"


@pytest.mark.slow
def test_reproduce_refuses_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cases = [
        (["--budget", "huge"], "unknown budget 'huge'"),
        (["--env", "NoSuchEnv-v0"], "unknown environment id 'NoSuchEnv-v0'"),
        (["--env", "CartPole-v1", "--method", "ada_gvae"], "which CartPole-v1 cannot draw"),
        (["--method", "resnet"], "unknown method resnet"),
        (["--method", "vae", "--method", "vae"], "named twice"),
        (["--algo", "sac"], "sac needs continuous actions"),
        (["--device", "tpu"], "unknown device"),
    ]
    for args, fragment in cases:
        assert_one_line_error(main(["reproduce", "--out", str(tmp_path / "r"), *args]), capsys.readouterr().err, fragment)
    assert not (tmp_path / "r").exists()  # refused before anything is written
    out = tmp_path / "other"
    assert main(["reproduce", "--out", str(out), "--method", "pixels", "--protocol", "single", "--device", "cpu"]) == 0
    pixel_agent = out / "agents" / "single" / "pixels" / "seed0" / "model.zip"
    kept = pixel_agent.stat().st_mtime_ns
    # a method added later reuses what is done; ada_gvae learns from pairs, so the frames are collected again with them
    assert main(["reproduce", "--out", str(out), "--method", "pixels", "--method", "ada_gvae", "--protocol", "single",
                 "--device", "cpu"]) == 0
    redone = json.loads((out / "results.json").read_text())["cell_seconds_this_run"]
    assert "frames" in redone and "vision/ada_gvae" in redone and "agents/single/pixels/seed0" not in redone, redone
    assert pixel_agent.stat().st_mtime_ns == kept and json.loads((out / "frames" / "manifest.json").read_text())["pairs"] == 1
    code = main(["reproduce", "--out", str(out), "--method", "vae", "--protocol", "single", "--seed", "3"])
    assert_one_line_error(code, capsys.readouterr().err, "holds a run with other settings (experiment.seed)")


def test_a_failing_cell_in_a_worker_is_named_with_its_log(tmp_path: Path) -> None:
    cells = [Cell("ok", Job.plan("collect", {"env": "darla/SeekAvoid2D-v0", "domains": ["train"], "frames": 50, "seed": 0,
                                         "out": str(tmp_path / "frames")}), str(tmp_path / "frames" / "manifest.json")),
             Cell("bad", Job.plan("inspect", {"checkpoint": str(tmp_path / "no_model"), "out": str(tmp_path / "never"), "config": {}}),
                  str(tmp_path / "never" / "metrics.json"), ("ok",))]
    with pytest.raises(DarlaError, match=r"cell bad failed \(DarlaError: .*no_model.*\); see .*bad\.log"):
        run_cells(cells, tmp_path, workers=2)
    # the cell that worked in the other process is recorded as finished
    assert set(finished_cells(cells, tmp_path)) == {"ok"}


def _alive(pid: int) -> bool:
    """Whether process ``pid`` still runs (a zombie, ended but not yet reaped, does not)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads process states from /proc")
def test_pool_workers_end_with_a_killed_run() -> None:
    # a run's process, killed outright while its worker waits for work
    code = ("import os, time\n"
            "from darla.runner import _workers\n"
            "pool, _ = _workers(1)\n"
            "print(pool.submit(os.getpid).result(), flush=True)\n"
            "time.sleep(300)\n")
    run = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    worker = int(run.stdout.readline())
    assert _alive(worker)
    run.kill()
    run.wait()
    deadline = time.monotonic() + 30
    while _alive(worker) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _alive(worker), "the pool's worker outlived its killed run"


def test_a_bad_setting_fails_at_planning_before_any_cell_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    budget = reproduce_module.BUDGETS["smoke"]
    bad = dataclasses.replace(budget, vision={**budget.vision, "vae": {"betta": 4.0}})
    monkeypatch.setitem(reproduce_module.BUDGETS, "smoke", bad)
    cfg = ReproduceConfig(budget="smoke", protocols=("single",), methods=("vae",), device="cpu")
    with pytest.raises(DarlaError, match="betta"):
        reproduce(cfg, tmp_path / "run")
    assert not (tmp_path / "run").exists()  # nothing collected, trained or claimed
    # an agent setting is checked as early: a negative step count in the budget
    monkeypatch.setitem(reproduce_module.BUDGETS, "smoke", dataclasses.replace(budget, agent_steps=-5))
    with pytest.raises(DarlaError, match="steps"):
        plan_cells(cfg, tmp_path / "run")


def test_a_representation_may_learn_on_frames_of_its_own(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    budget = reproduce_module.BUDGETS["smoke"]
    own = {"policy": "random", "domains": ["train"]}
    monkeypatch.setitem(reproduce_module.BUDGETS, "smoke", dataclasses.replace(budget, vision={**budget.vision, "ada_gvae_dae": {"collect": own}}))
    cells = {c.name: c for c in plan_cells(ReproduceConfig(budget="smoke", methods=("beta_vae_dae", "ada_gvae_dae")), tmp_path)}
    name = "frames_domains-train_policy-random"
    assert cells[name].args["policy"] == "random" and cells[name].args["domains"] == ["train"] and cells[name].args["pairs"] == 1
    assert cells["vision/ada_gvae_dae"].needs == (name, "vision/dae") and cells["vision/ada_gvae_dae"].args["data"] == str(tmp_path / name)
    assert "collect" not in cells["vision/ada_gvae_dae"].args["model"]
    # the budget's frames stay as they were for the DAE and beta_vae_dae, without pairs: nothing learns from them
    assert cells["frames"].args["policy"] == "resets" and "pairs" not in cells["frames"].args
    assert cells["vision/beta_vae_dae"].needs == ("frames", "vision/dae") and cells["vision/dae"].needs == ("frames",)


def test_agents_on_a_representation_may_train_on_drawn_codes_without_its_vision_cell_changing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = {c.name: c for c in plan_cells(ReproduceConfig(budget="smoke", methods=("ada_gvae", "vae")), tmp_path)}
    budget = reproduce_module.BUDGETS["smoke"]
    drawn = {**budget.vision, "ada_gvae": {**budget.vision.get("ada_gvae", {}), "sample_codes": True}}
    monkeypatch.setitem(reproduce_module.BUDGETS, "smoke", dataclasses.replace(budget, vision=drawn))
    after = {c.name: c for c in plan_cells(ReproduceConfig(budget="smoke", methods=("ada_gvae", "vae")), tmp_path)}
    assert after["vision/ada_gvae"].args == before["vision/ada_gvae"].args
    assert after["agents/single/ada_gvae/seed0"].args["config"]["sample_codes"] is True
    assert "sample_codes" not in before["agents/single/ada_gvae/seed0"].args["config"]
    assert after["agents/single/vae/seed0"].args == before["agents/single/vae/seed0"].args


def test_a_chosen_precision_reaches_every_vision_model_and_latent_agent_and_auto_plans_as_before(tmp_path: Path) -> None:
    methods = ("vae", "beta_vae_dae", "pixels")
    auto = {c.name: c for c in plan_cells(ReproduceConfig(budget="smoke", methods=methods), tmp_path)}
    fp32 = {c.name: c for c in plan_cells(ReproduceConfig(budget="smoke", methods=methods, precision="fp32"), tmp_path)}
    vision = [n for n in fp32 if n.startswith("vision/")]
    assert sorted(vision) == ["vision/beta_vae_dae", "vision/dae", "vision/vae"]
    for name in vision:
        assert fp32[name].job.config[1].precision == "fp32" and auto[name].job.config[1].precision == "auto"
        # a run planned before the flag resumes: its cells' arguments are unchanged under auto
        assert "precision" not in auto[name].args
    for name in ("agents/single/vae/seed0", "agents/single/beta_vae_dae/seed0"):
        assert fp32[name].job.config.precision == "fp32" and "precision" not in auto[name].args["config"]
    assert fp32["agents/single/pixels/seed0"].args == auto["agents/single/pixels/seed0"].args
    with pytest.raises(DarlaError, match="unknown precision 'fp16'"):
        ReproduceConfig(budget="smoke", precision="fp16")


def test_frames_carry_object_masks_where_a_representation_weighs_or_recolours_around_objects(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert reproduce_module.frames_carry("beta_vae", {"augment": "mix_room"}) == {"masks": True}
    assert reproduce_module.frames_carry("beta_vae", {"augment": "mix"}) == {}
    # a canonical target reads every state's render in one domain: as many pairs as the collect names
    assert reproduce_module.frames_carry("vae", {"canonical": "A_default", "collect": {"pairs": 2}}) == {"pairs": 2}
    assert reproduce_module.frames_carry("ada_gvae", {"collect": {"pairs": 2}}) == {"pairs": 2}
    assert reproduce_module.frames_carry("ada_gvae", {}) == {"pairs": 1}
    budget = reproduce_module.BUDGETS["smoke"]
    canonical = {"canonical": "A_default", "collect": {"domains": ["train"], "pairs": 2}}
    monkeypatch.setitem(reproduce_module.BUDGETS, "smoke", dataclasses.replace(budget, vision={**budget.vision, "vae": canonical}))
    planned = {c.name: c for c in plan_cells(ReproduceConfig(budget="smoke", methods=("vae",)), tmp_path / "canonical")}
    assert planned["frames_domains-train_pairs-2"].args["pairs"] == 2
    assert reproduce_module._vision_configs(planned["vision/vae"].args)[1].canonical == "A_default"
    assert "canonical" not in planned["vision/vae"].args["model"]
    monkeypatch.setitem(reproduce_module.BUDGETS, "smoke", budget)
    budget = reproduce_module.BUDGETS["smoke"]
    own = {"object_weight": 10.0, "collect": {"policy": "random", "domains": ["train"]}}
    monkeypatch.setitem(reproduce_module.BUDGETS, "smoke", dataclasses.replace(budget, vision={**budget.vision, "ada_gvae": own}))
    cells = {c.name: c for c in plan_cells(ReproduceConfig(budget="smoke", methods=("beta_vae_dae", "ada_gvae")), tmp_path)}
    assert cells["frames_domains-train_policy-random"].args["masks"] is True
    assert cells["vision/ada_gvae"].args["model"]["object_weight"] == 10.0
    assert "masks" not in cells["frames"].args
    # frames nothing learns on are not collected: the budget's own, for ada_gvae alone; any, for pixel agents alone
    alone = {c.name for c in plan_cells(ReproduceConfig(budget="smoke", methods=("ada_gvae",)), tmp_path / "alone")}
    assert {n for n in alone if n.startswith("frames")} == {"frames_domains-train_policy-random"}
    assert not any(c.name.startswith("frames") for c in plan_cells(ReproduceConfig(budget="smoke", methods=("pixels",)), tmp_path / "p"))


@dataclasses.dataclass
class ThreadsSeen:
    """A cell's job that writes torch's thread count at its start and, after ``wait`` seconds at most,
    once the count has grown (the other cell ended), as ``out``'s JSON. It marks its start in
    ``out.started``, and with a ``partner`` it starts its clock only once the partner has started (a
    worker process can take seconds to come up on a loaded machine)."""

    out: str
    wait: float
    partner: str = ""

    @property
    def args(self) -> dict[str, Any]:
        return {"out": self.out, "wait": self.wait, "partner": self.partner}

    def run(self) -> None:
        import torch

        seen = [torch.get_num_threads()]
        Path(self.out + ".started").touch()
        deadline = time.monotonic() + 60
        while self.partner and not Path(self.partner + ".started").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        deadline = time.monotonic() + self.wait
        while torch.get_num_threads() == seen[0] and time.monotonic() < deadline:
            time.sleep(0.1)
        seen.append(torch.get_num_threads())
        Path(self.out).write_text(json.dumps(seen))


def test_a_cell_left_running_alone_takes_every_core(tmp_path: Path) -> None:
    """Two cells at once take half the cores each; when one ends, the other grows to all of them."""
    cpus = os.cpu_count() or 1
    cells = [Cell("short", ThreadsSeen(str(tmp_path / "short.json"), 0.5, partner=str(tmp_path / "long.json")), str(tmp_path / "short.json")),
             # the long one returns as soon as its threads grow; its limit only bounds a failure
             Cell("long", ThreadsSeen(str(tmp_path / "long.json"), 60.0), str(tmp_path / "long.json"))]
    run_cells(cells, tmp_path, workers=2)
    start, end = json.loads((tmp_path / "long.json").read_text())
    assert (start, end) == (max(1, cpus // 2), cpus)


@pytest.mark.parametrize("found, reads_general", [([], False), ([0, 3], True)])
def test_cells_of_a_paired_model_that_found_no_general_latents_read_the_whole_code(
        tmp_path: Path, found: list[int], reads_general: bool) -> None:
    from darla.agent import AgentConfig
    from darla.inspect import InspectConfig
    from darla.models import make_config
    from darla.models.base import check_general
    from darla.reproduce import whole_code_without_general

    # a collapsed Ada-GVAE (ReacherPixels, quick budget) moved every latent with the look and found none
    (tmp_path / "config.json").write_text(json.dumps({"format_version": 1, "model": {"variant": "ada_gvae", "general_latents": found}}))
    for config in (AgentConfig(vision=str(tmp_path), general=True), InspectConfig(general=True)):
        if reads_general:
            assert whole_code_without_general(config, tmp_path) is config
        else:
            with pytest.warns(UserWarning, match="no domain-general latents"):
                assert whole_code_without_general(config, tmp_path).general is False
    with pytest.raises(DarlaError, match="found no domain-general latents on its training pairs"):
        check_general(make_config("ada_gvae"))


def test_every_variant_built_on_a_teacher_shares_the_teachers_cell(tmp_path: Path) -> None:
    cells = {c.name: c for c in plan_cells(ReproduceConfig(budget="smoke", methods=("beta_vae_dae", "ada_gvae_dae")), tmp_path)}
    assert [name for name in cells if name.startswith("vision/")] == ["vision/dae", "vision/beta_vae_dae", "vision/ada_gvae_dae"]
    for rep in ("beta_vae_dae", "ada_gvae_dae"):
        assert cells[f"vision/{rep}"].needs == ("frames", "vision/dae")
        assert cells[f"vision/{rep}"].args["teacher"] == str(tmp_path / "vision" / "dae")


def test_a_worker_whose_core_sharing_alarm_fires_during_its_first_imports_still_imports_torch() -> None:
    # a spawned worker runs the initializer before the first cell imports torch (seconds on these machines); the
    # alarm's handler firing inside that import once failed the run's first cell. Here it fires every millisecond.
    script = ("import multiprocessing, sys\n"
              "import darla.runner as runner\n"
              "assert 'torch' not in sys.modules\n"
              "runner.RESHARE_SECONDS = 0.001\n"
              "runner._init_worker(multiprocessing.RawValue('i', 1))\n"
              "import time, torch\n"
              "time.sleep(0.1)  # the handler's turn: a share of the cores for the one running cell\n"
              "print(torch.get_num_threads())\n"
              "import signal; signal.setitimer(signal.ITIMER_REAL, 0)\n")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert int(result.stdout) == os.cpu_count()
