"""Facts about the machine sdcheck runs on."""

from __future__ import annotations

import os
import stat
import subprocess

from sdcheck.host.base import CommandResult, FactError, Facts, FileStat
from sdcheck.escape import escape

# Programs are looked up here only, never through the caller's PATH (sdcheck runs as root
# from OSSEC).
SYSTEM_PATH = ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin")
_ENV = {"LC_ALL": "C", "LANG": "C", "PATH": ":".join(SYSTEM_PATH)}


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
        self.search_path = search_path
        self.env = dict(_ENV, **(extra_env or {}))

    def which(self, name: str) -> str | None:
        if "/" in name:
            return name if os.access(name, os.X_OK) else None
        for d in self.search_path:
            p = os.path.join(d, name)
            if os.path.isfile(p) and os.access(p, os.X_OK):
                return p
        return None

    def run(self, argv: list[str], timeout: float = 10.0, *, user: int | None = None,
            input: bytes | None = None) -> CommandResult:  # noqa: A002
        exe = self.which(argv[0])
        if exe is None:
            raise FactError(f"program {escape(argv[0])} is not installed (looked in {':'.join(self.search_path)})")
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

    def group_name(self, gid: int) -> str | None:
        import grp

        try:
            return grp.getgrgid(gid).gr_name
        except (KeyError, OverflowError):
            return None

    def processes(self, name: str) -> list[tuple[int, str]]:
        import psutil

        out = []
        try:
            for proc in psutil.process_iter(["name", "exe", "cmdline"]):
                info = proc.info
                if info.get("name") == name:
                    out.append((proc.pid, info.get("exe") or " ".join(info.get("cmdline") or ())))
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
                key = ("tcp" if tcp else "udp", conn.laddr.ip, conn.laddr.port)
                out.setdefault(key, set())
                if conn.pid:
                    out[key].add(conn.pid)
        except psutil.Error as exc:
            raise FactError(f"cannot list sockets: {escape(str(exc))}") from None
        return [(proto, ip, port, pids) for (proto, ip, port), pids in out.items()]

