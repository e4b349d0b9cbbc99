"""Zero-shot evaluation: statistics on returns whose answer is known, and the command end to end."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
from stable_baselines3.common.evaluation import evaluate_policy

import envs
from agents import RandomPolicy
from darla.agent import AgentConfig, build_env, load_agent, train_agent
from darla.cli import main
from darla.evaluate import EvaluateConfig, episode_returns, play_episodes, read_results, summarise
from darla.errors import DarlaError
from darla.metrics.agreement import SameStateActions, check_measurable, measurable, same_state_actions
from conftest import assert_one_line_error

FORWARD = 2


def test_playing_episodes_holds_each_env_once_its_share_is_played() -> None:
    def play(through_sb3: bool) -> tuple[list[float], int, list[int]]:
        venv = build_env(AgentConfig(mode="pixels"), ["A_default"], 4, seed=3)
        policy = RandomPolicy(venv.action_space, seed=0)
        if through_sb3:
            returns, lengths = evaluate_policy(policy, venv, n_eval_episodes=10, return_episode_rewards=True)
        else:
            returns, lengths = play_episodes(policy, venv, 10, deterministic=False), []
        return list(map(float, returns)), sum(env.get_total_steps() for env in venv.envs), lengths

    (sb3_returns, sb3_steps, lengths), (returns, steps, _) = play(True), play(False)
    # the same episodes in the same order, and not a step past the last of each env's share
    assert returns == sb3_returns and steps == sum(lengths) < sb3_steps
    assert len(set(lengths)) > 1  # the episodes' lengths differ, so SB3 stepped envs past their share


def test_mean_iqm_and_ratio_on_known_returns() -> None:
    # one seed: four of five episodes score 0 and one scores 10, so the mean is 2 but the middle half is all zeros
    source = np.tile([0.0, 0.0, 0.0, 0.0, 10.0], 20)[:, None]
    target = source / 2
    rows = {r.domain: r for r in summarise({"source": source, "target": target}, reps=500)}
    assert rows["source"].unit == "episodes"
    assert rows["source"].mean == pytest.approx(2.0) and rows["source"].iqm == pytest.approx(0.0)
    assert rows["source"].mean_ci[0] < 2.0 < rows["source"].mean_ci[1]
    assert rows["target"].mean == pytest.approx(1.0) and rows["target"].ratio == pytest.approx(0.5)
    assert rows["target"].ratio_ci[0] < 0.5 < rows["target"].ratio_ci[1]
    assert rows["source"].ratio is None and rows["source"].returns == [source[:, 0].tolist()]


def test_several_seeds_are_the_runs_so_seed_to_seed_spread_widens_the_interval() -> None:
    # seed 0 always scores 0, seed 1 always 10: the episodes say nothing, the seeds disagree completely
    scores = np.stack([np.zeros(30), np.full(30, 10.0)], axis=1)
    (row,) = summarise({"x": scores}, reps=1000)
    assert row.unit == "seeds" and row.mean == pytest.approx(5.0)
    assert row.mean_ci == pytest.approx((0.0, 10.0))
    # IQM over seeds: each seed's mean return is one run, as in rliable
    rows = summarise({"x": np.array([[1.0, 2.0, 3.0, 100.0]] * 5)}, reps=200)
    assert rows[0].iqm == pytest.approx(2.5) and rows[0].mean == pytest.approx(26.5)


def test_ratio_is_undefined_without_a_positive_source_return() -> None:
    rows = summarise({"source": np.zeros((10, 1)), "target": np.ones((10, 1))}, reps=200)
    assert rows[1].ratio is None and rows[1].ratio_ci is None


def test_confidence_intervals_cover_the_true_mean_and_narrow_with_more_runs() -> None:
    rng = np.random.default_rng(0)
    hits = {"episodes": 0, "seeds": 0}
    for trial in range(100):
        (row,) = summarise({"x": rng.normal(1.0, 1.0, size=(30, 1))}, reps=500, seed=trial)
        hits["episodes"] += row.mean_ci[0] <= 1.0 <= row.mean_ci[1]
        # 20 seeds whose true means spread around 1.0, 10 noisy episodes each
        seeds = rng.normal(1.0, 1.0, size=(1, 20)) + rng.normal(0.0, 1.0, size=(10, 20))
        (row,) = summarise({"x": seeds}, reps=500, seed=trial)
        hits["seeds"] += row.mean_ci[0] <= 1.0 <= row.mean_ci[1]
    widths = {}
    for n in (20, 320):
        (row,) = summarise({"x": rng.normal(1.0, 1.0, size=(n, 1))}, reps=500)
        widths[n] = row.mean_ci[1] - row.mean_ci[0]
    # nominal 95%; a percentile bootstrap of 20 to 30 runs covers a little less often
    assert all(85 <= h <= 99 for h in hits.values()), hits
    # 16x more runs: about 4x narrower
    assert 3.0 < widths[20] / widths[320] < 5.5, widths


def test_bootstrap_is_seeded_and_leaves_numpy_global_state_alone() -> None:
    scores = np.random.default_rng(1).normal(size=(20, 2))
    np.random.seed(5)
    before = np.random.get_state()[1].copy()
    a, b = summarise({"x": scores}, seed=3), summarise({"x": scores}, seed=3)
    assert a[0].mean_ci == b[0].mean_ci
    assert np.array_equal(np.random.get_state()[1], before)


def forward_agent(out: Path, seed: int) -> Path:
    """A pixel agent whose policy always walks forward: its returns can be worked out by hand."""
    agent = train_agent(AgentConfig(mode="pixels", domains=("A_default",), steps=64, n_envs=1, seed=seed, device="cpu",
                                    eval_freq=10_000, checkpoint_freq=10_000), out)
    with torch.no_grad():
        agent.policy.action_net.weight.zero_()
        agent.policy.action_net.bias.copy_(torch.tensor([-50.0, -50.0, 50.0]))
    agent.save(out / "model.zip")
    return out


@pytest.fixture(scope="module")
def scripted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return forward_agent(tmp_path_factory.mktemp("scripted") / "forward", seed=0)


@pytest.fixture(scope="module")
def scripted_seed1(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return forward_agent(tmp_path_factory.mktemp("scripted") / "forward1", seed=1)


def forward_returns(domain: str, episodes: int, n_envs: int, seed: int) -> Counter:
    """The returns of always walking forward, by hand: env i starts from seed + i, as VecEnv.seed does."""
    returns = []
    for i in range(n_envs):
        env = envs.make("darla/SeekAvoid2D-v0", (domain,))
        env.reset(seed=seed + i)
        for _ in range((episodes + i) // n_envs):  # SB3's evaluate_policy splits episodes so
            total, done = 0.0, False
            while not done:
                _, reward, terminated, truncated, _ = env.step(FORWARD)
                total, done = total + reward, terminated or truncated
            returns.append(total)
            env.reset()
    return Counter(returns)


def test_evaluation_returns_match_the_scripted_policy(scripted: Path) -> None:
    cfg = EvaluateConfig(agents=(str(scripted),), episodes=12, n_envs=4, seed=21, device="cpu")
    got = episode_returns(load_agent(scripted, device="cpu"), "target", cfg)
    expected = forward_returns("A_alternate", episodes=12, n_envs=4, seed=21)
    assert Counter(got.tolist()) == expected
    assert len(set(got.tolist())) > 1  # the check means something only if episodes differ


def test_evaluate_command_writes_report_table_chart_and_videos(scripted: Path, scripted_seed1: Path, tmp_path: Path) -> None:
    out = tmp_path / "eval"
    assert main(["evaluate", "--agent", str(scripted), "--agent", str(scripted_seed1), "--domain", "target",
                 "--domain", "B_alternate", "--episodes", "6", "--out", str(out), "--video", "--device", "cpu",
                 "--bootstrap-reps", "200", "--agreement-steps", "20"]) == 0
    report = json.loads((out / "evaluation.json").read_text())
    assert [r["domain"] for r in report["results"]] == ["source", "target", "B_alternate"]
    rows = read_results(out / "evaluation.json")
    assert all(len(r.returns) == 2 and len(r.returns[0]) == 6 for r in rows)
    # each seed plays its own episode starts, the same in every domain: an always-forward policy, blind to the
    # look, scores alike in source and target and differently between seeds
    assert rows[0].returns == rows[1].returns == rows[2].returns and rows[1].unit == "seeds"
    assert rows[1].returns[0] != rows[1].returns[1]
    # an agent blind to the look takes the same action on every state in every look
    assert rows[0].agreement is None and rows[1].agreement == rows[2].agreement == [1.0, 1.0]
    assert report["videos"]["target"] == "videos/target.gif"
    assert "| pixels | target |" in (out / "evaluation.md").read_text()
    assert "| 1.00 (1.00, 1.00) |" in (out / "evaluation.md").read_text()
    assert (out / "evaluation.png").stat().st_size > 5_000
    assert {p.name for p in (out / "videos").iterdir()} == {"source.gif", "target.gif", "B_alternate.gif"}
    # the report is kept: the same --out again is refused before anything runs
    before = (out / "evaluation.json").read_bytes()
    assert main(["evaluate", "--agent", str(scripted), "--episodes", "2", "--out", str(out), "--device", "cpu"]) == 2
    assert (out / "evaluation.json").read_bytes() == before


def actor_latents(policy: torch.nn.Module, observations: np.ndarray) -> torch.Tensor:
    """What a PPO policy's action head reads for a batch of observations."""
    with torch.no_grad():
        tensor, _ = policy.obs_to_tensor(observations)
        return policy.mlp_extractor.forward_actor(policy.extract_features(tensor, policy.pi_features_extractor))


def test_action_agreement_is_one_in_the_agents_own_look_and_near_zero_for_a_policy_that_reads_the_look(tmp_path: Path) -> None:
    out = tmp_path / "look_reader"
    train_agent(AgentConfig(mode="pixels", domains=("A_default",), steps=64, n_envs=1, seed=3, device="cpu",
                            eval_freq=10_000, checkpoint_freq=10_000), out)
    agent = load_agent(out, device="cpu")
    policy = agent.model.policy
    [before] = same_state_actions(agent, ["A_default"], [["B_alternate"]], steps=600, seed=1)
    # a policy made to read the look: the least-squares line through what its action head reads that tells
    # A_default's frames (+1) from B_alternate's (-1) decides between actions 0 and 1, whatever the state
    latents = torch.cat([actor_latents(policy, o) for o in before.observations]).double().numpy()
    # float64: in float32 the fit of 512 ReLU features, many of them alike, came out flat
    line = torch.tensor(np.linalg.lstsq(np.c_[latents, np.ones(len(latents))], np.repeat([1.0, -1.0], 600), rcond=None)[0],
                        dtype=torch.float32)
    with torch.no_grad():
        policy.action_net.weight.zero_()
        policy.action_net.bias.zero_()
        policy.action_net.weight[0], policy.action_net.weight[1] = 1e3 * line[:-1], -1e3 * line[:-1]
        policy.action_net.bias[0], policy.action_net.bias[1] = 1e3 * line[-1], -1e3 * line[-1]
    same, other = same_state_actions(agent, ["A_default"], [["A_default"], ["B_alternate"]], steps=60, seed=0)
    assert np.array_equal(same.states, other.states)  # one rollout, drawn twice
    assert same.agreement == 1.0 and same.total_variation == pytest.approx(0.0, abs=1e-6)
    assert other.agreement < 0.2 and other.total_variation > 0.8, (other.agreement, other.total_variation)
    # the share of states whose most likely actions match, on distributions whose answer is known
    known = SameStateActions(np.zeros((4, 1)), (np.zeros(4), np.zeros(4)),
                             (np.array([[0.6, 0.4], [0.2, 0.8], [0.5, 0.5], [0.9, 0.1]]),
                              np.array([[0.7, 0.3], [0.9, 0.1], [0.4, 0.6], [0.9, 0.1]])), np.zeros(4, bool))
    assert known.agreement == 0.5 and known.total_variation == pytest.approx((0.1 + 0.7 + 0.1 + 0.0) / 4)


def test_action_agreement_refuses_what_it_cannot_compare_in_one_line() -> None:
    assert measurable("darla/SeekAvoid2D-v0") and not measurable("CartPole-v1")
    cases = [("CartPole-v1", gym.spaces.Discrete(2), 1, "cannot draw one state in another domain"),
             ("darla/ReacherPixels-v0", gym.spaces.Box(-1.0, 1.0, (2,)), 1, "compares discrete actions"),
             ("darla/SeekAvoid2D-v0", gym.spaces.Discrete(3), 4, "stacks 4 codes")]
    for env_id, space, stack, fragment in cases:
        with pytest.raises(DarlaError, match=fragment) as caught:
            check_measurable(env_id, space, stack)
        assert "\n" not in str(caught.value) and "drop --agreement-steps" in str(caught.value)


def test_evaluate_refuses_bad_input(scripted: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cases = [
        (["--agent", tmp_path / "nope"], "agent.json is missing"),
        (["--agent", scripted, "--domain", "attic", "--episodes", "2", "--device", "cpu"], "attic"),
        (["--agent", scripted, "--episodes", "0"], "episodes must be at least 1"),
        (["--agent", scripted, "--agent", scripted, "--device", "cpu"], "are the same agent: pass each seed once"),
        (["--agent", scripted, "--domain", "source"], "names the report's source row"),
        (["--agent", scripted, "--agreement-steps", "-1"], "--agreement-steps must be 0 (left out) or positive"),
    ]
    (tmp_path / "file").write_text("x")
    code = main(["evaluate", "--out", str(tmp_path / "file"), "--agent", str(scripted)])
    assert_one_line_error(code, capsys.readouterr().err, "is a file: name a folder")
    for args, fragment in cases:
        code = main(["evaluate", "--out", str(tmp_path / "o"), *map(str, args)])
        assert_one_line_error(code, capsys.readouterr().err, fragment)
    assert not (tmp_path / "o" / "evaluation.json").exists()
