"""Learning to act: a PPO agent on latent codes beats the random policy; agents reload exactly."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
from stable_baselines3.common.evaluation import evaluate_policy

from agents import hyperparams, make_agent
from agents.augment import colour_jitter, random_shift
from darla.agent import AgentConfig, build_env, load_agent, train_agent, vision_hash
from darla.cli import main
from darla.collect import CollectConfig, collect
from darla.errors import DarlaError
from darla.evaluate import EvaluateConfig, episode_returns
from agents import RandomPolicy
from darla.models import make_config
from darla.train import TrainConfig, pretrain
from conftest import assert_one_line_error

PPO_STEPS = 100_000


@pytest.fixture(scope="module")
def vision(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small VAE pretrained on random-policy frames of the training domains (about 15 s here)."""
    root = tmp_path_factory.mktemp("vision")
    collect(CollectConfig(domains=("train",), frames=6000, seed=0), root / "frames")
    config = make_config("vae", conv_channels=(16, 16, 32, 32), hidden_dim=64, latent_dim=16)
    # float32 on every CPU: 100k PPO steps on a 400-step VAE are sensitive to its exact weights, and the
    # bfloat16-trained one (on AMD EPYC) gave an agent at 0.1 against the random policy's 0.27
    pretrain(config, TrainConfig(steps=400, batch_size=64, lr=1e-3, device="cpu", precision="fp32"), root / "frames", root / "vae", figures=False)
    return root / "vae"


@pytest.fixture(scope="module")
def trained(vision: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """PPO on the VAE's codes in the training domains (about 40 s here)."""
    out = tmp_path_factory.mktemp("agents") / "ppo"
    # encoding in float32 too: with bfloat16 codes an Intel Xeon's agent reached 0.48 against the random policy's 0.27
    train_agent(AgentConfig(vision=str(vision), steps=PPO_STEPS, device="cpu", precision="fp32", eval_freq=50_000,
                            eval_episodes=5, checkpoint_freq=50_000), out)
    return out


def test_ppo_on_latents_beats_the_random_policy(trained: Path) -> None:
    agent = load_agent(trained, device="cpu")
    env = agent.make_env("train", n_envs=1, seed=123)
    agent_mean, _ = evaluate_policy(agent.model, env, n_eval_episodes=60)
    random_env = agent.make_env("train", n_envs=1, seed=123)
    random_mean, _ = evaluate_policy(RandomPolicy(random_env.action_space, 0), random_env, n_eval_episodes=60)
    # measured here: agent 0.5 to 0.8; the random policy 0.27 at this seed (0.27 +- 1.00 over these 60 episodes,
    # 3 pickups at most; -0.10 to 0.13 at the seeds of benchmarks/results/random_policy.json)
    assert agent_mean > random_mean + 0.3, (agent_mean, random_mean)


def test_agent_folder_records_the_chain(trained: Path, vision: Path) -> None:
    record = json.loads((trained / "agent.json").read_text())
    assert record["vision"]["path"] == "vision" and len(record["vision"]["sha256"]) == 64
    assert record["vision"]["copied_from"] == os.path.relpath(vision.resolve(), trained.resolve())
    # the folder's own copy: the same bytes as the checkpoint it was trained on, with its model card
    assert vision_hash(trained / "vision") == vision_hash(vision) == record["vision"]["sha256"]
    card = (trained / "vision" / "README.md").read_text()
    assert card.startswith("# vae: ") and "- **Data:** 6000 frames from" in card
    assert record["wrappers"][-1].startswith("VecLatentObservation")
    assert record["config"]["mode"] == "latent" and record["n_envs"] == hyperparams("ppo", "darla/SeekAvoid2D-v0", "latent")["n_envs"]
    assert (trained / "model.zip").is_file() and any((trained / "checkpoints").iterdir())
    assert (trained / "eval" / "evaluations.npz").is_file()


def test_load_agent_reproduces_actions(trained: Path) -> None:
    first, second = load_agent(trained, device="cpu"), load_agent(trained, device="cpu")
    env = first.make_env("target", n_envs=4, seed=7)
    obs = env.reset()
    for _ in range(20):
        a1, _ = first.model.predict(obs, deterministic=True)
        a2, _ = second.model.predict(obs, deterministic=True)
        assert np.array_equal(a1, a2)
        obs, *_ = env.step(a1)
    # the reloaded policy is the trained one, weight for weight
    from stable_baselines3 import PPO

    reference = PPO.load(trained / "model.zip", device="cpu")
    for (k, v), (k2, v2) in zip(first.model.policy.state_dict().items(), reference.policy.state_dict().items()):
        assert k == k2 and torch.equal(v, v2)


def test_an_agent_folder_sent_alone_evaluates_from_its_new_place(trained: Path, vision: Path, tmp_path: Path) -> None:
    sent = shutil.copytree(trained, tmp_path / "colleague" / "agent")
    agent = load_agent(sent, device="cpu")
    assert Path(agent.config.vision).resolve() == (sent / "vision").resolve()
    returns = episode_returns(agent, ["A_default"], EvaluateConfig(agents=(str(sent),), episodes=3, seed=0))
    assert np.array_equal(returns, episode_returns(load_agent(trained, device="cpu"), ["A_default"],
                                                   EvaluateConfig(agents=(str(trained),), episodes=3, seed=0)))
    (sent / "vision" / "config.json").write_text((sent / "vision" / "config.json").read_text() + " ")
    with pytest.raises(DarlaError, match="changed since the agent was trained"):
        load_agent(sent, device="cpu")


def test_an_agent_of_the_earlier_layout_loads_its_vision_relative_to_itself(trained: Path, tmp_path: Path) -> None:
    # agents trained before the copy existed hold none: agent.json names the checkpoint relative to the folder
    run = tmp_path / "run"
    shutil.copytree(trained / "vision", run / "vision")
    shutil.copytree(trained, run / "agents" / "a", ignore=shutil.ignore_patterns("vision"))
    record = json.loads((run / "agents" / "a" / "agent.json").read_text())
    record["vision"]["path"] = "../../vision"
    (run / "agents" / "a" / "agent.json").write_text(json.dumps(record))
    run.rename(tmp_path / "moved")
    assert Path(load_agent(tmp_path / "moved" / "agents" / "a", device="cpu").config.vision).resolve() == (tmp_path / "moved" / "vision").resolve()


def test_changed_or_missing_vision_is_refused(trained: Path, tmp_path: Path) -> None:
    copy = tmp_path / "agent"
    shutil.copytree(trained, copy)
    record = json.loads((copy / "agent.json").read_text())
    vision_copy = tmp_path / "vision"
    shutil.copytree(trained / record["vision"]["path"], vision_copy)
    record["vision"]["path"] = str(vision_copy)  # an absolute path, as agents written before 2026-12-02 hold
    (copy / "agent.json").write_text(json.dumps(record))
    assert load_agent(copy, device="cpu").model is not None
    (vision_copy / "config.json").write_text((vision_copy / "config.json").read_text().replace('"frames"', '"frames" '))
    with pytest.raises(DarlaError, match="changed since the agent was trained"):
        load_agent(copy, device="cpu")
    shutil.rmtree(vision_copy)
    with pytest.raises(DarlaError, match="is missing"):
        load_agent(copy, device="cpu")


@pytest.mark.parametrize("flag", ["--pixels", "--pixels-aug"])
def test_cli_trains_pixel_baselines(flag: str, tmp_path: Path, capsys) -> None:
    code = main(["train", flag, "--steps", "256", "--n-envs", "2", "--eval-freq", "128", "--eval-episodes", "1",
                 "--device", "cpu", "--out", str(tmp_path / "agent")])
    assert code == 0 and "outputs in" in capsys.readouterr().out
    agent = load_agent(tmp_path / "agent", device="cpu")
    assert agent.config.mode == flag.strip("-").replace("-", "_")
    obs = agent.make_env("target").reset()
    assert obs.shape == (1, 64, 64, 3)
    assert agent.model.predict(obs)[0].shape == (1,)


def test_hyperparams_option_replaces_the_files_values(tmp_path: Path, capsys) -> None:
    out = tmp_path / "agent"
    code = main(["train", "--pixels", "--steps", "128", "--n-envs", "2", "--eval-freq", "128", "--eval-episodes", "1",
                 "--hyperparams", "n_steps=32", "--hyperparams", "learning_rate=5e-4", "--hyperparams", "batch_size=32",
                 "--device", "cpu", "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    agent = load_agent(out, device="cpu")
    assert (agent.model.n_steps, agent.model.learning_rate, agent.model.batch_size) == (32, 5e-4, 32)
    assert agent.model.n_epochs == hyperparams("ppo", "darla/SeekAvoid2D-v0", "pixels")["n_epochs"]  # the file's, kept
    assert json.loads((out / "agent.json").read_text())["hyperparams"]["n_steps"] == 32
    for bad, fragment in ((["--hyperparams", "lr=1e-3"], "ppo takes no hyperparameter lr"),
                          (["--hyperparams", "seed=3"], "takes no hyperparameter seed"),
                          (["--hyperparams", "n_steps"], "--hyperparams expects FIELD=VALUE"),
                          # values SB3 cannot use: once tracebacks from its constructor
                          (["--hyperparams", "n_steps=-5"], "`n_steps * n_envs` must be greater than 1"),
                          (["--hyperparams", "learning_rate=fast"], "must be a float or a callable, not fast"),
                          (["--hyperparams", "policy=FooPolicy"], "Policy FooPolicy unknown")):
        code = main(["train", "--pixels", "--steps", "64", *bad, "--out", str(tmp_path / "bad")])
        assert_one_line_error(code, capsys.readouterr().err, fragment)
    assert not (tmp_path / "bad").exists()


def test_cli_needs_exactly_one_input(tmp_path: Path, capsys) -> None:
    with pytest.raises(SystemExit):
        main(["train", "--out", str(tmp_path / "a")])
    code = main(["train", "--pixels", "--algo", "sac", "--steps", "10", "--out", str(tmp_path / "b")])
    assert_one_line_error(code, capsys.readouterr().err, "sac needs continuous actions")
    code = main(["train", "--pixels", "--env", "NoSuchEnv-v0", "--steps", "10", "--out", str(tmp_path / "c")])
    assert_one_line_error(code, capsys.readouterr().err, "unknown environment id 'NoSuchEnv-v0'")
    # refused before the folder is claimed, so the corrected command can use the same --out
    assert not (tmp_path / "b").exists() and not (tmp_path / "c").exists()


def test_dqn_builds_on_the_discrete_env(vision: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # where SB3 would put a logger's folder when the agent has no TensorBoard folder of its own
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    cfg = AgentConfig(vision=str(vision), algo="dqn", device="cpu")
    env = build_env(cfg, ["train"], 2, 0)
    agent = make_agent("dqn", "latent", env, hyperparams("dqn", cfg.env, "latent"), seed=0, device="cpu")
    agent.learn(300)
    # SB3 steps every env until the total reaches 300, a rollout of train_freq steps at a time
    assert 300 <= agent.num_timesteps < 340 and agent.action_space.n == 3 and not list(tmp_path.glob("SB3-*"))


def test_sac_builds_on_the_continuous_control_env(vision: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("mujoco")
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    # SAC on the continuous-control env, through the same latent wrapper (the codes are this test's only concern)
    sac_cfg = AgentConfig(env="darla/ReacherPixels-v0", domains=("default",), vision=str(vision), algo="sac", device="cpu")
    sac = make_agent("sac", "latent", build_env(sac_cfg, ["default"], 1, 0), hyperparams("sac", sac_cfg.env, "latent"), seed=0, device="cpu")
    sac.learn(120)
    assert sac.num_timesteps == 120 and sac.action_space.shape == (2,) and sac.observation_space.shape == (16,)
    assert not list(tmp_path.glob("SB3-*"))
    with pytest.raises(DarlaError, match="dqn needs discrete actions"):
        make_agent("dqn", "pixels", build_env(AgentConfig(env="darla/ReacherPixels-v0", mode="pixels"), ["default"], 1, 0),
                   hyperparams("dqn", "darla/ReacherPixels-v0", "pixels"), seed=0)


def test_a_minibatch_longer_than_the_rollout_becomes_the_rollout(recwarn: pytest.WarningsRecorder) -> None:
    params = {**hyperparams("ppo", "darla/SeekAvoid2D-v0", "pixels"), "n_steps": 64}
    short = make_agent("ppo", "pixels", build_env(AgentConfig(mode="pixels"), ["train"], 2, 0), params, seed=0, device="cpu")
    long = make_agent("ppo", "pixels", build_env(AgentConfig(mode="pixels"), ["train"], 8, 0), params, seed=0, device="cpu")
    # 2 envs x 64 steps: one minibatch of the whole rollout, as SB3 would have trained it, and no truncation warning
    assert (params["batch_size"], short.batch_size, long.batch_size) == (256, 128, 256)
    assert not [w for w in recwarn if "mini-batch" in str(w.message)]


def test_augmentations_shift_and_recolour_within_bounds() -> None:
    torch.manual_seed(0)
    x = torch.zeros(8, 3, 16, 16)
    x[:, :, 6:10, 6:10] = 1.0
    shifted = random_shift(x, pad=2)
    for img in shifted:
        rows, cols = torch.nonzero(img[0], as_tuple=True)
        assert len(rows) == 16 and 4 <= int(rows.min()) <= 8 and 4 <= int(cols.min()) <= 8
    assert len({tuple(torch.nonzero(img[0])[0].tolist()) for img in shifted}) > 1
    jittered = colour_jitter(torch.full((64, 3, 4, 4), 0.5), strength=0.3)
    assert jittered.min() >= 0.5 * 0.7 * 0.7 - 1e-6 and jittered.max() <= 1.0
    assert jittered.std() > 0.01


def test_augmentations_take_each_images_own_crop_and_factors() -> None:
    # the shift is each image's crop of its edge-padded self at the offset drawn for it, and the jitter the formula
    # of its docstring with the factors drawn in order (contrast, brightness, channel gains): exactly, bit for bit
    x = torch.rand(16, 3, 12, 10)
    original = x.clone()
    torch.manual_seed(5)
    shifted = random_shift(x, pad=3)
    torch.manual_seed(5)
    dy, dx = torch.randint(0, 7, (16,)), torch.randint(0, 7, (16,))
    padded = torch.nn.functional.pad(x, (3, 3, 3, 3), mode="replicate")
    expected = torch.stack([padded[i, :, a : a + 12, b : b + 10] for i, (a, b) in enumerate(zip(dy.tolist(), dx.tolist()))])
    assert torch.equal(shifted, expected)
    torch.manual_seed(6)
    jittered = colour_jitter(x, strength=0.3)
    torch.manual_seed(6)
    contrast, brightness, gains = (1 + 0.3 * (2 * torch.rand(16, *shape) - 1) for shape in ((1, 1, 1), (1, 1, 1), (3, 1, 1)))
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    assert torch.equal(jittered, (((x - mean) * contrast + mean) * brightness * gains).clamp(0, 1))
    assert torch.equal(x, original)  # the input is left as it was


def test_loading_an_agent_unpickles_nothing(trained: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import cloudpickle

    def refuse(*args, **kwargs):
        raise AssertionError("load_agent unpickled an object from model.zip")

    monkeypatch.setattr(cloudpickle, "loads", refuse)
    assert load_agent(trained, device="cpu").model.policy is not None


def test_an_existing_agent_folder_is_not_overwritten(trained: Path, capsys) -> None:
    before = (trained / "model.zip").read_bytes()
    code = main(["train", "--pixels", "--steps", "64", "--out", str(trained)])
    assert_one_line_error(code, capsys.readouterr().err, "holds a finished agent; choose another --out")
    assert (trained / "model.zip").read_bytes() == before


def test_an_agent_folder_cannot_make_evaluate_import_code(trained: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Gymnasium imports the module of a "module:Env" id; a shared agent.json must not run code that way
    copy = tmp_path / "agent"
    shutil.copytree(trained, copy)
    record = json.loads((copy / "agent.json").read_text())
    record["config"]["env"] = "planted:CartPole-v1"
    (copy / "agent.json").write_text(json.dumps(record))
    (tmp_path / "planted.py").write_text("from pathlib import Path\nPath(__file__).with_name('ran').write_text('x')\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(DarlaError, match="'planted:CartPole-v1', which is not a registered Gymnasium id"):
        load_agent(copy, device="cpu")
    assert not (tmp_path / "ran").exists()


def test_an_agent_record_without_its_vision_hash_is_refused(trained: Path, tmp_path: Path) -> None:
    copy = tmp_path / "agent"
    shutil.copytree(trained, copy)
    record = json.loads((copy / "agent.json").read_text())
    record["vision"] = None  # the latent agent's checkpoint would then load without its hash checked
    (copy / "agent.json").write_text(json.dumps(record))
    with pytest.raises(DarlaError, match="its vision record does not fit its latent input"):
        load_agent(copy, device="cpu")
    # weights get the mode of the JSON beside them (safetensors wrote them private)
    vision = Path(record["config"]["vision"])
    assert (vision / "model.safetensors").stat().st_mode == (vision / "config.json").stat().st_mode


def test_a_killed_agent_resumes_from_its_newest_checkpoint(tmp_path: Path, capsys) -> None:
    out = tmp_path / "agent"
    args = ["train", "--pixels", "--steps", "128", "--n-envs", "1", "--eval-freq", "1000", "--checkpoint-freq", "32",
            "--hyperparams", "n_steps=32", "--hyperparams", "batch_size=32", "--device", "cpu", "--out", str(out)]
    assert main(args) == 0

    def steps() -> set[int]:
        return {int(p.stem.split("_")[1]) for p in (out / "checkpoints").glob("agent_*_steps.zip")}

    # what a kill between step 64 and 96 leaves behind: no model.zip, checkpoints up to 64
    (out / "model.zip").unlink()
    for p in (out / "checkpoints").glob("agent_*_steps.zip"):
        if int(p.stem.split("_")[1]) > 64:
            p.unlink()
    capsys.readouterr()
    assert main(args) == 2 and "pass --resume to continue" in capsys.readouterr().err
    assert main([*args, "--resume", "--hyperparams", "gamma=0.5"]) == 2
    assert "other settings (hyperparams.gamma)" in capsys.readouterr().err
    assert main([*args, "--resume"]) == 0
    # continued from step 64, not from scratch: it saved at 96 and 128 and stopped at 128
    assert steps() == {32, 64, 96, 128} and load_agent(out, device="cpu").model.num_timesteps == 128
    assert main([*args, "--resume"]) == 2 and "finished agent" in capsys.readouterr().err


def test_only_the_training_env_draws_codes_and_the_record_says_so(vision: Path, tmp_path: Path, capsys) -> None:
    cfg = AgentConfig(vision=str(vision), sample_codes=True, device="cpu", precision="fp32")
    train_env, eval_env = build_env(cfg, ["train"], 2, 0, training=True), build_env(cfg, ["train"], 2, 0)
    first, again = train_env.reset(), eval_env.reset()
    frames = build_env(AgentConfig(mode="pixels"), ["train"], 2, 0).reset()
    means = eval_env.encoder(frames)
    # the same frames: the evaluation env gives their means, the training env draws around them
    np.testing.assert_allclose(again, means, atol=1e-6)
    assert np.abs(first - means).mean() > 0.05
    assert main(["train", "--vision", str(vision), "--sample-codes", "--steps", "256", "--eval-freq", "256", "--device", "cpu",
                 "--out", str(tmp_path / "a")]) == 0
    record = json.loads((tmp_path / "a" / "agent.json").read_text())
    assert record["config"]["sample_codes"] and record["wrappers"][-1].endswith("sample=True in training)")
    with pytest.raises(DarlaError, match="--sample-codes draws a vision model's codes"):
        AgentConfig(mode="pixels", sample_codes=True)
