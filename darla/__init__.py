"""darla: DARLA-style perception for reinforcement learning.

Pretrain a vision model (a beta-VAE, optionally through a denoising autoencoder: DARLA's
beta-VAE_DAE) on environment frames, freeze it, and let agents learn on its latent code.

The public names load on first use, so that importing a light module of the package (``envs``
reads :mod:`darla.errors`) pulls in neither torch nor stable-baselines3.
"""

from importlib import import_module

from darla.version import __version__

#: public name -> the module that defines it
_PUBLIC = {
    "DarlaError": "darla.errors",
    "DarlaExtractor": "darla.extractor",
    "LatentObservation": "darla.wrappers",
    "VARIANTS": "darla.models",
    "VecLatentObservation": "darla.wrappers",
    "VisionModel": "darla.models",
    "build_model": "darla.models",
    "load_agent": "darla.agent",
    "load_vision": "darla.checkpoint",
    "make_config": "darla.models",
    "save_vision": "darla.checkpoint",
}

__all__ = ["__version__", *sorted(_PUBLIC)]


def __getattr__(name: str) -> object:
    if name in _PUBLIC:
        return getattr(import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'darla' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
