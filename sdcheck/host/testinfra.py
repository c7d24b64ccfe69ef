"""Facts about a host reached through testinfra (``local://``, ``ssh://``, ``paramiko://``,
``ansible://``, ``docker://`` ...): every primitive is one shell command on the target,
built with ``shlex.quote`` from fixed words and quoted values, bounded by ``timeout(1)``.

Nothing is installed on the target; it needs coreutils, ``getent``, ``ps`` and, for
sockets, ``ss``. Files are read with ``head``/``tail`` after checking, in the same
command, that the path is not a symlink; bytes travel base64-encoded.
"""

from __future__ import annotations

import base64
import shlex

from sdcheck.escape import escape
from sdcheck.host.base import CommandResult, FactError, Facts, FileStat
from sdcheck.host.local import SYSTEM_PATH
from sdcheck.host.wire import FIND_TYPES, batches, typed_value

_PATH = ":".join(SYSTEM_PATH)
#: Seconds a remote command may take here beyond its timeout on the target (connecting).
DEADLINE_MARGIN = 15
#: Bytes one command may send (base64 of its output): 32 MiB, the store's rows 96 MiB.
RUN_CAP = 32 << 20


def _q(value) -> str:
    return shlex.quote(str(value))


class TestinfraFacts(Facts):
    __test__ = False  # not a pytest test class
    is_local = False

    def __init__(self, host, name: str | None = None, sudo: bool = False):
        from sdcheck.host.remote import Link

        self.name = name or str(getattr(getattr(host, "backend", None), "hostname", None) or "host")
        self.sudo = sudo
        self.link = Link(host, self.name, sudo)
        self.host = self.link.host

    def close(self) -> None:
        """End the host's connection (the run is over)."""
        self.link.close()

    # -- the one way to the host ---------------------------------------------------------
    def _sh(self, script: str, timeout: float = 30.0, cap: int = 4 << 20, stdin: bytes | None = None):
        """Run a POSIX shell script on the target with LC_ALL=C, the system PATH, a timeout
        there, and here a deadline ``DEADLINE_MARGIN`` s later and a cap of ``cap`` bytes."""
        from sdcheck.host.remote import Job

        wrapped = (f"LC_ALL=C LANG=C PATH={_PATH} timeout --kill-after=2 {int(timeout + 0.999)} "
                   f"sh -c {_q(script)}")
        try:
            out = self.link.run(wrapped, Job(timeout + DEADLINE_MARGIN, cap, stdin))
        except FactError:
            raise
        except Exception as exc:  # noqa: BLE001 - connection errors come in many types
            result = exc.args[0] if exc.args else None
            err = getattr(result, "stderr", None)  # testinfra's ssh backend: RuntimeError(CommandResult)
            if isinstance(err, bytes):
                err = err.decode("utf-8", "replace")
            text = (err or str(exc)).strip().splitlines()
            raise FactError(f"{escape(self.name)}: cannot run a command: "
                            f"{text[-1] if text else type(exc).__name__}") from None
        if out.rc == 124:
            raise FactError(f"{escape(self.name)}: a command did not finish within {timeout:g} s")
        if out.rc == 255 and ("ssh" in self.name.lower() or self.name.startswith("ansible://")):
            raise FactError(f"{escape(self.name)}: the SSH connection failed: "
                            f"{out.stderr.strip().splitlines()[-1] if out.stderr.strip() else ''}")
        return out

    def run(self, argv: list[str], timeout: float = 10.0, *, user: int | None = None,
            input: bytes | None = None, cap: int = RUN_CAP) -> CommandResult:  # noqa: A002
        if input is None:
            input = b""  # noqa: A001 - the command's stdin is then empty, not the connection's
        cmd = " ".join(_q(a) for a in argv)
        exe = argv[0]
        check = f"command -v {_q(exe)} >/dev/null 2>&1 || {{ echo 'sdcheck: not installed' >&2; exit 127; }}; "
        if user is not None:
            cmd = f"setpriv --reuid={int(user)} --regid=$(id -g {int(user)}) --clear-groups -- {cmd}"
        # stdout travels base64-encoded (binary-safe); the command's own exit status is
        # carried out of the pipeline on fd 3; input comes on standard input, never on a
        # command line; nothing is written on the target
        script = (check + "exec 4>&1; "
                  f"rc=$( {{ {{ {cmd}; echo $? >&3; }} | base64 -w0 >&4; }} 3>&1 ); exit $rc")
        out = self._sh(script, timeout, cap, stdin=input)
        if out.rc == 127 and "sdcheck: not installed" in out.stderr:
            raise FactError(f"program {escape(exe)} is not installed on {escape(self.name)}")
        stdout = base64.b64decode(out.stdout.strip()) if out.stdout.strip() else b""
        stderr = out.stderr.encode("utf-8", "surrogateescape")
        return CommandResult(tuple(argv), out.rc, stdout, stderr)

    def read_bytes(self, path: str, limit: int = 1 << 20) -> bytes:
        return self._read(path, f"head -c {int(limit)}", limit)

    def read_tail(self, path: str, limit: int) -> bytes:
        return self._read(path, f"tail -c {int(limit)}", limit)

    def _read(self, path: str, reader: str, limit: int) -> bytes:
        p = _q(path)
        out = self._sh(f"if [ -L {p} ]; then echo symlink >&2; exit 3; fi; "
                       f"if [ ! -f {p} ]; then echo missing >&2; exit 4; fi; "
                       f"{reader} -- {p} | base64 -w0", cap=limit * 4 // 3 + (1 << 16))
        if out.rc == 3:
            raise FactError(f"cannot read {escape(path)}: it is a symlink (not followed)")
        if out.rc == 4:
            raise FactError(f"cannot read {escape(path)}: no such regular file")
        if out.rc != 0:
            raise FactError(f"cannot read {escape(path)}: {out.stderr.strip()}")
        return base64.b64decode(out.stdout.strip() or b"")

    def lstat(self, path: str) -> FileStat | None:
        out = self._sh(f"stat -c '%f %u %g %s %Y' -- {_q(path)} 2>/dev/null || echo none")
        text = out.stdout.strip()
        if text == "none" or not text:
            return None
        raw, uid, gid, size, mtime = text.split()
        mode = int(raw, 16)
        kind = mode & 0o170000
        return FileStat(path=path, mode=mode & 0o7777, uid=int(uid), gid=int(gid), size=int(size),
                        mtime=float(mtime), is_file=kind == 0o100000, is_dir=kind == 0o040000,
                        is_symlink=kind == 0o120000)

    def which(self, name: str) -> str | None:
        out = self._sh(f"command -v {_q(name)} || true")
        found = out.stdout.strip()
        return found if found.startswith("/") else None

    def euid(self) -> int:
        out = self._sh("id -u")
        text = out.stdout.strip()
        if out.rc != 0 or not text.isdigit():
            raise FactError(f"{escape(self.name)}: cannot tell which user commands run as")
        return int(text)

    def realpath(self, path: str) -> str:
        return self._sh(f"readlink -f -- {_q(path)} || echo {_q(path)}").stdout.strip() or path

    def realpaths(self, paths: list[str]) -> dict[str, str]:
        out: dict[str, str] = {}
        for batch in batches(paths):
            res = self._sh("for p in " + " ".join(_q(p) for p in batch) + "; do "
                           "printf '%s\\0' \"$(readlink -f -- \"$p\" || printf %s \"$p\")\"; done | base64 -w0",
                           cap=len(batch) * 8192)
            got = base64.b64decode(res.stdout.strip() or b"").split(b"\0")
            out.update({p: (got[i].decode("utf-8", "surrogateescape") if i < len(got) and got[i] else p)
                        for i, p in enumerate(batch)})
        return out

    def read_many(self, paths: list[str], limit: int = 1 << 20) -> dict[str, bytes | None]:
        out: dict[str, bytes | None] = {}
        for batch in batches(paths):
            # per path: "-" (not a regular file) or the base64 of its first bytes, a line each
            res = self._sh("for p in " + " ".join(_q(p) for p in batch) + "; do "
                           "if [ -L \"$p\" ] || [ ! -f \"$p\" ]; then echo -; else "
                           f"head -c {int(limit)} -- \"$p\" | base64 -w0; echo; fi; done",
                           cap=min(RUN_CAP, len(batch) * (limit * 4 // 3 + 8)))
            lines = res.stdout.splitlines()
            out.update({p: (None if i >= len(lines) or lines[i] == "-" else base64.b64decode(lines[i]))
                        for i, p in enumerate(batch)})
        return out

    def _getent(self, db: str, key, field: int):
        out = self._sh(f"getent {db} {_q(key)} || true").stdout.strip()
        parts = out.split(":")
        return parts[field] if len(parts) > field else None

    def user_id(self, name: str) -> int | None:
        got = self._getent("passwd", name, 2)
        return int(got) if got and got.isdigit() else None

    def group_id(self, name: str) -> int | None:
        got = self._getent("group", name, 2)
        return int(got) if got and got.isdigit() else None

    def names_with_id(self, db: str, number: int) -> list[str]:
        if db not in ("passwd", "group"):
            raise ValueError(db)
        out = self._sh(f"getent {db} || true").stdout
        return [f[0] for f in (line.split(":") for line in out.splitlines())
                if len(f) > 2 and f[2].strip() == str(int(number))]

    def user_name(self, uid: int) -> str | None:
        return self._getent("passwd", int(uid), 0)

    def group_name(self, gid: int) -> str | None:
        return self._getent("group", int(gid), 0)

    def processes(self, name: str) -> list[tuple[int, str, int, int]]:
        # one command: each process's fields, then the program its /proc/PID/exe names
        out = self._sh(f"ps -C {_q(name)} -o pid=,ruid=,euid=,stat=,args= | "
                       "while read -r pid ruid euid stat args; do "
                       "printf '%s %s %s %s x%s x%s\\n' \"$pid\" \"$ruid\" \"$euid\" \"$stat\" "
                       "\"$(readlink /proc/$pid/exe 2>/dev/null | base64 -w0)\" "
                       "\"$(printf %s \"$args\" | base64 -w0)\"; "
                       "done; true")
        procs = []
        for line in out.stdout.splitlines():
            fields = line.split()
            if len(fields) < 6 or fields[3].startswith("Z") or not all(f.isdigit() for f in fields[:3]):
                continue  # a zombie has exited: it runs nothing
            exe, args = (base64.b64decode(f[1:]).decode("utf-8", "surrogateescape").strip() for f in fields[4:6])
            procs.append((int(fields[0]), exe or args, int(fields[1]), int(fields[2])))
        return procs

    def sqlite_rows(self, db_path: str, sql: str, columns: list[str], timeout: float = 5.0):
        """Through the host's sqlite3 program in read-only mode; every value travels as its
        type and its bytes in hex, so any byte (and NULL) survives the trip."""
        import json
        from urllib.parse import quote

        from sdcheck.host.local_sqlite import is_wal, sqlite_fault

        if is_wal(self, db_path):
            raise FactError(f"the database {db_path} is in WAL mode: reading it on the host would create files "
                            "beside it; run sdcheck on the server itself")
        typed = ", ".join(f"typeof({c}) AS t{i}, hex(CAST({c} AS BLOB)) AS v{i}" for i, c in enumerate(columns))
        res = self.run(["sqlite3", "-readonly", "-batch", "-json", "-cmd", f".timeout {int(timeout * 1000)}",
                        f"file:{quote(db_path)}?mode=ro", f"SELECT {typed} FROM ({sql})"], timeout=timeout + 120,
                       cap=96 << 20)
        if not res.ok:
            raise FactError(sqlite_fault(db_path, res.stderr.decode("utf-8", "replace").strip(), timeout))
        for row in json.loads(res.stdout or b"[]"):
            yield tuple(typed_value(row[f"t{i}"], row[f"v{i}"]) for i in range(len(columns)))

    def list_dirs(self, paths):
        """One ``find`` per batch of directories (not one command per directory): no symlink
        is followed, starting points included, and nothing is opened."""
        paths = list(paths)
        for start in range(0, len(paths), 400):
            batch = paths[start:start + 400]
            script = ("{ find " + " ".join(_q(p) for p in batch) +
                      # every field ends in NUL, the one byte no name can hold
                      r" -mindepth 0 -maxdepth 1 -printf '%d\0%y\0%U\0%m\0%s\0%T@\0%f\0%H\0' 2>/dev/null; "
                      "true; }")
            out = self._sh(f"{script} | base64 -w0", timeout=600, cap=64 << 20)
            found: dict[str, list] = {}
            fields = base64.b64decode(out.stdout.strip() or b"").split(b"\0")
            for i in range(0, len(fields) - 7, 8):
                depth, kind, uid, mode, size, mtime, name, top = fields[i:i + 8]
                top_s = top.decode("utf-8", "surrogateescape")
                entry = (name.decode("utf-8", "surrogateescape"), FIND_TYPES.get(kind, 0) | int(mode, 8),
                         int(uid), int(size), float(mtime))
                found.setdefault(top_s, []).append((depth, entry))
            for path in batch:
                got = found.get(path)
                if not got or got[0][0] != b"0":
                    yield path, None, None, "does not exist"
                    continue
                _d, (_n, mode, uid, size, mtime) = got[0]
                if mode & 0o170000 == 0o120000:
                    yield path, None, None, "is a symlink; sdcheck does not follow it"
                    continue
                if mode & 0o170000 != 0o040000:
                    yield path, None, None, "is not a directory"
                    continue
                dstat = FileStat(path=path, mode=mode & 0o7777, uid=uid, gid=-1, size=size, mtime=mtime,
                                 is_file=False, is_dir=True, is_symlink=False)
                yield path, dstat, [e for d, e in got[1:]], None

    def listening_sockets(self) -> list[tuple[str, str, int, set]]:
        import re

        out = self._sh("ss -Hlntup || true")
        result = []
        for line in out.stdout.splitlines():
            f = line.split()
            if len(f) < 5:
                continue
            proto = "tcp" if f[0] == "tcp" else "udp"
            addr, _, port = f[4].rpartition(":")
            addr = addr.strip("[]").split("%")[0]
            pids = {int(p) for p in re.findall(r"pid=(\d+)", line)}
            if port.isdigit():
                result.append((proto, addr if addr != "*" else "0.0.0.0", int(port), pids))
        return result
