"""The peak resident memory of one command, measured without the test process's own size.

A child forked from pytest (hundreds of MiB after a long session) carries pytest's pages
until it execs, and the kernel counts them in the child's peak (ru_maxrss). So a small
helper interpreter is started first; it starts the command and reports, from wait4, the
peak of that command alone."""

from __future__ import annotations

import json
import subprocess
import sys
import time

_MEASURE = """
import json, os, sys
fd, argv = int(sys.argv[1]), sys.argv[2:]
pid = os.fork()
if pid == 0:
    os.close(fd)
    os.execvp(argv[0], argv)
_pid, status, usage = os.wait4(pid, 0)
os.write(fd, json.dumps({"rc": os.waitstatus_to_exitcode(status), "maxrss_kib": usage.ru_maxrss}).encode())
"""


def run_measured(argv: list[str], timeout: float = 600, **kw) -> tuple[subprocess.CompletedProcess, int, float]:
    """(the command's result with text output, its peak RSS in bytes, seconds)."""
    import os

    r, w = os.pipe()
    start = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-I", "-S", "-c", _MEASURE, str(w), *argv], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, pass_fds=(w,), **kw)
    os.close(w)
    out, err = proc.communicate(timeout=timeout)
    took = time.monotonic() - start
    with os.fdopen(r, "rb") as fh:
        got = json.loads(fh.read() or b"{}")
    res = subprocess.CompletedProcess(argv, got.get("rc", proc.returncode), out.decode("utf-8", "replace"),
                                      err.decode("utf-8", "replace"))
    return res, int(got.get("maxrss_kib", 0)) * 1024, took
