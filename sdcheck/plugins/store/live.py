"""One read-only pass over SecureDrop's submission store and its SQLite database, through
the host interface only (local or testinfra alike).

The database is read with ``facts.sqlite_rows`` (read-only, bounded wait for a writer); the
store is listed with ``facts.list_dirs`` (no symlink followed, nothing opened). Rows and
files are matched on (filesystem_id, filename), one source directory at a time, in source
id order on both sides, so memory stays bounded by the largest source plus the capped lists
of names kept for the report. From ``PARALLEL_MIN_DIRS`` source directories the work is
split by source id between the host's worker processes (``facts.map_parallel``).
"""

from __future__ import annotations

import time

from sdcheck.host.base import FactError
from sdcheck.plugins.store.judge import (
    REPLY,
    STORE_FORBIDDEN,
    SUBMISSION,
    Part,
    StoreScan,
    bad_permissions,
    group_rows,
    judge_entries,
    kind_word,
    leftovers,
    match_misplaced,
    merge,
    rows_without_directory,
)

TABLES = {"sources": ("id", "filesystem_id"), "submissions": ("source_id", "filename", "size"),
          "replies": ("source_id", "filename", "size")}
# above this many source directories the comparison is split between processes
PARALLEL_MIN_DIRS = 2000


class StoreFault(Exception):
    """The database or the store could not be read; the message names what and why."""


def _sql(facts, db_path: str, timeout: float, sql: str, columns: list[str]):
    try:
        yield from facts.sqlite_rows(db_path, sql, columns, timeout)
    except FactError as exc:
        raise StoreFault(str(exc)) from None


def _check_database(facts, db_path: str, timeout: float) -> None:
    st = facts.lstat(db_path)
    if st is None:
        raise StoreFault(f"the database {db_path} does not exist")
    if st.is_symlink:
        raise StoreFault(f"the database {db_path} is a symlink; sdcheck does not follow it")
    if not st.is_file:
        raise StoreFault(f"the database {db_path} is not a regular file")
    names = {r[0] for r in _sql(facts, db_path, timeout, "SELECT name FROM sqlite_master WHERE type = 'table'",
                                ["name"])}
    for table, columns in TABLES.items():
        if table not in names:
            raise StoreFault(f"the database {db_path} has no {table} table (is it SecureDrop's?)")
        have = {r[0] for r in _sql(facts, db_path, timeout, f"SELECT name FROM pragma_table_info('{table}')",
                                   ["name"])}
        lacking = [c for c in columns if c not in have]
        if lacking:
            raise StoreFault(f"the database's {table} table lacks column(s) {', '.join(lacking)}")


def _sources(facts, db_path: str, timeout: float) -> dict[str, int]:
    """filesystem_id -> id; a row whose id is not a whole number or whose filesystem_id is
    empty names no directory (its directory, if any, is then an unknown source)."""
    return {str(fs): sid for sid, fs in _sql(facts, db_path, timeout, "SELECT id, filesystem_id FROM sources",
                                             ["id", "filesystem_id"])
            if isinstance(sid, int) and not isinstance(sid, bool) and fs not in (None, "")}


def _row_batches(facts, db_path: str, timeout: float, share: int = 0, shares: int = 1):
    """Lists of (source_id, filename, size, kind) of every submission and reply of this share
    of the sources (source_id % shares == share), by source_id. The file name comes as its
    bytes (decoded by group_rows as os.listdir decodes names) and the kind as 0 (submission)
    or 1 (reply): no text conversion per row."""
    # rows whose source_id is not an integer (NULL, text) go to share 0 only
    where = (f" WHERE (typeof(source_id) = 'integer' AND source_id % {int(shares)} = {int(share)})"
             + (" OR typeof(source_id) != 'integer'" if share == 0 else "")) if shares > 1 else ""
    sql = (f"SELECT source_id AS s, CAST(filename AS BLOB) AS f, size AS z, {SUBMISSION} AS k FROM submissions{where} "
           f"UNION ALL SELECT source_id, CAST(filename AS BLOB), size, {REPLY} FROM replies{where}")
    try:
        yield from facts.sqlite_batches(db_path, sql + " ORDER BY 1", ["s", "f", "z", "k"], timeout)
    except FactError as exc:
        raise StoreFault(str(exc)) from None


def scan(facts, store_dir: str, db_path: str, *, app_uid: int | None, timeout: float = 5.0, keep: int = 50,
         leftover_dirs: tuple[str, ...] = (), leftover_age: float = 86400.0, progress=None,
         workers: int | None = None) -> StoreScan:
    started = time.monotonic()
    out = StoreScan(keep)
    t = out.tally
    _check_database(facts, db_path, timeout)
    sources = _sources(facts, db_path, timeout)
    out.sources = len(sources)
    dirs = _list_root(facts, store_dir, out, app_uid)
    unknown = [d for d in dirs if d not in sources]
    for _path, _st, entries, _error in facts.list_dirs(f"{store_dir}/{d}" for d in unknown):
        files = [e for e in entries or () if kind_word(e[1]) == "file"]
        t["unknown_source"].add(_path.rpartition("/")[2], sum(e[3] for e in files))
        t["unknown_source"].parts["files"] = t["unknown_source"].parts.get("files", 0) + len(files)
    known = sorted((sources[d], d) for d in dirs if d in sources)
    if workers is None:
        workers = facts.parallelism() if len(known) >= PARALLEL_MIN_DIRS else 1
    workers = max(1, workers)
    if progress is not None:
        progress(0, len(known))
    shares = [[store_dir, db_path, timeout, app_uid, keep, [k for k in known if k[0] % workers == share],
               {str(sid): fs for fs, sid in sources.items()}, share, workers] for share in range(workers)]
    try:
        if workers == 1:
            parts = [compare_share(facts, shares[0])]
        else:
            parts = facts.map_parallel("sdcheck.plugins.store.live:compare_share", shares)
    except FactError as exc:
        raise StoreFault(str(exc)) from None
    if progress is not None:
        progress(len(known), len(known))
    missing: list = []
    orphans: dict = {}
    for part in parts:
        merge(out, part, keep)
        missing.extend(part.missing)
        for name, places in part.orphans.items():
            orphans.setdefault(name, []).extend(places)
        out.match_skipped |= part.match_skipped
    match_misplaced(out, missing, orphans)
    now = time.time()
    for path, _st, entries, error in facts.list_dirs(leftover_dirs):
        if error == "does not exist":
            continue
        if error:
            t["leftover"].add(f"{path} ({error})")
            continue
        leftovers(path, entries, now, leftover_age, out)
    out.seconds = time.monotonic() - started
    return out


def compare_share(facts, share_args) -> Part:
    """One share of the comparison: the rows of its sources against their directories,
    both in source id order. Runs in a worker process when the host has several."""
    from sdcheck.plugins.store.judge import MATCH_LIMIT

    store_dir, db_path, timeout, app_uid, keep, mine, by_id, share, shares = share_args
    part = Part(keep)
    listings = facts.list_dirs(f"{store_dir}/{fs}" for _sid, fs in mine)
    k = 0

    def judge_next(rows: dict) -> None:
        nonlocal k
        fs = mine[k][1]
        _path, st, entries, error = next(listings)
        if error:
            part.tally["unexpected"].add(f"{fs} ({error})", part="unreadable directory")
        elif bad_permissions(st.mode, st.uid, app_uid):
            part.tally["permissions"].add(f"{store_dir}/{fs} (uid {st.uid}, mode {st.mode:04o})")
        judge_entries(fs, entries or (), rows, part, app_uid)
        k += 1

    claimed_twice: list = []
    for source_id, rows in group_rows(_row_batches(facts, db_path, timeout, share, shares), claimed_twice):
        if not isinstance(source_id, int) or isinstance(source_id, bool):
            # NULL, text or another type: no source, no directory; every such file is missing
            rows_without_directory("(rows with no valid source_id)", rows, part)
            continue
        while k < len(mine) and mine[k][0] < source_id:  # sources with files, no rows
            judge_next({})
        if k < len(mine) and mine[k][0] == source_id:
            judge_next(rows)
        else:  # no directory (or no source at all): every row's file is missing
            fs = by_id.get(str(source_id))
            rows_without_directory(fs if fs is not None else f"(source id {source_id}, no sources row)", rows, part)
    while k < len(mine):
        judge_next({})
    for source_id, name in claimed_twice:
        fs = by_id.get(str(source_id)) or f"(source id {source_id})"
        part.tally["claims"].add(f"{fs}/{name} (claimed by another row too)", part="claimed twice")
    if len(part.missing) > MATCH_LIMIT or sum(map(len, part.orphans.values())) > MATCH_LIMIT:
        part.match_skipped = True
    return part


def _list_root(facts, store_dir: str, out: StoreScan, app_uid: int | None) -> list[str]:
    ((_path, st, entries, error),) = facts.list_dirs([store_dir])
    if error:
        raise StoreFault(f"the store {store_dir} {error}")
    if bad_permissions(st.mode, st.uid, app_uid, STORE_FORBIDDEN):
        out.tally["permissions"].add(f"{store_dir} (uid {st.uid}, mode {st.mode:04o})")
    dirs = []
    for name, mode, _uid, _size, _mtime in entries:
        what = kind_word(mode)
        if what == "subdirectory":
            dirs.append(name)
        else:
            out.tally["unexpected"].add(f"{name} ({what} in the store root)", part=f"{what} in the store root")
    return dirs
