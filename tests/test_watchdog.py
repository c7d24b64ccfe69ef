"""The watchdog of 'sdcheck run' (sdcheck/cli/watchdog.py) never outlives run and never holds
OSSEC's output pipe after run is gone; at the deadline it ends run with one alert line."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time

import psutil
import pytest
from helpers import cli

# 'run' with one check stuck in C code holding the GIL (catastrophic backtracking), which no
# Python timer can interrupt: only the watchdog process can end it
STUCK = ("import re, sys\n"
         "from sdcheck.plugins.iptables.checks import backends\n"
         "def stuck(self):\n"
         "    re.match(r'(x+x+)+y', 'x' * 64)\n"
         "    yield from ()\n"
         "backends.Backends.run = stuck\n"
         "from sdcheck.cli import main\n"
         "sys.exit(main(['run', '--profile', 'app', '--only', 'iptables.backends']))\n")


def _start(deadline: str, stdin_closed: bool = False) -> subprocess.Popen:
    # stdout is a pipe read as OSSEC's command monitor reads it: until EOF
    return subprocess.Popen([sys.executable, "-c", STUCK], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            env=dict(os.environ, SDCHECK_DEADLINE=deadline), start_new_session=True,
                            preexec_fn=(lambda: os.close(0)) if stdin_closed else None)


def _watchdogs(pid: int) -> list[psutil.Process]:
    """run's forked children (its watchdog), not the commands it runs (prefetched dumps)."""
    try:
        run = psutil.Process(pid)
        mine, children = run.cmdline(), run.children()
    except psutil.NoSuchProcess:
        return []
    found = []
    for child in children:  # a prefetched command may end while it is looked at
        try:
            if child.cmdline() == mine:
                found.append(child)
        except psutil.NoSuchProcess:
            continue
    return found


def _eof_within(stream, seconds: float) -> bytes:
    """What the pipe holds until EOF; fails if EOF does not come within ``seconds``."""
    data, deadline = b"", time.monotonic() + seconds
    fd = stream.fileno()
    while True:
        left = deadline - time.monotonic()
        assert left > 0, "the output pipe is still held open"
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            chunk = os.read(fd, 65536)
            if not chunk:
                return data
            data += chunk


def test_killing_run_ends_its_watchdog_and_releases_the_pipe():
    proc = _start("600")
    try:
        deadline = time.monotonic() + 30
        while not _watchdogs(proc.pid):  # the watchdog has been forked
            assert proc.poll() is None and time.monotonic() < deadline, "run did not start its watchdog"
            time.sleep(0.05)
        watchdog = min(_watchdogs(proc.pid), key=lambda c: c.create_time())  # forked before any command
        time.sleep(0.5)  # run is now stuck in its check
        os.kill(proc.pid, signal.SIGKILL)
        assert _eof_within(proc.stdout, 5) == b""
        gone, alive = psutil.wait_procs([watchdog], timeout=5)
        assert alive == [], "the watchdog outlived run"
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        proc.stdout.close()


@pytest.mark.parametrize("stdin_closed", [False, True])
def test_the_deadline_ends_run_with_one_alert_line_and_nothing_left_behind(stdin_closed):
    proc = _start("3", stdin_closed)
    try:
        out = _eof_within(proc.stdout, 60).decode()
        assert proc.wait(10) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.stdout.close()
    (line,) = out.splitlines()
    assert line.startswith("System configuration error: [sdcheck.hang] (critical) sdcheck did not finish within 3 s")


def test_a_finished_run_leaves_no_watchdog(tmp_path):
    res = cli.sdcheck("run", "--profile", "app", "--only", "store", timeout=60)
    assert res.stdout.startswith(("System configuration error:", "sdcheck: OK"))
    leftovers = [p for p in psutil.process_iter(["cmdline"]) if p.info["cmdline"]
                 and "--only" in p.info["cmdline"] and "store" in p.info["cmdline"]
                 and any("sdcheck" in a for a in p.info["cmdline"])]
    assert leftovers == []
