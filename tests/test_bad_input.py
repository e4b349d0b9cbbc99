"""Every bad input to the ``darla`` command, one row each: refused with exit 2 and one line on
stderr that names the problem, no traceback, and every file that existed before byte-identical
after. The rows damage copies of a small real world (collected frames, a vision checkpoint, a
latent agent and its evaluation), never the world itself."""

from __future__ import annotations

import argparse
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from darla.checkpoint import CONFIG_FILE, MODEL_FILE
from darla.cli import build_parser, main

SMALL = ["--set", "conv_channels=[16,16,32,32]", "--set", "hidden_dim=64", "--latent-dim", "8"]
QUICK_PRETRAIN = ["--steps", "4", "--batch-size", "16", "--device", "cpu", "--no-figures", *SMALL]
QUICK_TRAIN = ["--steps", "64", "--n-envs", "1", "--eval-freq", "1000", "--checkpoint-freq", "32", "--device", "cpu",
               "--hyperparams", "n_steps=32", "--hyperparams", "batch_size=32"]


@dataclass(frozen=True)
class World:
    """What the rows start from: all of it made by the CLI itself."""

    root: Path
    frames: Path
    vision: Path
    agent: Path
    report: Path


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    root = tmp_path_factory.mktemp("world")
    w = World(root, root / "frames", root / "vision", root / "agent", root / "report")
    for argv in (["collect", "--out", w.frames, "--frames", "64", "--shard-size", "32"],
                 ["pretrain", "--model", "ae", "--data", w.frames, "--out", w.vision, *QUICK_PRETRAIN],
                 ["train", "--vision", w.vision, "--out", w.agent, *QUICK_TRAIN],
                 ["evaluate", "--agent", w.agent, "--out", w.report, "--episodes", "1", "--n-envs", "1", "--bootstrap-reps", "10",
                  "--device", "cpu"]):
        assert main([str(a) for a in argv]) == 0, argv
    return w


def copy(src: Path, tmp: Path, name: str | None = None) -> Path:
    """A copy of one of the world's folders (or files) in the row's own folder."""
    dst = tmp / (name or src.name)
    (shutil.copytree if src.is_dir() else shutil.copyfile)(src, dst)
    return dst


def edit_json(path: Path, change: Callable[[dict], None]) -> Path:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))
    return path


def write(path: Path, content: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    (path.write_bytes if isinstance(content, bytes) else path.write_text)(content)
    return path


def truncate(path: Path, keep: float = 0.5) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


def frames_folder(tmp: Path, array: np.ndarray, name: str = "f.npy") -> Path:
    folder = tmp / "data"
    folder.mkdir()
    np.save(folder / name, array)
    return folder


def npz_claiming_more_frames(tmp: Path) -> Path:
    """An uncompressed .npz whose array header says 41 frames where 40 are stored."""
    folder = tmp / "data"
    folder.mkdir()
    np.savez(folder / "s.npz", frames=np.full((40, 32, 32, 3), 7, np.uint8))
    raw = (folder / "s.npz").read_bytes()
    # the stored header and the central directory both keep their lengths: only the count changes
    (folder / "s.npz").write_bytes(raw.replace(b"(40, 32, 32, 3)", b"(41, 32, 32, 3)"))
    return folder


def replace_shard(frames: Path) -> Path:
    """The same frames in reverse order under the listed shard's name."""
    shard = sorted(frames.glob("shard_*.npz"))[0]
    with np.load(shard) as arrays:
        np.savez(shard, **{k: v[::-1] for k, v in arrays.items()})
    return frames


def frames_folder_beside(frames: Path) -> Path:
    """One more shard, not in the manifest."""
    np.save(frames / "extra.npy", np.full((4, 64, 64, 3), 9, np.uint8))
    return frames


def nan_weights(folder: Path) -> Path:
    from safetensors.numpy import load_file, save_file

    tensors = load_file(folder / MODEL_FILE)
    name = next(iter(tensors))
    tensors[name] = np.full_like(tensors[name], np.nan)
    save_file(tensors, folder / MODEL_FILE)
    return folder


def domain_file(tmp: Path, content: object) -> Path:
    return write(tmp / "domain.json", json.dumps(content))


def pretrain(w: World, tmp: Path, *extra: object, data: Path | None = None, model: str = "ae") -> list[object]:
    return ["pretrain", "--model", model, "--data", data or w.frames, "--out", tmp / "run", *QUICK_PRETRAIN, *extra]


def over_run(w: World, tmp: Path, *extra: object, damage: Callable[[Path], object] | None = None) -> list[object]:
    """Pretrain into a copy of the world's finished vision run, damaged first if asked."""
    run = copy(w.vision, tmp, "run")
    if damage is not None:
        damage(run)
    return pretrain(w, tmp, *extra)


def train(w: World, tmp: Path, *extra: object, vision: Path | None = None) -> list[object]:
    return ["train", "--vision", vision or w.vision, "--out", tmp / "agent", *QUICK_TRAIN, *extra]


def evaluate(agent: Path, tmp: Path, *extra: object) -> list[object]:
    return ["evaluate", "--agent", agent, "--out", tmp / "report", "--episodes", "1", "--n-envs", "1", "--device", "cpu", *extra]


def collect(tmp: Path, *extra: object, out: Path | None = None) -> list[object]:
    return ["collect", "--out", out or tmp / "frames", "--frames", "32", *extra]


def collected(w: World, tmp: Path, damage: Callable[[Path], object]) -> list[object]:
    """Rerun collect over a copy of the world's frames after damaging it."""
    frames = copy(w.frames, tmp)
    damage(frames)
    return ["collect", "--out", frames, "--frames", "64", "--shard-size", "32"]


def agent_with(w: World, tmp: Path, damage: Callable[[Path], object]) -> list[object]:
    # the vision checkpoint beside it, where the agent's relative path points
    copy(w.vision, tmp)
    agent = copy(w.agent, tmp)
    damage(agent)
    return evaluate(agent, tmp)


def inspect(w: World, tmp: Path, *extra: object, checkpoint: Path | None = None) -> list[object]:
    return ["inspect", checkpoint or w.vision, "--out", tmp / "report", "--device", "cpu", "--pool", "100", "--invariance-states", "20", *extra]


def tune(tmp: Path, *extra: object) -> list[object]:
    return ["tune", "--out", tmp / "search", "--budget", "smoke", "--method", "vae", "--device", "cpu", *extra]


def reproduce_over(tmp: Path, damage: Callable[[Path], object]) -> list[object]:
    out = tmp / "run"
    out.mkdir()
    damage(out)
    return ["reproduce", "--out", out, "--method", "pixels", "--protocol", "single", "--device", "cpu"]


Row = tuple[str, Callable[[World, Path], list[object]], str]

ROWS: list[Row] = [
    # collect
    ("collect: unknown env", lambda w, t: collect(t, "--env", "Nope-v9"), "Nope-v9"),
    ("collect: env from a module", lambda w, t: collect(t, "--env", "somemodule:CartPole-v1"), "somemodule:CartPole-v1"),
    ("collect: no frames", lambda w, t: collect(t, "--frames", "0"), "frames must be at least 1"),
    ("collect: negative frames", lambda w, t: collect(t, "--frames", "-5"), "frames must be at least 1"),
    ("collect: empty shards", lambda w, t: collect(t, "--shard-size", "0"), "shard_size must be at least 1"),
    ("collect: no workers", lambda w, t: collect(t, "--workers", "0"), "workers must be at least 1"),
    ("collect: no action repeat", lambda w, t: collect(t, "--action-repeat", "0"), "action_repeat must be at least 1"),
    ("collect: unknown policy", lambda w, t: collect(t, "--policy", "greedy"), "greedy"),
    ("collect: negative pairs", lambda w, t: collect(t, "--pairs", "-1"), "pairs must be 0 or more"),
    ("collect: more pairs than domains", lambda w, t: collect(t, "--pairs", "5", "--domain", "train"), "needs at least 6 domains"),
    ("collect: unknown domain", lambda w, t: collect(t, "--domain", "C_purple"), "C_purple"),
    ("collect: domain file not JSON", lambda w, t: collect(t, "--domain", write(t / "d.json", "{nope")), "d.json"),
    ("collect: domain tint not numbers", lambda w, t: collect(t, "--domain", domain_file(t, {"tint": "abc"})), "tint must be three"),
    ("collect: domain with an unknown field", lambda w, t: collect(t, "--domain", domain_file(t, {"wings": 2})), "wings"),
    ("collect: out is a file", lambda w, t: collect(t, out=write(t / "f.txt", "keep")), "f.txt"),
    ("collect: out holds other files", lambda w, t: collect(t, out=write(t / "o" / "notes.txt", "keep").parent), "already holds files"),
    ("collect: rerun over a corrupted collect.json", lambda w, t: collected(w, t, lambda f: write(f / "collect.json", "{")), "collect.json"),
    ("collect: rerun over a truncated shard", lambda w, t: collected(w, t, lambda f: truncate(sorted(f.glob("*.npz"))[0])), ".npz"),
    ("collect: rerun with other settings", lambda w, t: [*collected(w, t, lambda f: None), "--seed", "9"], "other settings"),
    # pretrain
    ("pretrain: unknown variant", lambda w, t: pretrain(w, t, model="resnet"), "unknown vision model 'resnet'"),
    ("pretrain: data folder missing", lambda w, t: pretrain(w, t, data=t / "nope"), "does not exist"),
    ("pretrain: data folder empty", lambda w, t: pretrain(w, t, data=(t / "e").mkdir() or t / "e"), "no .npy or .npz"),
    ("pretrain: frame file corrupted", lambda w, t: pretrain(w, t, data=write(t / "d" / "f.npy", b"\x93NUMPY junk").parent), "cannot read frames"),
    ("pretrain: frames without channels", lambda w, t: pretrain(w, t, data=frames_folder(t, np.zeros((4, 32, 32), np.uint8))), "4 dimensions"),
    ("pretrain: frames channels-first", lambda w, t: pretrain(w, t, data=frames_folder(t, np.full((4, 3, 32, 32), 9, np.uint8))), "channels-first"),
    ("pretrain: frames not square", lambda w, t: pretrain(w, t, data=frames_folder(t, np.full((4, 32, 24, 3), 9, np.uint8))), "square"),
    ("pretrain: frames as floats", lambda w, t: pretrain(w, t, data=frames_folder(t, np.zeros((4, 32, 32, 3), np.float32))), "must be uint8"),
    ("pretrain: frames as 0/1 floats", lambda w, t: pretrain(w, t, data=frames_folder(t, np.ones((4, 32, 32, 3), np.uint8))), "0 or 1"),
    ("pretrain: npz header claims more frames", lambda w, t: pretrain(w, t, data=npz_claiming_more_frames(t)), "s.npz"),
    ("pretrain: a shard replaced after collect", lambda w, t: pretrain(w, t, data=replace_shard(copy(w.frames, t))), "is not the shard"),
    ("pretrain: a shard added after collect",
     lambda w, t: pretrain(w, t, data=frames_folder_beside(copy(w.frames, t))), "but manifest.json lists"),
    ("pretrain: manifest.json corrupted", lambda w, t: pretrain(w, t, data=write(copy(w.frames, t) / "manifest.json", "[").parent),
     "manifest.json is corrupted"),
    ("pretrain: unknown model field", lambda w, t: pretrain(w, t, "--set", "wings=2"), "wings"),
    ("pretrain: model field not a number", lambda w, t: pretrain(w, t, "--set", "hidden_dim=big"), "hidden_dim"),
    ("pretrain: --set without =", lambda w, t: pretrain(w, t, "--set", "hidden_dim"), "FIELD=VALUE"),
    ("pretrain: beta on a variant without beta", lambda w, t: pretrain(w, t, "--beta", "4"), "no field(s) beta"),
    ("pretrain: zero latents", lambda w, t: pretrain(w, t, "--latent-dim", "0"), "latent_dim"),
    ("pretrain: negative hidden width", lambda w, t: pretrain(w, t, "--set", "hidden_dim=-5"), "hidden_dim must be at least 1"),
    ("pretrain: a conv layer without filters", lambda w, t: pretrain(w, t, "--set", "conv_channels=[0,16,32,32]"), "conv_channels must be"),
    ("pretrain: negative teacher steps", lambda w, t: pretrain(w, t, "--teacher-steps", "-5", model="beta_vae_dae"),
     "teacher_steps must be at least 1"),
    ("pretrain: a billion latents", lambda w, t: pretrain(w, t, "--latent-dim", "1000000000"), "latent_dim"),
    ("pretrain: no steps", lambda w, t: pretrain(w, t, "--steps", "0"), "steps must be at least 1"),
    ("pretrain: negative learning rate", lambda w, t: pretrain(w, t, "--lr", "-1"), "lr"),
    ("pretrain: empty batch", lambda w, t: pretrain(w, t, "--batch-size", "0"), "batch_size"),
    ("pretrain: unknown device", lambda w, t: pretrain(w, t, "--device", "tpu"), "unknown device"),
    ("pretrain: unknown precision", lambda w, t: pretrain(w, t, "--precision", "fp8"), "fp8"),
    ("pretrain: --dae missing", lambda w, t: pretrain(w, t, "--dae", t / "nope", model="beta_vae_dae"), "no checkpoint folder"),
    ("pretrain: --dae weights corrupted", lambda w, t: pretrain(w, t, "--dae", truncate(copy(w.vision, t, "dae") / MODEL_FILE).parent,
                                                                model="beta_vae_dae"), "model.safetensors is corrupted"),
    ("pretrain: --dae not a dae", lambda w, t: pretrain(w, t, "--dae", w.vision, model="beta_vae_dae"), "built on a dae, got a ae"),
    ("pretrain: out already holds a run", lambda w, t: over_run(w, t), "already holds files"),
    ("pretrain: resume with another lr", lambda w, t: over_run(w, t, "--resume", "--lr", "0.5"), "other settings (train.lr)"),
    ("pretrain: resume over a corrupted pretrain.json",
     lambda w, t: over_run(w, t, "--resume", damage=lambda r: write(r / "pretrain.json", "{")), "pretrain.json is corrupted"),
    # train
    ("train: vision missing", lambda w, t: train(w, t, vision=t / "nope"), "nope"),
    ("train: vision config corrupted", lambda w, t: train(w, t, vision=write(copy(w.vision, t) / CONFIG_FILE, "{").parent), "config.json is corrupted"),
    ("train: vision weights truncated", lambda w, t: train(w, t, vision=truncate(copy(w.vision, t) / MODEL_FILE).parent), "corrupted"),
    ("train: vision weights NaN", lambda w, t: train(w, t, vision=nan_weights(copy(w.vision, t))), "non-finite weights"),
    ("train: vision asks for a huge hidden layer",
     lambda w, t: train(w, t, vision=edit_json(copy(w.vision, t) / CONFIG_FILE, lambda c: c["model"].update(hidden_dim=10**6)).parent), "does not match its config.json"),
    ("train: unknown env", lambda w, t: train(w, t, "--env", "Nope-v9"), "Nope-v9"),
    ("train: env from a module", lambda w, t: train(w, t, "--env", "somemodule:CartPole-v1"), "somemodule:CartPole-v1"),
    ("train: unknown algorithm", lambda w, t: train(w, t, "--algo", "a3c"), "a3c"),
    ("train: sac on discrete actions", lambda w, t: train(w, t, "--algo", "sac"), "continuous actions"),
    ("train: negative n_steps", lambda w, t: train(w, t, "--hyperparams", "n_steps=-5"), "n_steps"),
    ("train: learning rate a word", lambda w, t: train(w, t, "--hyperparams", "learning_rate=fast"), "learning rate"),
    ("train: unknown policy class", lambda w, t: train(w, t, "--hyperparams", "policy=FooPolicy"), "FooPolicy"),
    ("train: unknown hyperparameter", lambda w, t: train(w, t, "--hyperparams", "lr=1e-3"), "takes no hyperparameter lr"),
    ("train: hyperparameter without =", lambda w, t: train(w, t, "--hyperparams", "gamma"), "FIELD=VALUE"),
    ("train: no steps", lambda w, t: train(w, t, "--steps", "0"), "steps must be at least 1"),
    ("train: no envs", lambda w, t: train(w, t, "--n-envs", "0"), "n_envs"),
    ("train: unknown encoder precision", lambda w, t: train(w, t, "--precision", "fp8"), "unknown precision 'fp8'"),
    ("train: unknown domain", lambda w, t: train(w, t, "--domain", "C_purple"), "C_purple"),
    ("train: out already holds an agent", lambda w, t: [copy(w.agent, t), *train(w, t)][1:], "holds a finished agent; choose another"),
    ("train: out holds other files", lambda w, t: train(w, t, "--out", write(t / "o" / "notes.txt", "keep").parent), "already holds files"),
    # evaluate
    ("evaluate: agent folder missing", lambda w, t: evaluate(t / "nope", t), "nope"),
    ("evaluate: agent.json corrupted", lambda w, t: agent_with(w, t, lambda a: write(a / "agent.json", "{")), "agent.json"),
    ("evaluate: agent.json not text", lambda w, t: agent_with(w, t, lambda a: write(a / "agent.json", b"\xff\xfe{junk")),
     "agent.json is corrupted"),
    ("evaluate: agent.json names an env from a module",
     lambda w, t: agent_with(w, t, lambda a: edit_json(a / "agent.json", lambda c: c["config"].update(env="somemodule:CartPole-v1"))),
     "somemodule:CartPole-v1"),
    ("evaluate: agent.json names another env",
     lambda w, t: agent_with(w, t, lambda a: edit_json(a / "agent.json", lambda c: c["config"].update(env="CartPole-v1"))), "CartPole-v1"),
    ("evaluate: agent.json without the vision hash",
     lambda w, t: agent_with(w, t, lambda a: edit_json(a / "agent.json", lambda c: c.update(vision=None))), "vision"),
    ("evaluate: agent.json vision a word", lambda w, t: agent_with(w, t, lambda a: edit_json(a / "agent.json", lambda c: c.update(vision="x"))),
     "vision"),
    ("evaluate: model.zip truncated", lambda w, t: agent_with(w, t, lambda a: truncate(a / "model.zip")), "model.zip"),
    ("evaluate: model.zip missing", lambda w, t: agent_with(w, t, lambda a: (a / "model.zip").unlink()), "model.zip"),
    ("evaluate: out is an existing report", lambda w, t: evaluate(w.agent, t, "--out", copy(w.report, t)), "already holds"),
    ("evaluate: out is a file", lambda w, t: evaluate(w.agent, t, "--out", write(t / "f.txt", "keep")), "f.txt"),
    ("evaluate: no episodes", lambda w, t: evaluate(w.agent, t, "--episodes", "0"), "episodes must be at least 1"),
    ("evaluate: unknown domain", lambda w, t: evaluate(w.agent, t, "--domain", "C_purple"), "C_purple"),
    # inspect
    ("inspect: checkpoint missing", lambda w, t: inspect(w, t, checkpoint=t / "nope"), "nope"),
    ("inspect: checkpoint config corrupted", lambda w, t: inspect(w, t, checkpoint=write(copy(w.vision, t) / CONFIG_FILE, "{").parent),
     "config.json is corrupted"),
    ("inspect: out holds other files", lambda w, t: inspect(w, t, "--out", write(t / "o" / "notes.txt", "keep").parent), "already holds files"),
    ("inspect: unknown factor", lambda w, t: inspect(w, t, "--factor", "wingspan"), "wingspan"),
    ("inspect: one domain, nothing to compare",
     lambda w, t: inspect(w, t, "--domain", domain_file(t, {"name": "x/../../../other/traversals"})), "invariance needs two domains"),
    ("inspect: invariance over more states than the pool", lambda w, t: inspect(w, t, "--invariance-states", "500"), "pool"),
    # domains
    ("domains: unknown env", lambda w, t: ["domains", "--env", "Nope-v9", "--out", t / "d.png"], "Nope-v9"),
    ("domains: out not a png", lambda w, t: ["domains", "--out", write(t / "keep.json", "{}")], ".png"),
    # reproduce
    ("reproduce: unknown budget", lambda w, t: ["reproduce", "--out", t / "r", "--budget", "huge"], "unknown budget 'huge'"),
    ("reproduce: unknown method", lambda w, t: ["reproduce", "--out", t / "r", "--method", "resnet"], "unknown method resnet"),
    ("reproduce: unknown env", lambda w, t: ["reproduce", "--out", t / "r", "--env", "NoSuchEnv-v0"], "unknown environment id"),
    ("reproduce: corrupted reproduce.json", lambda w, t: reproduce_over(t, lambda o: write(o / "reproduce.json", "{")), "reproduce.json"),
    ("reproduce: out holds other files", lambda w, t: reproduce_over(t, lambda o: write(o / "notes.txt", "keep")), "already holds files"),
    # tune: every search is refused before the work folder and its study exist
    ("tune: space not an object", lambda w, t: tune(t, "--space", "[1]", "--trials", "2"), "--space must be a JSON object"),
    ("tune: range upside down", lambda w, t: tune(t, "--space", '{"lr": {"low": 1e-3, "high": 1e-4}}', "--trials", "2"), "low <= high"),
    ("tune: log scale from zero", lambda w, t: tune(t, "--space", '{"lr": {"low": 0, "high": 1e-3, "log": true}}', "--trials", "2"),
     "a log scale needs low > 0"),
    ("tune: nothing to choose", lambda w, t: tune(t, "--space", '{"model.beta": {"choices": []}}', "--trials", "2"), "non-empty"),
    ("tune: a field key without its field", lambda w, t: tune(t, "--space", '{"model": {"choices": [1]}}', "--trials", "2"),
     "model|collect|agent.FIELD"),
    ("tune: negative trials", lambda w, t: tune(t, "--space", '{"lr": {"low": 1e-4, "high": 1e-3}}', "--trials", "-1"),
     "trials must be at least 1"),
    ("tune: model fields not an object", lambda w, t: tune(t, "--candidate", 'a={"model": [1]}'), "model must be a JSON object"),
    ("tune: steps not a count", lambda w, t: tune(t, "--candidate", 'a={"steps": 2.5}'), "steps must be a whole number"),
    ("tune: candidate not JSON", lambda w, t: tune(t, "--candidate", "a={lr"), "its spec is not JSON"),
    # demo
    ("demo: unknown budget", lambda w, t: ["demo", "--out", t / "d", "--budget", "huge"], "unknown budget 'huge'"),
    ("demo: unknown protocol", lambda w, t: ["demo", "--out", t / "d", "--protocol", "both"], "protocol"),
]


def snapshot(*roots: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for root in roots for p in root.rglob("*") if p.is_file()}


@pytest.mark.parametrize("make,fragment", [pytest.param(m, f, id=name) for name, m, f in ROWS])
def test_bad_input_is_one_line_and_changes_nothing(make, fragment: str, world: World, tmp_path: Path, capsys) -> None:
    argv = [str(a) for a in make(world, tmp_path)]
    before = snapshot(world.root, tmp_path)
    capsys.readouterr()
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("darla: error: "), err
    assert fragment in lines[0], lines[0]
    after = snapshot(world.root, tmp_path)
    assert {p: after.get(p) for p in before} == before, [str(p) for p in before if after.get(p) != before[p]]
    assert set(after) == set(before), f"refused, but wrote {sorted(str(p) for p in set(after) - set(before))}"


def test_the_table_covers_every_command_with_at_least_sixty_rows() -> None:
    commands = {name.split(":")[0] for name, _, _ in ROWS}
    (subcommands,) = [a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)]
    assert len(ROWS) >= 60 and commands == set(subcommands.choices)
