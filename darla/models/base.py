"""The interface every vision model shares, and the configs it is built from."""

from __future__ import annotations

import dataclasses
import itertools
import types
import typing
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from darla.errors import DarlaError, require_positive


@dataclass
class VisionConfig:
    """What every variant has: its name and the shape of frames and codes.

    :param variant: registered name of the variant (see :data:`darla.models.VARIANTS`).
    :param image_size: side of the square input frames, in pixels.
    :param channels: channels of the input frames.
    :param latent_dim: size of the code.
    :param general_latents: the latents that hold what every domain shares (the state, not the
        look), as a variant that learns from pairs finds them after training; empty: not known.
        An agent given ``general=True`` sees only these.
    """

    variant: str = ""
    image_size: int = 64
    channels: int = 3
    latent_dim: int = 32
    general_latents: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if self.latent_dim < 1:
            raise DarlaError(f"latent_dim must be at least 1, got {self.latent_dim}")
        self.general_latents = tuple(int(i) for i in self.general_latents)
        if any(not 0 <= i < self.latent_dim for i in self.general_latents) or len(set(self.general_latents)) < len(self.general_latents):
            raise DarlaError(f"general_latents must be distinct latents in 0..{self.latent_dim - 1}, got {list(self.general_latents)}")
        if self.channels < 1:
            raise DarlaError(f"channels must be at least 1, got {self.channels}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict of every field, nested configs included."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "VisionConfig":
        """Build a config from :meth:`to_dict` output, refusing unknown fields."""
        hints = typing.get_type_hints(cls)
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise DarlaError(
                f"{cls.__name__} has no field(s) {', '.join(unknown)}; valid fields: {', '.join(sorted(names))}"
            )
        values = {}
        for key, value in data.items():
            try:
                values[key] = _coerce(hints[key], value)
            except DarlaError as exc:
                raise DarlaError(f"{cls.__name__}.{key}: {exc}") from None
        return cls(**values)


def _coerce(hint: Any, value: Any) -> Any:
    """Turn a JSON value back into the field's declared type (tuples, nested configs)."""
    if value is None:
        return None
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        return _coerce(args[0], value) if len(args) == 1 else value
    if dataclasses.is_dataclass(hint) and isinstance(value, dict):
        return hint.from_dict(value)
    if typing.get_origin(hint) is tuple:
        if not isinstance(value, (list, tuple)):
            raise DarlaError(f"expected a list, got {value!r}")
        return tuple(_coerce(args[0], v) for v in value)
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint in (int, float, str, bool) and (not isinstance(value, hint) or (hint is int and isinstance(value, bool))):
        raise DarlaError(f"expected a {hint.__name__}, got {value!r}")
    return value


@dataclass
class TrunkConfig(VisionConfig):
    """A variant built on DARLA's convolutional trunk.

    :param conv_channels: filters of the stride-2 convolutions (DARLA: 32, 32, 64, 64).
    :param hidden_dim: width of the fully connected layer (DARLA: 256).
    :param linear: remove every nonlinearity, output included (a linear autoencoder spans
        the same subspace as PCA).
    :param recon_loss: pixel reconstruction error, ``"mse"`` (squared error) or ``"bce"``
        (Bernoulli log-likelihood); summed over pixels, averaged over the batch.
    """

    conv_channels: tuple[int, ...] = (32, 32, 64, 64)
    hidden_dim: int = 256
    linear: bool = False
    recon_loss: str = "mse"

    def __post_init__(self) -> None:
        super().__post_init__()
        require_positive(self, "hidden_dim")
        if not all(isinstance(c, (int, np.integer)) and c >= 1 for c in self.conv_channels):
            raise DarlaError(f"conv_channels must be whole numbers of filters, each at least 1, got {list(self.conv_channels)}")
        n = len(self.conv_channels)
        if n < 1 or self.image_size % (1 << n) or self.image_size < (1 << n):
            raise DarlaError(
                f"image_size {self.image_size} must be a multiple of 2**{n} (one halving per conv layer): "
                "resize the frames, e.g. to 64x64"
            )
        if self.recon_loss not in ("mse", "bce"):
            raise DarlaError(f"recon_loss must be 'mse' or 'bce', got {self.recon_loss!r}")
        if self.linear and self.recon_loss == "bce":
            raise DarlaError("a linear trunk has no sigmoid output: use recon_loss='mse'")


def check_general(config: VisionConfig) -> None:
    """Refuse to select the domain-general latents of a model that has none."""
    if not config.general_latents:
        if hasattr(config, "general_leak"):  # a paired variant, whose search over its training pairs came up empty
            raise DarlaError(f"this {config.variant} found no domain-general latents on its training pairs (every active latent "
                             "moved with the look; train longer or on more frames), so drop --general")
        raise DarlaError(f"this {config.variant} has no domain-general latents (only the weakly supervised variants, "
                         "ada_gvae and cycle_vae, have them): drop --general")


def reads_masks(config: VisionConfig) -> bool:
    """Whether a model of ``config`` weighs its reconstruction by object masks (a positive ``object_weight``)."""
    return bool(getattr(config, "object_weight", 0.0))


def frames_to_tensor(frames: np.ndarray | torch.Tensor, device: torch.device | str = "cpu") -> torch.Tensor:
    """uint8 frames (N, H, W, C) -> float32 tensor (N, C, H, W) in [0, 1] on ``device``.

    This is the one normalisation every model is trained with.
    """
    tensor = torch.as_tensor(np.asarray(frames) if not isinstance(frames, torch.Tensor) else frames)
    tensor = tensor.to(device, non_blocking=True)
    return tensor.permute(0, 3, 1, 2).float().div_(255.0)


def masks_to_tensor(masks: np.ndarray, device: torch.device | str = "cpu") -> torch.Tensor:
    """bool masks (N, H, W) -> float32 tensor (N, 1, H, W) of 0 and 1 on ``device``, broadcast over channels."""
    return torch.as_tensor(np.asarray(masks)).to(device, non_blocking=True)[:, None].float()


class VisionModel(nn.Module):
    """Base of every variant: ``encode``, ``decode``, ``loss`` and ``latent_dim``.

    Inputs are float tensors (N, C, H, W) in [0, 1] (see :func:`frames_to_tensor`).
    ``loss`` returns a dict of named terms; ``"loss"`` is the one to minimise, scalar terms are
    logged, and 1-D terms (such as ``"kl_per_dim"``) are logged and plotted per latent.
    """

    #: what the reconstruction loss compares images through, for figure labels (None: pixels)
    compares_through: str | None = None
    #: whether :meth:`decode` maps codes back to images (reconstruction and traversal figures need it)
    has_decoder: bool = True
    #: whether :meth:`sample_code` draws codes from a posterior q(z|x) (the VAE family)
    has_posterior: bool = False
    #: whether :meth:`loss` takes ``pair=``: the same states drawn in other domains, which
    #: pretraining then reads beside the frames (``darla collect --pairs``)
    takes_pairs: bool = False
    #: whether :meth:`loss` takes ``domain=``: each frame's domain id (N,), which pretraining
    #: then reads from the shards
    takes_domains: bool = False
    #: whether :meth:`loss` takes ``target=`` (and ``pair_target=`` with pairs): the frames to reconstruct where
    #: they differ from the frames encoded (the frames as drawn, under an augmentation)
    takes_targets: bool = False

    @property
    def takes_masks(self) -> bool:
        """Whether :meth:`loss` takes ``mask=`` (and ``pair_mask=`` with pairs): where the task's objects are drawn,
        (N, 1, H, W) in {0, 1}, which pretraining then reads from the shards (``darla collect --masks``)."""
        return reads_masks(self.config)

    def __init__(self, config: VisionConfig) -> None:
        super().__init__()
        self.config = config

    @property
    def latent_dim(self) -> int:
        """Size of the code returned by :meth:`encode`."""
        return self.config.latent_dim

    @property
    def device(self) -> torch.device:
        """Device the model's tensors live on."""
        return next(itertools.chain(self.parameters(), self.buffers())).device

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Deterministic code (N, latent_dim) of images ``x``: latent means for VAEs."""
        raise NotImplementedError

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Images (N, C, H, W) reconstructed from codes ``z``."""
        raise NotImplementedError

    def sample_code(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """A code (N, latent_dim) of images ``x`` drawn from the posterior q(z|x), laid out as :meth:`encode`'s; only
        a model with :attr:`has_posterior` has one (:class:`~darla.wrappers.FrameEncoder` refuses the others)."""
        raise NotImplementedError

    def loss(self, x: torch.Tensor, step: int = 0) -> dict[str, torch.Tensor]:
        """Named loss terms on a batch; ``step`` drives schedules such as a capacity ramp."""
        raise NotImplementedError

    def forward(self, x: torch.Tensor, step: int = 0, **labels: torch.Tensor) -> dict[str, torch.Tensor]:
        """Same as :meth:`loss`, so that DistributedDataParallel's gradient hooks fire."""
        return self.loss(x, step, **labels)

    def seen(self, images: torch.Tensor) -> torch.Tensor:
        """Images as the reconstruction loss sees them: unchanged unless ``compares_through`` is set."""
        return images

    def latent_scale(self, codes: torch.Tensor) -> torch.Tensor:
        """Per-latent unit of a traversal: the spread of ``codes`` over data by default."""
        return codes.std(dim=0).clamp_min(1e-6)

    @torch.no_grad()
    def embed(self, frames: np.ndarray | torch.Tensor, general: bool = False) -> torch.Tensor:
        """Codes of uint8 frames (N, H, W, C), computed without gradients.

        :param frames: the frames.
        :param general: only the latents of :attr:`VisionConfig.general_latents`.
        """
        codes = self.encode(frames_to_tensor(frames, self.device))
        return self.general_part(codes) if general else codes

    def general_part(self, codes: torch.Tensor) -> torch.Tensor:
        """The domain-general latents of ``codes`` (N, latent_dim), refusing a model that has none."""
        check_general(self.config)
        return codes[:, list(self.config.general_latents)]


class TrunkModel(VisionModel):
    """A variant on DARLA's conv trunk; holds the pixel reconstruction error."""

    config: TrunkConfig

    def output(self, logits: torch.Tensor) -> torch.Tensor:
        """Decoder logits -> image (sigmoid, or identity for a linear trunk)."""
        return logits if self.config.linear else torch.sigmoid(logits)

    def reconstruction(self, logits: torch.Tensor, x: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
        """Per-image reconstruction error of decoder ``logits`` against target ``x``: shape (N,).

        :param weight: per-pixel weights (N, 1, H, W) of the error; None weighs every pixel 1.
        """
        if self.config.recon_loss == "bce":
            err = F.binary_cross_entropy_with_logits(logits, x, reduction="none")
        else:
            err = (self.output(logits) - x).pow(2)
        return (err if weight is None else err * weight).flatten(1).sum(dim=1)
