"""darla/SeekAvoid-v0's steps/s under the two renderer settings the env chooses, each in fresh processes, in one run:
pyglet's check for a GL error after every call (pyglet's default; the env turns it off) and llvmpipe's
rasterising threads (Mesa's default: one per core; the env draws in the calling thread, ``LP_NUM_THREADS=0``).
Each setting runs alone and as two processes at once, as ``darla reproduce --workers 2`` runs cells.

Usage: python benchmarks/bench_miniworld.py [--steps 3000] [--out benchmarks/results/miniworld.json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from darla.device import describe_machine
from darla.files import write_json_atomic

#: name -> (GL error checks, LP_NUM_THREADS)
SETTINGS = {
    "checks, threaded (both defaults)": (True, str(os.cpu_count())),
    "no checks, threaded": (False, str(os.cpu_count())),
    "no checks, calling thread (the env's)": (False, "0"),
}


def steps_per_second(checks: bool, steps: int) -> float:
    """Random-action steps/s in the train group, after 200 warm-up steps."""
    import pyglet

    pyglet.options["headless"] = True
    if checks:
        # imported before the env sets the option, pyglet keeps its default: a check after every GL call
        import pyglet.gl  # noqa: F401
    import gymnasium as gym

    import envs  # noqa: F401  (registers the darla ids)
    from bench_envs import steps_per_second as random_steps_per_second

    rate = random_steps_per_second(lambda: gym.make("darla/SeekAvoid-v0", domain="train"), steps, warmup=200)
    from pyglet.gl import lib

    assert lib._debug_gl == checks, "the checks are as this measurement says"
    return rate


def measure(checks: bool, threads: str, steps: int, processes: int) -> list[float]:
    """Steps/s of each of ``processes`` children started together."""
    child = [sys.executable, __file__, "--child", "on" if checks else "off", "--steps", str(steps)]
    running = [subprocess.Popen(child, stdout=subprocess.PIPE, text=True, env={**os.environ, "LP_NUM_THREADS": threads})
               for _ in range(processes)]
    rates = []
    for process in running:
        out, _ = process.communicate()
        if process.returncode:
            raise RuntimeError(f"a measuring process failed with status {process.returncode}")
        rates.append(float(out.split()[-1]))
    return rates


def main() -> None:
    """Measure every setting alone and two at a time; write one JSON file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "miniworld.json")
    parser.add_argument("--child", choices=("on", "off"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(steps_per_second(args.child == "on", args.steps))
        return
    alone, together = {}, {}
    for name, (checks, threads) in SETTINGS.items():
        alone[name] = measure(checks, threads, args.steps, 1)[0]
        together[name] = measure(checks, threads, args.steps, 2)
        print(f"{name}: alone {alone[name]:.0f}, two at once {together[name]}")
    report = {"steps_per_second_alone": alone, "steps_per_second_two_at_once": together, "steps": args.steps,
              "machine": describe_machine()}
    write_json_atomic(args.out, report)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
