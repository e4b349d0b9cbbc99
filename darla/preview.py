"""A picture of an env's domains: every preset, from the same seed and actions."""

from __future__ import annotations

from pathlib import Path

import envs
from darla.errors import DarlaError
from darla.figures import image_grid, save_figure


def domain_table(env_id: str) -> list[str]:
    """One line per preset (its fields) and per group (its presets)."""
    catalogue = envs.catalogue(env_id)
    lines = [f"{name}: {', '.join(f'{k}={v}' for k, v in d.to_dict().items() if k != 'name')}" for name, d in catalogue.presets.items()]
    lines += [f"group {name}: {', '.join(presets)}" for name, presets in catalogue.groups.items()]
    return lines


def domain_grid(env_id: str, out: str | Path, frames: int = 6, every: int = 3, seed: int = 0) -> Path:
    """Draw each preset of ``env_id`` (rows) over one episode's first steps (columns).

    Every row uses the same seed and the same random actions, so the rows differ in look only.

    :param env_id: a ``darla/`` env id.
    :param out: the PNG to write.
    :param frames: columns per row.
    :param every: steps between columns.
    :param seed: seed of the episode and the actions.
    :return: ``out``.
    """
    if Path(out).suffix.lower() != ".png":
        # an --out naming another file (a domain JSON, say) would be replaced by the picture
        raise DarlaError(f"--out {out} must name a .png file: the preview is a PNG")
    catalogue = envs.catalogue(env_id)
    rows, labels = [], []
    for name in catalogue.presets:
        env = envs.make(env_id, (name,))
        env.action_space.seed(seed)
        obs, _ = env.reset(seed=seed)
        row = []
        for _ in range(frames):
            row.append(obs)
            for _ in range(every):
                obs, _, terminated, truncated, _ = env.step(env.action_space.sample())
                if terminated or truncated:
                    obs, _ = env.reset()
        env.close()
        rows.append(row)
        groups = [g for g, members in catalogue.groups.items() if name in members]
        labels.append(f"{name}\n({', '.join(groups) or 'no group'})")
    columns = [f"step {col * every}" for col in range(frames)]
    fig = image_grid(rows, labels, columns, f"{env_id}: presets (rows) on one seed and action sequence")
    return save_figure(fig, Path(out))
