"""Pretraining: one generic loop for every variant, resumable, optionally data-parallel."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.utils.tensorboard import SummaryWriter
from tqdm.auto import tqdm

from agents.augment import random_colour_mix, random_hue_rotation, random_room_mix
from darla.checkpoint import MODEL_FILE, load_tensors, save_tensors, save_vision
from darla.device import check_precision, resolve_device, resolve_precision
from darla.errors import DarlaError, require_positive
from darla.files import claim_run_folder, write_json_atomic
from darla.figures import write_figures
from darla.frames import FrameDataset
from darla.models import VisionConfig, VisionModel, build_model, frames_to_tensor, get_variant, make_config, masks_to_tensor, reads_masks
from darla.models.registry import check_size
from darla.models.weak import PairedFields

CHECKPOINTS = "checkpoints"
RUN_FILE = "pretrain.json"
OPTIMIZER_FILE = "optimizer.safetensors"
TRAINER_FILE = "trainer.json"
#: the parts of pretrain.json a --resume must match
RESUME_MUST_MATCH = ("model", "data", "train.lr", "train.seed", "train.batch_size", "train.teacher_steps", "train.augment",
                     "train.reconstruct_drawn", "train.canonical")


def apart(augment: Callable[..., tuple[torch.Tensor, ...]]) -> Callable[..., tuple[torch.Tensor, ...]]:
    """``augment`` drawn anew for each batch it is given (each frame of a pair its own draw), where it draws once for
    all of them; a masked augmentation gets each batch's own masks."""

    def each(*images: torch.Tensor, masks: tuple[torch.Tensor, ...] | None = None) -> tuple[torch.Tensor, ...]:
        if masks is None:
            return tuple(augment(x)[0] for x in images)
        return tuple(augment(x, masks=(m,))[0] for x, m in zip(images, masks, strict=True))

    return each


def partly(augment: Callable[..., tuple[torch.Tensor, ...]], share: float) -> Callable[..., tuple[torch.Tensor, ...]]:
    """``augment`` kept for a random ``share`` of the frames, each frame of each batch drawn on its own; the others
    stay as drawn, so that training also sees the looks its frames were rendered in."""

    def some(*images: torch.Tensor, **masks: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
        changed = augment(*images, **masks)
        return tuple(torch.where(torch.rand(len(x), 1, 1, 1, device=x.device) < share, y, x) for x, y in zip(images, changed, strict=True))

    return some


#: what TrainConfig.augment accepts; the "_apart" ones give the two frames of a pair colours of their own, so that every
#: pair differs in colour (mix_apart) or in the room's look (mix_room_apart) besides what its domains change; "_half"
#: leaves half of the frames as drawn
AUGMENTATIONS = {"none": None, "hue": random_hue_rotation, "mix": random_colour_mix, "mix_apart": apart(random_colour_mix),
                 "mix_room": random_room_mix, "mix_room_apart": apart(random_room_mix),
                 "mix_room_apart_half": partly(apart(random_room_mix), 0.5)}
#: augmentations that leave the task's objects as drawn, so training reads the frames' object masks for them
MASKED_AUGMENTATIONS = ("mix_room", "mix_room_apart", "mix_room_apart_half")
#: TrainConfig's choices of what the loss reconstructs, recorded and planned only when set
OPTIONAL_TARGETS = ("reconstruct_drawn", "canonical")
#: what TrainConfig.compile accepts
COMPILE_MODES = ("off", "on")


@dataclass
class TrainConfig:
    """How a vision model is trained.

    :param steps: optimisation steps (one batch each).
    :param batch_size: frames per step, summed over processes under torchrun.
    :param lr: Adam learning rate; ``None`` takes the variant's default.
    :param seed: seed of batch sampling, initialisation and noise; the same seed gives the
        same weights on CPU, interrupted and resumed or not.
    :param device: ``"auto"``, ``"cpu"`` or ``"cuda"``.
    :param precision: ``"auto"`` (bfloat16 autocast on a CPU with AVX512-BF16 or AMX; float32 elsewhere,
        a GPU included, where autocast measured slower for these small nets),
        ``"bf16"`` (autocast wherever asked) or ``"fp32"``. Loss heads stay float32 either way.
    :param checkpoint_every: steps between periodic checkpoints.
    :param keep_checkpoints: how many periodic checkpoints to keep.
    :param log_every: steps between TensorBoard and progress-bar updates.
    :param teacher_steps: steps for a teacher trained first (the DAE of beta_vae_dae);
        ``None`` means ``steps``.
    :param augment: ``"none"``; ``"hue"``: each training frame's hue rotated by a random angle; or
        ``"mix"``: each frame's channels replaced by a random convex mix of them (any hue to any other,
        brightness too), the same mix for both frames of a pair; ``"mix_apart"``: as ``"mix"``, each frame
        of a pair its own mix; ``"mix_room"``: as ``"mix"``, but the objects' pixels keep their colours (the
        frames need object masks, ``darla collect --masks``); ``"mix_room_apart"``: as ``"mix_room"``, each frame of a
        pair its own mix; ``"mix_room_apart_half"``: as ``"mix_room_apart"`` for a random half of the frames, the
        others as drawn. The teacher's frames too. Colour then varies
        continuously in what the model sees rather than between a few room styles.
    :param reconstruct_drawn: with an ``augment``, the loss reconstructs each frame as drawn while the encoder sees
        it augmented: the decoder then draws the true colours, where one asked for a mixed frame, not told the mix,
        draws greys (the VAE family, whose loss takes targets).
    :param canonical: a domain of the frames' collection: the loss reconstructs every frame (and its pair) as that
        domain draws the same state, read from the frames' paired renders, whatever look the encoder is shown. Nothing
        the decoder is asked for then depends on the look, so the code has no use for it (the randomized-to-canonical
        target of RCAN, James et al. 2019). The VAE family; the frames need a render in that domain for every state.
    :param compile: ``"on"``: TorchInductor compiles the forward and backward pass; ``"off"`` (the
        default: on 2-core AMD EPYCs, beta_vae_dae's step compiled ran 1.03x to 1.08x the images/s of
        eager bf16 with AVX-512, 1.13x and 1.17x eager float32 with AVX2 alone, after a first compilation
        of 6 to 37 s; benchmarks/bench_vision.py). A compiled step gives the eager step's losses to within
        rounding, not bit for bit, and resumes bit for bit as the eager one does; where compilation fails
        (no C compiler, say) training goes on uncompiled, with a warning.
    """

    steps: int = 5000
    batch_size: int = 64
    lr: float | None = None
    seed: int = 0
    device: str = "auto"
    precision: str = "auto"
    checkpoint_every: int = 500
    keep_checkpoints: int = 2
    log_every: int = 10
    teacher_steps: int | None = None
    augment: str = "none"
    reconstruct_drawn: bool = False
    canonical: str = ""
    compile: str = "off"

    def __post_init__(self) -> None:
        require_positive(self, "steps", "batch_size", "checkpoint_every", "keep_checkpoints", "log_every",
                         *(("teacher_steps",) if self.teacher_steps is not None else ()))
        if self.lr is not None and not self.lr > 0:
            raise DarlaError(f"lr must be positive, got {self.lr}")
        check_precision(self.precision)
        if self.augment not in AUGMENTATIONS:
            raise DarlaError(f"unknown augment {self.augment!r}: choose one of {', '.join(AUGMENTATIONS)}")
        if self.reconstruct_drawn and self.augment == "none":
            raise DarlaError("reconstruct_drawn reconstructs frames as drawn where an augmentation changed them: set augment too")
        if self.reconstruct_drawn and self.canonical:
            raise DarlaError(f"reconstruct_drawn and canonical {self.canonical!r} each name what the loss reconstructs: set one")
        if self.compile not in COMPILE_MODES:
            raise DarlaError(f"unknown compile {self.compile!r}: choose one of {', '.join(COMPILE_MODES)}")

    def learning_rate(self, variant: str) -> float:
        """``lr``, or the registered default of ``variant`` when it is None."""
        return self.lr or get_variant(variant).lr


def _world() -> tuple[int, int]:
    """(rank, world size); starts the process group when launched by torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return (dist.get_rank(), world) if world > 1 else (0, 1)


def _seed_for(*keys: int) -> int:
    return int(np.random.SeedSequence(list(keys)).generate_state(1)[0])


def batch_indices(seed: int, step: int, n: int, batch_size: int, twins: np.ndarray | None = None, share: float = 0.0) -> np.ndarray:
    """The frames of ``step``: a pure function of (seed, step), so a resumed run sees the same batches.

    :param twins: each frame's nearest other frame (``FrameDataset.pixel_twins``); with ``share``, the
        batch's last ``share`` of frames are replaced by the twins of its first ones.
    """
    idx = np.random.default_rng([seed, step]).integers(0, n, size=batch_size)
    k = int(round(share * batch_size)) if twins is not None else 0
    if k:
        idx[-k:] = twins[idx[:k]]
    return np.sort(idx)


def _checkpoint_dirs(out: Path) -> list[Path]:
    root = out / CHECKPOINTS
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.is_dir() and p.name.startswith("step_") and (p / TRAINER_FILE).is_file())


def _save_checkpoint(out: Path, model: VisionModel, optimizer: torch.optim.Optimizer | None, step: int, keep: int) -> None:
    """Write ``checkpoints/step_N`` under a temporary name, then rename it: it is whole or absent."""
    root = out / CHECKPOINTS
    final = root / f"step_{step:08d}"
    tmp = root / f".tmp_step_{step:08d}"
    shutil.rmtree(tmp, ignore_errors=True)
    save_vision(model, tmp)
    meta: dict[str, Any] = {"step": step}
    if optimizer is not None:
        state = optimizer.state_dict()
        save_tensors({f"{pid}.{key}": v for pid, s in state["state"].items() for key, v in s.items()}, tmp / OPTIMIZER_FILE)
        meta["param_groups"] = state["param_groups"]
    write_json_atomic(tmp / TRAINER_FILE, meta)
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)
    for old in _checkpoint_dirs(out)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)


def _load_checkpoint(folder: Path, model: VisionModel, optimizer: torch.optim.Optimizer | None) -> int:
    """Restore weights and optimizer state from a periodic checkpoint; returns its step."""
    try:
        meta = json.loads((folder / TRAINER_FILE).read_text())
        int(meta["step"])
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError, ValueError):
        raise DarlaError(f"{folder / TRAINER_FILE} is corrupted: remove {folder} to resume from the checkpoint before it") from None
    model.load_state_dict(load_tensors(folder / MODEL_FILE))
    if optimizer is not None:
        state: dict[int, dict[str, torch.Tensor]] = {}
        for name, tensor in load_tensors(folder / OPTIMIZER_FILE).items():
            pid, key = name.split(".", 1)
            state.setdefault(int(pid), {})[key] = tensor
        optimizer.load_state_dict({"state": state, "param_groups": meta["param_groups"]})
    return int(meta["step"])


def _check_finite(terms: dict[str, torch.Tensor], step: int, out: Path, world: int) -> None:
    """Stop on a non-finite loss term before it reaches the weights; all processes stop together."""
    bad = [name for name, value in terms.items() if not torch.isfinite(value.detach()).all()]
    if world > 1:
        flag = torch.tensor([float(bool(bad))], device=terms["loss"].device)
        dist.all_reduce(flag)
        if flag.item() and not bad:
            bad = ["(on another process)"]
    if bad:
        last = _checkpoint_dirs(out)
        kept = f"the last good checkpoint is {last[-1]}" if last else "no checkpoint was written yet"
        raise DarlaError(
            f"loss term {bad[0]!r} became non-finite at step {step}; {kept}; lower --lr or check the frames"
        )


class _Step:
    """One step's forward pass, finiteness check and backward pass, through TorchInductor when asked.

    A compilation that fails (at the first call or a later recompilation, forward or backward)
    is reported once and the step is redone eagerly, before the optimizer has seen it.
    """

    def __init__(self, runner: torch.nn.Module, compiled: bool, autocast: Callable[[], Any]) -> None:
        self.eager = runner
        self.runner: Callable[..., dict[str, torch.Tensor]] = torch.compile(runner) if compiled else runner
        self.autocast = autocast

    def __call__(self, x: torch.Tensor, step: int, labels: dict[str, torch.Tensor], optimizer: torch.optim.Optimizer | None,
                 check: Callable[[dict[str, torch.Tensor]], None]) -> dict[str, torch.Tensor]:
        try:
            return self._run(x, step, labels, optimizer, check)
        except DarlaError:
            raise
        except Exception as error:
            if self.runner is self.eager:
                raise
            warnings.warn(f"torch.compile failed ({type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}); "
                          "training goes on uncompiled", RuntimeWarning, stacklevel=2)
            self.runner = self.eager
            return self._run(x, step, labels, optimizer, check)

    def _run(self, x: torch.Tensor, step: int, labels: dict[str, torch.Tensor], optimizer: torch.optim.Optimizer | None,
             check: Callable[[dict[str, torch.Tensor]], None]) -> dict[str, torch.Tensor]:
        with self.autocast():
            terms = self.runner(x, step, **labels)
        check(terms)
        if optimizer is not None:
            optimizer.zero_grad(set_to_none=True)
            terms["loss"].backward()
        return terms


def fit(model: VisionModel, frames: FrameDataset, cfg: TrainConfig, out: Path, *, resume: bool = False) -> VisionModel:
    """Train ``model`` on ``frames`` for ``cfg.steps`` steps, checkpointing into ``out/checkpoints``.

    Variant-agnostic: it minimises ``model.loss(x)["loss"]`` and logs every term. A model
    without trainable weights (``pca``) updates itself inside ``loss``.

    :param model: freshly built model (weights are restored from ``out`` when resuming).
    :param frames: the training frames.
    :param cfg: training settings.
    :param out: the run folder.
    :param resume: continue from the newest periodic checkpoint in ``out``.
    :return: the trained model (the same object), in eval mode.
    """
    rank, world = _world()
    if cfg.batch_size % world:
        raise DarlaError(f"--batch-size {cfg.batch_size} must be divisible by the {world} torchrun processes")
    device = resolve_device(cfg.device)
    if device.type == "cuda" and world > 1:
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    bf16 = resolve_precision(cfg.precision, device) == "bf16"
    # bfloat16 convolutions run fastest on NHWC, the layout frames arrive in (frames_to_tensor permutes a
    # view); float32 training keeps the layout it had, so its weights stay those of earlier releases
    model.to(device, memory_format=torch.channels_last if bf16 else torch.preserve_format).train()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=cfg.learning_rate(model.config.variant)) if params else None
    start = 0
    saved = _checkpoint_dirs(out)
    if resume and saved:
        start = _load_checkpoint(saved[-1], model, optimizer)
    runner: torch.nn.Module = model
    if world > 1:
        if not params:
            raise DarlaError(f"{model.config.variant} is fit in closed form, not by gradients: run it without torchrun")
        runner = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    writer = SummaryWriter(str(out / "tensorboard")) if rank == 0 else None
    # a model fit in closed form (pca) has no gradient step to compile
    compiled = optimizer is not None and cfg.compile == "on"
    train_step = _Step(runner, compiled, lambda: torch.autocast(device.type, dtype=torch.bfloat16) if bf16 else contextlib.nullcontext())
    augment = AUGMENTATIONS[cfg.augment]
    masked = cfg.augment in MASKED_AUGMENTATIONS
    share = model.config.twins if isinstance(model.config, PairedFields) else 0.0
    twins = frames.pixel_twins() if share else None
    canonical = frames.render_columns(cfg.canonical) if cfg.canonical else None
    bar = tqdm(range(start, cfg.steps), initial=start, total=cfg.steps, desc=model.config.variant, disable=rank != 0)
    for step in bar:
        idx = batch_indices(cfg.seed, step, len(frames), cfg.batch_size, twins, share)[rank::world]
        # what a variant learns from besides the frames: their pairs, their domain ids
        labels = {}
        if model.takes_pairs:
            batch, partner = frames.get_pairs(idx, _seed_for(cfg.seed, step, world))
            x, labels["pair"] = frames_to_tensor(batch, device), frames_to_tensor(partner, device)
        else:
            x = frames_to_tensor(frames.get(idx), device)
        if model.takes_domains:
            labels["domain"] = torch.as_tensor(frames.domains_of(idx), device=device)
        masks = {}
        if model.takes_masks or masked:
            masks["mask"] = masks_to_tensor(frames.get_masks(idx), device)
            if model.takes_pairs:
                masks["pair_mask"] = masks_to_tensor(frames.get_pair_masks(idx, _seed_for(cfg.seed, step, world)), device)
        if model.takes_masks:
            labels.update(masks)
        torch.manual_seed(_seed_for(cfg.seed, step, rank))
        if cfg.reconstruct_drawn:
            labels["target"] = x
            if "pair" in labels:
                labels["pair_target"] = labels["pair"]
        if canonical is not None:
            # a pair shows one state, so both of its frames are asked for the same render
            sides = ("target", "pair_target") if "pair" in labels else ("target",)
            labels.update(dict.fromkeys(sides, frames_to_tensor(frames.get_renders(idx, canonical), device)))
            if model.takes_masks:
                where = masks_to_tensor(frames.get_renders(idx, canonical, masks=True), device)
                labels.update(dict.fromkeys(("mask", "pair_mask") if "pair" in labels else ("mask",), where))
        if augment is not None:
            images = (x, labels["pair"]) if "pair" in labels else (x,)
            x, *partner = augment(*images, **({"masks": tuple(masks.values())} if masked else {}))
            if partner:
                labels["pair"] = partner[0]
        terms = train_step(x, step, labels, optimizer, lambda t: _check_finite(t, step, out, world))
        if optimizer is not None:
            optimizer.step()
        if writer is not None and (step % cfg.log_every == 0 or step + 1 == cfg.steps):
            _log(writer, bar, terms, step)
        if rank == 0 and ((step + 1) % cfg.checkpoint_every == 0 or step + 1 == cfg.steps):
            _save_checkpoint(out, model, optimizer, step + 1, cfg.keep_checkpoints)
    if writer is not None:
        writer.close()
    return model.eval()


def _log(writer: SummaryWriter, bar: tqdm, terms: dict[str, torch.Tensor], step: int) -> None:
    scalars = {}
    for name, value in terms.items():
        value = value.detach().float()
        if value.dim() == 0:
            scalars[name] = value.item()
            writer.add_scalar(f"loss/{name}", scalars[name], step)
        else:
            for i, v in enumerate(value.tolist()):
                writer.add_scalar(f"{name}/{i:03d}", v, step)
    bar.set_postfix({k: f"{v:.4g}" for k, v in scalars.items()}, refresh=False)


def pretrain(
    config: VisionConfig,
    train: TrainConfig,
    data: str | Path,
    out: str | Path,
    *,
    resume: bool = False,
    teacher: VisionModel | None = None,
    figures: bool = True,
) -> VisionModel:
    """Pretrain a vision model on a frame folder and write its checkpoint and figures to ``out``.

    The frames decide ``image_size`` and ``channels``. A variant built on a frozen teacher
    (``beta_vae_dae`` on a ``dae``) gets ``teacher``, or trains one first in ``out/<teacher>``.

    :param config: the model config (see :func:`darla.make_config`).
    :param train: training settings.
    :param data: folder of frame shards.
    :param out: run folder; it receives ``model.safetensors``, ``config.json``, figures,
        TensorBoard logs and periodic checkpoints.
    :param resume: continue an interrupted run in ``out``.
    :param teacher: an already trained teacher model.
    :param figures: write reconstruction, traversal and KL figures after training.
    :return: the trained model, in eval mode.
    """
    out = Path(out)
    variant = get_variant(config.variant)
    frames = FrameDataset(data, pairs=variant.model.takes_pairs or bool(train.canonical),
                          domains=variant.model.takes_domains or bool(train.canonical),
                          masks=reads_masks(config) or train.augment in MASKED_AUGMENTATIONS)
    config = dataclasses.replace(config, image_size=frames.image_size, channels=frames.channels)
    if (train.reconstruct_drawn or train.canonical) and not variant.model.takes_targets:
        raise DarlaError(f"{config.variant} cannot reconstruct frames other than the ones it encodes: use reconstruct_drawn or "
                         "canonical with a VAE-family variant, or leave them off")
    if train.canonical:
        frames.render_columns(train.canonical)
    if train.augment != "none" and frames.channels != 3:
        raise DarlaError(f"--augment {train.augment} changes RGB colours, but {data} holds {frames.channels}-channel frames: use --augment none")
    # the record keeps the learning rate used, not "the variant's", which a later release may change
    train = dataclasses.replace(train, lr=train.learning_rate(config.variant),
                                precision=resolve_precision(train.precision, resolve_device(train.device)))
    # named only when on, so runs begun before they existed still resume
    settings = {k: v for k, v in dataclasses.asdict(train).items() if k not in OPTIONAL_TARGETS or v}
    record = {"model": config.to_dict(), "train": settings, "data": str(Path(data).resolve())}
    # everything that can be refused is refused before the run folder is claimed, so a corrected rerun is not
    if variant.teacher is not None:
        if teacher is not None and teacher.config.variant != variant.teacher:
            raise DarlaError(f"{config.variant} is built on a {variant.teacher}, got a {teacher.config.variant}: pass a {variant.teacher} checkpoint")
        own = dataclasses.replace(make_config(variant.teacher), image_size=config.image_size, channels=config.channels)
        check_size(dataclasses.replace(config, **{variant.teacher: teacher.config if teacher is not None else own}))
    else:
        check_size(config)
    rank, _ = _world()
    if rank == 0:
        # what decides the weights must match to continue; where and how fast it runs may change
        claim_run_folder(out, RUN_FILE, record, resume=resume, key=RESUME_MUST_MATCH)
    if variant.teacher is not None:
        if teacher is None:
            teacher_cfg = make_config(variant.teacher)
            # the teacher (a DAE) learns as it always does, on the same augmented frames
            teacher_train = dataclasses.replace(train, steps=train.teacher_steps or train.steps, lr=None, reconstruct_drawn=False,
                                                canonical="")
            teacher = pretrain(teacher_cfg, teacher_train, data, out / variant.teacher, resume=resume, figures=figures)
        config = dataclasses.replace(config, **{variant.teacher: teacher.config})
    torch.manual_seed(train.seed)
    model = build_model(config)
    if teacher is not None:
        getattr(model, variant.teacher).load_state_dict(teacher.state_dict())
    fit(model, frames, train, out, resume=resume)
    if model.takes_pairs:
        model.config = dataclasses.replace(model.config, general_latents=model.find_general_latents(frames, train.seed))
    if rank == 0:
        save_vision(
            model,
            out,
            {"data": {"path": record["data"], "manifest_hash": frames.manifest_hash(), "frames": len(frames)}, "train": record["train"]},
        )
        if figures:
            write_figures(model, frames, out)
    return model
