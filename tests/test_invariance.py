"""Same-state invariance: known answers on synthetic codes, and the env's own renders."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import gymnasium as gym
import numpy as np
import pytest

import envs  # noqa: F401
from darla.errors import DarlaError
from darla.metrics.ground_truth import EnvGroundTruth
from darla.metrics.invariance import (
    DomainPair,
    InvarianceConfig,
    SeenFrames,
    distinct_states,
    domain_leak,
    invariance_pairs,
    invariance_scores,
    pair_scores,
    pixel_representation,
    probe_transfer,
    same_state_retrieval,
)


def state_codes(n: int = 300, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, 4))


def test_a_code_that_ignores_the_look_retrieves_every_state() -> None:
    task = state_codes()
    # the look moves one latent of its own by the same amount for every state: the ranking holds
    a = np.column_stack([task, np.zeros(len(task))])
    b = np.column_stack([task, np.full(len(task), 25.0)])
    assert same_state_retrieval(a, b) == 1.0


def test_a_code_of_the_look_alone_retrieves_at_chance() -> None:
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(400, 6)), rng.normal(size=(400, 6))
    assert same_state_retrieval(a, b) < 0.02


def test_retrieval_falls_as_the_look_moves_the_state_latents() -> None:
    task = state_codes()
    rng = np.random.default_rng(2)
    shifts = [0.05, 0.5, 3.0]
    scores = [same_state_retrieval(task, task + s * rng.normal(size=task.shape)) for s in shifts]
    assert scores[0] > 0.95 and scores[0] > scores[1] > scores[2] and scores[2] < 0.2


def test_leak_separates_task_latents_from_look_latents() -> None:
    task = state_codes()
    noise = np.random.default_rng(3).normal(size=len(task))
    a = np.column_stack([task[:, 0], 0.1 * noise, np.zeros(len(task))])
    b = np.column_stack([task[:, 0], 0.1 * noise + 2.0, np.full(len(task), 1e-9)])
    leak, active = domain_leak(a, b)
    assert leak[0] == pytest.approx(0.0, abs=1e-9)
    assert leak[1] > 10  # moves 2 with the look against a spread of 0.1 over states
    assert active.tolist() == [True, True, False]


def test_probe_transfers_only_what_the_look_leaves_alone() -> None:
    task = state_codes()
    readout = task[:, :2] @ np.array([[1.0, -0.5], [0.3, 2.0]])
    train = np.arange(len(task)) < 200
    same, kept = probe_transfer(task, task.copy(), readout, train)
    assert same > 0.99 and kept > 0.99
    moved = task.copy()
    moved[:, 0] += 5.0
    same, lost = probe_transfer(task, moved, readout, train)
    assert same > 0.99 and lost < 0.0


def test_pairs_are_the_train_group_and_source_against_target() -> None:
    groups = {"train": ("A_default", "B_default", "B_alternate"), "target": ("A_alternate",)}
    pairs = invariance_pairs(groups, ["A_default", "B_default", "B_alternate", "A_alternate"])
    assert [(p.name, p.role) for p in pairs] == [
        ("A_default~B_default", "train"), ("A_default~B_alternate", "train"), ("B_default~B_alternate", "train"),
        ("A_default~A_alternate", "target"),
    ]
    # a ground truth of the train group alone never pairs with the target
    assert all(p.role == "train" for p in invariance_pairs(groups, ["A_default", "B_default", "B_alternate"]))
    # a domain outside the groups is compared with the first one
    assert [p.name for p in invariance_pairs(groups, ["A_default", "custom"])] == ["A_default~custom"]
    with pytest.raises(DarlaError, match="two domains"):
        invariance_pairs({}, ["A_default"])


def test_readout_is_the_nearest_objects_in_the_agents_frame() -> None:
    env = gym.make("darla/SeekAvoid2D-v0").unwrapped
    # agent at (1, 1) looking along +y; good objects at (1, 3) (2 ahead) and (6, 6), bad at (0, 1) (1 to the left)
    objects = [(1, 3, 1, 1), (6, 6, 1, 1), (7, 7, 1, 0), (0, 1, 0, 1), (7, 1, 0, 1), (7, 2, 0, 1)]
    task = np.array([1.0, 1.0, np.pi / 2, *np.ravel(objects)])
    np.testing.assert_allclose(env.readout(task), [[2.0, 0.0, 0.0, 1.0]], atol=1e-9)
    assert env.objects_in_view(task).tolist() == [True]
    # turned around, only the objects behind it remain: none within its 60 degrees
    behind = task.copy()
    behind[2] = -np.pi / 2
    assert env.objects_in_view(behind).tolist() == [False]
    # the wall ahead: 7 along +y from (1, 1) in the 8-wide room, 1 along -y, and sqrt(2) along the diagonal to (0, 0)
    diagonal = task.copy()
    diagonal[2] = -3 * np.pi / 4
    np.testing.assert_allclose(env.wall_ahead(np.stack([task, behind, diagonal])), [7.0, 1.0, np.sqrt(2)], atol=1e-9)


def test_raw_pixels_see_an_object_change_but_not_a_room_change() -> None:
    truth = EnvGroundTruth("darla/SeekAvoid2D-v0", ("train", "target"), pool=600)
    scores = invariance_scores(pixel_representation(16), truth, InvarianceConfig(states=200), np.random.default_rng(0))
    truth.close()
    pairs = scores["pairs"]
    # A and B objects differ in a few pixels; the room's colours change every pixel
    assert pairs["A_default~B_default"]["same_state_retrieval"] > 0.3
    assert pairs["B_default~B_alternate"]["same_state_retrieval"] < 0.1
    assert scores["summary"]["same_state_retrieval"] == pairs["A_default~A_alternate"]["same_state_retrieval"]
    assert scores["summary"]["train_same_state_retrieval"] == pytest.approx(
        np.mean([p["same_state_retrieval"] for p in pairs.values() if p["role"] == "train"]))
    # retrieval is the mean of five draws of states, which differ: its spread is their standard deviation
    draws = pairs["A_default~B_default"]["same_state_retrieval_draws"]
    assert len(draws) == 5 and len(set(draws)) > 1
    assert pairs["A_default~B_default"]["same_state_retrieval"] == pytest.approx(np.mean(draws))
    assert pairs["A_default~B_default"]["same_state_retrieval_sd"] == pytest.approx(np.std(draws, ddof=1))
    assert 0 < scores["summary"]["same_state_retrieval_sd"] < 0.2


def test_states_that_look_alike_are_not_scored() -> None:
    truth = EnvGroundTruth("darla/SeekAvoid2D-v0", ("train", "target"), pool=400)
    # the same domain on both sides: a code of the frame can be perfect only on states it can tell apart
    same = pair_scores(pixel_representation(16), truth, DomainPair("A_default", "A_default", "train"), InvarianceConfig(states=150),
                       np.random.default_rng(0))
    task, frames, lookalike = distinct_states(truth, [0, 2], 150, np.random.default_rng(1))
    with pytest.raises(DarlaError, match="fewer than the 400 asked"):
        distinct_states(truth, [0], 400, np.random.default_rng(0))
    # states drawn from another pool: fresh starts never face a wall from close by, so almost none look alike
    env = gym.make("darla/SeekAvoid2D-v0")
    starts = np.stack([env.reset(seed=s)[1]["factors"][: len(truth.task_names)] for s in range(300)])
    env.close()
    started, _, started_lookalike = distinct_states(truth, [0, 2], 150, np.random.default_rng(1), pool=starts)
    truth.close()
    assert started_lookalike < 0.05 and (started[:, None] == starts[None]).all(axis=2).any(axis=1).all()
    assert same["same_state_retrieval"] == 1.0
    # wall close-ups: a third or more of random-policy states draw a frame another state draws too
    assert lookalike > 0.3 and same["lookalike_share"] > 0.3
    assert task.shape[0] == 150 and all(len(np.unique(f.reshape(150, -1), axis=0)) == 150 for f in frames)


def test_bad_invariance_settings() -> None:
    with pytest.raises(DarlaError, match="at least 10"):
        InvarianceConfig(states=5)
    with pytest.raises(DarlaError, match="probe_train"):
        InvarianceConfig(probe_train=1.0)
    with pytest.raises(DarlaError, match="draws"):
        InvarianceConfig(draws=0)
    with pytest.raises(DarlaError, match="one shape"):
        same_state_retrieval(np.zeros((3, 2)), np.zeros((4, 2)))


def benchmark_script(name: str) -> ModuleType:
    """``benchmarks/<name>.py``, loaded as a module (benchmarks/ is not a package)."""
    spec = importlib.util.spec_from_file_location(name, Path(__file__).parents[1] / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_memory_curve_reads_only_the_recipe_with_a_memory_changed() -> None:
    memory_curve = benchmark_script("memory_curve")
    recipe = memory_curve.RECIPE

    def entry(retrieval: float, seed: int | None = None, **model: float) -> dict:
        run = {**recipe, "model": {**recipe["model"], **model}, **({} if seed is None else {"seed": seed})}
        return {"spec": run, "general": {"train_same_state_retrieval": retrieval, "train_same_state_retrieval_sd": 0.01}}

    results = {"none": entry(0.86), "m512": entry(0.89, memory=512), "m256": entry(0.91, memory=256),
               "m512_seed1": entry(0.90, seed=1, memory=512), "m4096_k": entry(0.88, memory=4096, momentum=0.99),
               # another beta is another recipe: left out
               "b1_m512": entry(0.99, memory=512, beta=1.0)}
    lines = memory_curve.memory_points(results)
    assert lines == {(0, 0.0): [(0, 0.86, 0.01), (256, 0.91, 0.01), (512, 0.89, 0.01)],
                     (0, 0.99): [(4096, 0.88, 0.01)], (1, 0.0): [(512, 0.90, 0.01)]}


def test_claim_conditions_judge_each_of_issue_14s_four_thresholds_on_their_own(tmp_path: Path) -> None:
    claim = benchmark_script("claim_conditions")

    def run(name: str, method: str, source: float, target: tuple[float, float, float], retrieval: float) -> Path:
        mean, low, high = target
        rows = [{"domain": "source", "mean": source, "mean_ci": [source - 0.1, source + 0.1], "ratio": None, "ratio_ci": None},
                {"domain": "target", "mean": mean, "mean_ci": [low, high], "ratio": mean / source,
                 "ratio_ci": [low / source, high / source]}]
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps({"results": {"single": {method: rows}}, "invariance": {method: {"same_state_retrieval": retrieval}}}))
        return path

    baselines = [run("aug0", "pixels_aug", 2.4, (0.3, 0.07, 0.51), 0.0), run("aug1", "pixels_aug", 2.3, (0.2, 0.03, 0.39), 0.0)]
    above = claim.baseline_high(baselines)
    assert above == 0.51
    meets = claim.conditions(run("a", "ada_gvae", 2.78, (2.73, 2.61, 2.86), 0.963), "ada_gvae", above)
    assert meets["all_met"] and meets["ratio"] == pytest.approx(2.73 / 2.78)
    short = claim.conditions(run("b", "ada_gvae", 2.81, (2.69, 2.46, 2.85), 0.949), "ada_gvae", above)
    assert short["met"] == {"source": True, "ratio": True, "retrieval": False, "target_above_pixels_aug": True}
    low = claim.conditions(run("c", "ada_gvae", 1.9, (1.0, 0.5, 1.5), 0.97), "ada_gvae", above)
    assert low["met"] == {"source": False, "ratio": False, "retrieval": True, "target_above_pixels_aug": False}
    with pytest.raises(SystemExit, match="no single-protocol rows of cycle_vae"):
        claim.conditions(baselines[0], "cycle_vae", above)


def test_claim_conditions_pool_a_recipes_runs_into_one_experiment(tmp_path: Path) -> None:
    claim = benchmark_script("claim_conditions")

    def run(name: str, target: list[float], retrieval: float, episodes: int = 10) -> Path:
        # three agents, each returning 3 in the source and its own constant in the target
        rows = [{"domain": domain, "returns": [[value] * episodes for value in values]}
                for domain, values in (("source", [3.0, 3.0, 3.0]), ("target", target))]
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps({"results": {"single": {"ada_gvae": rows}}, "invariance": {"ada_gvae": {"same_state_retrieval": retrieval}}}))
        return path

    pool = claim.pooled([run("a", [3.0, 3.0, 3.0], 0.97), run("b", [2.7, 2.7, 3.0], 0.93)], "ada_gvae", above=0.51)
    # six agents: target mean (3 * 3 + 2 * 2.7 + 3) / 6 = 2.9, ratio 2.9 / 3; retrieval the runs' mean, 0.95
    assert (pool["runs"], pool["agents"]) == (2, 6)
    assert pool["target"] == pytest.approx(2.9) and pool["ratio"] == pytest.approx(2.9 / 3)
    assert pool["retrieval"] == pytest.approx(0.95) and pool["all_met"]
    assert pool["target_ci"][0] <= 2.9 <= pool["target_ci"][1] and pool["target_ci"][0] >= 2.7
    low = claim.pooled([run("c", [2.0, 2.0, 2.0], 0.97), run("d", [3.0, 3.0, 3.0], 0.96)], "ada_gvae", above=0.51)
    assert low["met"] == {"source": True, "ratio": False, "retrieval": True, "target_above_pixels_aug": True}
    with pytest.raises(SystemExit, match="same number of episodes"):
        claim.pooled([run("e", [3.0] * 3, 0.97), run("f", [3.0] * 3, 0.97, episodes=20)], "ada_gvae", above=0.51)


def test_frames_within_the_renderers_rounding_look_alike() -> None:
    rng = np.random.default_rng(0)
    wall = np.full((64, 64, 3), 110, np.uint8)
    dithered = wall + rng.integers(0, 2, wall.shape).astype(np.uint8)  # one level up here and there, as MiniWorld rounds
    edge = wall.copy()
    edge[:, :1] = 200  # a one-pixel sliver of another wall: a different view
    seen = SeenFrames()
    seen.add(wall)
    assert seen.holds(wall) and seen.holds(dithered)
    assert not seen.holds(wall + 2) and not seen.holds(edge)
    seen.add(edge)
    assert seen.holds(edge) and len(seen.stack()) == 2
