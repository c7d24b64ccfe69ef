"""How checks reach the host: a narrow, read-only interface.

Checks never call subprocess, open() or sqlite3 themselves; they ask a ``Facts`` object.
``LocalFacts`` works on this machine; another implementation (for example over a
testinfra host) only has to provide the same few primitives.
"""

from __future__ import annotations

from collections import namedtuple


class FactError(Exception):
    """A fact could not be gathered (missing binary, timeout, unreadable file...).

    The message is one sentence for an admin; it names what and where, never a secret.
    """


class CommandResult(namedtuple("CommandResult", "argv returncode stdout stderr")):
    __slots__ = ()

    @property
    def ok(self) -> bool:
        return self.returncode == 0


FileStat = namedtuple("FileStat", "path mode uid gid size mtime is_file is_dir is_symlink")


class Facts:
    """Read-only access to a host. Every method may raise ``FactError``."""

    #: True when the host is this process's own machine (in-process libraries allowed).
    is_local = False
    name = "host"

    def run(self, argv: list[str], timeout: float = 10.0, *, user: int | None = None,
            input: bytes | None = None) -> CommandResult:  # noqa: A002
        """Run a program (no shell) with a timeout; as ``user`` (a uid) when given."""
        raise NotImplementedError

    def read_bytes(self, path: str, limit: int = 1 << 20) -> bytes:
        """Read a regular file without following a symlink in its last component."""
        raise NotImplementedError

    def read_tail(self, path: str, limit: int) -> bytes:
        """The last ``limit`` bytes of a regular file (no symlink followed)."""
        raise NotImplementedError

    def lstat(self, path: str) -> FileStat | None:
        """Stat without following symlinks; None when the path does not exist."""
        raise NotImplementedError

    def which(self, name: str) -> str | None:
        raise NotImplementedError

    def realpath(self, path: str) -> str:
        raise NotImplementedError

    def user_id(self, name: str) -> int | None:
        raise NotImplementedError

    def group_id(self, name: str) -> int | None:
        raise NotImplementedError

    def user_name(self, uid: int) -> str | None:
        raise NotImplementedError

    def group_name(self, gid: int) -> str | None:
        raise NotImplementedError

    def processes(self, name: str) -> list[tuple[int, str]]:
        """(pid, executable path or command line) of processes called ``name``."""
        raise NotImplementedError

    def listening_sockets(self) -> list[tuple[str, str, int, set]]:
        """(``tcp``/``udp``, address, port, {pids}) of every listening socket."""
        raise NotImplementedError

    def default_interface(self) -> str | None:
        """The interface of the default IPv4 route with the lowest metric, from
        /proc/net/route; None when there is no default route."""
        best: tuple[int, str] | None = None
        for line in self.read_text("/proc/net/route", 1 << 20).splitlines()[1:]:
            parts = line.split()
            if len(parts) < 8 or parts[1] != "00000000" or parts[7] != "00000000":
                continue
            try:
                up, metric = int(parts[3], 16) & 1, int(parts[6])
            except ValueError:
                continue
            if up and (best is None or metric < best[0]):
                best = (metric, parts[0])
        return best[1] if best else None

    def read_text(self, path: str, limit: int = 1 << 20) -> str:
        from sdcheck.escape import from_host

        return from_host(self.read_bytes(path, limit))
