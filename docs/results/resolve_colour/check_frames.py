"""SeekAvoid-v0's frames with the colour-only resolve against MiniWorld's own FrameBuffer.resolve (colour and depth):
4,000 states of a random walk, each redrawn in the look of another, over the train, target and rooms groups; both ways
twice, alternated, in one process. Writes JSON: frames/s of each pass and whether every frame is the same bit for bit.

Usage: python docs/results/resolve_colour/check_frames.py docs/results/resolve_colour/check_frames.json
"""

import functools
import json
import sys
import time

import numpy as np

import envs
from darla.device import describe_machine
from envs.seek_avoid_3d import MiniWorldRenderer, _resolve_colour

env = envs.make("darla/SeekAvoid-v0", ("train", "target", "rooms"))
rng = np.random.default_rng(0)
env.reset(seed=0)
rows = []
for _ in range(4000):
    _, _, terminated, truncated, info = env.step(int(rng.integers(3)))
    rows.append(info["factors"])
    if terminated or truncated:
        env.reset()
rows = np.stack(rows)
base = env.unwrapped
n_task = len(base.factor_names()) - len(base.domains[0].factors())
rows[:, n_task:] = rows[rng.permutation(len(rows)), n_task:]


def colour_only(on: bool) -> None:
    """Resolve only the colour buffer of every scene (``on``) or MiniWorld's own colour and depth."""
    for scene in MiniWorldRenderer.scenes.values():
        if on:
            scene.obs_fb.resolve = functools.partial(_resolve_colour, scene.obs_fb)
        else:
            scene.obs_fb.__dict__.pop("resolve", None)


base.render_rows(rows[:50])
frames, rates = {True: [], False: []}, {"colour only": [], "MiniWorld's resolve": []}
for on in (True, False, True, False):
    colour_only(on)
    start = time.perf_counter()
    frames[on].append(base.render_rows(rows))
    rates["colour only" if on else "MiniWorld's resolve"].append(len(rows) / (time.perf_counter() - start))
reference = frames[False][0]
report = {"states": len(rows), "looks": len({tuple(r[n_task:]) for r in rows}),
          "same_frames_bit_for_bit": all(np.array_equal(reference, f) for f in frames[True] + frames[False]),
          "distinct_frames": len({f.tobytes() for f in reference}), "frames_per_second": rates, "machine": describe_machine()}
with open(sys.argv[1], "w") as fh:
    json.dump(report, fh, indent=1)
print(json.dumps(report, indent=1))
