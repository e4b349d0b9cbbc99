"""Image augmentations: the augmentation competitor (NatureCNN on frames randomly shifted and colour-jittered),
and the colour changes a vision model can be pretrained under (random hue rotation, random channel mixing, of the
whole frame or of the room around the objects)."""

from __future__ import annotations

import gymnasium as gym
import torch
import torch.nn.functional as F
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor, NatureCNN

from envs.pixels import hue_rotation_matrix


def random_shift(x: torch.Tensor, pad: int) -> torch.Tensor:
    """Shift each image by up to ``pad`` pixels each way (edge-padded, then cropped back)."""
    n, _, h, w = x.shape
    padded = F.pad(x, (pad, pad, pad, pad), mode="replicate")
    dy = torch.randint(0, 2 * pad + 1, (n,), device=x.device)
    dx = torch.randint(0, 2 * pad + 1, (n,), device=x.device)
    # every crop of the padded images as one view (n, c, 2 pad + 1, 2 pad + 1, h, w), of which each image takes its
    # own: one copy, where gathering rows and then columns took two and ran 2-3x slower on one thread
    crops = padded.unfold(2, h, 1).unfold(3, w, 1)
    return crops[torch.arange(n, device=x.device), :, dy, dx]


def colour_jitter(x: torch.Tensor, strength: float) -> torch.Tensor:
    """Scale each image's brightness, contrast and each channel's gain by factors in [1 - s, 1 + s]."""
    n, c = x.shape[:2]

    def factor(*shape: int) -> torch.Tensor:
        return 1 + strength * (2 * torch.rand(n, *shape, device=x.device) - 1)

    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    # in place on one fresh batch: a new batch per step cost a minibatch of 256 frames 25 ms on one thread instead of
    # 3 (the pages of each new tensor are touched anew); the same operations in the same order, so the same numbers
    jittered = (x - mean).mul_(factor(1, 1, 1)).add_(mean)
    return jittered.mul_(factor(1, 1, 1)).mul_(factor(c, 1, 1)).clamp_(0, 1)


def mix_channels(matrices: torch.Tensor, *images: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Each image's channels mixed by its own matrix: output channel ``i`` of image ``n`` is
    ``sum_j matrices[n, i, j] * image[n, j]``, for every batch given.

    :param matrices: ``(N, C, C)``, or ``(C, C)`` for one matrix shared by every image
    :param images: batches ``(N, C, H, W)``
    :return: the mixed batches
    """
    matrices = matrices.expand(images[0].shape[0], *matrices.shape[-2:]).to(images[0].device)
    return tuple(torch.einsum("nij,njhw->nihw", matrices.to(x.dtype), x) for x in images)


def random_hue_rotation(*images: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Rotate the hue of each RGB image by its own uniform random angle, the same angle for row ``i`` of
    every batch given (so the two frames of a pair stay a pair), keeping brightness.

    :param images: batches ``(N, 3, H, W)`` in [0, 1], all with the same ``N``
    :return: the rotated batches, clipped to [0, 1]
    """
    # angles from torch's generator, so a seeded training step draws the same ones every time
    degrees = 360.0 * torch.rand(images[0].shape[0]).double().numpy()
    return tuple(x.clamp(0, 1) for x in mix_channels(torch.as_tensor(hue_rotation_matrix(degrees), dtype=torch.float32), *images))


def random_colour_mix(*images: torch.Tensor, concentration: float = 0.25) -> tuple[torch.Tensor, ...]:
    """Replace each RGB image's colours by a random convex mix of its channels: output channel ``c`` is
    ``sum_k w_ck x_k`` with each row ``w_c`` drawn from a Dirichlet(``concentration``) distribution, the
    same mix for row ``i`` of every batch given. Greys stay grey and values stay in [0, 1]; any hue can
    become any other.

    :param images: batches ``(N, 3, H, W)`` in [0, 1], all with the same ``N``
    :param concentration: below 1, most weight on one channel: saturated colours stay saturated (a flat
        Dirichlet, 1, would wash most colours out toward grey)
    :return: the mixed batches
    """
    return mix_channels(torch.distributions.Dirichlet(torch.full((3,), concentration)).sample((images[0].shape[0], 3)), *images)


def random_room_mix(*images: torch.Tensor, masks: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
    """:func:`random_colour_mix` of everything but the task's objects: each image's pixels inside its object mask
    keep their colours, so the room's look varies continuously while what the objects look like, which tells good
    from bad, stays as the env draws it.

    :param images: batches ``(N, 3, H, W)`` in [0, 1], all with the same ``N``
    :param masks: one ``(N, 1, H, W)`` mask per batch, 1 where an object is drawn (``darla collect --masks``)
    :return: the recoloured batches
    """
    if len(masks) != len(images):
        raise ValueError(f"random_room_mix needs one mask batch per image batch, got {len(masks)} for {len(images)}")
    return tuple(torch.where(mask.bool(), x, mixed) for x, mixed, mask in zip(images, random_colour_mix(*images), masks))


class AugmentedCNN(BaseFeaturesExtractor):
    """NatureCNN whose inputs are augmented while the policy trains (not while it acts).

    stable-baselines3 puts the policy in training mode only for gradient updates, so rollouts see
    the true frames and updates see shifted, recoloured ones (as in RAD and DrQ).

    :param observation_space: the image space (C, H, W).
    :param features_dim: output size of the CNN.
    :param pad: largest shift, in pixels.
    :param jitter: colour-jitter strength.
    """

    def __init__(self, observation_space: gym.spaces.Box, features_dim: int = 512, pad: int = 4, jitter: float = 0.3) -> None:
        super().__init__(observation_space, features_dim)
        self.cnn = NatureCNN(observation_space, features_dim)
        self.pad, self.jitter = pad, jitter

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        """CNN features, of augmented images in training mode."""
        if self.training:
            observations = colour_jitter(random_shift(observations, self.pad), self.jitter)
        return self.cnn(observations)
