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


def _connect(db_path: str, timeout: float):
    import sqlite3
    from urllib.parse import quote

    try:
        st = os.lstat(db_path)
    except FileNotFoundError:
        raise StoreFault(f"the database {db_path} does not exist") from None
    except OSError as exc:
        raise StoreFault(f"the database {db_path} cannot be examined: {exc.strerror}") from None
    if stat.S_ISLNK(st.st_mode):
        raise StoreFault(f"the database {db_path} is a symlink; sdcheck does not follow it")
    if not stat.S_ISREG(st.st_mode):
        raise StoreFault(f"the database {db_path} is not a regular file")
    try:
        conn = sqlite3.connect(f"file:{quote(db_path)}?mode=ro", uri=True, timeout=timeout,
                               isolation_level=None, check_same_thread=False)
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


def _rows(conn, db_path: str, timeout: float):
    """(source_id, filename, size, kind) for every submission and reply, by source_id."""
    import sqlite3

    sql = ("SELECT source_id, filename, size, 's' FROM submissions UNION ALL "
           "SELECT source_id, filename, size, 'r' FROM replies ORDER BY 1")
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


def scan(store_dir: str, db_path: str, *, app_uid: int | None, timeout: float = 5.0, keep: int = 50,
         leftover_dirs: tuple[str, ...] = (), leftover_age: float = 86400.0, progress=None) -> StoreScan:
    started = time.monotonic()
    out = StoreScan(keep)
    t = out.tally
    conn = _connect(db_path, timeout)
    try:
        import sqlite3

        try:
            sources = {str(fs): sid for sid, fs in conn.execute("SELECT id, filesystem_id FROM sources")}
        except sqlite3.Error as exc:
            raise StoreFault(_sqlite_fault(db_path, exc, timeout)) from None
        out.sources = len(sources)
        by_id = {sid: fs for fs, sid in sources.items()}
        dirs = _list_root(store_dir, out, app_uid)
        known = sorted((sources[d], d) for d in dirs if d in sources)
        for d in dirs:
            if d not in sources:
                files, size = _count_tree(os.path.join(store_dir, d))
                t["unknown_source"].add(d, size)
                t["unknown_source"].parts["files"] = t["unknown_source"].parts.get("files", 0) + files
        missing: list[tuple[str, str, int, str]] = []
        orphans: dict[str, list[tuple[str, int]]] = {}
        n_orphans = 0
        k = 0
        done = 0
        for source_id, rows in _group(_rows(conn, db_path, timeout)):
            while k < len(known) and known[k][0] < source_id:  # sources with files, no rows
                n_orphans += _source_dir(store_dir, known[k][1], {}, out, app_uid, missing, orphans)
                k += 1
                done += 1
            fs = by_id.get(source_id)
            if k < len(known) and known[k][0] == source_id:
                n_orphans += _source_dir(store_dir, fs, rows, out, app_uid, missing, orphans)
                k += 1
                done += 1
            else:  # no directory (or no source at all): every row's file is missing
                label = fs if fs is not None else f"(source id {source_id}, no sources row)"
                for name, (size, kind) in rows.items():
                    out.rows += 1
                    missing.append((label, name, size, kind))
            if progress is not None and done % 200 == 0:
                progress(done, len(known))
        for _sid, d in known[k:]:
            n_orphans += _source_dir(store_dir, d, {}, out, app_uid, missing, orphans)
    finally:
        conn.close()
    _match_misplaced(out, missing, orphans, n_orphans)
    for directory in leftover_dirs:
        _leftovers(directory, out, leftover_age)
    out.seconds = time.monotonic() - started
    return out


def _list_root(store_dir: str, out: StoreScan, app_uid: int | None) -> list[str]:
    t = out.tally
    try:
        st = os.lstat(store_dir)
    except FileNotFoundError:
        raise StoreFault(f"the store {store_dir} does not exist") from None
    except OSError as exc:
        raise StoreFault(f"the store {store_dir} cannot be examined: {exc.strerror}") from None
    if stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode):
        raise StoreFault(f"the store {store_dir} is {'a symlink' if stat.S_ISLNK(st.st_mode) else 'not a directory'}")
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


def _source_dir(store_dir: str, fs: str, rows: dict, out: StoreScan, app_uid: int | None,
                missing: list, orphans: dict) -> int:
    """Compare one source directory with its rows; return how many files had no row."""
    t = out.tally
    path = os.path.join(store_dir, fs)
    found = 0
    out.rows += len(rows)
    try:
        _perm(t, path, os.lstat(path), app_uid)
        with os.scandir(path) as it:
            entries = list(it)
    except OSError as exc:
        t["unexpected"].add(f"{fs} (cannot be listed: {exc.strerror})", part="unlistable directory")
        entries = []
    match = FILENAME_RE.match
    perm_bits = 0o077
    for entry in entries:
        name = entry.name
        if entry.is_symlink():
            t["unexpected"].add(f"{fs}/{name} (symlink)", part="symlink")
            continue  # a row naming it still counts as missing: it is not a stored file
        if entry.is_dir(follow_symlinks=False):
            t["unexpected"].add(f"{fs}/{name} (subdirectory)", part="subdirectory")
            continue
        st = entry.stat(follow_symlinks=False)
        if not stat.S_ISREG(st.st_mode):
            t["unexpected"].add(f"{fs}/{name} (special file)", part="special file")
            continue
        out.files += 1
        out.bytes += st.st_size
        if (app_uid is not None and st.st_uid != app_uid) or st.st_mode & perm_bits:
            t["permissions"].add(f"{fs}/{name} (uid {st.st_uid}, mode {stat.S_IMODE(st.st_mode):04o})")
        if not match(name):
            t["unexpected"].add(f"{fs}/{name} (name does not fit SecureDrop's pattern)", part="unexpected name")
        row = rows.pop(name, None)
        if row is None:
            found += 1
            if len(orphans) < MATCH_LIMIT:
                orphans.setdefault(name, []).append((fs, st.st_size))
            else:
                t["orphan"].add(f"{fs}/{name}", st.st_size)
            continue
        if row[0] != st.st_size:
            t["size"].add(f"{fs}/{name} (database {row[0]} bytes, disk {st.st_size} bytes)",
                          abs(row[0] - st.st_size))
    for name, (size, kind) in rows.items():
        missing.append((fs, name, size, kind))
    return found


def _match_misplaced(out: StoreScan, missing: list, orphans: dict, n_orphans: int) -> None:
    t = out.tally
    if len(missing) > MATCH_LIMIT:
        out.match_skipped = True
    else:
        for fs, name, size, kind in missing:
            elsewhere = orphans.get(name)
            if elsewhere:
                other, disk = elsewhere.pop(0)
                t["misplaced"].add(f"{name}: row of {fs}, file under {other}", disk)
                continue
            t["missing"].add(f"{fs}/{name}", size, part="reply" if kind == "r" else "submission")
        missing = []
    for fs, name, size, kind in missing:
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
