"""Learning to act: train a stable-baselines3 agent on a wrapped env, save it, load it back.

An agent folder holds the SB3 ``model.zip`` and ``agent.json``, which names the env, the
domains, the input mode and the whole wrapper chain, and the vision checkpoint by path and
content hash, so :func:`load_agent` rebuilds the identical chain for any domain. A latent
agent's folder holds a copy of its vision checkpoint, so the folder alone travels.
"""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
import json
import os
import shutil
import warnings
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import CheckpointCallback, EvalCallback
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.vec_env import VecEnv, VecTransposeImage

import envs
from agents import ALGORITHMS, check_algorithm, hyperparams, make_agent
from darla.version import __version__
from darla.checkpoint import CONFIG_FILE, MODEL_CARD, MODEL_FILE, read_config
from darla.device import check_precision, resolve_device
from darla.errors import DarlaError, require_positive
from darla.files import atomic_path, claim_run_folder
from darla.vec_env import FrameBatchVecEnv
from darla.wrappers import VecLatentObservation

AGENT_FILE = "agent.json"
#: the agent folder's copy of its vision checkpoint
VISION_COPY = "vision"
AGENT_MODEL = "model.zip"
#: the folder of an agent's periodic checkpoints
CHECKPOINTS = "checkpoints"
FORMAT_VERSION = 1


@dataclass
class AgentConfig:
    """What to train.

    :param env: a Gymnasium id (``darla/...`` ids take domains).
    :param domains: the source domains, drawn per episode (presets, groups or JSON files).
    :param algo: ``ppo``, ``dqn`` or ``sac``.
    :param mode: ``latent`` (codes of ``vision``: the DARLA agent), ``pixels`` or ``pixels_aug``.
    :param vision: the vision checkpoint folder, for ``latent``.
    :param steps: environment steps to train for.
    :param seed: seed of the envs and the agent.
    :param n_envs: parallel envs; None takes the hyperparameter file's.
    :param stack: stack the last ``stack`` codes (``latent`` only).
    :param general: see only the vision model's domain-general latents (``latent`` only; a
        weakly supervised variant: ``ada_gvae``, ``cycle_vae``), as LUSR's policy does.
    :param sample_codes: train on codes drawn from the vision model's posterior q(z|x) instead of its means (a VAE's;
        ``latent`` only): noise as large as the model's own uncertainty, so the policy leans on the latents the model
        is sure of. Evaluations, during training and after, see the means.
    :param device: ``"auto"``, ``"cpu"`` or ``"cuda"``, for the policy and the vision model.
    :param precision: what the vision model encodes in (``latent`` only): ``"auto"`` (bfloat16 on
        a CPU that computes it in hardware), ``"bf16"`` or ``"fp32"``.
    :param eval_freq: environment steps between evaluations on the source domains.
    :param eval_episodes: episodes per evaluation.
    :param checkpoint_freq: environment steps between periodic agent checkpoints.
    :param hyperparams: constructor arguments (and ``n_envs``, ``policy``, ``policy_kwargs``)
        that replace the hyperparameter file's, for a search on the source domains.
    """

    env: str = "darla/SeekAvoid2D-v0"
    domains: tuple[str, ...] = ("train",)
    algo: str = "ppo"
    mode: str = "latent"
    vision: str | None = None
    steps: int = 100_000
    seed: int = 0
    n_envs: int | None = None
    stack: int = 1
    general: bool = False
    sample_codes: bool = False
    device: str = "auto"
    precision: str = "auto"
    eval_freq: int = 10_000
    eval_episodes: int = 10
    checkpoint_freq: int = 50_000
    hyperparams: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.domains = tuple(str(d) for d in self.domains)
        check_algorithm(self.algo, self.mode)
        if (self.mode == "latent") != (self.vision is not None):
            raise DarlaError("pass exactly one of --vision CKPT (latent codes), --pixels or --pixels-aug")
        if self.general and self.mode != "latent":
            raise DarlaError("--general selects latents of a vision model: use it with --vision")
        if self.sample_codes and self.mode != "latent":
            raise DarlaError("--sample-codes draws a vision model's codes: use it with --vision")
        require_positive(self, "steps", "stack", "eval_freq", "eval_episodes", "checkpoint_freq")
        check_precision(self.precision)
        if self.n_envs is not None:
            require_positive(self, "n_envs")
        # the env, seed and device come from this config's own fields, never from hyperparameters
        known = set(inspect.signature(ALGORITHMS[self.algo]).parameters) - {"env", "seed", "device", "tensorboard_log", "verbose"}
        unknown = sorted(set(self.hyperparams) - known - {"n_envs"})
        if unknown:
            raise DarlaError(f"{self.algo} takes no hyperparameter {', '.join(unknown)}; see stable-baselines3's "
                             f"{ALGORITHMS[self.algo].__name__} for the valid names (env, seed and device have their own options)")


def vision_hash(folder: str | Path) -> str:
    """SHA-256 over a vision checkpoint's weights and config: what the agent was trained on."""
    digest = hashlib.sha256()
    for name in (MODEL_FILE, CONFIG_FILE):
        path = Path(folder) / name
        if not path.is_file():
            raise DarlaError(f"vision checkpoint file {path} is missing: restore it or retrain the agent")
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _copy_checkpoint(source: Path, dest: Path) -> None:
    """Copy a vision checkpoint's weights and config (and its model card, where it has one), each file atomically."""
    for name in (MODEL_FILE, CONFIG_FILE, MODEL_CARD):
        if name == MODEL_CARD and not (source / name).is_file():
            continue
        with atomic_path(dest / name) as tmp:
            shutil.copyfile(source / name, tmp)


def build_env(cfg: AgentConfig, domains: Sequence[str], n_envs: int, seed: int, render: bool = False,
              training: bool = False) -> VecEnv:
    """The wrapper chain of ``cfg`` in ``domains``: env -> Monitor -> DummyVecEnv [-> VecLatentObservation].

    The DummyVecEnv is a :class:`~darla.vec_env.FrameBatchVecEnv`: an env that draws faster in batches has a step's
    frames drawn together, the same frames. Encoding happens in this process, batched over sub-envs, so a GPU is
    used safely. ``render`` makes ``get_images()`` return the frames the env draws (for videos). ``training`` marks
    the env the agent learns in, whose codes are drawn from the posterior (seeded by ``seed``) where
    ``cfg.sample_codes`` asks; every other env gives the means.
    """
    kwargs = {"render_mode": "rgb_array"} if render and cfg.env in envs.ENV_IDS else {}
    venv = FrameBatchVecEnv([lambda: Monitor(envs.make(cfg.env, tuple(domains), **kwargs)) for _ in range(n_envs)])
    venv.seed(seed)
    if cfg.mode == "latent":
        assert cfg.vision is not None
        venv = VecLatentObservation(venv, cfg.vision, stack=cfg.stack, device=cfg.device, general=cfg.general, precision=cfg.precision,
                                    sample=seed if training and cfg.sample_codes else None)
    return venv


def wrapper_chain(cfg: AgentConfig) -> list[str]:
    """A readable description of the chain :func:`build_env` builds."""
    chain = [f"envs.make({cfg.env!r}, domains)", "Monitor", "DummyVecEnv"]
    if cfg.mode == "latent":
        chain.append(f"VecLatentObservation(vision, stack={cfg.stack}" + (", general=True" if cfg.general else "")
                     + (", sample=True in training" if cfg.sample_codes else "") + ")")
    return chain


#: what must match for ``--resume`` to continue an agent: everything but where it runs and how long
RESUME_MUST_MATCH = ("format_version", "n_envs", "hyperparams", "wrappers", "vision",
                     *(f"config.{f.name}" for f in dataclasses.fields(AgentConfig) if f.name not in ("device", "precision", "steps", "hyperparams")))


class AtomicCheckpoint(CheckpointCallback):
    """SB3's periodic checkpoint, written under a temporary name and renamed, so a kill while it is
    written leaves the previous ones whole and no truncated zip for ``--resume`` to meet."""

    def _on_step(self) -> bool:
        if self.n_calls % self.save_freq == 0:
            with atomic_path(Path(self._checkpoint_path(extension="zip"))) as tmp, open(tmp, "wb") as fh:
                self.model.save(fh)
        return True


def newest_checkpoint(out: Path) -> Path | None:
    """The periodic checkpoint with the most steps in an agent folder, if any."""
    found = [(int(p.stem.split("_")[-2]), p) for p in (out / CHECKPOINTS).glob("agent_*_steps.zip") if p.stem.split("_")[-2].isdigit()]
    return max(found)[1] if found else None


def _continue_from(checkpoint: Path, env: VecEnv, params: dict[str, Any], cfg: AgentConfig, out: Path) -> BaseAlgorithm:
    """The agent of a periodic checkpoint, on ``env``, unpickling nothing (as :func:`load_agent`)."""
    try:
        custom = _replacements(checkpoint, env, params, cfg)
        return ALGORITHMS[cfg.algo].load(checkpoint, env=env, device=str(resolve_device(cfg.device)), custom_objects=custom,
                                         tensorboard_log=str(out / "tensorboard"))
    except (zipfile.BadZipFile, EOFError, KeyError, ValueError) as exc:
        raise DarlaError(f"{checkpoint} is corrupted ({type(exc).__name__}): delete it and rerun with --resume") from None


def train_agent(cfg: AgentConfig, out: str | Path, resume: bool = False) -> BaseAlgorithm:
    """Train an agent in the source domains, evaluating there as it goes, and save it to ``out``.

    ``out`` receives ``model.zip`` and ``agent.json``, ``checkpoints/`` (periodic),
    ``eval/`` (EvalCallback's best model and evaluations) and ``tensorboard/``.

    :param cfg: what to train.
    :param out: the agent folder (new or empty, or with ``resume`` an interrupted run of the same
        settings: it continues from its newest periodic checkpoint to ``cfg.steps``; an off-policy
        agent's replay buffer is not checkpointed and starts empty).
    :param resume: continue the run in ``out``.
    :return: the trained agent.
    """
    out = Path(out)
    params = {**hyperparams(cfg.algo, cfg.env, cfg.mode), **cfg.hyperparams}
    n_envs = cfg.n_envs or int(params["n_envs"])
    record = {
        "format_version": FORMAT_VERSION,
        "darla_version": __version__,
        "config": dataclasses.asdict(cfg),
        "n_envs": n_envs,
        "hyperparams": params,
        "wrappers": wrapper_chain(cfg),
        # the agent folder's own copy, so the folder can be moved, copied or sent alone
        "vision": None if cfg.vision is None else {"path": VISION_COPY, "sha256": vision_hash(cfg.vision),
                                                   "copied_from": os.path.relpath(Path(cfg.vision).resolve(), out.resolve())},
    }
    # an env, domain or action space that does not fit is refused here, before the folder is claimed
    env = build_env(cfg, cfg.domains, n_envs, cfg.seed, training=True)
    eval_env = build_env(cfg, cfg.domains, 1, cfg.seed + 10_000)
    try:
        agent = make_agent(cfg.algo, cfg.mode, env, params, seed=cfg.seed, device=str(resolve_device(cfg.device)),
                           tensorboard_log=str(out / "tensorboard"))
        if (out / AGENT_MODEL).is_file():
            raise DarlaError(f"{out} holds a finished agent{': there is nothing to resume' if resume else ''}; choose another --out "
                             "to train anew")
        claim_run_folder(out, AGENT_FILE, record, resume=resume, key=RESUME_MUST_MATCH)
        if cfg.vision is not None:
            _copy_checkpoint(Path(cfg.vision), out / VISION_COPY)
        start = newest_checkpoint(out) if resume else None
        if start is not None:
            agent = _continue_from(start, env, params, cfg, out)
    except DarlaError:
        env.close()
        eval_env.close()
        raise
    if isinstance(agent.get_env(), VecTransposeImage):
        # SB3 moved the training frames' channels first; the evaluation env must match
        eval_env = VecTransposeImage(eval_env)
    callbacks = [
        EvalCallback(eval_env, n_eval_episodes=cfg.eval_episodes, eval_freq=max(1, cfg.eval_freq // n_envs),
                     log_path=str(out / "eval"), best_model_save_path=str(out / "eval"), verbose=0),
        AtomicCheckpoint(save_freq=max(1, cfg.checkpoint_freq // n_envs), save_path=str(out / CHECKPOINTS), name_prefix="agent"),
    ]
    agent.learn(total_timesteps=max(0, cfg.steps - agent.num_timesteps), callback=callbacks, progress_bar=True,
                reset_num_timesteps=start is None)
    with atomic_path(out / AGENT_MODEL) as tmp, open(tmp, "wb") as fh:
        agent.save(fh)
    env.close()
    eval_env.close()
    return agent


@dataclass
class LoadedAgent:
    """A trained agent and the means to run it in any domain.

    :param model: the stable-baselines3 agent.
    :param config: what it was trained with.
    :param make_env: ``make_env(domains, n_envs=1, seed=0, render=False)`` builds the agent's
        wrapper chain in other domains (a preset, group or JSON file, or a list of them).
    """

    model: BaseAlgorithm
    config: AgentConfig
    make_env: Callable[..., VecEnv]

    @property
    def method(self) -> str:
        """What the agent sees: its vision model's variant, or ``pixels`` / ``pixels_aug``."""
        if self.config.vision is None:
            return self.config.mode
        return str(read_config(self.config.vision)["model"]["variant"])


def _replacements(zip_path: Path, env: VecEnv, params: dict[str, Any], cfg: AgentConfig) -> dict[str, Any]:
    """Values for every cloudpickled entry of an SB3 zip, so that loading unpickles nothing."""
    with zipfile.ZipFile(zip_path) as archive:
        data = json.loads(archive.read("data"))
    with warnings.catch_warnings():
        # the template only supplies spaces and schedules; its env's size may trip SB3's batch advice
        warnings.simplefilter("ignore")
        template = make_agent(cfg.algo, cfg.mode, env, params, seed=cfg.seed, device="cpu")
    serialized = [k for k, v in data.items() if isinstance(v, dict) and ":serialized:" in v]
    return {key: getattr(template, key, None) for key in serialized}


def load_agent(folder: str | Path, device: str = "auto") -> LoadedAgent:
    """Load an agent folder written by :func:`train_agent`.

    The vision checkpoint (the folder's own copy, in agents that hold one) must be unchanged: its hash is checked.

    :param folder: the agent folder.
    :param device: where the policy and vision model run.
    :return: the agent, its config, and an env builder for any domain.
    """
    folder = Path(folder)
    record_path, zip_path = folder / AGENT_FILE, folder / AGENT_MODEL
    for path in (record_path, zip_path):
        if not path.is_file():
            raise DarlaError(f"{path} is missing: pass a folder that darla train wrote, after training finished")
    try:
        record = json.loads(record_path.read_text())
        cfg = AgentConfig(**record["config"])
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError) as exc:
        raise DarlaError(f"{record_path} is corrupted ({exc}); retrain the agent") from None
    if record.get("format_version") != FORMAT_VERSION:
        raise DarlaError(f"{record_path} has agent format {record.get('format_version')}; this darla reads {FORMAT_VERSION}: retrain")
    # Gymnasium imports the module of a "module:Env" id: an id read from a file is only looked up
    if ":" in cfg.env or cfg.env not in gym.registry:
        raise DarlaError(f"{record_path} names the env {cfg.env!r}, which is not a registered Gymnasium id; "
                         "an agent folder may only name registered envs: retrain the agent on one")
    vision = record.get("vision")
    if vision is not None and not (isinstance(vision, dict) and isinstance(vision.get("path"), str) and isinstance(vision.get("sha256"), str)):
        raise DarlaError(f"{record_path} is corrupted (its vision record is not a path and a hash); retrain the agent")
    if (vision is None) != (cfg.mode != "latent"):
        # a latent agent's vision checkpoint is always named with its hash; without one it would load unchecked
        raise DarlaError(f"{record_path} is corrupted (its vision record does not fit its {cfg.mode} input); retrain the agent")
    if record["vision"] is not None:
        # the folder's own copy; older agents name the checkpoint relative to the folder, the oldest by an
        # absolute path
        path = str(folder / record["vision"]["path"])
        if vision_hash(path) != record["vision"]["sha256"]:
            raise DarlaError(f"the vision checkpoint {path} changed since the agent was trained on it: restore it or retrain the agent")
        cfg = dataclasses.replace(cfg, vision=path)
    cfg = dataclasses.replace(cfg, device=device)

    def make_env(domains: str | Sequence[str] = cfg.domains, n_envs: int = 1, seed: int = 0, render: bool = False) -> VecEnv:
        return build_env(cfg, [domains] if isinstance(domains, str) else list(domains), n_envs, seed, render)

    env = make_env()
    try:
        custom = _replacements(zip_path, env, record["hyperparams"], cfg)
        model = ALGORITHMS[cfg.algo].load(zip_path, device=str(resolve_device(device)), custom_objects=custom)
    except (zipfile.BadZipFile, EOFError, KeyError, ValueError) as exc:
        raise DarlaError(f"{zip_path} is corrupted ({type(exc).__name__}); restore it or retrain the agent") from None
    except RuntimeError:
        # the policy is built for the spaces of the env agent.json names; weights of other shapes do not fit it
        raise DarlaError(f"{zip_path} does not fit {cfg.env}'s observation and action spaces, which {record_path} names: "
                         "the file is corrupted or the record names another env; restore them or retrain the agent") from None
    finally:
        env.close()
    return LoadedAgent(model, cfg, make_env)
