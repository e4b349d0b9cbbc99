"""The repository keeps its promises: CI runs the README's test command, and the layout is whole."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_ci_runs_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    commands = re.findall(r"```bash\n\s*(bash scripts/install\.sh[^\n]*)\n\s*```", readme)
    assert len(commands) == 2, "exactly two set-up commands in README"
    ci = (ROOT / ".ci" / "run").read_text().strip().splitlines()
    assert ci[-1] == commands[1]
    assert "demo" in commands[0] and "pytest" in commands[1]


def test_top_level_packages_import() -> None:
    for name in ("darla", "envs", "agents"):
        assert importlib.import_module(name).__doc__


def test_importing_envs_loads_neither_torch_nor_stable_baselines3() -> None:
    import subprocess
    import sys

    probe = "import sys, envs; print(sorted(m for m in ('torch', 'stable_baselines3') if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert result.returncode == 0 and result.stdout.strip() == "[]", result.stderr


def test_the_version_is_written_once() -> None:
    import darla
    from importlib.metadata import version

    assert darla.__version__ == version("darla")
    assert 'version = "' not in (ROOT / "pyproject.toml").read_text().split("[project]")[1].split("\n[")[0]
