"""Domains as data: the visual factors of an environment, named presets, and groups of presets.

A domain is a frozen dataclass whose fields are the factors an env varies. A field whose
metadata names ``choices`` takes one of them (a colour, a texture, an object set), which gives
validation with a list of valid values and an integer code for ground-truth factor vectors.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

import numpy as np

from darla.errors import DarlaError
from darla.files import write_bytes_atomic

COLOURS: dict[str, tuple[int, int, int]] = {
    "orange": (220, 140, 60),
    "green": (60, 170, 70),
    "blue": (50, 80, 200),
    "red": (200, 50, 50),
    "yellow": (230, 210, 60),
    "purple": (130, 60, 170),
    "grey": (150, 150, 150),
    "brown": (110, 75, 45),
    "white": (235, 235, 235),
    "black": (25, 25, 25),
    "pink": (235, 120, 180),
    "cyan": (60, 200, 210),
    "teal": (30, 120, 120),
    "beige": (210, 190, 150),
}
TEXTURES = ("plain", "stripes", "checker", "noise")


def choice(default: str, choices: Sequence[str]) -> Any:
    """A dataclass field that takes one of ``choices``."""
    return field(default=default, metadata={"choices": tuple(choices)})


def colour(default: str) -> Any:
    """A dataclass field naming a colour of :data:`COLOURS`."""
    return choice(default, tuple(COLOURS))


@dataclass(frozen=True)
class Domain:
    """The look of one domain; env-specific subclasses add their factors as fields.

    :param name: a label for reports (preset name, or the file it came from).
    :param tint: per-channel multipliers applied to the rendered frame (lighting).
    """

    name: str = "custom"
    tint: tuple[float, float, float] = (1.0, 1.0, 1.0)

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            choices = f.metadata.get("choices")
            value = getattr(self, f.name)
            if choices is not None and value not in choices:
                raise DarlaError(f"unknown {f.name} {value!r}; choose one of {', '.join(choices)}")
        try:
            tint = tuple(float(t) for t in self.tint) if not isinstance(self.tint, str) else ()
        except (TypeError, ValueError):
            tint = ()
        if len(tint) != 3 or min(tint) < 0:
            raise DarlaError(f"tint must be three non-negative channel multipliers, got {self.tint!r}")
        object.__setattr__(self, "tint", tint)

    @classmethod
    def factor_names(cls) -> list[str]:
        """Names of the entries of :meth:`factors`: each choice field, then the tint channels."""
        return [f.name for f in dataclasses.fields(cls) if "choices" in f.metadata] + ["tint_r", "tint_g", "tint_b"]

    def factors(self) -> np.ndarray:
        """The domain as numbers: each choice field's index in its choices, then the tint."""
        codes = [f.metadata["choices"].index(getattr(self, f.name)) for f in dataclasses.fields(self) if "choices" in f.metadata]
        return np.array([*codes, *self.tint], dtype=np.float32)

    @classmethod
    def from_factors(cls, values: Sequence[float], name: str = "custom") -> "Domain":
        """Inverse of :meth:`factors`."""
        # the metrics redraw tens of thousands of frames in a handful of domains, and building the dataclass cost a
        # 2D frame about a sixth of its redrawing time; a domain is frozen, so one object can serve every row naming it
        # (fields other than the choices and the tint keep their defaults, which no caller changes)
        return cls._from_values(tuple(float(v) for v in values), name)

    @classmethod
    @functools.lru_cache(maxsize=1024)
    def _from_values(cls, values: tuple[float, ...], name: str) -> "Domain":
        fields = [f for f in dataclasses.fields(cls) if "choices" in f.metadata]
        kwargs = {f.name: f.metadata["choices"][int(round(v))] for f, v in zip(fields, values)}
        # factors are float32; rounding undoes its error on the tint
        tint = tuple(round(v, 6) for v in values[len(fields) : len(fields) + 3])
        return cls(name=name, tint=tint, **kwargs)

    def tinted(self, frame: np.ndarray) -> np.ndarray:
        """A fresh uint8 copy of ``frame`` with each channel scaled by the tint (rounded, clipped)."""
        if self.tint == (1.0, 1.0, 1.0):
            return np.array(frame, np.uint8)
        return np.clip(np.rint(frame * np.asarray(self.tint, np.float32)), 0, 255).astype(np.uint8)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict of every field."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Domain":
        """Build a domain from a dict, with an error listing the valid fields for unknown ones."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise DarlaError(f"{cls.__name__} has no field(s) {', '.join(unknown)}; valid fields: {', '.join(sorted(names))}")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})

    def save(self, path: str | Path) -> None:
        """Write the domain as a JSON file, atomically (a kill leaves the old file or the new one)."""
        write_bytes_atomic(path, (json.dumps(self.to_dict(), indent=2) + "\n").encode())

    @classmethod
    def load(cls, path: str | Path) -> "Domain":
        """Read a domain from a JSON file written by :meth:`save` (or by hand)."""
        try:
            data = json.loads(Path(path).read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise DarlaError(f"cannot read domain file {path} ({exc}); pass a JSON object of domain fields") from None
        if not isinstance(data, dict):
            raise DarlaError(f"domain file {path} must hold a JSON object of domain fields")
        data.setdefault("name", Path(path).stem)
        return cls.from_dict(data)


DomainSpec = Union[str, Path, Domain, dict, Sequence["DomainSpec"]]


@dataclass(frozen=True)
class DomainCatalogue:
    """An env's named presets and groups, and the one place a domain request is resolved.

    :param domain_class: the env's :class:`Domain` subclass.
    :param presets: named domains.
    :param groups: named lists of preset names (e.g. ``train`` and ``target``).
    """

    domain_class: type[Domain]
    presets: dict[str, Domain]
    groups: dict[str, tuple[str, ...]]

    def resolve(self, spec: DomainSpec) -> list[Domain]:
        """Turn a request into the list of domains an episode is drawn from.

        :param spec: a preset name, a group name, a path to a JSON domain file, a
            :class:`Domain`, a dict of domain fields, or a list of any of these.
        :return: one or more domains.
        """
        if isinstance(spec, self.domain_class):
            return [spec]
        if isinstance(spec, Domain):
            raise DarlaError(f"this env takes a {self.domain_class.__name__}, got a {type(spec).__name__}")
        if isinstance(spec, dict):
            return [self.domain_class.from_dict(spec)]
        if isinstance(spec, (str, Path)):
            name = str(spec)
            if name in self.presets:
                return [self.presets[name]]
            if name in self.groups:
                return [self.presets[p] for p in self.groups[name]]
            if name.endswith(".json") or Path(name).is_file():
                return [self.domain_class.load(name)]
            raise DarlaError(
                f"unknown domain {name!r}; presets: {', '.join(self.presets)}; groups: {', '.join(self.groups)}; "
                "or a path to a JSON domain file"
            )
        if isinstance(spec, Sequence) and spec:
            return [d for item in spec for d in self.resolve(item)]
        raise DarlaError(f"cannot make a domain of {spec!r}: pass a preset or group name, a JSON path, a dict or a Domain")


class DomainDraw:
    """The domains an env draws from, one per episode.

    The draw has a generator of its own, seeded from the episode's seed, so the task's random
    stream (placements, physics) is the same whichever domain comes up.

    :param catalogue: the env's presets and groups.
    :param spec: the request, as :meth:`DomainCatalogue.resolve` takes it.
    """

    def __init__(self, catalogue: DomainCatalogue, spec: DomainSpec) -> None:
        self.domains = catalogue.resolve(spec)
        self._rng = np.random.default_rng()

    def draw(self, seed: int | None) -> Domain:
        """The next episode's domain; a seed restarts the sequence of draws."""
        if seed is not None:
            self._rng = np.random.default_rng([seed, 1])
        return self.domains[int(self._rng.integers(len(self.domains)))]


def positions_by(keys: Iterable[Hashable]) -> dict[Hashable, list[int]]:
    """Where each key occurs in ``keys``: its positions, by key, in order of first occurrence."""
    positions: dict[Hashable, list[int]] = {}
    for i, key in enumerate(keys):
        positions.setdefault(key, []).append(i)
    return positions


def check_factors(factors: np.ndarray, names: Sequence[str]) -> np.ndarray:
    """``factors`` as float64, refused unless it has one entry per name."""
    factors = np.asarray(factors, dtype=np.float64)
    if factors.shape != (len(names),):
        raise DarlaError(f"expected {len(names)} factors ({', '.join(names)}), got shape {factors.shape}")
    return factors
