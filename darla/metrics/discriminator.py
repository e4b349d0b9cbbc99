"""The discriminator score: how well a classifier tells matching (frame, code) pairs from
shuffled ones.

A small network sees an observation's features beside a code and learns whether the code is
that observation's own (label 1) or another observation's (label 0, a shuffled pairing). Its
held-out binary cross-entropy, at the epoch a separate validation split chooses, measures what
the code says about its frame: about ln 2 (0.693) when the code says nothing, lower the more it
says.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from darla.errors import DarlaError

CHANCE = math.log(2.0)


def frame_features(frames: np.ndarray, size: int = 16) -> np.ndarray:
    """uint8 frames (N, H, W, C) averaged down to ``size`` x ``size`` and flattened, in [0, 1].

    The discriminator needs the frame's content, not its every pixel: pooling keeps its
    input small enough to train in seconds on a CPU.

    :param frames: the frames; H and W must be multiples of ``size``.
    :param size: side of the pooled frame.
    """
    n, h, w, c = frames.shape
    if h % size or w % size:
        raise DarlaError(f"frames of {h}x{w} cannot be pooled to {size}x{size}: choose a size that divides {h}")
    pooled = frames.reshape(n, size, h // size, size, w // size, c).mean(axis=(2, 4), dtype=np.float32)
    return pooled.reshape(n, -1) / 255.0


def discriminator_score(
    features: np.ndarray,
    codes: np.ndarray,
    rng: np.random.Generator,
    held_out: float = 0.25,
    hidden: int = 128,
    epochs: int = 30,
    batch_size: int = 128,
    lr: float = 1e-3,
) -> dict[str, float]:
    """Train a classifier of matching vs shuffled (observation, code) pairs and report its
    held-out binary cross-entropy (natural log; chance is ln 2).

    Each observation appears once with its own code and once with another observation's; the
    held-out observations are never trained on. Half of them choose the epoch (the lowest loss),
    the other half are scored at that epoch, so the choice does not flatter the score.

    :param features: observation features (N, F), e.g. from :func:`frame_features`.
    :param codes: the codes of those observations (N, D).
    :param rng: the random generator (split, shuffles, initial weights).
    :param held_out: fraction of observations kept out of training (half validation, half scoring).
    :param hidden: width of the classifier's two hidden layers.
    :param epochs: passes over the training pairs; the one with the lowest validation loss counts.
    :param batch_size: pairs per update.
    :param lr: Adam learning rate.
    :return: ``discriminator_loss`` and ``discriminator_accuracy`` (on the scoring half, at the
        chosen epoch) and ``discriminator_chance`` (ln 2).
    """
    features = np.asarray(features, dtype=np.float32).reshape(len(features), -1)
    codes = np.asarray(codes, dtype=np.float32).reshape(len(codes), -1)
    if len(features) != len(codes) or len(codes) < 8:
        raise DarlaError(f"the discriminator needs one code per observation and at least 8 of each, got {len(features)} and {len(codes)}")
    order = rng.permutation(len(codes))
    n_out = max(4, round(held_out * len(codes)))
    validation, test, train = order[: n_out // 2], order[n_out // 2 : n_out], order[n_out:]
    # standardised with the training part's statistics, so no input's scale dominates
    x_mean, x_std = features[train].mean(0), features[train].std(0) + 1e-6
    z_mean, z_std = codes[train].mean(0), codes[train].std(0) + 1e-6
    x = torch.from_numpy((features - x_mean) / x_std)
    z = torch.from_numpy((codes - z_mean) / z_std)

    def pairs(index: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        # a cyclic shift of a random order pairs every observation with another's code
        perm = rng.permutation(index)
        own = torch.cat([x[index], z[index]], dim=1)
        other = torch.cat([x[perm], z[np.roll(perm, 1)]], dim=1)
        return torch.cat([own, other]), torch.cat([torch.ones(len(index)), torch.zeros(len(index))])

    torch.manual_seed(int(rng.integers(2**31)))
    net = nn.Sequential(
        nn.Linear(x.shape[1] + z.shape[1], hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, 1)
    )
    optimiser = torch.optim.Adam(net.parameters(), lr=lr)
    held = {"validation": pairs(validation), "test": pairs(test)}
    best: tuple[float, float, float] = (math.inf, CHANCE, 0.5)  # validation loss, test loss, test accuracy
    for _ in range(epochs):
        # fresh shuffled pairings every epoch: the negatives cannot be memorised
        inputs, labels = pairs(train)
        net.train()
        for batch in torch.randperm(len(labels)).split(batch_size):
            loss = F.binary_cross_entropy_with_logits(net(inputs[batch]).squeeze(1), labels[batch])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
        net.eval()
        with torch.no_grad():
            scores = {}
            for part, (inputs_, labels_) in held.items():
                logits = net(inputs_).squeeze(1)
                scores[part] = (float(F.binary_cross_entropy_with_logits(logits, labels_)),
                                float(((logits > 0).float() == labels_).float().mean()))
        if scores["validation"][0] < best[0]:
            best = (scores["validation"][0], *scores["test"])
    return {"discriminator_loss": best[1], "discriminator_accuracy": best[2], "discriminator_chance": CHANCE}
