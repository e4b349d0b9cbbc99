"""Same-state invariance: does a code stay put when only the look of the world changes?

The property zero-shot transfer rests on, measured directly: the same task states are drawn in
two domains (an env's ``render_factors``), both renders are encoded, and three things are read
off the two sets of codes:

- **same-state retrieval**: the share of domain-b frames whose nearest code (Euclidean) among
  the domain-a codes is the code of the same state. 1 for a code that ignores the look; about
  ``1 / states`` for one that carries nothing else. A latent that holds only the domain adds
  the same offset to every distance and leaves the ranking alone, so a factorised code can score
  1 while still saying which domain it sees. Only states that look different are drawn: many
  states draw the same frame (a wall close-up hides where in the room the agent stands), no code
  of a frame can tell those apart, and counting them would cap the score near 0.6 in 2D. Frames
  alike up to :data:`LOOKALIKE_LEVELS` per pixel count as the same: MiniWorld draws a bare 3D wall
  as one colour whose pixels round one level up or down from pose to pose, and of 500
  random-policy states 83 lie within one level of another in 3D, none between 2 and 15 levels,
  and none within 8 in SeekAvoid2D, whose pixel art repeats exactly. Retrieval is
  averaged over several independent draws of states, its spread over them reported beside it: the
  states that fail are those with a near twin among the drawn ones (the wrong pick is the true
  state's nearest frame in pixels half the time), so one draw of 500 states moves the score by
  0.02-0.03, as much as many settings differ by.
- **per-latent domain leak**: how far each latent moves between the two renders of a state,
  relative to its spread over states (root-mean-square shift over the mean within-domain
  standard deviation). 0: the latent ignores the change; above 1: it moves more with the look
  than with the task.
- **probe transfer**: a linear read-out of what the policy needs (the env's ``readout``, e.g.
  where the nearest good object is relative to the agent) fit on domain-a codes and scored, as
  R², on held-out states' codes in domain a and in domain b. A policy on the code can only
  transfer what such a read-out keeps.

Which pairs are scored: every pair inside an env's ``train`` group (for model selection: no
target frame is needed), and the first ``train`` domain against each ``target`` domain (the
report of what transfer will meet). :func:`invariance_pairs` names them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations

import numpy as np
from sklearn.linear_model import RidgeCV
from sklearn.metrics import r2_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from darla.errors import DarlaError, require_positive
from darla.metrics.ground_truth import EnvGroundTruth
from darla.metrics.scores import Represent, represent_all

#: a latent whose spread over states is below this share of the largest latent's is inactive:
#: its leak is a ratio of two noise levels and is left out of the summary
ACTIVE_SHARE = 0.05
#: ridge penalties the probe chooses among, by cross-validation on domain-a codes only
PROBE_ALPHAS = (1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0)
#: two frames whose every pixel channel lies within this many intensity levels of the other's show the same
#: thing: the renderer's rounding, not the state, tells them apart
LOOKALIKE_LEVELS = 1


@dataclass
class InvarianceConfig:
    """How many states the invariance scores draw.

    :param states: task states drawn in both domains of a pair; chance retrieval is ``1 / states``.
    :param probe_train: share of those states the probe is fit on (the rest score it).
    :param draws: independent draws of ``states`` states; retrieval is their mean (the leak and the
        probe are read on the first draw).
    """

    states: int = 500
    probe_train: float = 0.7
    draws: int = 5

    def __post_init__(self) -> None:
        require_positive(self, "states", "draws")
        if self.states < 10:
            raise DarlaError(f"states must be at least 10 (the probe needs held-out states), got {self.states}")
        if not 0 < self.probe_train < 1:
            raise DarlaError(f"probe_train must lie strictly between 0 and 1, got {self.probe_train}")


@dataclass(frozen=True)
class DomainPair:
    """Two domains whose renders of the same states are compared.

    :param a: the domain the retrieval searches in and the probe is fit on.
    :param b: the domain whose frames are looked up and where the probe is scored.
    :param role: ``"train"`` (both in the train group) or ``"target"`` (a train domain against a
        held-out one).
    """

    a: str
    b: str
    role: str

    @property
    def name(self) -> str:
        """``a~b``: the key of the pair's scores."""
        return f"{self.a}~{self.b}"


def invariance_pairs(groups: dict[str, Sequence[str]], domains: Sequence[str]) -> list[DomainPair]:
    """The pairs to score among ``domains`` (resolved preset names).

    Every pair inside the ``train`` group, and the first ``train`` domain against every ``target``
    one; where that gives no pair (an env without those groups, or domains outside them), the
    first domain against each other one.

    :param groups: the env's domain groups (name -> preset names).
    :param domains: the domains available to render in.
    """
    domains = list(domains)
    train = [d for d in groups.get("train", ()) if d in domains]
    target = [d for d in groups.get("target", ()) if d in domains]
    pairs = [DomainPair(a, b, "train") for a, b in combinations(train, 2)]
    pairs += [DomainPair(train[0], t, "target") for t in target] if train else []
    if not pairs:
        pairs = [DomainPair(domains[0], d, "target") for d in domains[1:]]
    if not pairs:
        raise DarlaError(f"invariance needs two domains to compare, got {domains}: add a domain or a group")
    return pairs


def nearest_codes(codes_a: np.ndarray, codes_b: np.ndarray) -> np.ndarray:
    """For each row of ``codes_b``, the index of its nearest (Euclidean) row of ``codes_a``.

    :param codes_a: codes (N, D) of N states in one domain.
    :param codes_b: codes (N, D) of the same states, in the same order, in another domain.
    """
    codes_a, codes_b = np.asarray(codes_a, np.float64), np.asarray(codes_b, np.float64)
    if codes_a.shape != codes_b.shape or codes_a.ndim != 2:
        raise DarlaError(f"retrieval needs two (N, D) code arrays of one shape, got {codes_a.shape} and {codes_b.shape}")
    # squared distances without the |b|^2 term, which is the same for every candidate of a row
    scores = (codes_a**2).sum(axis=1)[None, :] - 2 * codes_b @ codes_a.T
    return scores.argmin(axis=1)


def same_state_retrieval(codes_a: np.ndarray, codes_b: np.ndarray) -> float:
    """Share of rows of ``codes_b`` whose nearest row of ``codes_a`` has the same index.

    :param codes_a: codes (N, D) of N states in one domain.
    :param codes_b: codes (N, D) of the same states, in the same order, in another domain.
    """
    return float((nearest_codes(codes_a, codes_b) == np.arange(len(codes_b))).mean())


def draw_spread(values: Sequence[float]) -> float:
    """Standard deviation of a score over its draws (0 for a single draw)."""
    return float(np.std(values, ddof=1)) if len(values) > 1 else 0.0


def domain_leak(codes_a: np.ndarray, codes_b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per latent: root-mean-square shift between the two renders of a state, over the latent's
    mean within-domain standard deviation; and which latents are active.

    :param codes_a: codes (N, D) of N states in one domain.
    :param codes_b: codes (N, D) of the same states in another domain.
    :return: the leak (D,) and a boolean mask of the active latents (D,).
    """
    shift = np.sqrt(((codes_b - codes_a) ** 2).mean(axis=0))
    spread = (codes_a.std(axis=0) + codes_b.std(axis=0)) / 2
    # a latent that only holds the domain has no spread over states but moves: it counts as active
    reach = np.maximum(spread, shift)
    active = reach > ACTIVE_SHARE * reach.max() if reach.max() > 0 else np.zeros(len(reach), bool)
    return shift / np.maximum(spread, 1e-12), active


def probe_transfer(codes_a: np.ndarray, codes_b: np.ndarray, readout: np.ndarray, train: np.ndarray) -> tuple[float, float]:
    """R² of a linear read-out fit on ``codes_a[train]``, on the other states in domain a and in b.

    :param codes_a: codes (N, D) in domain a.
    :param codes_b: codes (N, D) of the same states in domain b.
    :param readout: what the policy needs of each state (N, K).
    :param train: boolean mask (N,) of the states the probe is fit on.
    :return: (R² in domain a, R² in domain b), each averaged over the K columns.
    """
    probe = make_pipeline(StandardScaler(), RidgeCV(alphas=PROBE_ALPHAS)).fit(codes_a[train], readout[train])
    held = ~train
    return (float(r2_score(readout[held], probe.predict(codes_a[held]))),
            float(r2_score(readout[held], probe.predict(codes_b[held]))))


class SeenFrames:
    """The frames of one domain drawn so far, and whether a new one looks like any of them
    (every pixel channel within :data:`LOOKALIKE_LEVELS`)."""

    def __init__(self) -> None:
        self.frames: list[np.ndarray] = []
        self.means: list[np.ndarray] = []

    def holds(self, frame: np.ndarray) -> bool:
        """Whether ``frame`` looks like a frame added before."""
        if not self.frames:
            return False
        # signed once here, so each kept uint8 frame subtracts from it without a copy of its own
        wide = frame.astype(np.int16)
        # frames within a few levels everywhere have channel means as close: compare in full only those
        near = np.flatnonzero((np.abs(np.stack(self.means) - wide.reshape(-1, wide.shape[-1]).mean(axis=0)) <= LOOKALIKE_LEVELS).all(axis=1))
        return any(int(np.abs(self.frames[i] - wide).max()) <= LOOKALIKE_LEVELS for i in near)

    def add(self, frame: np.ndarray) -> None:
        """Remember ``frame``."""
        self.frames.append(frame)
        self.means.append(frame.reshape(-1, frame.shape[-1]).mean(axis=0))

    def stack(self) -> np.ndarray:
        """The frames added, in order, as one array."""
        return np.stack(self.frames)


def distinct_states(ground_truth: EnvGroundTruth, domain_indices: Sequence[int], n: int,
                    rng: np.random.Generator, pool: np.ndarray | None = None) -> tuple[np.ndarray, list[np.ndarray], float]:
    """``n`` random pool states whose frames differ from each other's in every given domain.

    :param ground_truth: the env ground truth that renders them (and whose pool is drawn from).
    :param domain_indices: the domains to render in (indices into its domains).
    :param n: how many states.
    :param rng: the random generator.
    :param pool: task rows to draw from instead of the ground truth's pool (states of another
        policy, say).
    :return: the task rows (n, F), their frames in each domain, and the share of the states
        drawn that were dropped because they look like one drawn before.
    """
    pool = ground_truth.pool if pool is None else pool
    order = rng.permutation(len(pool))
    seen = [SeenFrames() for _ in domain_indices]
    kept: list[int] = []
    drawn = 0
    for start in range(0, len(order), n):
        chunk = order[start:start + n]
        renders = [ground_truth.render(pool[chunk], np.full(len(chunk), d)) for d in domain_indices]
        for row, state in enumerate(chunk):
            drawn += 1
            if any(domain.holds(render[row]) for domain, render in zip(seen, renders)):
                continue
            for domain, render in zip(seen, renders):
                domain.add(render[row])
            kept.append(int(state))
            if len(kept) == n:
                return pool[kept], [domain.stack() for domain in seen], 1 - n / drawn
    raise DarlaError(f"the pool holds {len(kept)} states that look different from each other, fewer than the "
                     f"{n} asked: lower the states or raise the pool")


def pair_scores(represent: Represent, ground_truth: EnvGroundTruth, pair: DomainPair, config: InvarianceConfig,
                rng: np.random.Generator) -> dict[str, object]:
    """The three scores of one domain pair on ``config.states`` states of the ground truth's pool
    (retrieval on ``config.draws`` draws of them: its mean, spread and each draw's).

    :param represent: the representation function on uint8 frames.
    :param ground_truth: an env ground truth that holds both domains.
    :param pair: the two domains.
    :param config: how many states.
    :param rng: the random generator.
    """
    names = [d.name for d in ground_truth.domains]
    missing = [d for d in (pair.a, pair.b) if d not in names]
    if missing:
        raise DarlaError(f"domain(s) {', '.join(missing)} are not among the ground truth's {', '.join(names)}")
    draws = [distinct_states(ground_truth, [names.index(pair.a), names.index(pair.b)], config.states, rng) for _ in range(config.draws)]
    task, frames, lookalike = draws[0]
    codes = [represent_all(represent, f) for f in frames]
    retrieval = [same_state_retrieval(*codes)]
    retrieval += [same_state_retrieval(*(represent_all(represent, f) for f in other)) for _, other, _ in draws[1:]]
    leak, active = domain_leak(*codes)
    train = np.zeros(len(task), bool)
    train[rng.permutation(len(task))[: int(round(config.probe_train * len(task)))]] = True
    probe_a, probe_b = probe_transfer(codes[0], codes[1], ground_truth.readout(task), train)
    return {
        "role": pair.role,
        "same_state_retrieval": float(np.mean(retrieval)),
        "same_state_retrieval_sd": draw_spread(retrieval),
        "same_state_retrieval_draws": [float(r) for r in retrieval],
        "domain_leak": float(np.median(leak[active])) if active.any() else 0.0,
        "domain_leak_per_latent": leak.round(4).tolist(),
        "active_latents": np.flatnonzero(active).tolist(),
        "probe_r2_same_domain": probe_a,
        "probe_r2_other_domain": probe_b,
        "states": config.states,
        "lookalike_share": float(np.mean([d[2] for d in draws])),
    }


def invariance_scores(represent: Represent, ground_truth: EnvGroundTruth, config: InvarianceConfig,
                      rng: np.random.Generator) -> dict[str, object]:
    """Every pair of :func:`invariance_pairs` among the ground truth's domains, and the summaries.

    The summaries: ``same_state_retrieval`` and ``probe_transfer_r2`` of the first source-target
    pair (what transfer meets), and ``train_same_state_retrieval`` and ``train_probe_transfer_r2``,
    the means over the train-group pairs (what a setting may be chosen by); each retrieval summary
    with its spread over the draws (``..._sd``).

    :param represent: the representation function on uint8 frames.
    :param ground_truth: an env ground truth over the domains to compare.
    :param config: how many states per pair.
    :param rng: the random generator.
    """
    pairs = invariance_pairs(ground_truth.groups, [d.name for d in ground_truth.domains])
    per_pair = {p.name: pair_scores(represent, ground_truth, p, config, rng) for p in pairs}
    summary: dict[str, float] = {}
    for role, prefix in (("target", ""), ("train", "train_")):
        rows = [s for s in per_pair.values() if s["role"] == role]
        if not rows:
            continue
        # the target summary is the first pair's; the train summary averages over the group's pairs
        rows = rows[:1] if role == "target" else rows
        summary[f"{prefix}same_state_retrieval"] = float(np.mean([r["same_state_retrieval"] for r in rows]))
        # the spread over draws of the summary itself: draw k of every pair together
        per_draw = np.mean([r["same_state_retrieval_draws"] for r in rows], axis=0)
        summary[f"{prefix}same_state_retrieval_sd"] = draw_spread(per_draw)
        summary[f"{prefix}probe_transfer_r2"] = float(np.mean([r["probe_r2_other_domain"] for r in rows]))
        summary[f"{prefix}domain_leak"] = float(np.mean([r["domain_leak"] for r in rows]))
    return {"summary": summary, "pairs": per_pair, "chance_retrieval": 1.0 / config.states}


def pixel_representation(size: int = 16) -> Represent:
    """Raw pixels, box-downsampled to ``size`` x ``size``, as a reference representation.

    :param size: side of the downsampled frame; must divide the frame's side.
    """

    def represent(frames: np.ndarray) -> np.ndarray:
        n, h, w, c = frames.shape
        if h % size or w % size:
            raise DarlaError(f"{h}x{w} frames cannot be box-downsampled to {size}x{size}: pick a size that divides {h}")
        return frames.reshape(n, size, h // size, size, w // size, c).mean(axis=(2, 4)).reshape(n, -1) / 255.0

    return represent
