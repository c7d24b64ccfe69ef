"""Judging the store against its database: pure functions of listings and rows.

A source directory arrives as entries ``(name, st_mode, uid, size, mtime)`` and its rows
as ``{filename: (size, kind)}``; the verdicts collect in tallies: per kind of finding a
count, a byte total and at most ``keep`` names (names identify sources: only ``report``
shows them).
"""

from __future__ import annotations

import re

FILENAME_RE = re.compile(r"^\d+-[a-z0-9_-]*(msg|doc\.(gz|zip)|reply)\.gpg$")
# misplaced files are found by matching missing rows against unclaimed files by name;
# beyond this many candidates on either side the matching is skipped (and said so)
MATCH_LIMIT = 200_000

KINDS = ("missing", "orphan", "misplaced", "size", "unexpected", "unknown_source", "permissions",
         "leftover", "claims")

_REG, _DIR, _LNK, _FMT = 0o100000, 0o040000, 0o120000, 0o170000


class Tally:
    __slots__ = ("count", "bytes", "names", "keep", "parts")

    def __init__(self, keep: int):
        self.count, self.bytes, self.keep = 0, 0, keep
        self.names: list[str] = []
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


class Part(StoreScan):
    """What one share of the comparison found (possibly in a worker process)."""

    def __init__(self, keep: int):
        super().__init__(keep)
        self.missing: list = []
        self.orphans: dict = {}


def kind_word(mode: int) -> str:
    kind = mode & _FMT
    return ("file" if kind == _REG else "subdirectory" if kind == _DIR else "symlink" if kind == _LNK
            else "special file")


# SecureDrop's layout (its app-code postinst, its source app and redwood): the store directory
# is 0700 and the application user's; inside it the web application creates source
# directories with a bare mkdir and submission files with no mode, under Apache's umask 022,
# so they are 0755 and 0644. Closed by the store directory, their read bits give nobody
# anything. What matters inside: the owner, write bits for group or other, and set-id or
# sticky bits. The store directory itself must be closed to group and other.
INSIDE_FORBIDDEN = 0o7022
STORE_FORBIDDEN = 0o7077


def bad_permissions(mode: int, uid: int, app_uid: int | None, forbidden: int = INSIDE_FORBIDDEN) -> bool:
    """The entry is not the application user's, or has a bit of ``forbidden``."""
    return bool(mode & forbidden) or (app_uid is not None and uid != app_uid)


def group_rows(batches, claimed_twice: list | None = None):
    """Consecutive rows ``(source_id, filename, size, kind)``, in lists, with the same
    source_id -> ``(source_id, {filename: (size, kind)})``. A file name given as bytes is
    decoded as os.listdir decodes names (so a name that is not UTF-8 still matches). A name
    that a second row of the same source claims (in submissions or replies) is appended to
    ``claimed_twice`` as ``(source_id, name)``, once per extra row; the first row stands."""
    start = object()  # not None: rows whose source_id is NULL are a group of their own
    current: object = start
    bucket: dict[str, tuple[int | None, int]] = {}
    for batch in batches:
        for source_id, filename, size, kind in batch:
            if source_id != current or current is start:
                if current is not start:
                    yield current, bucket
                current, bucket = source_id, {}
            name = filename.decode("utf-8", "surrogateescape") if type(filename) is bytes else str(filename)
            if name in bucket:
                if claimed_twice is not None:
                    claimed_twice.append((source_id, name))
                continue
            # SQLite columns hold any type: a size that is not a whole number is kept as None
            bucket[name] = (size if type(size) is int else None, kind)
    if current is not start:
        yield current, bucket


def judge_entries(fs: str, entries, rows: dict, part: Part, app_uid: int | None) -> None:
    """Compare one source directory with its rows (popped as they match; those left are
    missing files)."""
    t = part.tally
    part.rows += len(rows)
    match = FILENAME_RE.match
    pop = rows.pop
    orphans = part.orphans
    for name, mode, uid, size, _mtime in entries:
        if mode & _FMT != _REG:
            what = kind_word(mode)
            t["unexpected"].add(f"{fs}/{name} ({what})", part=what)
            continue  # a row naming it still counts as missing: it is not a stored file
        part.files += 1
        part.bytes += size
        if bad_permissions(mode, uid, app_uid):
            t["permissions"].add(f"{fs}/{name} (uid {uid}, mode {mode & 0o7777:04o})")
        if not match(name):
            t["unexpected"].add(f"{fs}/{name} (name does not fit SecureDrop's pattern)", part="unexpected name")
        row = pop(name, None)
        if row is not None and name.endswith(REPLY_SUFFIX) != (row[1] == REPLY):
            shown = ("a reply row; the name is a submission's" if row[1] == REPLY else
                     "a submission row; the name is a reply's")
            t["claims"].add(f"{fs}/{name} ({shown})", part="wrong kind")
        if row is None:
            orphans.setdefault(name, []).append((fs, size))
        elif row[0] is None:
            t["size"].add(f"{fs}/{name} (the database's size is not a whole number, disk {size} bytes)", size)
        elif row[0] != size:
            t["size"].add(f"{fs}/{name} (database {row[0]} bytes, disk {size} bytes)", abs(row[0] - size))
    part.missing.extend((fs, name, size, kind) for name, (size, kind) in rows.items())


# a row's kind (the reads' second column) and the name SecureDrop gives a reply's file
SUBMISSION, REPLY = 0, 1
REPLY_SUFFIX = "-reply.gpg"
# a row whose source_id is not valid or names no sources row: its file has no place to be
SOURCELESS = "sourceless row"


def rows_without_directory(label: str, rows: dict, part: Part) -> None:
    """A source with rows but no directory: every file is missing. ``label`` in parentheses:
    the rows have no source at all (no sources row, or no valid source_id)."""
    part.rows += len(rows)
    part.missing.extend((label, name, size, kind) for name, (size, kind) in rows.items())


def merge(out: StoreScan, part: StoreScan, keep: int) -> None:
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


def match_misplaced(out: StoreScan, missing: list, orphans: dict) -> None:
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
        elif fs.startswith("("):  # a label, not a directory: the row belongs to no source
            t["missing"].add(f"{fs} {name}", size or 0, part=SOURCELESS)
        else:
            t["missing"].add(f"{fs}/{name}", size or 0, part="reply" if kind == REPLY else "submission")
    for name, places in orphans.items():
        for fs, size in places:
            t["orphan"].add(f"{fs}/{name}", size)


def leftovers(directory: str, entries, now: float, max_age: float, out: StoreScan) -> None:
    for name, _mode, _uid, size, mtime in entries:
        age = now - mtime
        if age > max_age:
            out.tally["leftover"].add(f"{directory}/{name} ({age / 3600:.0f} h old)", size, part=directory)
