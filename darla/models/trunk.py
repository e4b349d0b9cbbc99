"""DARLA's convolutional trunk: conv 32-32-64-64 (kernel 4, stride 2), FC 256, and its mirror."""

from __future__ import annotations

import torch
from torch import nn

from darla.models.base import TrunkConfig


def _activation(linear: bool) -> nn.Module:
    return nn.Identity() if linear else nn.ReLU()


def feature_size(image_size: int, n_convs: int) -> int:
    """Side length of the feature map after ``n_convs`` stride-2 convolutions."""
    return image_size >> n_convs


class Encoder(nn.Module):
    """Image (N, C, H, W) in [0, 1] -> vector of ``out_dim`` features.

    :param config: the trunk's shape (channels, image size, conv filters, FC width, linearity).
    :param out_dim: size of the output (the code, or means and log-variances).
    """

    def __init__(self, config: TrunkConfig, out_dim: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        in_ch = config.channels
        for out_ch in config.conv_channels:
            layers += [nn.Conv2d(in_ch, out_ch, kernel_size=4, stride=2, padding=1), _activation(config.linear)]
            in_ch = out_ch
        side = feature_size(config.image_size, len(config.conv_channels))
        layers += [
            nn.Flatten(),
            nn.Linear(in_ch * side * side, config.hidden_dim),
            _activation(config.linear),
            nn.Linear(config.hidden_dim, out_dim),
        ]
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map images to features (float32, also under bfloat16 autocast: losses are taken on them)."""
        return self.net(x).float()


class Decoder(nn.Module):
    """Code -> image logits (N, C, H, W): the encoder mirrored, without a final nonlinearity.

    The output is pre-activation on purpose: DARLA's beta-VAE_DAE compares images through the
    DAE's output *before* its final nonlinearity.

    :param config: the trunk's shape, mirrored.
    :param in_dim: size of the code.
    """

    def __init__(self, config: TrunkConfig, in_dim: int) -> None:
        super().__init__()
        linear = config.linear
        self.side = feature_size(config.image_size, len(config.conv_channels))
        self.top_channels = config.conv_channels[-1]
        self.fc = nn.Sequential(
            nn.Linear(in_dim, config.hidden_dim),
            _activation(linear),
            nn.Linear(config.hidden_dim, self.top_channels * self.side * self.side),
            _activation(linear),
        )
        widths = list(reversed(config.conv_channels)) + [config.channels]
        layers: list[nn.Module] = []
        for i, (in_ch, out_ch) in enumerate(zip(widths[:-1], widths[1:])):
            layers.append(nn.ConvTranspose2d(in_ch, out_ch, kernel_size=4, stride=2, padding=1))
            if i < len(widths) - 2:
                layers.append(_activation(linear))
        self.deconv = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Map codes to image logits (float32, also under bfloat16 autocast)."""
        h = self.fc(z).view(-1, self.top_channels, self.side, self.side)
        return self.deconv(h).float()
