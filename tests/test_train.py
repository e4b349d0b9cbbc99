"""The trainer: bfloat16 autocast learns what float32 learns; hue augmentation teaches colours it never saw."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from agents.augment import mix_channels, random_colour_mix, random_hue_rotation, random_room_mix
from conftest import SMALL
from envs.pixels import hue_rotation_matrix
from darla.collect import CollectConfig, collect
from darla.errors import DarlaError
from darla.frames import FrameDataset
from darla.models import build_model, frames_to_tensor, make_config, masks_to_tensor
from darla.device import native_bf16, resolve_precision
from darla.train import AUGMENTATIONS, TrainConfig, fit, pretrain


def loss_before_and_after(frames: FrameDataset, x: torch.Tensor, out: Path, **train: Any) -> tuple[float, float]:
    """A small VAE's loss on ``x`` (with fixed noise) before and after ``fit`` with ``train``'s settings."""
    torch.manual_seed(0)
    model = build_model(make_config("vae", image_size=32, **SMALL))
    torch.manual_seed(123)
    before = float(model.loss(x)["loss"].detach())
    fit(model, frames, TrainConfig(batch_size=32, lr=1e-3, device="cpu", **train), out)
    torch.manual_seed(123)
    with torch.no_grad():
        return before, float(model.train().loss(x)["loss"])


def test_bf16_autocast_learns_as_float32_does(rooms_dir: Path, tmp_path: Path) -> None:
    frames = FrameDataset(rooms_dir)
    x = frames_to_tensor(frames.get(np.arange(0, 1024, 8)))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        terms = build_model(make_config("vae", image_size=32, **SMALL)).loss(x[:8])
    # the loss is taken on float32 heads whatever the convolutions ran in
    assert all(v.dtype == torch.float32 for v in terms.values()), {k: v.dtype for k, v in terms.items()}
    losses = {precision: loss_before_and_after(frames, x, tmp_path / precision, steps=120, precision=precision) for precision in ("fp32", "bf16")}
    # measured on AMD EPYC: 205.8 -> 141.5 in fp32, -> 136.3 in bf16
    for before, after in losses.values():
        assert after < 0.8 * before, losses
    assert abs(losses["bf16"][1] - losses["fp32"][1]) < 0.15 * losses["fp32"][1], losses


def test_precision_is_checked_and_resolved() -> None:
    with pytest.raises(DarlaError, match="unknown precision 'fp16': choose one of auto, bf16, fp32"):
        TrainConfig(precision="fp16")
    cpu = torch.device("cpu")
    assert resolve_precision("fp32", cpu) == "fp32" and resolve_precision("bf16", cpu) == "bf16"
    assert resolve_precision("auto", cpu) == ("bf16" if native_bf16(cpu) else "fp32")
    # measured slower under autocast on a GPU (benchmarks/results/gpu.json); no GPU is needed to resolve it
    assert resolve_precision("auto", torch.device("cuda")) == "fp32"


@pytest.mark.parametrize("augment", [random_hue_rotation, random_colour_mix])
def test_colour_augmentations_keep_greys_and_pairs_and_vary_per_frame(augment) -> None:
    torch.manual_seed(0)
    grey = torch.linspace(0, 1, 16).view(1, 1, 4, 4).expand(8, 3, 4, 4)
    colour = torch.rand(8, 3, 4, 4)
    changed_grey, changed, again = augment(grey, colour, colour.clone())
    assert (changed_grey - grey).abs().max() < 1e-5
    # row i of every batch changes alike, so the two frames of a pair stay a pair
    assert torch.equal(changed, again)
    assert changed.min() >= 0 and changed.max() <= 1
    # each row its own change: the same pixel comes out in different colours
    assert changed[:, :, 0, 0].std(dim=0).max() > 0.05
    assert np.abs(hue_rotation_matrix(np.array([0.0, 360.0])) - np.eye(3)).max() < 1e-9


def test_colour_augmentation_reconstructs_frames_of_colours_never_seen(rooms_dir: Path, tmp_path: Path) -> None:
    frames = FrameDataset(rooms_dir)
    x = frames_to_tensor(frames.get(np.arange(0, 1024, 8)))
    # every frame turned 180 degrees: colours the unaugmented model never saw
    (turned,) = mix_channels(torch.as_tensor(hue_rotation_matrix(180.0), dtype=torch.float32), x)
    turned = turned.clamp(0, 1)
    errors = {}
    for augment in ("none", "mix"):
        torch.manual_seed(0)
        model = build_model(make_config("ae", image_size=32, **SMALL))
        fit(model, frames, TrainConfig(steps=200, batch_size=32, lr=1e-3, device="cpu", precision="fp32", augment=augment),
            tmp_path / augment)
        with torch.no_grad():
            errors[augment] = float(((model.decode(model.encode(turned)) - turned) ** 2).mean())
    # measured on AMD EPYC (Zen 4): 0.0345, against 0.0501 unaugmented (hue rotation: 0.0367)
    assert errors["mix"] < 0.85 * errors["none"], errors


@pytest.fixture(scope="module")
def masked_frames(tmp_path_factory: pytest.TempPathFactory) -> tuple[FrameDataset, torch.Tensor, torch.Tensor]:
    """Frames of one room whose objects cover 2.5% of the pixels, with their masks; a quarter of them, and of their
    masks, as tensors."""
    folder = tmp_path_factory.mktemp("masked") / "frames"
    collect(CollectConfig(domains=("A_default",), frames=1024, masks=True, policy="resets", seed=7), folder)
    frames = FrameDataset(folder, masks=True)
    index = np.arange(0, 1024, 4)
    return frames, frames_to_tensor(frames.get(index)), masks_to_tensor(frames.get_masks(index))


def test_object_weight_keeps_the_small_objects_in_the_reconstruction(masked_frames: tuple, tmp_path: Path) -> None:
    frames, x, mask = masked_frames
    errors = {}
    for weight in (0.0, 30.0):
        torch.manual_seed(0)
        model = build_model(make_config("vae", beta=1.0, object_weight=weight, **SMALL))
        fit(model, frames, TrainConfig(steps=300, batch_size=32, lr=1e-3, device="cpu", precision="fp32"), tmp_path / str(weight))
        with torch.no_grad():
            error = (model.decode(model.encode(x)) - x).pow(2).mean(dim=1, keepdim=True)
        errors[weight] = (float((error * mask).sum() / mask.sum()), float((error * (1 - mask)).sum() / (1 - mask).sum()))
    # the room is still drawn: a flat mid-grey frame would miss its pixels by this much
    flat = float(((x - 0.5).pow(2).mean(dim=1, keepdim=True) * (1 - mask)).sum() / (1 - mask).sum())
    # measured on Intel Xeon: object pixels 0.090 -> 0.025, the rest 0.0143 -> 0.0176; on AMD EPYC (Zen 4) 0.090 -> 0.022
    # and 0.0143 -> 0.0231 at one thread, 0.101 -> 0.024 and 0.0093 -> 0.0169 at two, against 0.075 for the flat frame.
    # What the weight costs the rest at 300 steps varies that much between CPUs; that it keeps drawing the room does not
    assert errors[30.0][0] < 0.5 * errors[0.0][0], errors
    assert errors[30.0][1] < 0.5 * flat, (errors, flat)


def test_mix_apart_gives_each_frame_of_a_pair_its_own_colours() -> None:
    torch.manual_seed(0)
    grey = torch.linspace(0, 1, 16).view(1, 1, 4, 4).expand(8, 3, 4, 4)
    colour = torch.rand(8, 3, 4, 4)
    changed_grey, changed, again = AUGMENTATIONS["mix_apart"](grey, colour, colour.clone())
    assert (changed_grey - grey).abs().max() < 1e-5 and changed.min() >= 0 and changed.max() <= 1
    # the same frame in both batches comes out in different colours
    assert (changed - again).abs().amax(dim=(1, 2, 3)).min() > 0.01


@pytest.mark.parametrize("augment", ["mix_room", "mix_room_apart"])
def test_room_mix_recolours_around_the_objects_by_one_mix_per_pair_or_per_frame(augment: str) -> None:
    torch.manual_seed(0)
    frame = torch.rand(8, 3, 6, 6)
    mask = torch.zeros(8, 1, 6, 6)
    mask[:, :, 2:4, 2:4] = 1
    partner_mask = torch.zeros(8, 1, 6, 6)
    partner_mask[:, :, :2, :2] = 1
    mixed, partner = AUGMENTATIONS[augment](frame, frame.clone(), masks=(mask, partner_mask))
    assert torch.equal(mixed[:, :, 2:4, 2:4], frame[:, :, 2:4, 2:4]) and torch.equal(partner[:, :, :2, :2], frame[:, :, :2, :2])
    # the room around them changes, frame by frame; by the same mix in both frames of a pair, or by one of each frame's own
    room = ((mask + partner_mask) == 0).expand(8, 3, 6, 6)
    change = (mixed - frame).abs()[room]
    assert change.mean() > 0.05
    apart = (mixed - partner).abs().mul(room).amax(dim=(1, 2, 3))
    if augment == "mix_room":
        assert apart.max() == 0
    else:
        assert apart.min() > 0.01, apart
    with pytest.raises(ValueError, match="one mask batch per image batch, got 1 for 2"):
        random_room_mix(frame, frame, masks=(mask,))


def test_room_mix_apart_half_leaves_half_of_the_frames_as_drawn_each_on_its_own() -> None:
    torch.manual_seed(0)
    frame, partner = torch.rand(2000, 3, 4, 4), torch.rand(2000, 3, 4, 4)
    mask = torch.zeros(2000, 1, 4, 4)
    mask[:, :, :2, :2] = 1
    mixed, mixed_partner = AUGMENTATIONS["mix_room_apart_half"](frame, partner, masks=(mask, mask))
    kept = (mixed == frame).flatten(1).all(1)
    kept_partner = (mixed_partner == partner).flatten(1).all(1)
    # drawn frame by frame: half of each side, a quarter of the pairs both, and the objects always as drawn
    assert abs(float(kept.float().mean()) - 0.5) < 0.04 and abs(float(kept_partner.float().mean()) - 0.5) < 0.04
    assert abs(float((kept & kept_partner).float().mean()) - 0.25) < 0.03
    assert torch.equal(mixed[:, :, :2, :2], frame[:, :, :2, :2])


def test_room_mix_keeps_the_objects_colours_that_mix_washes_out(masked_frames: tuple, tmp_path: Path) -> None:
    frames, x, mask = masked_frames
    colour = {}
    for augment in ("mix", "mix_room"):
        torch.manual_seed(0)
        model = build_model(make_config("vae", beta=1.0, object_weight=30.0, **SMALL))
        fit(model, frames, TrainConfig(steps=300, batch_size=32, lr=1e-3, device="cpu", precision="fp32", augment=augment), tmp_path / augment)
        with torch.no_grad():
            # how far a drawn pixel is from grey: the spread of its three channels
            spread = model.decode(model.encode(x)).std(dim=1, keepdim=True)
        colour[augment] = float((spread * mask).sum() / mask.sum())
    # a decoder not told the whole-frame mix draws grey objects; around them the objects keep their colours.
    # Measured on Intel Xeon: 0.0095 against 0.081
    assert colour["mix_room"] > 4 * colour["mix"], colour


def test_room_mix_refuses_frames_without_masks(rooms_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(DarlaError, match="holds no 'object_mask' array: collect the frames with darla collect --masks"):
        pretrain(make_config("ae", **SMALL), TrainConfig(steps=2, batch_size=8, device="cpu", augment="mix_room"), rooms_dir, tmp_path / "run")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("variant", ["vae", "ada_gvae", "cycle_vae"])
def test_a_target_equal_to_the_input_changes_no_loss(variant: str) -> None:
    torch.manual_seed(0)
    model = build_model(make_config(variant, image_size=32, **{**SMALL, **({"specific_dim": 4} if variant == "cycle_vae" else {})}))
    x, pair = torch.rand(4, 3, 32, 32), torch.rand(4, 3, 32, 32)
    extra = {"pair": pair} if variant == "ada_gvae" else {}
    drawn = {"target": x.clone(), **({"pair_target": pair.clone()} if extra else {})}
    torch.manual_seed(1)
    plain = model.loss(x, **extra)["loss"]
    torch.manual_seed(1)
    same = model.loss(x, **extra, **drawn)["loss"]
    torch.manual_seed(1)
    other = model.loss(x, **extra, target=torch.rand(4, 3, 32, 32))["loss"]
    assert torch.equal(plain, same) and not torch.isclose(plain, other)


def test_reconstruct_drawn_keeps_the_colours_the_mix_hides(rooms_dir: Path, tmp_path: Path) -> None:
    frames = FrameDataset(rooms_dir)
    x = frames_to_tensor(frames.get(np.arange(0, 1024, 8)))
    colour = {}
    for drawn in (False, True):
        torch.manual_seed(0)
        model = build_model(make_config("vae", beta=1.0, image_size=32, **SMALL))
        fit(model, frames, TrainConfig(steps=300, batch_size=32, lr=1e-3, device="cpu", precision="fp32", augment="mix",
                                       reconstruct_drawn=drawn), tmp_path / str(drawn))
        with torch.no_grad():
            colour[drawn] = float(model.decode(model.encode(x)).std(dim=1).mean())
    # asked for the frames as drawn, the decoder draws their colours; asked for the mixed ones, it draws greys.
    # Measured on Intel Xeon: 0.064 against 0.0067
    assert colour[True] > 3 * colour[False], colour


def test_reconstruct_drawn_is_refused_without_an_augmentation_or_a_target_taking_loss(rooms_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(DarlaError, match="reconstruct_drawn reconstructs frames as drawn where an augmentation changed them: set augment too"):
        TrainConfig(reconstruct_drawn=True)
    with pytest.raises(DarlaError, match="ae cannot reconstruct frames other than the ones it encodes"):
        pretrain(make_config("ae", **SMALL), TrainConfig(steps=2, batch_size=8, device="cpu", augment="mix", reconstruct_drawn=True),
                 rooms_dir, tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_canonical_target_draws_every_look_as_the_canonical_domain(tmp_path: Path) -> None:
    collect(CollectConfig(domains=("A_default", "B_alternate"), frames=600, pairs=1, policy="resets", seed=7), tmp_path / "f")
    frames = FrameDataset(tmp_path / "f", pairs=True, domains=True)
    shown = np.flatnonzero(frames.domain_ids == 1)[:64]
    x = frames_to_tensor(frames.get(shown))
    canonical = frames_to_tensor(frames.get_renders(shown, frames.render_columns("A_default")))
    torch.manual_seed(0)
    model = pretrain(make_config("vae", beta=1.0, **SMALL), TrainConfig(steps=200, batch_size=32, lr=1e-3, device="cpu",
                     precision="fp32", canonical="A_default"), tmp_path / "f", tmp_path / "canonical", figures=False)
    with torch.no_grad():
        drawn = model.decode(model.encode(x))
    to_canonical, to_shown = float((drawn - canonical).abs().mean()), float((drawn - x).abs().mean())
    # shown B_alternate frames, the decoder draws the same states in A_default's colours. Measured on AMD EPYC (AVX2):
    # 0.101 from the A_default renders, 0.233 from the frames shown (a VAE trained the same way on its own frames:
    # 0.157 and 0.187)
    assert to_canonical < to_shown / 2, (to_canonical, to_shown)
    # named in the record only when set, so runs begun before it existed still resume
    assert json.loads((tmp_path / "canonical" / "pretrain.json").read_text())["train"]["canonical"] == "A_default"
    pretrain(make_config("vae", **SMALL), TrainConfig(steps=2, batch_size=8, device="cpu"), tmp_path / "f", tmp_path / "own", figures=False)
    assert "canonical" not in json.loads((tmp_path / "own" / "pretrain.json").read_text())["train"]


def test_canonical_target_is_refused_where_it_cannot_be_drawn(tmp_path: Path, rooms_dir: Path) -> None:
    with pytest.raises(DarlaError, match="reconstruct_drawn and canonical 'A_default' each name what the loss reconstructs: set one"):
        TrainConfig(augment="mix", reconstruct_drawn=True, canonical="A_default")
    with pytest.raises(DarlaError, match="ae cannot reconstruct frames other than the ones it encodes"):
        pretrain(make_config("ae", **SMALL), TrainConfig(steps=2, batch_size=8, device="cpu", canonical="A_default"), rooms_dir, tmp_path / "ae")
    # frames without a manifest name no domains
    with pytest.raises(DarlaError, match="collected in no named domains, not 'A_default'"):
        pretrain(make_config("vae", **SMALL), TrainConfig(steps=2, batch_size=8, device="cpu", canonical="A_default"), rooms_dir, tmp_path / "vae")
    assert not (tmp_path / "ae").exists() and not (tmp_path / "vae").exists()


def test_pretrain_json_names_reconstruct_drawn_only_when_on(rooms_dir: Path, tmp_path: Path) -> None:
    # runs begun before the setting existed have no such field, and must still resume
    for drawn in (False, True):
        out = tmp_path / str(drawn)
        pretrain(make_config("vae", **SMALL), TrainConfig(steps=2, batch_size=8, device="cpu", augment="mix", reconstruct_drawn=drawn),
                 rooms_dir, out, figures=False)
        assert ("reconstruct_drawn" in json.loads((out / "pretrain.json").read_text())["train"]) is drawn


def test_augment_is_checked(rooms_dir: Path) -> None:
    with pytest.raises(DarlaError, match="unknown augment 'flip': choose one of none, hue, mix, mix_apart, mix_room, mix_room_apart, mix_room_apart_half"):
        TrainConfig(augment="flip")


def test_a_compiled_step_learns_as_the_eager_one_does(rooms_dir: Path, tmp_path: Path) -> None:
    frames = FrameDataset(rooms_dir)
    x = frames_to_tensor(frames.get(np.arange(0, 1024, 8)))
    losses = {mode: loss_before_and_after(frames, x, tmp_path / mode, steps=40, precision="fp32", compile=mode)[1] for mode in ("off", "on")}
    # the same batches, seeds and noise: only the kernels' rounding differs
    assert abs(losses["on"] - losses["off"]) < 0.01 * losses["off"], losses


def test_a_failed_compilation_falls_back_to_eager(rooms_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken_compile(module: torch.nn.Module):
        def call(*args, **kwargs):
            raise RuntimeError("no C compiler found\nmore detail")
        return call

    frames = FrameDataset(rooms_dir)
    weights = {}
    for compile_mode in ("off", "on"):
        torch.manual_seed(0)
        model = build_model(make_config("vae", image_size=32, **SMALL))
        cfg = TrainConfig(steps=5, batch_size=16, device="cpu", precision="fp32", compile=compile_mode)
        if compile_mode == "on":
            monkeypatch.setattr(torch, "compile", broken_compile)
            with pytest.warns(RuntimeWarning, match=r"torch.compile failed \(RuntimeError: no C compiler found\); training goes on uncompiled"):
                fit(model, frames, cfg, tmp_path / compile_mode)
        else:
            fit(model, frames, cfg, tmp_path / compile_mode)
        weights[compile_mode] = torch.cat([p.detach().flatten() for p in model.parameters()])
    # the failed step was redone eagerly before the optimizer saw it: the same weights as never compiling
    assert torch.equal(weights["on"], weights["off"])


def test_compile_is_checked() -> None:
    with pytest.raises(DarlaError, match="unknown compile 'yes': choose one of off, on"):
        TrainConfig(compile="yes")
