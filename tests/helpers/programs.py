"""What the tests need installed: packages.txt is the one list (setup.sh installs it)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

PACKAGES_TXT = Path(__file__).resolve().parent.parent.parent / "packages.txt"


def declared_programs() -> dict[str, str]:
    """{program or path: Debian package} from packages.txt, the list setup.sh installs."""
    declared = {}
    for line in PACKAGES_TXT.read_text().split("\n"):
        fields = line.split()
        if len(fields) >= 3 and not fields[0].startswith("#"):
            declared.update((prog, fields[1]) for prog in fields[2:] if prog != "-")
    return declared


def installed(program: str) -> bool:
    if program.startswith("/"):
        return os.path.exists(program)
    return shutil.which(program) is not None or os.path.exists(f"/usr/sbin/{program}")


def need(*programs: str, root: bool = True) -> None:
    """Skip (a failure under CI) when a program is not installed; fail at once when
    packages.txt does not name it, since then setup.sh would never install it."""
    declared = declared_programs()
    undeclared = [p for p in programs if p not in declared]
    if undeclared:
        pytest.fail(f"{', '.join(undeclared)}: not listed in packages.txt, so setup.sh does not install it",
                    pytrace=False)
    missing = [p for p in programs if not installed(p)]
    if missing:
        pytest.skip(f"not installed: {', '.join(missing)} (run ./setup.sh test)")
    if root and os.geteuid() != 0:
        pytest.skip("needs root (network namespaces, other users)")
