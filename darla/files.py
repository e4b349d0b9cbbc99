"""Atomic file writes: a reader sees the old file or the new one, never half of one."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from darla.errors import DarlaError


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path`` in one rename.

    On an exception the temporary file is removed and ``path`` is left as it was.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    try:
        yield Path(tmp)
        # mkstemp creates the file private (0600), and a writer may replace it with one of its own (safetensors
        # does): give the result the mode a plain open() would
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_json_atomic(path: str | os.PathLike, obj: Any) -> None:
    """Write ``obj`` as indented JSON to ``path`` atomically."""
    write_bytes_atomic(path, (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode())


def _at(record: dict[str, Any], path: str) -> Any:
    """The value at ``section.field`` of a record; None where it is absent."""
    value: Any = record
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _fields(parts: dict[str, Any]) -> dict[str, Any]:
    """A section's fields under ``section.field`` names, so a refusal can name the field that differs."""
    flat: dict[str, Any] = {}
    for name, value in parts.items():
        flat.update({f"{name}.{k}": v for k, v in value.items()} if isinstance(value, dict) else {name: value})
    return flat


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None


def claim_run_folder(
    out: Path, run_file: str, record: dict[str, Any], *, resume: bool, key: str | Sequence[str] | None = None,
    resumable: bool = True,
) -> None:
    """Make ``out`` this run's folder, refusing to mix two runs in one.

    A folder that holds ``run_file`` continues (when ``resume``) only if the recorded settings
    match ``record`` (the parts named by ``key``, if given); any other non-empty folder is refused.
    The record is then written, to check the next continuation against.

    :param out: the run folder.
    :param run_file: name of the record file inside it.
    :param record: JSON-ready description of this run.
    :param resume: whether this run may continue one already in ``out``.
    :param key: the part of the record that must match: a section's name, or several, each a
        section or a ``section.field`` path; None compares all of it.
    :param resumable: whether the command has a ``--resume`` option to suggest.
    """
    path = out / run_file
    if out.exists() and not out.is_dir():
        raise DarlaError(f"--out {out} is a file: name a folder (new or empty) for the run")
    now = json.loads(json.dumps(record))
    if resume and path.is_file():
        before = _read_json(path)
        if not isinstance(before, dict):
            raise DarlaError(f"{path} is corrupted, so the run in {out} cannot be checked before continuing it: "
                             "restore the file, or start afresh in another --out")
        now_part = now
        if isinstance(key, str):
            before, now_part = before.get(key) or {}, now[key]
        elif key is not None:
            before, now_part = (_fields({p: _at(r, p) for p in key}) for r in (before, now))
        if before != now_part:
            diff = sorted(k for k in set(before) | set(now_part) if before.get(k) != now_part.get(k))
            raise DarlaError(f"{out} holds a run with other settings ({', '.join(diff)}); use the same flags or another --out")
    elif out.exists() and any(out.iterdir()):
        suggest_resume = resumable and not resume and path.is_file()
        hint = "pass --resume to continue that run, or choose" if suggest_resume else "choose"
        raise DarlaError(f"{out} already holds files: {hint} another --out")
    before = _read_json(path) if path.is_file() else None
    # a record that already says all this (and maybe more, e.g. a finished run's statistics) is left as it is
    if not (isinstance(before, dict) and {k: before.get(k) for k in now} == now):
        write_json_atomic(path, record)
