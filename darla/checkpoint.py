"""Vision checkpoints: a folder with ``model.safetensors``, ``config.json`` and a ``README.md`` model card;
nothing is unpickled."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import safetensors.torch
import torch

from darla.version import __version__
from darla.device import resolve_device
from darla.errors import DarlaError
from darla.files import atomic_path, write_json_atomic
from darla.models import VisionConfig, VisionModel, build_model, get_variant

FORMAT_VERSION = 1
MODEL_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
#: the model card a model hub shows: what the checkpoint is, what it learned from, how to load it
MODEL_CARD = "README.md"
NORMALISATION = {"input": "uint8 (N, H, W, C)", "scale": 1.0 / 255.0, "layout": "NCHW"}


def save_tensors(tensors: dict[str, torch.Tensor], path: Path) -> None:
    """Write tensors to a safetensors file atomically."""
    contiguous = {k: v.detach().contiguous().cpu() for k, v in tensors.items()}
    with atomic_path(path) as tmp:
        safetensors.torch.save_file(contiguous, str(tmp))


def _require(path: Path) -> None:
    if not path.is_file():
        raise DarlaError(f"{path} is missing: the checkpoint is incomplete; retrain it or restore the file")


def load_tensors(path: Path) -> dict[str, torch.Tensor]:
    """Read a safetensors file, turning any failure into a one-line error."""
    _require(path)
    try:
        return safetensors.torch.load_file(str(path), device="cpu")
    except Exception as exc:  # safetensors raises its own error types for every kind of damage
        raise DarlaError(f"{path} is corrupted ({str(exc).splitlines()[0]}); retrain or restore the file") from None


def save_vision(model: VisionModel, folder: str | Path, metadata: dict[str, Any] | None = None) -> Path:
    """Write ``model`` as a checkpoint folder: weights first, then the config that names them.

    :param model: the model to save.
    :param folder: the checkpoint folder (created if needed).
    :param metadata: extra JSON-ready facts to keep in ``config.json`` (data hash, training).
    :return: the folder.
    """
    folder = Path(folder)
    save_tensors(model.state_dict(), folder / MODEL_FILE)
    write_json_atomic(
        folder / CONFIG_FILE,
        {
            "format_version": FORMAT_VERSION,
            "darla_version": __version__,
            "model": model.config.to_dict(),
            "normalisation": NORMALISATION,
            **(metadata or {}),
        },
    )
    with atomic_path(folder / MODEL_CARD) as tmp:
        tmp.write_text(model_card(read_config(folder)))
    return folder


def model_card(config: dict[str, Any]) -> str:
    """A short Markdown model card for a checkpoint's ``config.json``: the model, its data, its training, how to use it."""
    model = config["model"]
    variant = get_variant(model["variant"])
    data, train = config.get("data", {}), config.get("train", {})
    settings = ", ".join(f"{k} {v}" for k, v in model.items() if k != "variant" and not isinstance(v, dict))
    lines = [f"# {model['variant']}: {variant.summary}", "",
             f"A vision checkpoint written by darla {config.get('darla_version', '?')} (format {config.get('format_version')}).", "",
             f"- **Model:** {settings}."]
    if data:
        lines.append(f"- **Data:** {data.get('frames', '?')} frames from `{data.get('path', '?')}` (manifest sha256 "
                     f"{str(data.get('manifest_hash', '?'))[:12]}).")
    if train:
        lines.append("- **Training:** " + ", ".join(f"{k} {train[k]}" for k in ("steps", "batch_size", "lr", "seed", "precision", "augment")
                                                   if k in train) + ".")
    lines += ["", "Scores (disentanglement, same-state invariance): `darla inspect <this folder> --env ENV --out REPORT`.", "",
              "```python", "import darla", "model = darla.load_vision(\"<this folder>\")",
              "codes = model.encode(darla.models.frames_to_tensor(frames))  # uint8 (N, H, W, C) frames -> latent means", "```",
              "", "Wrap an env with it: `darla train --vision <this folder> ...`, or `darla.wrappers` in Python.", ""]
    return "\n".join(lines)


def read_config(folder: str | Path) -> dict[str, Any]:
    """The parsed ``config.json`` of a checkpoint folder, checked for a readable format."""
    path = Path(folder) / CONFIG_FILE
    if not Path(folder).is_dir():
        raise DarlaError(f"no checkpoint folder at {folder}: pass the folder that darla pretrain wrote")
    if not path.is_file():
        raise DarlaError(f"{path} is missing: the checkpoint is incomplete; retrain it or restore the file")
    try:
        config = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DarlaError(f"{path} is corrupted ({exc}); retrain or restore the file") from None
    if not isinstance(config, dict) or not isinstance(config.get("model"), dict):
        raise DarlaError(f"{path} has no 'model' section: it was not written by darla pretrain")
    version = config.get("format_version")
    if version != FORMAT_VERSION:
        raise DarlaError(
            f"{path} has checkpoint format {version} (written by darla {config.get('darla_version', '?')}); "
            f"this darla {__version__} reads format {FORMAT_VERSION}: use a matching darla version or retrain"
        )
    return config


def stored_shapes(path: Path) -> dict[str, tuple[int, ...]]:
    """Each tensor's shape in a safetensors file, read from its header alone."""
    _require(path)
    try:
        with safetensors.safe_open(str(path), framework="pt") as f:
            return {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}
    except Exception as exc:  # safetensors raises its own error types for damaged files
        raise DarlaError(f"{path} is corrupted ({type(exc).__name__}); retrain the model or restore the file") from None


def check_shapes(config: VisionConfig, path: Path) -> None:
    """Refuse a config whose model would not hold the stored weights, before allocating it.

    The model is built on the meta device, which allocates nothing, so a config.json edited to
    ask for a huge layer fails here instead of exhausting memory.
    """
    with torch.device("meta"):
        wanted = {k: tuple(v.shape) for k, v in get_variant(config.variant).model(config).state_dict().items()}
    stored = stored_shapes(path)
    wrong = sorted(k for k in set(wanted) | set(stored) if wanted.get(k) != stored.get(k))
    if wrong:
        raise DarlaError(f"{path} does not match its config.json ({wrong[0]}: the config asks for {wanted.get(wrong[0])}, "
                         f"the file holds {stored.get(wrong[0])}); retrain or restore it")


def load_vision(path: str | Path, device: str | torch.device = "auto") -> VisionModel:
    """Load a vision checkpoint folder, in eval mode, on ``device``.

    :param path: the folder (or its ``model.safetensors``).
    :param device: ``"auto"`` (CUDA when available), ``"cpu"`` or ``"cuda"``.
    :return: the model, frozen in eval mode.
    """
    folder = Path(path)
    if folder.name == MODEL_FILE:
        folder = folder.parent
    config_dict = read_config(folder)["model"]
    variant = get_variant(str(config_dict.get("variant")))
    try:
        config = variant.config.from_dict(config_dict)
    except DarlaError as exc:
        raise DarlaError(f"{folder / CONFIG_FILE} does not fit this darla version ({exc}); retrain the model") from None
    check_shapes(config, folder / MODEL_FILE)
    model = build_model(config)
    tensors = load_tensors(folder / MODEL_FILE)
    broken = next((k for k, v in tensors.items() if v.is_floating_point() and not torch.isfinite(v).all()), None)
    if broken is not None:
        raise DarlaError(f"{folder / MODEL_FILE} holds non-finite weights ({broken}); retrain the model or restore the file")
    try:
        model.load_state_dict(tensors)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0]
        raise DarlaError(f"{folder / MODEL_FILE} does not match its config.json ({first}); retrain or restore it") from None
    return model.to(resolve_device(device)).eval()
