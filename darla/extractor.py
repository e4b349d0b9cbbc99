"""The pretrained encoder inside a stable-baselines3 policy, for end-to-end fine-tuning."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import gymnasium as gym
import torch
from torch import nn
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor

from darla.checkpoint import load_vision
from darla.errors import DarlaError
from darla.models import VisionModel


class DarlaExtractor(BaseFeaturesExtractor):
    """Features = the vision model's code of the (channel-first, [0, 1]) image observation.

    Use with a ``CnnPolicy`` on pixel observations: stable-baselines3 moves channels first and
    scales to [0, 1], the normalisation the vision model was trained with.

    :param observation_space: the policy's image space (C, H, W).
    :param vision: a checkpoint folder or a loaded model.
    :param trainable: fine-tune the encoder with the policy; frozen (and kept in eval mode) otherwise.
    """

    def __init__(self, observation_space: gym.spaces.Box, vision: str | Path | VisionModel, trainable: bool = False) -> None:
        model = vision if isinstance(vision, VisionModel) else load_vision(vision, device="cpu")
        super().__init__(observation_space, features_dim=model.latent_dim)
        cfg = model.config
        if tuple(observation_space.shape) != (cfg.channels, cfg.image_size, cfg.image_size):
            raise DarlaError(
                f"the policy sees images {tuple(observation_space.shape)} (C, H, W) but the vision model takes "
                f"{(cfg.channels, cfg.image_size, cfg.image_size)}: pretrain on this env's frames"
            )
        self.trainable = trainable
        self.vision = model.requires_grad_(trainable)
        self.vision.train(trainable)

    def apply(self, fn: Callable[[nn.Module], None]) -> "DarlaExtractor":
        """Apply ``fn`` to every submodule except the pretrained encoder.

        stable-baselines3's actor-critic policies re-initialise their features extractor with
        ``apply`` (orthogonal init); that must not erase the pretrained weights.
        """
        for child in self.children():
            if child is not self.vision:
                child.apply(fn)
        fn(self)
        return self

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        """Codes of a batch of images."""
        return self.vision.encode(observations)

    def train(self, mode: bool = True) -> "DarlaExtractor":
        """Set training mode; a frozen encoder stays in eval mode."""
        super().train(mode)
        self.vision.train(mode and self.trainable)
        return self
