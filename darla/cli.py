"""The ``darla`` command: one entry point, a subcommand per job.

Errors in the user's input print one line (``darla: error: ...``) and exit with status 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import sys
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from darla.errors import DarlaError


INTERRUPT_HINTS = {
    "pretrain": "rerun the same command with --resume to continue from the last checkpoint",
    "collect": "rerun the same command to continue; finished shards are kept",
    "train": "rerun the same command with --resume to continue from the newest checkpoint in OUT/checkpoints",
    "domains": "nothing was written",
    "demo": "rerun the same command to continue",
    "inspect": "remove the partial report folder (or choose another --out) and rerun",
    "evaluate": "the report is written at the end: rerun the same command",
    "reproduce": "rerun the same command to continue; finished cells are kept",
    "tune": "rerun the same command to continue; finished trials and cells are kept",
}


def _param_docs(cls: type) -> dict[str, str]:
    """``:param name: text`` entries of a dataclass docstring, for ``--help``."""
    doc = re.sub(r"\s+", " ", cls.__doc__ or "").replace("``", "")
    return {m[0]: m[1].strip() for m in re.findall(r":param (\w+): (.*?)(?=:param|$)", doc)}


def _default(f: dataclasses.Field) -> Any:
    """A field's default, made by its factory where it has one."""
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return None if f.default is dataclasses.MISSING else f.default


def add_dataclass_arguments(parser: argparse.ArgumentParser, cls: type, skip: Sequence[str] = (), defaults: Any = None) -> None:
    """One ``--field-name`` option per dataclass field, typed and documented from the class; a field
    that is itself a dataclass gives one option per field of its own, defaulting to the values of
    the outer field's default (``defaults``), not to the inner class's."""
    docs = _param_docs(cls)
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if f.name in skip:
            continue
        default = _default(f) if defaults is None else getattr(defaults, f.name)
        if dataclasses.is_dataclass(hints[f.name]):
            add_dataclass_arguments(parser, hints[f.name], defaults=default)
            continue
        flag = "--" + f.name.replace("_", "-")
        hint = hints[f.name]
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        base = args[0] if args else hint
        help_text = f"{docs.get(f.name, '')} (default: {default})"
        if base is bool:
            parser.add_argument(flag, action="store_true", help=help_text)
        else:
            parser.add_argument(flag, type=base, default=default, help=help_text, metavar=f.name.upper())


def dataclass_from_args(cls: type, args: argparse.Namespace) -> Any:
    """Build ``cls`` from the parsed options named after its fields; an option left unset (None)
    keeps the field's default, and a list becomes the field's tuple."""
    hints = typing.get_type_hints(cls)
    values = {f.name: dataclass_from_args(hints[f.name], args) if dataclasses.is_dataclass(hints[f.name])
              else getattr(args, f.name, None) for f in dataclasses.fields(cls)}
    return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items() if v is not None})


def _parse_set(items: Sequence[str], flag: str = "--set") -> dict[str, Any]:
    """``FIELD=VALUE`` pairs; a VALUE that parses as JSON is taken as such, else as a string."""
    result = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise DarlaError(f"{flag} expects FIELD=VALUE, got {item!r}")
        try:
            result[key] = json.loads(raw)
        except json.JSONDecodeError:
            result[key] = raw
    return result


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``darla`` command."""
    from darla.agent import AgentConfig
    from darla.collect import CollectConfig
    from darla.demo import DemoConfig
    from darla.evaluate import EvaluateConfig
    from darla.reproduce import ALL_REPRESENTATIONS, BASELINES, PROTOCOLS, REPRESENTATIONS, ReproduceConfig
    from darla.models import VARIANTS
    from darla.inspect import InspectConfig
    from darla.train import TrainConfig
    from darla.tune import TuneConfig

    parser = argparse.ArgumentParser(prog="darla", description="DARLA-style perception for reinforcement learning.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("pretrain", help="pretrain a vision model on a folder of frames")
    p.add_argument("--model", required=True, metavar="NAME", help=f"variant: {', '.join(VARIANTS)}")
    p.add_argument("--data", required=True, type=Path, help="folder of uint8 frame shards (.npy/.npz)")
    p.add_argument("--out", required=True, type=Path, help="run folder for the checkpoint, figures and logs")
    p.add_argument("--beta", type=float, help="KL weight (VAE variants)")
    p.add_argument("--latent-dim", type=int, help="size of the code")
    p.add_argument("--dae", type=Path, metavar="CKPT", help="a trained dae checkpoint for beta_vae_dae")
    p.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE", help="any other model config field")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    p.add_argument("--no-figures", action="store_true", help="skip the figures after training")
    add_dataclass_arguments(p, TrainConfig)

    c = sub.add_parser("collect", help="collect frames with a random policy, as shards darla pretrain reads")
    c.add_argument("--out", required=True, type=Path, help="folder for the shards and manifest.json")
    _add_domain_argument(c)
    add_dataclass_arguments(c, CollectConfig, skip=("domains",))

    t = sub.add_parser("train", help="train a stable-baselines3 agent on a wrapped env in the source domains")
    t.add_argument("--out", required=True, type=Path, help="the agent folder")
    _add_domain_argument(t)
    inputs = t.add_mutually_exclusive_group(required=True)
    inputs.add_argument("--vision", metavar="CKPT", help="learn on this vision model's codes (the DARLA agent)")
    inputs.add_argument("--pixels", dest="mode", action="store_const", const="pixels", help="learn on raw frames (CnnPolicy)")
    inputs.add_argument("--pixels-aug", dest="mode", action="store_const", const="pixels_aug",
                        help="learn on frames randomly shifted and colour-jittered during updates")
    t.add_argument("--resume", action="store_true", help="continue the interrupted agent in --out from its newest checkpoint")
    t.add_argument("--hyperparams", action="append", default=[], metavar="FIELD=VALUE",
                   help="replace one of the hyperparameter file's values (JSON values, e.g. learning_rate=5e-4)")
    add_dataclass_arguments(t, AgentConfig, skip=("domains", "vision", "mode", "hyperparams"))

    v = sub.add_parser("domains", help="list an env's domain presets and groups, and draw them side by side")
    v.add_argument("--env", default="darla/SeekAvoid2D-v0", metavar="ID", help="a darla/ env id (default: %(default)s)")
    v.add_argument("--out", required=True, type=Path, help="the PNG to write")

    e = sub.add_parser("evaluate", help="run frozen agents in their source domains and in others: zero-shot transfer")
    e.add_argument("--agent", action="append", dest="agents", required=True, metavar="DIR",
                   help="an agent folder from darla train; repeat for several seeds of one method")
    e.add_argument("--out", required=True, type=Path, help="folder for evaluation.json, evaluation.md and evaluation.png")
    _add_domain_argument(e)
    add_dataclass_arguments(e, EvaluateConfig, skip=("agents", "domains"))

    r = sub.add_parser("reproduce", help="DARLA's whole experiment: frames, each representation, agents, zero-shot evaluation")
    r.add_argument("--out", required=True, type=Path, help="the run folder; rerun the same command to continue it")
    r.add_argument("--protocol", action="append", dest="protocols", choices=PROTOCOLS,
                   help="single (learn in A_default) or multi (learn in the train group); repeat for both (default: both)")
    r.add_argument("--method", action="append", dest="methods", metavar="NAME",
                   help=f"one of {', '.join(ALL_REPRESENTATIONS + BASELINES)}; repeat for several (default: "
                        f"{', '.join(REPRESENTATIONS + BASELINES)})")
    add_dataclass_arguments(r, ReproduceConfig, skip=("protocols", "methods"))

    t = sub.add_parser("tune", help="the source-only search: candidates or a space of vision and agent settings, on an Optuna study")
    t.add_argument("--out", required=True, type=Path, help="the work folder (study.db, frames, models, agents, tune.json)")
    t.add_argument("--candidate", action="append", default=[], metavar="NAME=JSON",
                   help="a named spec (model, lr, steps, teacher_steps, augment, collect, agent); repeat for several")
    t.add_argument("--space", type=_json_or_file, default={}, metavar="JSON|@FILE",
                   help='dotted spec paths to sample, e.g. {"model.beta": {"choices": [1, 4]}, "lr": {"low": 1e-4, "high": 1e-3, "log": true}}')
    add_dataclass_arguments(t, TuneConfig, skip=("candidates", "space"))

    d = sub.add_parser("demo", help="the quick demo: frames, beta_vae_dae, a latent and a pixel PPO agent, zero-shot transfer")
    add_dataclass_arguments(d, DemoConfig)

    i = sub.add_parser("inspect", help="report what a vision checkpoint learned: figures, disentanglement metrics")
    i.add_argument("checkpoint", type=Path, metavar="CKPT", help="a vision checkpoint folder")
    i.add_argument("--out", required=True, type=Path, help="the report folder (new or empty)")
    _add_domain_argument(i)
    i.add_argument("--factor", action="append", dest="factors", metavar="NAME", help="a factor to score; repeat for several")
    add_dataclass_arguments(i, InspectConfig, skip=("domains", "factors"))
    return parser


def _add_domain_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--domain", action="append", dest="domains", metavar="NAME_OR_GROUP_OR_JSON",
                        help="a preset, a group or a JSON domain file; repeat for several")


def _pretrain(args: argparse.Namespace) -> Path:
    from darla.checkpoint import load_vision
    from darla.models import make_config
    from darla.train import TrainConfig, pretrain

    overrides = _parse_set(args.set)
    for name in ("beta", "latent_dim"):
        if getattr(args, name) is not None:
            overrides[name] = getattr(args, name)
    config = make_config(args.model, **overrides)
    teacher = load_vision(args.dae, device="cpu") if args.dae else None
    pretrain(config, dataclass_from_args(TrainConfig, args), args.data, args.out, resume=args.resume, teacher=teacher, figures=not args.no_figures)
    return args.out


def _collect(args: argparse.Namespace) -> Path:
    from darla.collect import CollectConfig, collect

    return collect(dataclass_from_args(CollectConfig, args), args.out)


def _train(args: argparse.Namespace) -> Path:
    from darla.agent import AgentConfig, train_agent

    if args.vision is not None:
        args.mode = "latent"
    args.hyperparams = _parse_set(args.hyperparams, "--hyperparams")
    train_agent(dataclass_from_args(AgentConfig, args), args.out, resume=args.resume)
    return args.out


def _domains(args: argparse.Namespace) -> Path:
    from darla.preview import domain_grid, domain_table

    print("\n".join(domain_table(args.env)))
    return domain_grid(args.env, args.out)


def _evaluate(args: argparse.Namespace) -> Path:
    from darla.evaluate import TABLE_FILE, EvaluateConfig, evaluate

    evaluate(dataclass_from_args(EvaluateConfig, args), args.out)
    print((args.out / TABLE_FILE).read_text())
    return args.out


def _reproduce(args: argparse.Namespace) -> Path:
    from darla.reproduce import FIGURE_FILE, TABLE_FILE, ReproduceConfig, reproduce

    reproduce(dataclass_from_args(ReproduceConfig, args), args.out)
    print((args.out / TABLE_FILE).read_text())
    print(f"figure: {args.out / FIGURE_FILE}")
    return args.out


def _json_or_file(text: str) -> Any:
    """A JSON value given inline or, after ``@``, as a file."""
    source = text
    if text.startswith("@"):
        try:
            source = Path(text[1:]).read_text()
        except OSError as exc:
            raise argparse.ArgumentTypeError(f"cannot read {text[1:]} ({exc.strerror})") from None
    try:
        return json.loads(source)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"not JSON ({exc})") from None


def _tune(args: argparse.Namespace) -> Path:
    from darla.tune import SUMMARY_FILE, TuneConfig, tune

    candidates = {}
    for item in args.candidate:
        name, sep, spec = item.partition("=")
        if not sep or not name:
            raise DarlaError(f"--candidate expects NAME=JSON, got {item!r}")
        try:
            candidates[name] = json.loads(spec)
        except json.JSONDecodeError as exc:
            raise DarlaError(f"--candidate {name}: its spec is not JSON ({exc})") from None
    args.candidates = candidates
    summary = tune(dataclass_from_args(TuneConfig, args), args.out)
    for row in sorted(summary["trials"], key=lambda r: -r["source_return"]):
        label = row["candidate"] or json.dumps(row["params"])
        print(f"{label}: source return {row['source_return']:.2f} (seeds {[round(m, 2) for m in row['seed_means']]})")
    print(f"best: {summary['best']['candidate'] or json.dumps(summary['best']['params'])}; all trials in {args.out / SUMMARY_FILE}")
    return args.out


def _demo(args: argparse.Namespace) -> Path:
    from darla.demo import DemoConfig, figure_paths, run_demo
    from darla.reproduce import TABLE_FILE

    cfg = dataclass_from_args(DemoConfig, args)
    run_demo(cfg)
    print(f"\nZero-shot transfer ({cfg.protocol} protocol; source: the agents' training domains):\n")
    print((Path(cfg.out) / TABLE_FILE).read_text())
    print("figures:\n" + "\n".join(f"  {p}" for p in figure_paths(cfg)))
    return Path(cfg.out)


def _inspect(args: argparse.Namespace) -> Path:
    from darla.inspect import InspectConfig, inspect_model

    return inspect_model(args.checkpoint, args.out, dataclass_from_args(InspectConfig, args))


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``darla`` command; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        commands = {"inspect": _inspect, "pretrain": _pretrain, "collect": _collect, "train": _train, "domains": _domains, "demo": _demo,
                    "evaluate": _evaluate, "reproduce": _reproduce, "tune": _tune}
        out = commands[args.command](args)
    except DarlaError as exc:
        print(f"darla: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"darla: interrupted; {INTERRUPT_HINTS[args.command]}", file=sys.stderr)
        return 130
    finally:
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()
    if int(os.environ.get("RANK", "0")) == 0:  # under torchrun, one process reports
        out = Path(out)
        if out.is_file():
            print(f"darla: {args.command} done; output: {out}")
        else:
            files = ", ".join(sorted(p.name for p in out.iterdir() if p.is_file() and not p.name.startswith(".")))
            print(f"darla: {args.command} done; outputs in {out}: {files}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
