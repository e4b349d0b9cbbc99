"""Zero-shot transfer: run frozen agents in domains they never trained in, and summarise.

Several agent folders are several seeds of one method. Per domain the report holds the mean
return, the interquartile mean (IQM) and their 95% confidence intervals, and the transfer ratio:
the domain's mean return over the source's, where the source is the domains the agents trained
in (:mod:`darla.statistics` says how the intervals are drawn).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.vec_env import VecEnv

from darla.agent import LoadedAgent, load_agent
from darla.errors import DarlaError, require_positive
from darla.figures import bar_chart
from darla.files import atomic_path, write_json_atomic
from darla.metrics.agreement import check_measurable, same_state_actions
from darla.statistics import SOURCE, DomainResult, markdown_table, seeded, summarise
from darla.version import __version__

REPORT_FILE = "evaluation.json"
TABLE_FILE = "evaluation.md"
CHART_FILE = "evaluation.png"


@dataclass
class EvaluateConfig:
    """What to evaluate, where, and how much.

    :param agents: agent folders written by ``darla train``: seeds of one method.
    :param domains: where to evaluate (presets, groups or JSON domain files), besides the source.
    :param episodes: episodes per agent and domain.
    :param seed: seed of the evaluation envs, the policies' sampling and the bootstrap.
    :param n_envs: envs stepped together (their frames are encoded in one batch).
    :param deterministic: take the policy's most likely action instead of sampling it (the
        EvalCallback during training takes the most likely one, so its curves may differ).
    :param video: also write one rollout per domain as a GIF.
    :param device: ``"auto"``, ``"cpu"`` or ``"cuda"``.
    :param bootstrap_reps: bootstrap resamples per confidence interval.
    :param agreement_steps: env steps of each agent's rollout in its source domains whose states are drawn
        again in each other domain, to score how often its most likely action stays the same there
        (:mod:`darla.metrics.agreement`); 0 leaves it out. Needs a ``darla/`` env, discrete actions and
        single frames.
    """

    agents: tuple[str, ...] = ()
    domains: tuple[str, ...] = ("target",)
    episodes: int = 30
    seed: int = 0
    n_envs: int = 8
    deterministic: bool = False
    video: bool = False
    device: str = "auto"
    bootstrap_reps: int = 2000
    agreement_steps: int = 0

    def __post_init__(self) -> None:
        self.agents = tuple(str(a) for a in self.agents)
        self.domains = tuple(str(d) for d in self.domains)
        if not self.agents:
            raise DarlaError("no agent to evaluate: pass --agent DIR (repeat it for several seeds)")
        require_positive(self, "episodes", "n_envs", "bootstrap_reps")
        if self.agreement_steps < 0:
            raise DarlaError(f"--agreement-steps must be 0 (left out) or positive, got {self.agreement_steps}")
        if SOURCE in self.domains:
            # the report's row for the agents' own domains is called that already
            raise DarlaError(f"--domain {SOURCE!r} names the report's source row; the source domains are always evaluated, "
                             "so pass only the other domains (a JSON domain file needs another name)")


def episode_returns(agent: LoadedAgent, domains: str | Sequence[str], cfg: EvaluateConfig, index: int = 0) -> np.ndarray:
    """Returns of ``cfg.episodes`` episodes of ``agent`` in ``domains``, with no learning.

    The ``index``-th agent of an evaluation plays its own episode starts, the same in every domain: seeds are
    then independent runs, as the bootstrap over seeds assumes (with one shared set of starts, a 30-episode
    evaluation of one set of agents gave a transfer ratio of 0.56 at one seed and 0.80 at another, each
    interval excluding the other: docs/results.md), while source and target still compare the same starts.
    """
    n_envs = min(cfg.n_envs, cfg.episodes)
    # the vectorised env seeds its envs seed, seed + 1, ...: agents n_envs apart never share an env's stream
    seed = cfg.seed + index * n_envs
    env = agent.make_env(domains, n_envs=n_envs, seed=seed)
    try:
        with seeded(seed):
            returns = play_episodes(agent.model, env, cfg.episodes, cfg.deterministic)
    finally:
        env.close()
    return np.asarray(returns, dtype=np.float64)


def play_episodes(model: Any, env: VecEnv, episodes: int, deterministic: bool) -> list[float]:
    """The returns of SB3's ``evaluate_policy``, the same episodes in the same order, with no env stepped past its share.

    ``evaluate_policy`` gives each env a share of the episodes and steps every env until the last share is played;
    where the envs can be held (:meth:`darla.vec_env.FrameBatchVecEnv.hold`), each is held once its share is done (28%
    fewer env steps for three 3D agents at 30 episodes on 8 envs: docs/results/eval_hold/). A held env's observation
    still reaches the policy, so every other env sees the very same actions.

    :param model: anything with SB3's ``predict``.
    :param env: the envs to play in.
    :param episodes: episodes in all.
    :param deterministic: the policy's most likely actions instead of sampled ones.
    """
    hold = getattr(env.unwrapped, "hold", None)

    def hold_finished(local: dict[str, Any], _: dict[str, Any]) -> None:
        # called once per env and step while the env still counts, before evaluate_policy counts its episode end;
        # an SB3 whose loop names its counts otherwise only plays every env to the end, as before holding
        counts, targets = local.get("episode_counts"), local.get("episode_count_targets")
        if counts is None or targets is None:
            return
        i = local["i"]
        if local["done"] and "episode" in local["info"] and counts[i] + 1 >= targets[i]:
            hold(i)

    returns, _ = evaluate_policy(model, env, n_eval_episodes=episodes, deterministic=deterministic,
                                 return_episode_rewards=True, callback=None if hold is None else hold_finished)
    return [float(r) for r in returns]


def check_same_method(agents: Sequence[LoadedAgent], folders: Sequence[str]) -> None:
    """Refuse agent folders that are not distinct seeds of one method (env, source domains,
    algorithm, input mode, vision variant)."""
    seen: dict[Path, str] = {}
    for folder in folders:
        if Path(folder).resolve() in seen:
            raise DarlaError(f"{folder} and {seen[Path(folder).resolve()]} are the same agent: pass each seed once")
        seen[Path(folder).resolve()] = folder

    def method(a: LoadedAgent) -> dict[str, Any]:
        keys = ("env", "domains", "algo", "mode", "stack")
        return {**{k: v for k, v in dataclasses.asdict(a.config).items() if k in keys}, "method": a.method}

    first = method(agents[0])
    for agent, folder in zip(agents[1:], folders[1:]):
        other = method(agent)
        if other != first:
            diff = ", ".join(k for k in first if first[k] != other[k])
            raise DarlaError(f"{folder} differs from {folders[0]} in {diff}: pass seeds of one method per evaluation")


def rollout_video(agent: LoadedAgent, domains: str | Sequence[str], path: Path, seed: int, deterministic: bool,
                  max_frames: int = 1000) -> Path:
    """One episode of ``agent`` in ``domains``, as the env draws it, saved as a GIF."""
    import imageio.v2 as imageio

    env = agent.make_env(domains, n_envs=1, seed=seed, render=True)
    try:
        with seeded(seed):
            obs = env.reset()
            frames = [env.get_images()[0]]
            done = False
            while not done and len(frames) < max_frames:
                action, _ = agent.model.predict(obs, deterministic=deterministic)
                obs, _, dones, _ = env.step(action)
                done = bool(dones[0])
                if not done:
                    frames.append(env.get_images()[0])
    finally:
        env.close()
    with atomic_path(path) as tmp:
        imageio.mimsave(tmp, frames, format="GIF", duration=0.1, loop=0)
    return path


def _safe_name(domain: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in domain)


def evaluate(cfg: EvaluateConfig, out: str | Path) -> dict[str, Any]:
    """Evaluate the agents in their source domains and in ``cfg.domains``; write the report to ``out``.

    ``out`` receives ``evaluation.json`` (every return and statistic), ``evaluation.md`` (the
    table), ``evaluation.png`` (the bar chart) and, with ``cfg.video``, ``videos/<domain>.gif``.

    :param cfg: what to evaluate.
    :param out: the report folder; one that already holds a report is refused.
    :return: the JSON report.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise DarlaError(f"--out {out} is a file: name a folder for the report")
    if (out / REPORT_FILE).exists():
        raise DarlaError(f"{out} already holds an evaluation report: choose another --out, or remove {out / REPORT_FILE} to redo it")
    folders = list(cfg.agents)
    agents = [load_agent(f, device=cfg.device) for f in folders]
    check_same_method(agents, folders)
    if cfg.agreement_steps:
        check_measurable(agents[0].config.env, agents[0].model.action_space, agents[0].config.stack)
    source_domains = list(agents[0].config.domains)
    targets = {d: [d] for d in cfg.domains if [d] != source_domains}
    where = {SOURCE: source_domains, **targets}
    returns = {name: np.stack([episode_returns(a, domains, cfg, i) for i, a in enumerate(agents)], axis=1) for name, domains in where.items()}
    results = summarise(returns, reps=cfg.bootstrap_reps, seed=cfg.seed)
    if cfg.agreement_steps and targets:
        # per agent, one source rollout scores every target
        seen = [same_state_actions(a, source_domains, list(targets.values()), cfg.agreement_steps, cfg.seed + i)
                for i, a in enumerate(agents)]
        by_target = dict(zip(targets, zip(*seen)))
        for result in results:
            if result.domain in by_target:
                result.agreement = [s.agreement for s in by_target[result.domain]]
    method = agents[0].method
    report = {
        "darla_version": __version__,
        "config": dataclasses.asdict(cfg),
        "method": method,
        "env": agents[0].config.env,
        "source_domains": source_domains,
        "results": [dataclasses.asdict(r) for r in results],
    }
    out.mkdir(parents=True, exist_ok=True)
    if cfg.video:
        report["videos"] = {name: str(rollout_video(agents[0], domains, out / "videos" / f"{_safe_name(name)}.gif",
                                                    cfg.seed, cfg.deterministic).relative_to(out))
                            for name, domains in where.items()}
    write_json_atomic(out / REPORT_FILE, report)
    table = markdown_table({method: results})
    with atomic_path(out / TABLE_FILE) as tmp:
        tmp.write_text(f"Source domains: {', '.join(source_domains)}.\n\n{table}")
    bar_chart(method, results, out / CHART_FILE, f"{agents[0].config.env}: {len(agents)} seed(s) x {cfg.episodes} episodes")
    return report


def read_results(path: str | Path) -> list[DomainResult]:
    """The per-domain results of an ``evaluation.json``."""
    try:
        rows = json.loads(Path(path).read_text())["results"]
        return [DomainResult(**{**r, **{k: tuple(r[k]) if r[k] is not None else None for k in ("mean_ci", "iqm_ci", "ratio_ci")}}) for r in rows]
    except (OSError, json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError) as exc:
        raise DarlaError(f"{path} is not a readable evaluation report ({exc}); delete its folder and evaluate again") from None
