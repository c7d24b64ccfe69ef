"""sdcheck as OSSEC or an admin starts it: a process of its own, its output captured. The
one place tests spell the command line and the OSSEC prefix."""

from __future__ import annotations

import subprocess
import sys

PREFIX = "System configuration error: "
SDCHECK = [sys.executable, "-m", "sdcheck"]


def sdcheck(*args: str, timeout: float = 60, text: bool = True, through: tuple[str, ...] | list[str] = (),
            **kw) -> subprocess.CompletedProcess:
    """Run ``sdcheck ARGS``; ``through``: a command to start it with (``ip netns exec NS``,
    ``nsenter ...``); other keywords go to subprocess.run (env, cwd, errors, input)."""
    return subprocess.run([*through, *SDCHECK, *args], capture_output=True, text=text, timeout=timeout, **kw)
