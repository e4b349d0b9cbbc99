"""``darla inspect``: a report folder on what a vision checkpoint learned about an env.

It holds ``index.md`` (the metrics table, the figures, and per active latent how much it says
about each factor), ``metrics.json`` and PNGs: reconstructions per domain, latent traversals,
each per-latent loss term (the KL for the VAE family), the metrics, and per active latent a
histogram of its value in each domain, which shows the latents that carry the domain apart
from those that carry the task.
"""

from __future__ import annotations

import dataclasses
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from sklearn.metrics import mutual_info_score
from tqdm.auto import tqdm

import envs
from darla.checkpoint import load_vision
from darla.errors import DarlaError, require_positive
from darla.figures import latent_histograms, leak_bars, metric_bars, reconstruction_grid, traversal_grid, vector_term_bars
from darla.files import atomic_path, claim_run_folder, write_json_atomic
from darla.metrics import HEADLINES, METRICS, EnvGroundTruth, MetricConfig, active_dimensions, compute_metric, mutual_information
from darla.metrics.discriminator import discriminator_score, frame_features
from darla.metrics.invariance import LOOKALIKE_LEVELS, InvarianceConfig, invariance_pairs, invariance_scores
from darla.metrics.scores import Represent
from darla.models import VisionModel, frames_to_tensor
from darla.models.base import check_general
from darla.version import __version__
from darla.wrappers import FrameEncoder

RUN_FILE = "inspect.json"
METRICS_FILE = "metrics.json"
#: domain names that may appear in a file name as they are
PLAIN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
#: the stages the progress bar counts
STAGES = ("figures", *METRICS, "discriminator", "invariance")
#: a fifth of disentanglement_lib's sample counts, so a report takes minutes on a CPU
INSPECT_METRICS = MetricConfig(num_train=2000, num_eval=1000, num_variance_estimate=2000)


@dataclass
class InspectConfig:
    """What to inspect a vision checkpoint on, and how hard.

    Sample counts default to a fifth of disentanglement_lib's, so a report takes minutes on
    a CPU; raise them for publishable numbers.

    :param env: a ``darla/`` env id whose frames the model was trained on.
    :param domains: presets, groups or JSON domain files; empty means the env's ``train``
        and ``target`` groups, or all its presets when it has no such groups.
    :param factors: factors to score, by name (``domain`` included); empty means the env's
        defaults (its ``default_factors``).
    :param seed: seed of every sample drawn.
    :param device: ``auto``, ``cpu`` or ``cuda``.
    :param metrics: sample counts and estimator settings of the five scores (its ``bins`` also cut a
        continuous factor into classes); a dict names the fields that differ from :data:`INSPECT_METRICS`.
    :param pool: env states the ground truth draws from.
    :param frames_per_domain: frames per domain for histograms, reconstructions and the
        traversal's reference codes.
    :param discriminator_samples: frames the discriminator trains and scores on.
    :param discriminator_epochs: passes of the discriminator over its training pairs.
    :param invariance_states: task states drawn in both domains of each pair for the same-state
        invariance scores (at most ``pool``).
    :param invariance_draws: independent draws of those states; retrieval is their mean, with its spread.
    :param general: score only the model's domain-general latents, the code an agent trained
        with ``general=True`` sees (latents are then numbered within that part).
    """

    env: str = "darla/SeekAvoid2D-v0"
    domains: tuple[str, ...] = ()
    factors: tuple[str, ...] = ()
    seed: int = 0
    device: str = "auto"
    metrics: MetricConfig = field(default_factory=lambda: dataclasses.replace(INSPECT_METRICS))
    pool: int = 2000
    frames_per_domain: int = 256
    discriminator_samples: int = 2000
    discriminator_epochs: int = 30
    invariance_states: int = 500
    invariance_draws: int = 5
    general: bool = False

    def __post_init__(self) -> None:
        if isinstance(self.metrics, dict):
            known = [f.name for f in dataclasses.fields(MetricConfig)]
            if unknown := sorted(set(self.metrics) - set(known)):
                raise DarlaError(f"unknown metrics setting {', '.join(unknown)}: choose from {', '.join(known)}")
            self.metrics = dataclasses.replace(INSPECT_METRICS, **self.metrics)
        require_positive(self, "pool", "frames_per_domain", "discriminator_samples", "discriminator_epochs", "invariance_states",
                        "invariance_draws")
        if self.invariance_states > self.pool:
            raise DarlaError(f"invariance_states ({self.invariance_states}) cannot exceed pool ({self.pool}): raise pool or lower it")
        self.domains = tuple(str(d) for d in self.domains)
        self.factors = tuple(str(f) for f in self.factors)


def default_domains(env_id: str) -> tuple[str, ...]:
    """The ``train`` and ``target`` groups of ``env_id``, or all its presets without them.

    :param env_id: a ``darla/`` env id.
    """
    catalogue = envs.catalogue(env_id)
    groups = tuple(g for g in ("train", "target") if g in catalogue.groups)
    return groups or tuple(catalogue.presets)


def encoder(model: VisionModel, general: bool = False) -> Represent:
    """The model's code as a representation function on uint8 frames: the agents' encoder
    (:class:`~darla.wrappers.FrameEncoder`) in float32.

    :param model: the vision model.
    :param general: only its domain-general latents (what an agent with ``general=True`` sees).
    """
    shape = (model.config.image_size, model.config.image_size, model.config.channels)
    return FrameEncoder(model, gym.spaces.Box(0, 255, shape, np.uint8), general=general, precision="fp32")


def figure_name(kind: str, domain: str, index: int) -> str:
    """``KIND_DOMAIN.png`` for a domain whose name is a plain word, else ``KIND_domainINDEX.png``:
    a name read from a user's JSON never reaches the file system (no ``/`` or ``..`` escapes ``out``)."""
    return f"{kind}_{domain}.png" if PLAIN_NAME.fullmatch(domain) else f"{kind}_domain{index}.png"


def _markdown_table(header: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header), *("| " + " | ".join(r) + " |" for r in rows)]


def _open(checkpoint: str | Path, config: InspectConfig) -> tuple[VisionModel, EnvGroundTruth, tuple[str, ...]]:
    """The model, the ground truth and the domain specs, checked against each other before anything is written."""
    model = load_vision(checkpoint, config.device)
    if config.general:
        check_general(model.config)
    domains = config.domains or default_domains(config.env)
    ground_truth = EnvGroundTruth(config.env, domains, config.factors, config.metrics.bins, config.pool, config.seed)
    invariance_pairs(ground_truth.groups, [d.name for d in ground_truth.domains])  # refused now, not after the metrics
    frame = ground_truth.frames_in_domain(0, 1, np.random.default_rng(0))[0]
    expected = (model.config.image_size, model.config.image_size, model.config.channels)
    if frame.shape != expected:
        ground_truth.close()
        raise DarlaError(f"{config.env} draws {frame.shape} frames but the model takes {expected}: inspect it on the env it was trained on")
    return model, ground_truth, domains


def _model_figures(model: VisionModel, frames: dict[str, np.ndarray], out: Path) -> tuple[dict[str, str], list[str]]:
    """Reconstructions per domain, traversals and each per-latent loss term: file -> caption, and notes."""
    names = list(frames)
    every = np.concatenate(list(frames.values()))
    x = frames_to_tensor(every, model.device)
    figures: dict[str, str] = {}
    notes = []
    with torch.no_grad():
        if model.has_decoder:
            for i, n in enumerate(names):
                file = figure_name("reconstructions", n, i)
                reconstruction_grid(model, frames_to_tensor(frames[n][:8], model.device), out / file)
                figures[file] = f"reconstructions in {n}"
            traversal_grid(model, x, model.encode(x), out / "traversals.png")
            figures["traversals.png"] = "latent traversals (rows: latents, most varying first)"
        else:
            notes.append(f"No reconstructions or traversals: a `{model.config.variant}` has no decoder.")
        vector_terms = {k: v.float().cpu().numpy() for k, v in model.loss(x).items() if v.dim() == 1}
    for term, values in vector_terms.items():
        vector_term_bars(term, values, out / f"{term}.png")
        figures[f"{term}.png"] = f"{term}: per latent, mean over {len(every)} frames"
    if "kl_per_dim" not in vector_terms:
        notes.append(f"No KL per latent: a `{model.config.variant}` has no posterior, so that figure is left out.")
    return figures, notes


def _scores(represent: Represent, ground_truth: EnvGroundTruth, config: InspectConfig, rng: np.random.Generator,
            bar: Any) -> tuple[dict[str, float], dict[str, Any], np.ndarray]:
    """Every metric, the discriminator and the invariance scores; and each latent's information about
    each factor over the factor's entropy (D, K)."""
    scores: dict[str, float] = {}
    for name in METRICS:
        bar.set_postfix_str(name)
        scores.update(compute_metric(name, represent, ground_truth, rng, config.metrics))
        bar.update()
    bar.set_postfix_str("discriminator")
    sample, factor_codes = ground_truth.sample(config.discriminator_samples, rng)
    sample_codes = represent(sample)
    scores.update(discriminator_score(frame_features(sample), sample_codes, rng, epochs=config.discriminator_epochs))
    bar.update()
    bar.set_postfix_str("invariance")
    invariance = invariance_scores(represent, ground_truth, InvarianceConfig(config.invariance_states, draws=config.invariance_draws), rng)
    scores.update(invariance["summary"])
    bar.update()
    entropies = np.array([mutual_info_score(f, f) for f in factor_codes.T])
    info = mutual_information(sample_codes, factor_codes, config.metrics.bins) / np.maximum(entropies, 1e-12)
    return scores, invariance, info


def _index(checkpoint: str | Path, model: VisionModel, config: InspectConfig, ground_truth: EnvGroundTruth,
           domains: tuple[str, ...], scores: dict[str, float], invariance: dict[str, Any], info: np.ndarray,
           active: np.ndarray, figures: dict[str, str], notes: list[str], seconds: float) -> str:
    """The report's ``index.md``."""
    names = [d.name for d in ground_truth.domains]
    lines = [
        f"# What `{Path(checkpoint).name}` learned",
        "",
        f"A `{model.config.variant}` ({model.latent_dim} latents) inspected on `{config.env}` in {', '.join(f'`{n}`' for n in names)} "
        f"(from {', '.join(domains)}), seed {config.seed}, in {seconds:.0f} s. Factors scored (codes per factor): "
        + ", ".join(f"`{n}` ({s})" for n, s in zip(ground_truth.factor_names, ground_truth.factor_sizes))
        + ". All numbers are in `metrics.json`.",
        "",
        "## Metrics",
        "",
        *_markdown_table(["metric", "value"], [[h.label, f"{scores[k]:.3f}"] for k, h in HEADLINES.items() if k in scores]
                         + [["FactorVAE: active latents", f"{scores['factor_vae_active_dims']:.0f}"]]),
        "",
        "## Same-state invariance",
        "",
        f"The same {config.invariance_states} task states drawn in both domains of each pair, none drawing a frame within {LOOKALIKE_LEVELS} intensity level of another one's (chance retrieval "
        f"{1 / config.invariance_states:.3f}). Retrieval: share of b's frames whose nearest code in a is the same state, "
        f"the mean of {config.invariance_draws} draws of states ± its standard deviation over them. "
        "Leak: median over active latents of the shift between the two renders over the spread across states. "
        "Probe: R² of a linear read-out of what the policy needs, fit on a's codes, on held-out states in a and in b.",
        "",
        *_markdown_table(["pair (a~b)", "role", "same-state retrieval", "domain leak", "probe R² in a", "probe R² in b"],
                         [[name, p["role"], f"{p['same_state_retrieval']:.3f} ± {p['same_state_retrieval_sd']:.3f}", f"{p['domain_leak']:.2f}",
                           f"{p['probe_r2_same_domain']:.2f}", f"{p['probe_r2_other_domain']:.2f}"] for name, p in invariance["pairs"].items()]),
        "",
        "## Which latents carry which factors",
        "",
        "Mutual information between each active latent and each factor, over the factor's entropy (1: the latent tells the factor exactly).",
        "",
        *_markdown_table(["latent", *ground_truth.factor_names], [[f"z{d}", *(f"{v:.2f}" for v in info[d])] for d in active]),
        "",
        "## Figures",
        "",
        *(f"**{caption}**\n\n![{caption}]({name})\n" for name, caption in figures.items()),
        *notes,
    ]
    return "\n".join(lines).rstrip() + "\n"


def inspect_model(checkpoint: str | Path, out: str | Path, config: InspectConfig | None = None) -> Path:
    """Write the inspection report of ``checkpoint`` into the empty or new folder ``out``.

    :param checkpoint: a vision checkpoint folder.
    :param out: the report folder; a folder that already holds files is refused.
    :param config: what to inspect on; defaults to :class:`InspectConfig`'s.
    :return: ``out``.
    """
    config = config or InspectConfig()
    out = Path(out)
    start = time.perf_counter()
    model, ground_truth, domains = _open(checkpoint, config)
    record = {"checkpoint": str(Path(checkpoint).resolve()), "config": {**dataclasses.asdict(config), "domains": list(domains)}}
    try:
        claim_run_folder(out, RUN_FILE, record, resume=False, resumable=False)
        represent = encoder(model, config.general)
        rng = np.random.default_rng(config.seed)
        bar = tqdm(total=len(STAGES), desc="inspect", unit="stage")
        names = [d.name for d in ground_truth.domains]
        bar.set_postfix_str("figures")
        frames = {n: ground_truth.frames_in_domain(i, config.frames_per_domain, rng) for i, n in enumerate(names)}
        codes = {n: represent(f) for n, f in frames.items()}
        figures, notes = _model_figures(model, frames, out)
        bar.update()
        scores, invariance, info = _scores(represent, ground_truth, config, rng, bar)
        bar.close()
    finally:
        ground_truth.close()
    leak_bars(invariance["pairs"], out / "domain_leak.png")
    figures["domain_leak.png"] = "same-state invariance: each latent's domain leak per pair of domains"
    active = np.flatnonzero(active_dimensions(np.concatenate(list(codes.values())).var(axis=0)))
    metric_bars(scores, [k for k, h in HEADLINES.items() if h.unit_interval], out / "metrics.png")
    figures["metrics.png"] = "every metric"
    if len(active):
        latent_histograms(codes, active.tolist(), info, ground_truth.factor_names, out / "latents_by_domain.png")
        figures["latents_by_domain.png"] = "active latents: histogram of each one's value per domain"
    else:
        notes.append("No latent varies over these frames, so there are no per-latent histograms.")
    seconds = time.perf_counter() - start
    write_json_atomic(
        out / METRICS_FILE,
        {
            "darla_version": __version__,
            "checkpoint": record["checkpoint"],
            "variant": model.config.variant,
            "env": config.env,
            "domains": names,
            "factors": list(ground_truth.factor_names),
            "factor_sizes": list(ground_truth.factor_sizes),
            "scores": scores,
            "invariance": invariance,
            "active_latents": active.tolist(),
            "latent_factor_information": {f"z{d}": dict(zip(ground_truth.factor_names, info[d].round(4).tolist())) for d in range(len(info))},
            "settings": record["config"],
            "seconds": round(seconds, 1),
        },
    )
    with atomic_path(out / "index.md") as tmp:
        tmp.write_text(_index(checkpoint, model, config, ground_truth, domains, scores, invariance, info, active, figures, notes, seconds))
    return out
