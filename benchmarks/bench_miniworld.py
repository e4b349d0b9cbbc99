"""darla/SeekAvoid-v0's steps/s under the three renderer settings the env chooses, each in fresh processes, in one run:
pyglet's check for a GL error after every call (pyglet's default; the env turns it off), llvmpipe's
rasterising threads (Mesa's default: one per core; the env draws in the calling thread, ``LP_NUM_THREADS=0``),
and MiniWorld's copy of each frame's depth beside its colour (the env copies the colour alone).
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

#: name -> (GL error checks, LP_NUM_THREADS, depth copied)
SETTINGS = {
    "checks, threaded, depth copied (the defaults)": (True, str(os.cpu_count()), True),
    "no checks, threaded, depth copied": (False, str(os.cpu_count()), True),
    "no checks, calling thread, depth copied": (False, "0", True),
    "no checks, calling thread, colour alone (the env's)": (False, "0", False),
}


def steps_per_second(checks: bool, depth: bool, steps: int) -> float:
    """Random-action steps/s in the train group, after 200 warm-up steps."""
    import pyglet

    pyglet.options["headless"] = True
    if checks:
        # imported before the env sets the option, pyglet keeps its default: a check after every GL call
        import pyglet.gl  # noqa: F401
    import gymnasium as gym

    import envs  # noqa: F401  (registers the darla ids)
    from bench_envs import steps_per_second as random_steps_per_second

    if depth:
        import envs.seek_avoid_3d as seek_avoid_3d

        # each scene's frame buffer resolves through this name: MiniWorld's own resolve, colour and depth
        seek_avoid_3d._resolve_colour = lambda frame_buffer: type(frame_buffer).resolve(frame_buffer)

    rate = random_steps_per_second(lambda: gym.make("darla/SeekAvoid-v0", domain="train"), steps, warmup=200)
    from pyglet.gl import lib

    assert lib._debug_gl == checks, "the checks are as this measurement says"
    return rate


def measure(checks: bool, threads: str, depth: bool, steps: int, processes: int) -> list[float]:
    """Steps/s of each of ``processes`` children started together."""
    child = [sys.executable, __file__, "--child", "on" if checks else "off", "--steps", str(steps), *(["--depth"] if depth else [])]
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
    parser.add_argument("--depth", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(steps_per_second(args.child == "on", args.depth, args.steps))
        return
    alone, together = {}, {}
    for name, (checks, threads, depth) in SETTINGS.items():
        alone[name] = measure(checks, threads, depth, args.steps, 1)[0]
        together[name] = measure(checks, threads, depth, args.steps, 2)
        print(f"{name}: alone {alone[name]:.0f}, two at once {together[name]}")
    report = {"steps_per_second_alone": alone, "steps_per_second_two_at_once": together, "steps": args.steps,
              "machine": describe_machine()}
    write_json_atomic(args.out, report)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
