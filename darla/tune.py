"""The source-only search as a command: settings of a vision model and its agents, each trial scored
in the source domain alone, on an Optuna study kept in a database.

A trial is a *spec*: ``model`` (config fields over the registered defaults and the budget's shared
ones), ``lr``, ``steps`` and ``teacher_steps`` (over the budget's vision steps), ``augment``,
``collect`` (:class:`darla.collect.CollectConfig` fields over the budget's frames) and ``agent``
(hyperparameters over the env's file). The search either tries named candidates, one trial each,
or samples a space of dotted spec paths (``{"model.beta": {"choices": [1, 4]}, "lr": {"low": 1e-4,
"high": 1e-3, "log": true}}``) with Optuna's TPE sampler. A trial trains its vision model and
``seeds`` agents in the first ``train`` domain (the ``single`` protocol's source) and is scored by
their mean return there: the target is never drawn. With ``vision_seeds`` above 1 a trial trains its
vision model (and its teacher) once per vision seed and ``seeds`` agents on each: one vision model's
draw can decide a source-return search on its own (rerun, the quick budget's beta_vae_dae search moved
beta 2 from 0.88 to 2.20 while that candidate's two agent seeds stayed within 0.1 of each other).

Trials run as the cells of :mod:`darla.runner` (the process pool or Ray), ``workers`` at a time;
a cell's output is reused by every trial that plans the same one (frames, a teacher), so a killed
search continues where it stopped: the study (SQLite in the work folder by default, or any database
URL several machines share) keeps finished trials, and a trial left running is asked again.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from agents import MODES
from darla.errors import DarlaError, require_positive
from darla.evaluate import REPORT_FILE
from darla.files import write_json_atomic
from darla.models import get_variant
from darla.reproduce import ALL_REPRESENTATIONS, BUDGETS, Job, budget_frames, domain_groups, frames_carry, source_domains
from darla.runner import EXECUTORS, Cell, run_cells

#: what a spec may set
SPEC_KEYS = ("model", "lr", "steps", "teacher_steps", "augment", "collect", "agent")
#: per study, the summary of its finished trials, beside the database
SUMMARY_FILE = "tune.json"
#: the evaluation seed of a reproduce run with seed 0, so episode starts match its source rows
EVAL_SEED = 1000


@dataclass
class TuneConfig:
    """The search.

    :param env: the env, whose ``train`` group's first domain is the source.
    :param method: a representation (its vision model is trained per trial) or ``pixels`` / ``pixels_aug``.
    :param algo: the RL algorithm.
    :param budget: the budget whose frames, vision steps, agent steps and episodes a trial spends.
    :param seeds: agent seeds per trial (per vision seed).
    :param vision_seeds: vision models per trial, each trained with its own seed (a representation only).
    :param candidates: named specs, one trial each (or give ``space``).
    :param space: dotted spec path -> ``{"choices": [...]}`` or ``{"low", "high", "log", "step"}``.
    :param trials: trials to sample from ``space`` in all (finished ones count).
    :param storage: the study's database URL; None: SQLite in the work folder.
    :param study: the study's name; None: one made of env, method, algo and budget.
    :param workers: cells run at once (trials are asked this many at a time).
    :param executor: ``process`` or ``ray`` (:mod:`darla.runner`).
    :param address: the Ray cluster (``ray`` only).
    :param device: ``"auto"``, ``"cpu"`` or ``"cuda"``.
    :param seed: seed of the frames, the vision models and the sampler.
    """

    env: str = "darla/SeekAvoid2D-v0"
    method: str = "beta_vae_dae"
    algo: str = "ppo"
    budget: str = "quick"
    seeds: int = 2
    vision_seeds: int = 1
    candidates: dict[str, dict[str, Any]] = field(default_factory=dict)
    space: dict[str, dict[str, Any]] = field(default_factory=dict)
    trials: int | None = None
    storage: str | None = None
    study: str | None = None
    workers: int = 1
    executor: str = "process"
    address: str | None = None
    device: str = "auto"
    seed: int = 0

    def __post_init__(self) -> None:
        if self.budget not in BUDGETS:
            raise DarlaError(f"unknown budget {self.budget!r}: choose one of {', '.join(BUDGETS)}")
        if self.method not in ALL_REPRESENTATIONS + tuple(m for m in MODES if m != "latent"):
            raise DarlaError(f"unknown method {self.method!r}: a representation ({', '.join(ALL_REPRESENTATIONS)}), pixels or pixels_aug")
        if self.method in ALL_REPRESENTATIONS and get_variant(self.method).model.takes_pairs:
            raise DarlaError(f"{self.method} learns from pairs, which darla tune does not collect: tune it with benchmarks/tune_invariance.py")
        if self.executor not in EXECUTORS:
            raise DarlaError(f"unknown executor {self.executor!r}: choose one of {', '.join(EXECUTORS)}")
        if bool(self.candidates) == bool(self.space):
            raise DarlaError("give either --candidate NAME=JSON (repeat it) or --space JSON with --trials N")
        if self.space and self.trials is None:
            raise DarlaError("--space needs --trials N: how many trials to sample in all")
        for name, spec in self.candidates.items():
            _check_spec(spec, f"candidate {name!r}")
        if not isinstance(self.space, dict):
            raise DarlaError(f"--space must be a JSON object of dotted spec paths, got {self.space!r}")
        for path, bounds in self.space.items():
            _check_bounds(path, bounds)
        require_positive(self, "seeds", "vision_seeds", "workers", *(("trials",) if self.space else ()))
        if self.vision_seeds > 1 and self.method not in ALL_REPRESENTATIONS:
            raise DarlaError(f"--vision-seeds needs a vision model to train; {self.method} has none: drop it")
        domain_groups(self.env)

    @property
    def study_name(self) -> str:
        """The study's name in its database."""
        return self.study or f"{self.env} {self.method} {self.algo} {self.budget}"


#: the spec keys that hold fields (config fields or hyperparameters) rather than one value
FIELD_KEYS = ("model", "collect", "agent")


def _check_spec(spec: Any, what: str) -> None:
    if not isinstance(spec, dict):
        raise DarlaError(f"{what} must be a JSON object of {', '.join(SPEC_KEYS)}, got {spec!r}")
    unknown = sorted(set(spec) - set(SPEC_KEYS))
    if unknown:
        raise DarlaError(f"{what} sets {', '.join(unknown)}; a spec sets {', '.join(SPEC_KEYS)}")
    for key in FIELD_KEYS:
        if not isinstance(spec.get(key, {}), dict):
            raise DarlaError(f"{what}: {key} must be a JSON object of field names and values, got {spec[key]!r}")
    for key in ("steps", "teacher_steps"):
        if key in spec and (not isinstance(spec[key], int) or isinstance(spec[key], bool) or spec[key] < 1):
            raise DarlaError(f"{what}: {key} must be a whole number of steps, at least 1, got {spec[key]!r}")
    if spec.get("lr") is not None and (not isinstance(spec["lr"], (int, float)) or isinstance(spec["lr"], bool) or spec["lr"] <= 0):
        raise DarlaError(f"{what}: lr must be a positive number (or null for the model's default), got {spec['lr']!r}")


def _check_bounds(path: Any, bounds: Any) -> None:
    """Refuse a ``--space`` entry Optuna would fail on, naming it."""
    usage = '{"choices": [...]} or {"low": L, "high": H[, "log": true][, "step": S]}'
    parts = str(path).split(".")
    # a field key is searched one field at a time (model.beta); any other key is one value (lr)
    if parts[0] not in SPEC_KEYS or (len(parts) > 1) != (parts[0] in FIELD_KEYS) or not all(parts):
        raise DarlaError(f"--space {path!r}: a spec path, one of {', '.join(k for k in SPEC_KEYS if k not in FIELD_KEYS)} or "
                         f"{'|'.join(FIELD_KEYS)}.FIELD, mapped to {usage}")
    if not isinstance(bounds, dict) or not ("choices" in bounds or {"low", "high"} <= set(bounds)):
        raise DarlaError(f"--space {path!r}: map it to {usage}")
    if "choices" in bounds:
        if not isinstance(bounds["choices"], list) or not bounds["choices"]:
            raise DarlaError(f"--space {path!r}: choices must be a non-empty JSON list, got {bounds['choices']!r}")
        return
    low, high = bounds["low"], bounds["high"]
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (low, high)) or low > high:
        raise DarlaError(f"--space {path!r}: low and high must be numbers with low <= high, got {low!r} and {high!r}")
    if bounds.get("log") and low <= 0:
        raise DarlaError(f"--space {path!r}: a log scale needs low > 0, got {low!r}")
    if bounds.get("step") is not None and (not isinstance(bounds["step"], (int, float)) or bounds["step"] <= 0):
        raise DarlaError(f"--space {path!r}: step must be a positive number, got {bounds['step']!r}")


def spec_of(params: dict[str, Any]) -> dict[str, Any]:
    """Dotted parameter paths (``model.beta``) as a nested spec."""
    spec: dict[str, Any] = {}
    for path, value in params.items():
        *parents, leaf = path.split(".")
        node = spec
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
    return spec


def _key(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=list).encode()).hexdigest()[:12]


def trial_cells(cfg: TuneConfig, spec: dict[str, Any], out: Path) -> tuple[list[Cell], Path]:
    """The cells of one trial (shared ones named alike, so they run once) and its evaluation folder."""
    plan = BUDGETS[cfg.budget].in_env(cfg.env)
    cells: list[Cell] = []
    visions: list[Path | None] = [None]
    if cfg.method in ALL_REPRESENTATIONS:  # an agent on pixels needs no frames collected beforehand
        # frames with the objects' masks where the trial's model weighs them or its augmentation recolours around them
        # (pairs are refused above)
        settings = {**plan.model, **spec.get("model", {}), "augment": spec.get("augment", "none")}
        collect = {**budget_frames(plan, cfg.env, cfg.seed), **frames_carry(cfg.method, settings), **spec.get("collect", {})}
        frames = out / "frames" / _key(collect)
        cells.append(Cell(f"frames/{frames.name}", Job.plan("collect", {**collect, "out": str(frames)}), str(frames / "manifest.json")))
        visions = [_vision_cells(cfg, spec, frames, cfg.seed + v, cells, out) for v in range(cfg.vision_seeds)]
    agents: list[str] = []
    names = []
    for vision in visions:
        name = _key(cfg.method, cfg.algo, vision.name if vision else None, spec.get("agent", {}), cfg.seed)
        names.append(name)
        for k in range(cfg.seeds):
            folder = out / "agents" / name / f"seed{k}"
            agents.append(str(folder))
            agent = {"env": cfg.env, "domains": list(source_domains(cfg.env, "single")), "algo": cfg.algo, "steps": plan.agent_steps,
                     "seed": cfg.seed + k, "n_envs": plan.n_envs, "device": cfg.device, "eval_freq": plan.agent_steps,
                     "eval_episodes": min(5, plan.episodes), "checkpoint_freq": plan.agent_steps, "hyperparams": spec.get("agent", {}),
                     **({"mode": "latent", "vision": str(vision)} if vision else {"mode": cfg.method})}
            cells.append(Cell(f"agents/{name}/seed{k}", Job.plan("agent", {"config": agent, "out": str(folder)}), str(folder / "model.zip"),
                              (f"vision/{vision.name}",) if vision else (), resumable=False))
    # one vision seed keeps the folder its agents are named by (searches before vision seeds continue)
    evaluation = out / "eval" / (names[0] if len(names) == 1 else _key(*names))
    cells.append(Cell(f"eval/{evaluation.name}", Job.plan("evaluate", {"config": {"agents": agents, "domains": [], "episodes": plan.episodes,
                                                                                 "seed": EVAL_SEED, "device": cfg.device}, "out": str(evaluation)}),
                      str(evaluation / REPORT_FILE), tuple(f"agents/{n}/seed{k}" for n in names for k in range(cfg.seeds)), resumable=False))
    return cells, evaluation


def _vision_cells(cfg: TuneConfig, spec: dict[str, Any], frames: Path, seed: int, cells: list[Cell], out: Path) -> Path:
    """Append the cells of the trial's vision model trained with ``seed`` (its teacher first); return its folder."""
    plan = BUDGETS[cfg.budget].in_env(cfg.env)
    augment = spec.get("augment", "none")
    teacher_variant = get_variant(cfg.method).teacher
    teacher = None
    if teacher_variant is not None:
        teacher_args = {"variant": teacher_variant, "model": {}, "lr": None, "steps": spec.get("teacher_steps", plan.vision_steps),
                        "seed": seed, "device": cfg.device, "data": str(frames), "teacher": None,
                        **({"augment": augment} if augment != "none" else {})}
        # folders are named by what their cell computes: not by the device, nor by where the work folder is
        teacher = out / "teachers" / _key({**teacher_args, "device": None, "data": frames.name})
        cells.append(Cell(f"teachers/{teacher.name}", Job.plan("vision", {**teacher_args, "out": str(teacher)}),
                          str(teacher / "model.safetensors"), (f"frames/{frames.name}",)))
    vision_args = {"variant": cfg.method, "model": {**plan.model, **spec.get("model", {})}, "lr": spec.get("lr"),
                   "steps": spec.get("steps", plan.vision_steps), "seed": seed, "device": cfg.device, "data": str(frames),
                   "teacher": str(teacher) if teacher else None, **({"augment": augment} if augment != "none" else {})}
    vision = out / "vision" / _key({**vision_args, "device": None, "data": frames.name, "teacher": teacher.name if teacher else None})
    cells.append(Cell(f"vision/{vision.name}", Job.plan("vision", {**vision_args, "out": str(vision)}), str(vision / "model.safetensors"),
                      (f"frames/{frames.name}",) + ((f"teachers/{teacher.name}",) if teacher else ())))
    return vision


def source_score(evaluation: Path) -> tuple[float, list[float]]:
    """The mean over seeds of each seed's mean source return, and the seed means (every vision seed's agents in turn)."""
    report = json.loads((evaluation / REPORT_FILE).read_text())
    (row,) = [r for r in report["results"] if r["domain"] == "source"]
    means = [float(np.mean(returns)) for returns in row["returns"]]
    return float(np.mean(means)), means


def tune(cfg: TuneConfig, out: str | Path) -> dict[str, Any]:
    """Run (or continue) the search in ``out``; returns its summary, also written under the study's name
    in ``out/tune.json``."""
    try:
        import optuna
    except ImportError:
        raise DarlaError("darla tune needs Optuna: pip install 'darla[tune]'") from None
    # a Ray task runs in a folder of Ray's choosing: it is given absolute paths
    out = Path(out).resolve() if cfg.executor == "ray" else Path(out)
    out.mkdir(parents=True, exist_ok=True)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = cfg.storage or f"sqlite:///{(out / 'study.db').resolve()}"
    study = optuna.create_study(storage=storage, study_name=cfg.study_name, direction="maximize", load_if_exists=True,
                                sampler=optuna.samplers.TPESampler(seed=cfg.seed))
    # a trial left running by a killed search is failed and asked again: its finished cells are reused
    for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        study.tell(trial.number, state=optuna.trial.TrialState.FAIL)
        if not cfg.candidates:
            study.enqueue_trial(trial.params, skip_if_exists=True)

    def finished() -> list[optuna.trial.FrozenTrial]:
        return study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))

    def pending() -> list[str]:
        """Candidates without a finished trial of their present spec (an edited spec is tried again)."""
        done = {(t.user_attrs.get("candidate"), json.dumps(t.user_attrs.get("spec"), sort_keys=True)) for t in finished()}
        return [n for n, spec in cfg.candidates.items() if (n, json.dumps(spec, sort_keys=True)) not in done]

    while remaining := (len(pending()) if cfg.candidates else max(0, int(cfg.trials or 0) - len(finished()))):
        asked = [study.ask() for _ in range(min(cfg.workers, remaining))]
        if cfg.candidates:
            names = pending()
            for trial, name in zip(asked, names):
                trial.set_user_attr("candidate", name)
            specs = [cfg.candidates[name] for name in names[: len(asked)]]
        else:
            specs = [spec_of(_suggest(trial, cfg.space)) for trial in asked]
        planned = [trial_cells(cfg, spec, out) for spec in specs]
        cells = list({c.name: c for trial_cells_, _ in planned for c in trial_cells_}.values())
        run_cells(cells, out, cfg.workers, cfg.executor, cfg.address)
        for trial, spec, (_, evaluation) in zip(asked, specs, planned):
            value, means = source_score(evaluation)
            trial.set_user_attr("spec", spec)
            trial.set_user_attr("seed_means", means)
            study.tell(trial, value)
    rows = [{"number": t.number, "candidate": t.user_attrs.get("candidate"), "params": t.params, "spec": t.user_attrs["spec"],
             "source_return": t.value, "seed_means": t.user_attrs["seed_means"]} for t in finished()]
    best = max(rows, key=lambda r: r["source_return"])
    summary = {"config": {k: v for k, v in cfg.__dict__.items()}, "study": cfg.study_name, "storage": storage,
               "criterion": "mean source return over seeds (the target is never drawn)", "trials": rows, "best": best}
    # several searches may share a work folder (and its frames): each keeps its own entry
    path = out / SUMMARY_FILE
    try:
        studies = json.loads(path.read_text()) if path.is_file() else {}
    except (json.JSONDecodeError, UnicodeDecodeError):
        studies = None
    if not isinstance(studies, dict):
        raise DarlaError(f"{path} is corrupted: delete it and rerun (the study in {storage} keeps every trial)")
    if "study" in studies and "trials" in studies:  # written before one file held several studies: its one summary
        studies = {studies["study"]: studies}
    write_json_atomic(path, {**studies, cfg.study_name: summary})
    return summary


def _suggest(trial: Any, space: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """One value per dotted path of ``space``, drawn by the trial."""
    params = {}
    for path, bounds in space.items():
        if "choices" in bounds:
            params[path] = trial.suggest_categorical(path, bounds["choices"])
        elif isinstance(bounds["low"], int) and isinstance(bounds["high"], int) and not bounds.get("log"):
            params[path] = trial.suggest_int(path, bounds["low"], bounds["high"], step=bounds.get("step", 1))
        else:
            params[path] = trial.suggest_float(path, bounds["low"], bounds["high"], log=bool(bounds.get("log")), step=bounds.get("step"))
    return params
