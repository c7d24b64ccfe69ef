"""One read-only pass over SecureDrop's submission store and its SQLite database.

The database is opened with a read-only URI (never created, never written: no write lock,
``query_only``, temporary sort space in memory) and a busy timeout. The store is walked
with ``os.scandir`` without following symlinks and without opening any file. Rows and
files are matched on (filesystem_id, filename), one source directory at a time, so memory
stays bounded by the largest source plus the capped lists of names kept for the report.

The result holds, per kind of finding, a count, a byte total and at most ``keep`` names.
"""

from __future__ import annotations

import os
import re
import stat
import time

FILENAME_RE = re.compile(r"^\d+-[a-z0-9_-]*(msg|doc\.(gz|zip)|reply)\.gpg$")
TABLES = {"sources": ("id", "filesystem_id"), "submissions": ("source_id", "filename", "size"),
          "replies": ("source_id", "filename", "size")}
# misplaced files are found by matching missing rows against unclaimed files by name;
# beyond this many candidates on either side the matching is skipped (and said so)
MATCH_LIMIT = 200_000

KINDS = ("missing", "orphan", "misplaced", "size", "unexpected", "unknown_source", "permissions",
         "leftover")


class StoreFault(Exception):
    """The database or the store could not be read; the message names what and why."""


class Tally:
    __slots__ = ("count", "bytes", "names", "keep", "parts")

    def __init__(self, keep: int):
        self.count, self.bytes, self.names, self.keep = 0, 0, [], keep
        self.parts: dict[str, int] = {}

    def add(self, name: str, size: int = 0, part: str = "") -> None:
        self.count += 1
        self.bytes += size
        if part:
            self.parts[part] = self.parts.get(part, 0) + 1
        if len(self.names) < self.keep:
            self.names.append(name)


class StoreScan:
    def __init__(self, keep: int):
        self.tally = {k: Tally(keep) for k in KINDS}
        self.files = 0
        self.rows = 0
        self.sources = 0
        self.bytes = 0
        self.match_skipped = False
        self.seconds = 0.0


def _require(what: str, path: str, is_symlink: bool, right_kind: bool) -> None:
    """The database must be a regular file and the store a directory, neither a symlink."""
    if is_symlink:
        raise StoreFault(f"the {what} {path} is a symlink; sdcheck does not follow it")
    if not right_kind:
        kind = "a regular file" if what == "database" else "a directory"
        raise StoreFault(f"the {what} {path} is not {kind}")


def _connect(db_path: str, timeout: float):
    import sqlite3
    from urllib.parse import quote

    try:
        st = os.lstat(db_path)
    except FileNotFoundError:
        raise StoreFault(f"the database {db_path} does not exist") from None
    except OSError as exc:
        raise StoreFault(f"the database {db_path} cannot be examined: {exc.strerror}") from None
    _require("database", db_path, stat.S_ISLNK(st.st_mode), stat.S_ISREG(st.st_mode))
    try:
        conn = sqlite3.connect(f"file:{quote(db_path)}?mode=ro", uri=True, timeout=timeout,
                               isolation_level=None, check_same_thread=False)
        # names are bytes on disk: any that are not UTF-8 must still match (as os.listdir spells them)
        conn.text_factory = lambda b: b.decode("utf-8", "surrogateescape")
        conn.execute("PRAGMA query_only = 1")
        conn.execute("PRAGMA temp_store = MEMORY")
        conn.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.Error as exc:
        raise StoreFault(_sqlite_fault(db_path, exc, timeout)) from None
    for table, columns in TABLES.items():
        if table not in names:
            raise StoreFault(f"the database {db_path} has no {table} table (is it SecureDrop's?)")
        have = {r[1] for r in conn.execute(f"PRAGMA table_info({table})")}
        lacking = [c for c in columns if c not in have]
        if lacking:
            raise StoreFault(f"the database's {table} table lacks column(s) {', '.join(lacking)}")
    return conn


def _sqlite_fault(db_path: str, exc: Exception, timeout: float) -> str:
    text = str(exc)
    if "locked" in text or "busy" in text:
        return f"the database {db_path} stayed locked by a writer for more than {timeout:g} s"
    if "not a database" in text or "malformed" in text or "corrupt" in text:
        return f"the database {db_path} is corrupt ({text})"
    if "readonly" in text or "read-only" in text:
        return (f"the database {db_path} cannot be opened read-only: an interrupted write left a hot "
                "journal that only a writer may roll back")
    if "unable to open" in text:
        return f"the database {db_path} cannot be opened read-only ({text})"
    return f"the database {db_path} cannot be read: {text}"


def _rows(conn, db_path: str, timeout: float, share: int = 0, shares: int = 1):
    """(source_id, filename, size, kind) for every submission and reply of this share of
    the sources (source_id % shares == share), by source_id."""
    import sqlite3

    where = f" WHERE source_id % {int(shares)} = {int(share)}" if shares > 1 else ""
    sql = (f"SELECT source_id, filename, size, 's' FROM submissions{where} UNION ALL "
           f"SELECT source_id, filename, size, 'r' FROM replies{where} ORDER BY 1")
    try:
        cursor = conn.execute(sql)
        while True:
            batch = cursor.fetchmany(4096)
            if not batch:
                return
            yield from batch
    except sqlite3.Error as exc:
        raise StoreFault(_sqlite_fault(db_path, exc, timeout)) from None


def _group(rows):
    """Consecutive rows with the same source_id -> (source_id, {filename: (size, kind)})."""
    current, bucket = None, {}
    for source_id, filename, size, kind in rows:
        if source_id != current:
            if current is not None:
                yield current, bucket
            current, bucket = source_id, {}
        bucket[str(filename)] = (size or 0, kind)
    if current is not None:
        yield current, bucket


def _load_sources(conn, db_path: str, timeout: float) -> dict[str, int]:
    import sqlite3

    try:
        return {str(fs): sid for sid, fs in conn.execute("SELECT id, filesystem_id FROM sources")}
    except sqlite3.Error as exc:
        raise StoreFault(_sqlite_fault(db_path, exc, timeout)) from None


# above this many source directories the comparison is split between processes
PARALLEL_MIN_DIRS = 2000


def scan(store_dir: str, db_path: str, *, app_uid: int | None, timeout: float = 5.0, keep: int = 50,
         leftover_dirs: tuple[str, ...] = (), leftover_age: float = 86400.0, progress=None,
         workers: int | None = None) -> StoreScan:
    started = time.monotonic()
    out = StoreScan(keep)
    t = out.tally
    conn = _connect(db_path, timeout)
    try:
        sources = _load_sources(conn, db_path, timeout)
        out.sources = len(sources)
        dirs = _list_root(store_dir, out, app_uid)
        for d in dirs:
            if d not in sources:
                files, size = _count_tree(os.path.join(store_dir, d))
                t["unknown_source"].add(d, size)
                t["unknown_source"].parts["files"] = t["unknown_source"].parts.get("files", 0) + files
        known = sorted((sources[d], d) for d in dirs if d in sources)
        if workers is None:
            workers = min(os.cpu_count() or 1, 4) if len(known) >= PARALLEL_MIN_DIRS else 1
        if progress is not None:
            progress(0, len(known))
        if workers <= 1:
            parts = [_compare(conn, store_dir, db_path, timeout, app_uid, keep, known, sources, 0, 1)]
        else:
            parts = _parallel(store_dir, db_path, timeout, app_uid, keep, workers)
        if progress is not None:
            progress(len(known), len(known))
    finally:
        conn.close()
    missing: list = []
    orphans: dict = {}
    for part in parts:
        _merge(out, part, keep)
        missing.extend(part.missing)
        for name, places in part.orphans.items():
            orphans.setdefault(name, []).extend(places)
        out.match_skipped |= part.match_skipped
    _match_misplaced(out, missing, orphans)
    for directory in leftover_dirs:
        _leftovers(directory, out, leftover_age)
    out.seconds = time.monotonic() - started
    return out


def _merge(out: StoreScan, part: StoreScan, keep: int) -> None:
    """Add one share's counts and (up to ``keep``) names to the whole."""
    out.files += part.files
    out.rows += part.rows
    out.bytes += part.bytes
    for kind, tally in part.tally.items():
        mine = out.tally[kind]
        mine.count += tally.count
        mine.bytes += tally.bytes
        mine.names.extend(tally.names[:max(0, keep - len(mine.names))])
        for k, n in tally.parts.items():
            mine.parts[k] = mine.parts.get(k, 0) + n


class _Part(StoreScan):
    """What one share of the comparison found (sent back from a worker process)."""

    def __init__(self, keep: int):
        super().__init__(keep)
        self.missing: list = []
        self.orphans: dict = {}


def _compare(conn, store_dir, db_path, timeout, app_uid, keep, known, sources, share, shares) -> _Part:
    part = _Part(keep)
    by_id = {sid: fs for fs, sid in sources.items()}
    mine = [(sid, d) for sid, d in known if sid % shares == share]
    k = 0
    for source_id, rows in _group(_rows(conn, db_path, timeout, share, shares)):
        while k < len(mine) and mine[k][0] < source_id:  # sources with files, no rows
            _source_dir(store_dir, mine[k][1], {}, part, app_uid)
            k += 1
        if k < len(mine) and mine[k][0] == source_id:
            _source_dir(store_dir, mine[k][1], rows, part, app_uid)
            k += 1
        else:  # no directory (or no source at all): every row's file is missing
            fs = by_id.get(source_id)
            label = fs if fs is not None else f"(source id {source_id}, no sources row)"
            part.rows += len(rows)
            part.missing.extend((label, name, size, kind) for name, (size, kind) in rows.items())
    for _sid, d in mine[k:]:
        _source_dir(store_dir, d, {}, part, app_uid)
    if len(part.missing) > MATCH_LIMIT or sum(map(len, part.orphans.values())) > MATCH_LIMIT:
        part.match_skipped = True
    return part


def _worker(args) -> _Part:
    store_dir, db_path, timeout, app_uid, keep, share, shares = args
    conn = _connect(db_path, timeout)
    try:
        sources = _load_sources(conn, db_path, timeout)
        known = sorted((sid, fs) for fs, sid in sources.items()
                       if os.path.isdir(os.path.join(store_dir, fs))
                       and not os.path.islink(os.path.join(store_dir, fs)))
        return _compare(conn, store_dir, db_path, timeout, app_uid, keep, known, sources, share, shares)
    finally:
        conn.close()


def _worker_main() -> None:
    """Entry of a worker process: arguments as JSON on stdin, the _Part pickled on stdout."""
    import json
    import pickle
    import sys

    args = json.loads(sys.stdin.read())
    try:
        result: object = _worker(args)
    except StoreFault as exc:
        result = exc
    sys.stdout.buffer.write(pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL))


WORKER_TIMEOUT = 600.0


def _parallel(store_dir, db_path, timeout, app_uid, keep, workers) -> list:
    """The comparison split by source id between worker processes: lstat() dominates and
    runs in the kernel, so processes (not threads) scale it. The workers are plain
    subprocesses of this interpreter running sdcheck.plugins.store.collect (not multiprocessing,
    which would re-run the caller's __main__), and they are killed if they overrun."""
    import json
    import pickle
    import subprocess
    import sys

    package_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    code = (f"import sys; sys.path.insert(0, {package_root!r}); "
            "from sdcheck.plugins.store.collect import _worker_main; _worker_main()")
    procs = []
    try:
        for share in range(workers):
            proc = subprocess.Popen([sys.executable, "-I", "-c", code], stdin=subprocess.PIPE,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, close_fds=True)
            procs.append((proc, None))
            # arguments first, to every worker, so they all run at once
            proc.stdin.write(json.dumps([store_dir, db_path, timeout, app_uid, keep, share, workers]).encode())
            proc.stdin.close()
            proc.stdin = None  # communicate() below only reads
        parts = []
        for proc, _args in procs:
            out, err = proc.communicate(timeout=WORKER_TIMEOUT)
            if proc.returncode != 0:
                last = err.decode("utf-8", "replace").strip().splitlines()[-1:] or ["no output"]
                raise StoreFault(f"a store worker process failed (exit {proc.returncode}): {last[0][:200]}")
            result = pickle.loads(out)  # noqa: S301 - our own child process, same code and user
            if isinstance(result, StoreFault):
                raise result
            parts.append(result)
        return parts
    except subprocess.TimeoutExpired:
        raise StoreFault(f"the store scan did not finish within {WORKER_TIMEOUT:g} s") from None
    finally:
        for proc, _args in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def _list_root(store_dir: str, out: StoreScan, app_uid: int | None) -> list[str]:
    t = out.tally
    try:
        st = os.lstat(store_dir)
    except FileNotFoundError:
        raise StoreFault(f"the store {store_dir} does not exist") from None
    except OSError as exc:
        raise StoreFault(f"the store {store_dir} cannot be examined: {exc.strerror}") from None
    _require("store", store_dir, stat.S_ISLNK(st.st_mode), stat.S_ISDIR(st.st_mode))
    _perm(t, store_dir, st, app_uid)
    dirs = []
    try:
        with os.scandir(store_dir) as it:
            for entry in it:
                if entry.is_dir(follow_symlinks=False):
                    dirs.append(entry.name)
                else:
                    what = "symlink" if entry.is_symlink() else "file" if entry.is_file(follow_symlinks=False) else "special file"
                    t["unexpected"].add(f"{entry.name} ({what} in the store root)", part=f"{what} in the store root")
    except OSError as exc:
        raise StoreFault(f"the store {store_dir} cannot be listed: {exc.strerror}") from None
    return dirs


def _perm(t, path: str, st, app_uid: int | None) -> None:
    if (app_uid is not None and st.st_uid != app_uid) or st.st_mode & 0o077:
        t["permissions"].add(f"{path} (uid {st.st_uid}, mode {stat.S_IMODE(st.st_mode):04o})")


def _source_dir(store_dir: str, fs: str, rows: dict, part: _Part, app_uid: int | None) -> None:
    """Compare one source directory with its rows (one lstat per entry, nothing opened)."""
    t = part.tally
    path = os.path.join(store_dir, fs)
    try:
        dfd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        t["unexpected"].add(f"{fs} (cannot be opened: {exc.strerror})", part="unreadable directory")
        _judge_entries(fs, (), rows, part, app_uid)
        return
    try:
        _perm(t, path, os.fstat(dfd), app_uid)
        _judge_entries(fs, _lstat_entries(dfd, os.listdir(dfd)), rows, part, app_uid)
    except OSError as exc:
        t["unexpected"].add(f"{fs} (cannot be listed: {exc.strerror})", part="unreadable directory")
    finally:
        os.close(dfd)


def _lstat_entries(dfd: int, names: list):
    """(name, st_mode, uid, size) of each entry, stat'ed relative to the directory handle."""
    lstat = os.stat
    for name in names:
        try:
            st = lstat(name, dir_fd=dfd, follow_symlinks=False)
        except OSError:
            continue  # removed while we looked
        yield name, st.st_mode, st.st_uid, st.st_size


def _match_misplaced(out: StoreScan, missing: list, orphans: dict) -> None:
    """A row whose file is missing from its source's directory, and an unclaimed file of
    the same name under another source's: one misplaced file, not a missing plus an orphan."""
    t = out.tally
    match = not out.match_skipped and len(missing) <= MATCH_LIMIT
    out.match_skipped = not match
    for fs, name, size, kind in missing:
        elsewhere = orphans.get(name) if match else None
        if elsewhere:
            other, disk = elsewhere.pop(0)
            t["misplaced"].add(f"{name}: row of {fs}, file under {other}", disk)
        else:
            t["missing"].add(f"{fs}/{name}", size, part="reply" if kind == "r" else "submission")
    for name, places in orphans.items():
        for fs, size in places:
            t["orphan"].add(f"{fs}/{name}", size)


def _count_tree(path: str) -> tuple[int, int]:
    files = size = 0
    try:
        with os.scandir(path) as it:
            for entry in it:
                if entry.is_file(follow_symlinks=False):
                    files += 1
                    size += entry.stat(follow_symlinks=False).st_size
    except OSError:
        pass
    return files, size


def _leftovers(directory: str, out: StoreScan, max_age: float) -> None:
    now = time.time()
    try:
        it = os.scandir(directory)
    except FileNotFoundError:
        return
    except OSError as exc:
        out.tally["leftover"].add(f"{directory} (cannot be listed: {exc.strerror})")
        return
    with it:
        for entry in it:
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            age = now - st.st_mtime
            if age > max_age:
                out.tally["leftover"].add(f"{directory}/{entry.name} ({age / 3600:.0f} h old)",
                                          st.st_size, part=directory)


# -- a remote host: the same comparison from `sqlite3 -readonly` and `find` output ----------------

def _unhex(value) -> str:
    return bytes.fromhex(value or "").decode("utf-8", "surrogateescape")


def remote_scan(facts, store_dir: str, db_path: str, *, app_uid: int | None, timeout: float = 5.0,
                keep: int = 50, leftover_dirs: tuple[str, ...] = (), leftover_age: float = 86400.0) -> StoreScan:
    """The scan for a host reached through testinfra: the database is read with the sqlite3
    program in read-only mode (values hex-encoded, so any byte survives), the store is listed
    with one `find -printf` (no symlink followed, nothing opened); the judging is the same."""
    import json
    from urllib.parse import quote

    from sdcheck.host.base import FactError

    started = time.monotonic()
    out = StoreScan(keep)
    t = out.tally
    st = facts.lstat(db_path)
    if st is None:
        raise StoreFault(f"the database {db_path} does not exist")
    _require("database", db_path, st.is_symlink, st.is_file)

    def sql(query: str) -> list:
        try:
            res = facts.run(["sqlite3", "-readonly", "-batch", "-json", "-cmd", f".timeout {int(timeout * 1000)}",
                             f"file:{quote(db_path)}?mode=ro", query], timeout=timeout + 120)
        except FactError as exc:
            raise StoreFault(f"the database cannot be read on the host: {exc}") from None
        if not res.ok:
            raise StoreFault(_sqlite_fault(db_path, Exception(res.stderr.decode("utf-8", "replace").strip()), timeout))
        return json.loads(res.stdout or b"[]")

    names = {r["name"] for r in sql("SELECT name FROM sqlite_master WHERE type = 'table'")}
    for table, columns in TABLES.items():
        if table not in names:
            raise StoreFault(f"the database {db_path} has no {table} table (is it SecureDrop's?)")
        have = {r["name"] for r in sql(f"PRAGMA table_info({table})")}
        lacking = [c for c in columns if c not in have]
        if lacking:
            raise StoreFault(f"the database's {table} table lacks column(s) {', '.join(lacking)}")
    sources = {_unhex(r["f"]): r["id"] for r in sql("SELECT id, hex(CAST(filesystem_id AS BLOB)) AS f FROM sources")}
    out.sources = len(sources)
    by_id = {sid: fs for fs, sid in sources.items()}
    rows: dict[int, dict] = {}
    for r in sql("SELECT source_id AS s, hex(CAST(filename AS BLOB)) AS f, size AS z, 's' AS k FROM submissions "
                 "UNION ALL SELECT source_id, hex(CAST(filename AS BLOB)), size, 'r' FROM replies"):
        rows.setdefault(r["s"], {})[_unhex(r["f"])] = (r["z"] or 0, r["k"])
    sst = facts.lstat(store_dir)
    if sst is None:
        raise StoreFault(f"the store {store_dir} does not exist")
    _require("store", store_dir, sst.is_symlink, sst.is_dir)
    res = facts.run(["find", store_dir, "-mindepth", "0", "-maxdepth", "2", "-printf",
                     r"%d\t%y\t%U\t%m\t%s\t%P\0"], timeout=600)
    if not res.ok:
        raise StoreFault(f"the store {store_dir} cannot be listed: "
                         f"{res.stderr.decode('utf-8', 'replace').strip().splitlines()[-1:] or ['?']}")
    dirs: dict[str, list] = {}
    part = _Part(keep)
    for record in res.stdout.split(b"\0"):
        if not record:
            continue
        depth, kind, uid, mode, size, rel = record.split(b"\t", 5)
        uid, mode, size = int(uid), int(mode, 8), int(size)
        rel_s = rel.decode("utf-8", "surrogateescape")
        if depth == b"0":
            if (app_uid is not None and uid != app_uid) or mode & 0o077:
                t["permissions"].add(f"{store_dir} (uid {uid}, mode {mode:04o})")
            continue
        if depth == b"1":
            if kind == b"d":
                dirs.setdefault(rel_s, [])
                if (app_uid is not None and uid != app_uid) or mode & 0o077:
                    t["permissions"].add(f"{store_dir}/{rel_s} (uid {uid}, mode {mode:04o})")
            else:
                what = {b"l": "symlink", b"f": "file"}.get(kind, "special file")
                t["unexpected"].add(f"{rel_s} ({what} in the store root)", part=f"{what} in the store root")
            continue
        fs, _, name = rel_s.partition("/")
        dirs.setdefault(fs, []).append((name, _FIND_TYPES.get(kind, 0) | mode, uid, size))
    for fs, entries in dirs.items():
        if fs not in sources:
            files = [e for e in entries if stat.S_ISREG(e[1])]
            t["unknown_source"].add(fs, sum(e[3] for e in files))
            t["unknown_source"].parts["files"] = t["unknown_source"].parts.get("files", 0) + len(files)
            continue
        _judge_entries(fs, entries, rows.pop(sources[fs], {}), part, app_uid)
    for source_id, left in rows.items():
        fs = by_id.get(source_id)
        label = fs if fs is not None else f"(source id {source_id}, no sources row)"
        part.rows += len(left)
        part.missing.extend((label, name, size, kind) for name, (size, kind) in left.items())
    _merge(out, part, keep)
    _match_misplaced(out, part.missing, part.orphans)
    for directory in leftover_dirs:
        res = facts.run(["find", directory, "-mindepth", "1", "-maxdepth", "1", "-printf", r"%T@\t%s\t%P\0"],
                        timeout=120)
        now = time.time()
        for record in res.stdout.split(b"\0") if res.ok else ():
            if record:
                mtime, size, name = record.split(b"\t", 2)
                age = now - float(mtime)
                if age > leftover_age:
                    t["leftover"].add(f"{directory}/{name.decode('utf-8', 'surrogateescape')} ({age / 3600:.0f} h old)",
                                      int(size), part=directory)
    out.seconds = time.monotonic() - started
    return out


# find's %y letters as the file-type bits of st_mode
_FIND_TYPES = {b"f": 0o100000, b"d": 0o040000, b"l": 0o120000, b"p": 0o010000, b"s": 0o140000,
               b"c": 0o020000, b"b": 0o060000}


def _judge_entries(fs: str, entries, rows: dict, part: _Part, app_uid: int | None) -> None:
    """Compare one source directory, given as (name, st_mode, uid, size) entries, with its
    rows (popped as they match; those left are missing files). Local and remote scans
    both end here."""
    t = part.tally
    part.rows += len(rows)
    match = FILENAME_RE.match
    pop = rows.pop
    orphans = part.orphans
    for name, mode, uid, size in entries:
        if mode & 0o170000 != 0o100000:  # not a regular file
            what = "symlink" if stat.S_ISLNK(mode) else "subdirectory" if stat.S_ISDIR(mode) else "special file"
            t["unexpected"].add(f"{fs}/{name} ({what})", part=what)
            continue  # a row naming it still counts as missing: it is not a stored file
        part.files += 1
        part.bytes += size
        if mode & 0o077 or (app_uid is not None and uid != app_uid):
            t["permissions"].add(f"{fs}/{name} (uid {uid}, mode {mode & 0o7777:04o})")
        if not match(name):
            t["unexpected"].add(f"{fs}/{name} (name does not fit SecureDrop's pattern)", part="unexpected name")
        row = pop(name, None)
        if row is None:
            orphans.setdefault(name, []).append((fs, size))
        elif row[0] != size:
            t["size"].add(f"{fs}/{name} (database {row[0]} bytes, disk {size} bytes)", abs(row[0] - size))
    part.missing.extend((fs, name, size, kind) for name, (size, kind) in rows.items())
