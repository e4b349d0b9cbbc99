"""Seconds of one ``darla inspect`` report at the quick and claim budgets' settings (``QUICK_INSPECT``), the
report each representation of ``darla reproduce`` gets, on an untrained DARLA-size VAE: the report's cost is
drawing the ground truth's frames and encoding them, whatever the model learnt.

Usage: python benchmarks/bench_inspect.py [--env darla/SeekAvoid-v0] [--out benchmarks/results/inspect_3d.json]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

from darla.checkpoint import save_vision
from darla.device import describe_machine
from darla.files import write_json_atomic
from darla.inspect import InspectConfig, inspect_model
from darla.models import build_model, make_config
from darla.reproduce import QUICK_INSPECT


def main() -> None:
    """Write one report in a temporary folder and the seconds it took as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="darla/SeekAvoid-v0")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "inspect_3d.json")
    args = parser.parse_args()
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        vision = save_vision(build_model(make_config("vae")), Path(tmp) / "vae")
        start = time.perf_counter()
        inspect_model(vision, Path(tmp) / "report", InspectConfig(env=args.env, **QUICK_INSPECT))
        seconds = time.perf_counter() - start
        scores = json.loads((Path(tmp) / "report" / "metrics.json").read_text())["scores"]
    report = {"env": args.env, "settings": QUICK_INSPECT, "seconds": seconds,
              # the same model and seed give the same report: a change that only speeds it up leaves these as they were
              "scores": scores,
              "machine": describe_machine()}
    write_json_atomic(args.out, report)
    print(json.dumps({k: v for k, v in report.items() if k != "scores"}, indent=2))


if __name__ == "__main__":
    main()
