"""A picture of an env's domains: every preset, from the same seed and actions."""

from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure

import envs
from darla.files import atomic_path


def domain_table(env_id: str) -> list[str]:
    """One line per preset (its fields) and per group (its presets)."""
    catalogue = envs.make(env_id).unwrapped.catalogue
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
    catalogue = envs.make(env_id).unwrapped.catalogue
    groups = {p: [g for g, members in catalogue.groups.items() if p in members] for p in catalogue.presets}
    fig = Figure(figsize=(1.2 * frames + 1.6, 1.25 * len(catalogue.presets) + 0.4), layout="constrained")
    axes = fig.subplots(len(catalogue.presets), frames, squeeze=False)
    for row, name in enumerate(catalogue.presets):
        env = envs.make(env_id, (name,))
        env.action_space.seed(seed)
        obs, _ = env.reset(seed=seed)
        actions = [env.action_space.sample() for _ in range(frames * every)]
        for col in range(frames):
            ax = axes[row][col]
            ax.imshow(obs, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if col == 0:
                ax.set_ylabel(f"{name}\n({', '.join(groups[name]) or 'no group'})", fontsize=7)
            if row == 0:
                ax.set_title(f"step {col * every}", fontsize=8)
            for action in actions[col * every : (col + 1) * every]:
                obs, _, terminated, truncated, _ = env.step(action)
                if terminated or truncated:
                    obs, _ = env.reset()
        env.close()
    fig.suptitle(f"{env_id}: presets (rows) on one seed and action sequence", fontsize=10)
    out = Path(out)
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    return out
