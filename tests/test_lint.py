"""The code keeps the rules it claims: ruff with the rules in pyproject.toml's [tool.ruff],
mypy with [tool.mypy]. Both are installed by the test extra (setup.sh test)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _run(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *argv], cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_ruff_is_clean():
    res = _run("ruff", "check", "sdcheck", "tests", "bench")
    assert res.returncode == 0, res.stdout + res.stderr


def test_mypy_is_clean():
    res = _run("mypy")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "Success: no issues found" in res.stdout


def test_no_type_ignore_without_a_reason():
    bare = [f"{p.relative_to(ROOT)}:{n}" for p in sorted((ROOT / "sdcheck").rglob("*.py"))
            for n, line in enumerate(p.read_text().splitlines(), 1)
            if "# type: ignore" in line and "  # " not in line.split("# type: ignore", 1)[1]]
    assert bare == []
