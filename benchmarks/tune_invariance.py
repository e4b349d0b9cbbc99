"""Choose vision settings by same-state invariance on pairs inside the ``train`` group only.

A source-return search rewards a code that keeps everything, the room's colour included; this
one scores what transfer rests on. Each candidate names how its frames are collected
(``collect``: :class:`darla.collect.CollectConfig` fields; the budget's frame count in the
``train`` group unless it says otherwise), the variant, its config overrides (``model``), ``lr``,
``steps``, the teacher's ``teacher_steps`` and ``augment`` (:class:`darla.train.TrainConfig`'s, for both), and the
representation's training ``seed`` (0 unless given; the teacher keeps seed 0); a paired variant's ``general_leaks`` (a list) also
scores its general part at each of those leak thresholds, found again on its training pairs without
retraining. A spec with ``vision`` scores that checkpoint instead of training one. The representation is pretrained on those frames
and scored by :func:`darla.metrics.invariance.invariance_scores` on a ground truth built from
the ``train`` group alone: the target domain is never drawn, so the choice cannot see it.

Finished candidates are kept in the JSON and skipped when the command is run again.

Usage:
    python benchmarks/tune_invariance.py --env darla/SeekAvoid2D-v0 --out runs/tune_inv \\
        --candidate 'bvd={"variant": "beta_vae_dae", "lr": 1e-3, "model": {"dae_layer": "bottleneck"}}' \\
        --candidate 'bvd_resets={"variant": "beta_vae_dae", "collect": {"policy": "resets"}, "lr": 1e-3}'
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from darla.checkpoint import load_vision, read_config
from darla.collect import CollectConfig, collect
from darla.files import write_json_atomic
from darla.frames import FrameDataset
from darla.metrics.ground_truth import EnvGroundTruth
from darla.metrics.invariance import InvarianceConfig, invariance_scores
from darla.models import VisionModel, get_variant, make_config
from darla.reproduce import BUDGETS
from darla.inspect import encoder
from darla.train import TrainConfig, pretrain

#: the seed of the states the scores draw, the same for every candidate
SCORE_SEED = 0


def teacher_for(variant: str, steps: int, data: Path, out: Path, augment: str = "none") -> VisionModel | None:
    """The variant's frozen teacher trained ``steps`` steps on ``data`` (shared across candidates)."""
    teacher = get_variant(variant).teacher
    if teacher is None:
        return None
    folder = out / (f"{teacher}_{steps}" + ("" if augment == "none" else f"_{augment}"))
    if not (folder / "model.safetensors").is_file():
        pretrain(make_config(teacher), TrainConfig(steps=steps, checkpoint_every=steps, augment=augment), data, folder,
                 resume=True, figures=False)
    return load_vision(folder, device="cpu")


def vision_for(variant: str, spec: dict[str, Any], budget: str, data: Path, out: Path) -> Path:
    """The candidate's representation, trained once per distinct set of vision settings and frames
    (``steps`` overrides the budget's vision steps)."""
    plan = BUDGETS[budget]
    settings = {k: spec[k] for k in ("model", "lr", "teacher_steps", "steps", "augment", "seed") if k in spec}
    folder = out / "vision" / hashlib.sha256(json.dumps([variant, settings, data.name], sort_keys=True).encode()).hexdigest()[:12]
    if not (folder / "model.safetensors").is_file():
        steps = spec.get("steps", plan.vision_steps)
        augment = spec.get("augment", "none")
        teacher = teacher_for(variant, spec.get("teacher_steps", plan.vision_steps), data, out / "teachers" / data.name, augment)
        train = TrainConfig(steps=steps, lr=spec.get("lr"), checkpoint_every=min(steps, 1000), augment=augment,
                            seed=spec.get("seed", 0))
        pretrain(make_config(variant, **{**plan.model, **spec.get("model", {})}), train, data, folder, resume=True,
                 teacher=teacher, figures=False)
    return folder


def parse_candidate(text: str) -> tuple[str, dict[str, Any]]:
    """``NAME=JSON`` into its name and spec."""
    name, sep, spec = text.partition("=")
    if not sep or not name:
        raise SystemExit(f"--candidate {text!r}: write NAME=JSON, e.g. 'lr1e-3={{\"lr\": 1e-3}}'")
    try:
        return name, json.loads(spec)
    except json.JSONDecodeError as exc:
        raise SystemExit(f"--candidate {name}: its spec is not JSON ({exc})") from None


def frames_for(env: str, spec: dict[str, Any], budget: str, out: Path) -> Path:
    """The candidate's frames from the ``train`` group, collected once per distinct collection."""
    settings = {"env": env, "domains": ("train",), "frames": BUDGETS[budget].frames, "seed": 0, **spec.get("collect", {})}
    folder = out / "frames" / hashlib.sha256(json.dumps(settings, sort_keys=True, default=list).encode()).hexdigest()[:12]
    if not (folder / "manifest.json").is_file():
        collect(CollectConfig(**settings), folder)
    return folder


def score_candidate(env: str, spec: dict[str, Any], budget: str, states: int, out: Path) -> dict[str, Any]:
    """Collect, pretrain and score one candidate on the train group's pairs (collection and training are
    skipped where an earlier run left their output, so ``seconds_this_run`` counts only what ran)."""
    start = time.perf_counter()
    if "vision" in spec:  # a checkpoint trained elsewhere (a reproduce run's, say), with its frames
        folder = Path(spec["vision"])
        data = Path(read_config(folder)["data"]["path"])
    else:
        data = frames_for(env, spec, budget, out)
        folder = vision_for(spec.get("variant", "beta_vae_dae"), spec, budget, data, out)
    model = load_vision(folder, device="cpu")
    ground_truth = EnvGroundTruth(env, ("train",), pool=max(2000, 4 * states), seed=SCORE_SEED)
    # the whole code, and for a variant trained on pairs also the general part its agent sees
    parts = {"code": model.config, **({"general": model.config} if model.config.general_latents else {})}
    if spec.get("general_leaks"):
        # the same model's general part at other leak thresholds, found on its training pairs as after training
        paired = FrameDataset(data, pairs=True)
        for leak in spec["general_leaks"]:
            found = model.find_general_latents(paired, seed=0, leak=leak)
            if found:
                parts[f"general_leak_{leak:g}"] = dataclasses.replace(model.config, general_latents=found)
    scores = {}
    for part, config in parts.items():
        model.config = config
        scores[part] = invariance_scores(encoder(model, part != "code"), ground_truth, InvarianceConfig(states),
                                         np.random.default_rng(SCORE_SEED))
    ground_truth.close()
    manifest = json.loads((data / "manifest.json").read_text())
    return {"spec": spec, "vision": str(folder), "object_in_view_share": manifest.get("object_in_view_share"),
            "general_latents": list(parts["code"].general_latents),
            **{part: {**s["summary"], "general_latents": list(parts[part].general_latents) if part != "code" else [],
                      "pairs": {k: {m: v for m, v in p.items() if m != "domain_leak_per_latent"} for k, p in s["pairs"].items()}}
               for part, s in scores.items()},
            "seconds_this_run": round(time.perf_counter() - start, 1)}


def main() -> None:
    """Score each candidate setting by same-state retrieval on pairs of train domains and write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="darla/SeekAvoid2D-v0")
    parser.add_argument("--candidate", action="append", required=True,
                        help="NAME=JSON with variant, collect, model, lr, steps and teacher_steps keys")
    parser.add_argument("--budget", default="quick", help="the frame count and default vision steps")
    parser.add_argument("--states", type=int, default=500, help="states drawn in both domains of a pair")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (leave a core to other work)")
    parser.add_argument("--out", type=Path, required=True, help="work folder (frames, models)")
    parser.add_argument("--json", type=Path, default=Path("benchmarks/results/tune_invariance.json"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    results = json.loads(args.json.read_text()) if args.json.is_file() else {}
    done = results.setdefault(f"{args.env} {args.budget}", {})
    for name, spec in dict(parse_candidate(c) for c in args.candidate).items():
        if name in done and done[name]["spec"] == spec:
            continue
        done[name] = score_candidate(args.env, spec, args.budget, args.states, args.out)
        # read again before writing: another run of this script may have added its candidates meanwhile
        merged = json.loads(args.json.read_text()) if args.json.is_file() else {}
        merged.setdefault(f"{args.env} {args.budget}", {})[name] = done[name]
        write_json_atomic(args.json, merged)
        for part in [k for k in done[name] if k == "code" or k.startswith("general")]:
            if isinstance(done[name][part], dict):
                r = done[name][part]
                print(f"{name} ({part}): train retrieval {r['train_same_state_retrieval']:.3f} ± {r['train_same_state_retrieval_sd']:.3f}, "
                      f"train probe R2 {r['train_probe_transfer_r2']:.2f}, {done[name]['seconds_this_run']:.0f} s this run", flush=True)


if __name__ == "__main__":
    main()
