"""The watchdog of ``sdcheck run``: OSSEC never gets silence, and never a stuck pipe.

A check stuck in C code that holds the GIL (a catastrophic regex, a library call) cannot be
interrupted by any Python timer, so a separate process watches the run:

- It is forked before any thread starts and inherits a pidfd of ``run`` opened before the
  fork, so it always refers to the process it was made for: no pid number is read later, and
  a reused pid can never be signalled.
- It sleeps in ``poll()`` on that pidfd. When ``run`` ends in any way (finishes, crashes, is
  killed with SIGKILL) the pidfd becomes readable and the watchdog exits at once, so it never
  holds OSSEC's output pipe open after ``run`` is gone (OSSEC reads a command's output until
  EOF). It imports nothing at start (it shares two cores with the run and its commands).
- It keeps only standard output (for its one line) and that pidfd; every other descriptor is
  closed.
- At the deadline it kills ``run`` through the pidfd, waits for it to be gone, and prints
  the ``sdcheck.hang`` alert line itself.

``run`` stops its watchdog through a pidfd of the watchdog (its own unreaped child) and reaps it.
"""

from __future__ import annotations

import os
import signal
import sys

HANG_LINE = ("System configuration error: [sdcheck.hang] (critical) sdcheck did not finish within {deadline:g} s "
             "and was stopped; run 'sdcheck report --debug' on the server\n")


class Watchdog:
    __slots__ = ("pid", "pidfd")

    def __init__(self, pid: int, pidfd: int):
        self.pid, self.pidfd = pid, pidfd

    def stop(self) -> None:
        """End the watchdog (our own child, so its pidfd is certain) and reap it."""
        try:
            signal.pidfd_send_signal(self.pidfd, signal.SIGKILL)
        except ProcessLookupError:
            pass
        os.waitpid(self.pid, 0)
        os.close(self.pidfd)


def start(deadline: float) -> Watchdog | None:
    """Fork the watchdog; None where the system cannot (then the OSSEC command's own exit
    status check still reports a run that was killed)."""
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        me = _above_stdio(os.pidfd_open(os.getpid()))
    except (AttributeError, OSError):
        return None
    try:
        pid = os.fork()
    except OSError:
        os.close(me)
        return None
    if pid == 0:
        _watch(me, deadline)  # never returns
    os.close(me)
    try:
        return Watchdog(pid, os.pidfd_open(pid))
    except OSError:  # cannot happen for our own unreaped child; do not leave it running
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        return None


def _watch(run_fd: int, deadline: float) -> None:
    """The watchdog process: plain system calls only, and always ``os._exit``. ``run_fd`` is
    the pidfd of run, inherited from before the fork."""
    try:
        os.closerange(3, run_fd)
        os.closerange(run_fd + 1, _max_fd())
        for fd in (0, 2):
            try:
                os.close(fd)
            except OSError:
                pass
        import select

        poller = select.poll()
        poller.register(run_fd, select.POLLIN)
        if poller.poll(max(0.0, deadline) * 1000):
            os._exit(0)  # run is gone: so is its watchdog
        signal.pidfd_send_signal(run_fd, signal.SIGKILL)
        poller.poll(10_000)  # until it is gone, so the line is the last thing OSSEC reads
        os.write(1, HANG_LINE.format(deadline=deadline).encode())
    finally:
        os._exit(0)


def _above_stdio(fd: int) -> int:
    """``fd`` moved to 3 or above: started with standard input closed, run's first free
    descriptor is 0, and the watchdog keeps only 1 and its pidfd."""
    if fd > 2:
        return fd
    import fcntl

    try:
        return fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 3)
    finally:
        os.close(fd)


def _max_fd() -> int:
    try:
        return os.sysconf("SC_OPEN_MAX")
    except (ValueError, OSError):
        return 1024
