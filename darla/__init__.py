"""darla: DARLA-style perception for reinforcement learning.

Pretrain a vision model (a beta-VAE, optionally through a denoising autoencoder: DARLA's
beta-VAE_DAE) on environment frames, freeze it, and let agents learn on its latent code.
"""

__version__ = "0.1.0"

from darla.checkpoint import load_vision, save_vision  # noqa: E402
from darla.errors import DarlaError  # noqa: E402
from darla.models import VARIANTS, VisionModel, build_model, make_config  # noqa: E402
from darla.wrappers import LatentObservation, VecLatentObservation  # noqa: E402
from darla.extractor import DarlaExtractor  # noqa: E402

__all__ = [
    "DarlaError",
    "DarlaExtractor",
    "LatentObservation",
    "VARIANTS",
    "VecLatentObservation",
    "VisionModel",
    "__version__",
    "build_model",
    "load_agent",
    "load_vision",
    "make_config",
    "save_vision",
]


def __getattr__(name: str) -> object:
    # darla.agent imports the agents package, which imports darla: loading it on first use
    # keeps `import agents` and `import darla` from importing each other half-way
    if name == "load_agent":
        from darla.agent import load_agent

        return load_agent
    raise AttributeError(f"module 'darla' has no attribute {name!r}")
