"""Facts about the machine sdcheck runs on."""

from __future__ import annotations

import os
import stat
import subprocess

from sdcheck.escape import escape
from sdcheck.host.base import CommandResult, FactError, Facts, FileStat

# Programs are looked up here only, never through the caller's PATH (sdcheck runs as root
# from OSSEC).
SYSTEM_PATH = ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin")
_ENV = {"LC_ALL": "C", "LANG": "C", "PATH": ":".join(SYSTEM_PATH)}


# For bench/bench_run.py only: SDCHECK_TRACE_COMMANDS=FILE appends each command this run
# starts (argv, its standard input, when it started and ended) to FILE as a JSON line, so
# the benchmark can time exactly those commands on their own. Unset, nothing is written.
_TRACE = os.environ.get("SDCHECK_TRACE_COMMANDS")


def _now() -> float:
    import time

    return time.monotonic()


def _trace(argv: list[str], input: bytes | None, started: float) -> None:  # noqa: A002
    import json

    line = json.dumps({"argv": list(argv), "input": None if input is None else input.decode("latin-1"),
                       "start": started, "end": _now()})
    assert _TRACE is not None  # only called when it is set
    fd = os.open(_TRACE, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)


def _primary_gid(uid: int) -> int:
    import pwd

    try:
        return pwd.getpwuid(uid).pw_gid
    except KeyError:
        return uid


class LocalFacts(Facts):
    is_local = True
    name = "local"

    def __init__(self, search_path: tuple[str, ...] = SYSTEM_PATH, extra_env: dict | None = None):
        import threading

        self.search_path = search_path
        self.env = dict(_ENV, **(extra_env or {}))
        self._started: dict[tuple, tuple] = {}  # prefetch(): argv -> (thread, result box)
        self._started_lock = threading.Lock()

    def prefetch(self, commands: list[tuple[list[str], float]]) -> None:
        import threading

        for argv, timeout in commands:
            key = tuple(argv)
            with self._started_lock:
                if key in self._started or self.which(argv[0]) is None:
                    continue
                box: list = []

                def work(argv=list(argv), timeout=timeout, box=box) -> None:
                    try:
                        box.append((True, self._run(argv, timeout, None, None)))
                    except Exception as exc:  # noqa: BLE001 - raised to whoever asks for it
                        box.append((False, exc))
                thread = threading.Thread(target=work, name=f"prefetch:{argv[0]}", daemon=True)
                self._started[key] = (thread, box, timeout)
            thread.start()

    def run(self, argv: list[str], timeout: float = 10.0, *, user: int | None = None,
            input: bytes | None = None) -> CommandResult:  # noqa: A002
        if self._started and user is None and input is None:
            with self._started_lock:
                started = self._started.pop(tuple(argv), None)
            if started is not None:  # started by prefetch(): its result, once
                thread, box, limit = started
                thread.join(limit + 5.0)  # its command has that time limit: never wait longer
                if not box:
                    raise FactError(f"{escape(argv[0])} did not finish within {limit:g} s")
                ok, value = box[0]
                if ok:
                    return value
                raise value
        return self._run(argv, timeout, user, input)

    def which(self, name: str) -> str | None:
        if "/" in name:
            return name if os.access(name, os.X_OK) else None
        for d in self.search_path:
            p = os.path.join(d, name)
            if os.path.isfile(p) and os.access(p, os.X_OK):
                return p
        return None

    def _run(self, argv: list[str], timeout: float, user: int | None,
             input: bytes | None) -> CommandResult:  # noqa: A002
        exe = self.which(argv[0])
        if exe is None:
            raise FactError(f"program {escape(argv[0])} is not installed (looked in {':'.join(self.search_path)})")
        started = _now() if _TRACE else 0.0
        try:
            proc = subprocess.run(
                [exe, *argv[1:]],
                stdin=subprocess.DEVNULL if input is None else None,
                input=input,
                capture_output=True,
                user=user,
                group=None if user is None else _primary_gid(user),
                extra_groups=None if user is None else [],
                timeout=timeout,
                env=self.env,
                close_fds=True,
            )
        except subprocess.TimeoutExpired:
            raise FactError(f"{escape(argv[0])} did not finish within {timeout:g} s") from None
        except OSError as exc:
            raise FactError(f"cannot run {escape(argv[0])}: {escape(exc.strerror or exc)}") from None
        if _TRACE:
            _trace(argv, input, started)
        return CommandResult(tuple(argv), proc.returncode, proc.stdout, proc.stderr)

    def read_bytes(self, path: str, limit: int = 1 << 20) -> bytes:
        return self._read(path, limit, tail=False)

    def read_tail(self, path: str, limit: int) -> bytes:
        """The last ``limit`` bytes of a regular file (no symlink followed)."""
        return self._read(path, limit, tail=True)

    def _read(self, path: str, limit: int, tail: bool) -> bytes:
        """At most ``limit`` bytes of a regular file, from its start or its end; the last
        path component is never followed if it is a symlink, and a FIFO never blocks."""
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY)
        except OSError as exc:
            raise FactError(f"cannot read {escape(path)}: {escape(exc.strerror or exc)}") from None
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise FactError(f"cannot read {escape(path)}: not a regular file")
            if tail:
                os.lseek(fd, max(0, st.st_size - limit), os.SEEK_SET)
            chunks, left = [], limit
            while left > 0:
                chunk = os.read(fd, min(left, 1 << 16))
                if not chunk:
                    break
                chunks.append(chunk)
                left -= len(chunk)
            return b"".join(chunks)
        except OSError as exc:
            raise FactError(f"cannot read {escape(path)}: {escape(exc.strerror or exc)}") from None
        finally:
            os.close(fd)

    def lstat(self, path: str) -> FileStat | None:
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise FactError(f"cannot stat {escape(path)}: {escape(exc.strerror or exc)}") from None
        return FileStat(
            path=path,
            mode=stat.S_IMODE(st.st_mode),
            uid=st.st_uid,
            gid=st.st_gid,
            size=st.st_size,
            mtime=st.st_mtime,
            is_file=stat.S_ISREG(st.st_mode),
            is_dir=stat.S_ISDIR(st.st_mode),
            is_symlink=stat.S_ISLNK(st.st_mode),
        )

    def realpath(self, path: str) -> str:
        return os.path.realpath(path)

    def euid(self) -> int:
        return os.geteuid()

    def shared_lock(self, path: str, timeout: float, what: str = "the lock"):
        from sdcheck.host.local_lock import SharedLock

        return SharedLock(path, timeout, what)

    def iptc_tables(self, names: list[str], family: int) -> dict[str, list]:
        from sdcheck.host import iptc

        return iptc.read_legacy(names, family)

    def user_id(self, name: str) -> int | None:
        import pwd

        try:
            return pwd.getpwnam(name).pw_uid
        except KeyError:
            return None

    def group_id(self, name: str) -> int | None:
        import grp

        try:
            return grp.getgrnam(name).gr_gid
        except KeyError:
            return None

    def user_name(self, uid: int) -> str | None:
        import pwd

        try:
            return pwd.getpwuid(uid).pw_name
        except (KeyError, OverflowError):
            return None

    def names_with_id(self, db: str, number: int) -> list[str]:
        import grp
        import pwd

        if db == "passwd":
            return [p.pw_name for p in pwd.getpwall() if p.pw_uid == number]
        return [g.gr_name for g in grp.getgrall() if g.gr_gid == number]

    def group_name(self, gid: int) -> str | None:
        import grp

        try:
            return grp.getgrgid(gid).gr_name
        except (KeyError, OverflowError):
            return None

    def processes(self, name: str) -> list[tuple[int, str, int, int]]:
        import psutil

        out = []
        try:
            for proc in psutil.process_iter(["name", "exe", "cmdline", "uids", "status"]):
                info = proc.info
                # a zombie has exited: it runs nothing (and has neither program nor arguments)
                if info.get("name") == name and info.get("status") != psutil.STATUS_ZOMBIE:
                    uids = info.get("uids")
                    out.append((proc.pid, info.get("exe") or " ".join(info.get("cmdline") or ()),
                                uids.real if uids else -1, uids.effective if uids else -1))
        except psutil.Error as exc:
            raise FactError(f"cannot list processes: {escape(str(exc))}") from None
        return out

    def listening_sockets(self) -> list[tuple[str, str, int, set]]:
        import socket

        import psutil

        out: dict[tuple[str, str, int], set] = {}
        try:
            for conn in psutil.net_connections(kind="inet"):
                tcp = conn.type == socket.SOCK_STREAM
                if (tcp and conn.status != psutil.CONN_LISTEN) or not conn.laddr:
                    continue
                if not tcp and conn.raddr:
                    continue  # a connected UDP socket takes datagrams from its peer only: a client
                key = ("tcp" if tcp else "udp", conn.laddr.ip, conn.laddr.port)
                out.setdefault(key, set())
                if conn.pid:
                    out[key].add(conn.pid)
        except psutil.Error as exc:
            raise FactError(f"cannot list sockets: {escape(str(exc))}") from None
        return [(proto, ip, port, pids) for (proto, ip, port), pids in out.items()]


    # -- SQLite, directory trees, worker processes ----------------------------------------
    def sqlite_rows(self, db_path: str, sql: str, columns: list[str], timeout: float = 5.0):
        for batch in self.sqlite_batches(db_path, sql, columns, timeout):
            yield from batch

    def sqlite_batches(self, db_path: str, sql: str, columns: list[str], timeout: float = 5.0):
        from sdcheck.host.local_sqlite import batches

        return batches(self, db_path, sql, columns, timeout)

    def list_dirs(self, paths):
        for path in paths:
            try:
                dfd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
            except OSError as exc:
                yield path, None, None, _why(path, exc)
                continue
            try:
                st = os.fstat(dfd)
                dstat = FileStat(path=path, mode=stat.S_IMODE(st.st_mode), uid=st.st_uid, gid=st.st_gid,
                                 size=st.st_size, mtime=st.st_mtime, is_file=False, is_dir=True, is_symlink=False)
                entries = _entries(dfd, os.listdir(dfd))
            except OSError as exc:
                yield path, None, None, f"cannot be listed: {exc.strerror}"
                continue
            finally:
                os.close(dfd)
            yield path, dstat, entries, None

    def parallelism(self) -> int:
        from sdcheck.host.workers import parallelism

        return parallelism()

    def map_parallel(self, target: str, shares: list) -> list:
        """Worker processes of this interpreter where there is more than one share."""
        if len(shares) <= 1:
            return super().map_parallel(target, shares)
        from sdcheck.host.workers import map_parallel

        return map_parallel(target, shares)


def _entries(dfd: int, names: list) -> list:
    """(name, st_mode, uid, size, mtime) of each entry, stat'ed relative to the directory
    handle without following symlinks (one lstat each); an entry removed meanwhile is left
    out. The hot loop of a large store: kept to one call and one tuple per entry."""
    lstat = os.stat
    out: list[tuple[str, int, int, int, float]] = []
    append = out.append
    for name in names:
        try:
            st = lstat(name, dir_fd=dfd, follow_symlinks=False)
        except OSError:
            continue
        append((name, st.st_mode, st.st_uid, st.st_size, st.st_mtime))
    return out


def _why(path: str, exc: OSError) -> str:
    import errno

    if exc.errno == errno.ENOENT:
        return "does not exist"
    if exc.errno in (errno.ELOOP, errno.ENOTDIR):
        try:
            if stat.S_ISLNK(os.lstat(path).st_mode):
                return "is a symlink; sdcheck does not follow it"
        except OSError:
            pass
        return "is not a directory"
    return f"cannot be opened: {exc.strerror}"
