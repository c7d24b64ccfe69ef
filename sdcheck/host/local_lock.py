"""A shared lock on a lock file of this machine, held while a reading is taken."""

from __future__ import annotations

import os

from sdcheck.escape import escape
from sdcheck.host.base import FactError


class SharedLock:
    """Hold a shared flock on a lock file for the duration of a read (iptables-legacy
    takes an exclusive one on the xtables lock while it changes a table: waiting for a
    shared one means never reading half a change). Opened read-only, never created."""

    def __init__(self, path: str, timeout: float, what: str):
        self.path, self.timeout, self.what = path, timeout, what
        self.fd: int | None = None

    def __enter__(self):
        import errno
        import fcntl
        import time

        try:
            self.fd = os.open(self.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except FileNotFoundError:
            return self  # nobody has ever taken it
        except OSError as exc:
            raise FactError(f"cannot open {self.what} {escape(self.path)}: "
                            f"{escape(exc.strerror or exc)}") from None
        deadline = time.monotonic() + self.timeout
        delay = 0.01
        while True:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
                return self
            except OSError as exc:
                if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    raise FactError(f"cannot lock {escape(self.path)}: {escape(exc.strerror)}") from None
            if time.monotonic() >= deadline:
                os.close(self.fd)
                self.fd = None
                raise FactError(
                    f"{self.what} {escape(self.path)} has been held by another process for "
                    f"more than {self.timeout:g} s, so the firewall could not be read; an iptables "
                    "command may be hung")
            time.sleep(delay)
            delay = min(delay * 2, 0.2)

    def __exit__(self, *exc):
        if self.fd is not None:
            os.close(self.fd)  # closing releases the flock
            self.fd = None
