"""DARLA's convolutional trunk: conv 32-32-64-64 (kernel 4, stride 2), FC 256, and its mirror."""

from __future__ import annotations

import torch
from torch import nn


def _activation(linear: bool) -> nn.Module:
    return nn.Identity() if linear else nn.ReLU()


def feature_size(image_size: int, n_convs: int) -> int:
    """Side length of the feature map after ``n_convs`` stride-2 convolutions."""
    return image_size >> n_convs


class Encoder(nn.Module):
    """Image (N, C, H, W) in [0, 1] -> vector of ``out_dim`` features.

    :param channels: input channels.
    :param image_size: input side length (square images).
    :param conv_channels: filters of each stride-2 convolution.
    :param hidden_dim: width of the fully connected layer after the convolutions.
    :param out_dim: size of the output (the code, or means and log-variances).
    :param linear: drop every nonlinearity, making the encoder a linear map.
    """

    def __init__(
        self,
        channels: int,
        image_size: int,
        conv_channels: tuple[int, ...],
        hidden_dim: int,
        out_dim: int,
        linear: bool = False,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        in_ch = channels
        for out_ch in conv_channels:
            layers += [nn.Conv2d(in_ch, out_ch, kernel_size=4, stride=2, padding=1), _activation(linear)]
            in_ch = out_ch
        side = feature_size(image_size, len(conv_channels))
        layers += [
            nn.Flatten(),
            nn.Linear(in_ch * side * side, hidden_dim),
            _activation(linear),
            nn.Linear(hidden_dim, out_dim),
        ]
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map images to features."""
        return self.net(x)


class Decoder(nn.Module):
    """Code -> image logits (N, C, H, W): the encoder mirrored, without a final nonlinearity.

    The output is pre-activation on purpose: DARLA's beta-VAE_DAE compares images through the
    DAE's output *before* its final nonlinearity.
    """

    def __init__(
        self,
        channels: int,
        image_size: int,
        conv_channels: tuple[int, ...],
        hidden_dim: int,
        in_dim: int,
        linear: bool = False,
    ) -> None:
        super().__init__()
        self.side = feature_size(image_size, len(conv_channels))
        self.top_channels = conv_channels[-1]
        layers: list[nn.Module] = [
            nn.Linear(in_dim, hidden_dim),
            _activation(linear),
            nn.Linear(hidden_dim, self.top_channels * self.side * self.side),
            _activation(linear),
        ]
        widths = list(reversed(conv_channels)) + [channels]
        for i, (in_ch, out_ch) in enumerate(zip(widths[:-1], widths[1:])):
            layers.append(nn.ConvTranspose2d(in_ch, out_ch, kernel_size=4, stride=2, padding=1))
            if i < len(widths) - 2:
                layers.append(_activation(linear))
        self.fc = nn.Sequential(*layers[:4])
        self.deconv = nn.Sequential(*layers[4:])

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Map codes to image logits."""
        h = self.fc(z).view(-1, self.top_channels, self.side, self.side)
        return self.deconv(h)
