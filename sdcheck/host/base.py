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

    def prefetch(self, commands: list[tuple[list[str], float]]) -> None:
        """Start these ``(argv, timeout)`` commands now, in the background, where the host
        can: the next ``run(argv)`` of one of them (no input, no other user) takes its result,
        once. A hint only: a host that cannot does nothing, and nothing is ever reused."""

    def read_tail(self, path: str, limit: int) -> bytes:
        """The last ``limit`` bytes of a regular file (no symlink followed)."""
        raise NotImplementedError

    def lstat(self, path: str) -> FileStat | None:
        """Stat without following symlinks; None when the path does not exist."""
        raise NotImplementedError

    def which(self, name: str) -> str | None:
        raise NotImplementedError

    def euid(self) -> int:
        """The effective uid commands run with on the host (after sudo, if any)."""
        raise NotImplementedError

    def realpath(self, path: str) -> str:
        raise NotImplementedError

    def realpaths(self, paths: list[str]) -> dict[str, str]:
        """``realpath`` of each (a remote host answers them all in one command)."""
        return {p: self.realpath(p) for p in paths}

    def read_many(self, paths: list[str], limit: int = 1 << 20) -> dict[str, bytes | None]:
        """The first ``limit`` bytes of each regular file (no symlink followed); None for a
        path that is missing or not a regular file. One command on a remote host."""
        out: dict[str, bytes | None] = {}
        for p in paths:
            st = self.lstat(p)
            out[p] = self.read_bytes(p, limit) if st is not None and st.is_file else None
        return out

    def user_id(self, name: str) -> int | None:
        raise NotImplementedError

    def group_id(self, name: str) -> int | None:
        raise NotImplementedError

    def user_name(self, uid: int) -> str | None:
        raise NotImplementedError

    def group_name(self, gid: int) -> str | None:
        raise NotImplementedError

    def names_with_id(self, db: str, number: int) -> list[str]:
        """Every account (``db`` "passwd") or group ("group") whose id is ``number``, in the
        order the database lists them: more than one means they are the same to the kernel."""
        raise NotImplementedError

    def processes(self, name: str) -> list[tuple[int, str, int, int]]:
        """(pid, executable path or command line, real uid, effective uid) of processes called
        ``name`` (uids -1 when unknown)."""
        raise NotImplementedError

    def listening_sockets(self) -> list[tuple[str, str, int, set]]:
        """(``tcp``/``udp``, address, port, {pids}) of every listening socket: TCP sockets in
        LISTEN, UDP sockets bound and not connected (a connected one is a client's)."""
        raise NotImplementedError

    def sqlite_rows(self, db_path: str, sql: str, columns: list[str], timeout: float = 5.0):
        """Rows of ``SELECT columns FROM (sql)`` from an SQLite database opened read-only
        (never created, written, or journal-recovered), as tuples of int, float, str (bytes
        that are not UTF-8 kept as surrogate escapes), bytes or None; an iterator, so large
        results stream. ``timeout``: how long a writer's lock may make it wait. Raises
        FactError in sdcheck's own words (locked, corrupt, hot journal...)."""
        raise NotImplementedError

    def list_dirs(self, paths):
        """For each directory path, in the order given and lazily:
        ``(path, FileStat of the directory | None, entries | None, error | None)``, where
        entries are ``(name, st_mode, uid, size, mtime)`` of every entry, stat'ed without
        following symlinks and with the directory itself opened without following one. A
        path that is a symlink, missing or unreadable has ``error`` set instead."""
        raise NotImplementedError

    def sqlite_batches(self, db_path: str, sql: str, columns: list[str], timeout: float = 5.0):
        """``sqlite_rows`` in lists of rows (cheaper per row for large reads)."""
        batch: list = []
        for row in self.sqlite_rows(db_path, sql, columns, timeout):
            batch.append(row)
            if len(batch) >= 4096:
                yield batch
                batch = []
        if batch:
            yield batch

    def parallelism(self) -> int:
        """How many worker processes ``map_parallel`` can usefully run at once."""
        return 1

    def map_parallel(self, target: str, shares: list) -> list:
        """``module:function(facts, share)`` for each share, where the host allows in
        worker processes (cores), else one after the other here. Results in share order."""
        import importlib

        module, _, name = target.partition(":")
        function = getattr(importlib.import_module(module), name)
        return [function(self, share) for share in shares]

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

    def ipv6_addresses(self) -> list[tuple[str, str]] | None:
        """(address, interface) of every IPv6 address, from /proc/net/if_inet6; None when the
        kernel has IPv6 off (no such file: SecureDrop disables IPv6 at boot)."""
        import ipaddress

        if self.lstat("/proc/net/if_inet6") is None:
            return None
        out = []
        for line in self.read_text("/proc/net/if_inet6", 1 << 20).splitlines():
            parts = line.split()
            if len(parts) >= 6:
                try:
                    address = str(ipaddress.IPv6Address(int(parts[0], 16)))
                except ValueError:
                    address = parts[0]
                out.append((address, parts[5]))
        return out

    def shared_lock(self, path: str, timeout: float, what: str = "the lock"):
        """A context manager holding a shared lock on ``path`` (a local lock file) while a
        reading is taken; where the host cannot hold one across commands, nothing."""
        import contextlib

        return contextlib.nullcontext()

    def iptc_tables(self, names: list[str], family: int) -> dict[str, list]:
        """Legacy netfilter tables read in-process (python-iptables): only on this machine.
        Raises NotImplementedError elsewhere, ImportError without python-iptables."""
        raise NotImplementedError

    def scratch(self) -> Scratch:
        """A private temporary directory on *this* machine for work on copies of host data
        (gpg runs on a copy of a keyring): whatever the host, nothing is written there."""
        return Scratch()

    def read_text(self, path: str, limit: int = 1 << 20) -> str:
        from sdcheck.escape import from_host

        return from_host(self.read_bytes(path, limit))


class Scratch:
    """A temporary directory on this machine (mode 0700), removed with what is in it on exit.
    ``write(name, data)`` creates a new file there (never an existing one) and returns its path."""

    def __enter__(self) -> Scratch:
        import tempfile

        self._dir = tempfile.TemporaryDirectory(prefix="sdcheck-")
        self.path = self._dir.name
        return self

    def write(self, name: str, data: bytes) -> str:
        import os

        if "/" in name or name in ("", ".", ".."):
            raise ValueError(f"not a plain file name: {name!r}")
        path = os.path.join(self.path, name)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        return path

    def __exit__(self, *exc) -> None:
        self._dir.cleanup()
