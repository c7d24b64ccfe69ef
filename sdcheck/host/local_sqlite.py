"""SQLite databases on this machine, read-only: never created, written, or journal-recovered.

A database in WAL mode cannot be read in place without creating or writing the -shm and
-wal files beside it, so it is read from a private copy of the database and its log, copied
in 1 MiB pieces (never held whole). A database over MAX_DB_COPY or a log over MAX_WAL_COPY is
refused before anything is read (an ERROR naming the file and its size): the web
application's user could otherwise make root's daily run copy gigabytes, or the holes of a
sparse file.
"""

from __future__ import annotations

from sdcheck.host.base import FactError

import os
import stat

MAX_DB_COPY = 256 << 20   # a WAL database is read from a private copy of at most this size
MAX_WAL_COPY = 64 << 20   # and its log (SQLite checkpoints it at about 4 MiB by itself)


def batches(facts, db_path: str, sql: str, columns: list[str], timeout: float = 5.0):
    """Rows in lists (see Facts.sqlite_rows), read through ``facts`` (this machine)."""
    if is_wal(facts, db_path):
        # a WAL database cannot be read in place without creating (or writing) the -shm and
        # -wal files beside it: read a private copy of the database and its log instead
        with facts.scratch() as tmp:
            copy = _copy(db_path, os.path.join(tmp.path, "db.sqlite"), MAX_DB_COPY, db_path)
            wal = facts.lstat(db_path + "-wal")
            if wal is not None and wal.is_file:
                _copy(db_path + "-wal", copy + "-wal", MAX_WAL_COPY, db_path)
            yield from _batches(copy, sql, columns, timeout, shown=db_path)
        return
    yield from _batches(db_path, sql, columns, timeout)


def _copy(src: str, dst: str, limit: int, db_path: str) -> str:
    """``src`` copied to the new file ``dst`` a piece at a time; refused, unread, over ``limit``."""
    try:
        fd = os.open(src, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY)
    except OSError as exc:
        raise FactError(f"cannot read {src}: {exc.strerror}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise FactError(f"cannot read {src}: not a regular file")
        if st.st_size > limit:
            raise FactError(f"the database {db_path} is in WAL mode and {src} holds {st.st_size / (1 << 20):.0f} MiB, "
                            f"more than the {limit >> 20} MiB sdcheck copies to read it without writing beside it "
                            "(SQLite keeps its log near 4 MiB: find out what grew it, then checkpoint it)")
        out = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            left = st.st_size
            while left > 0 and (chunk := os.read(fd, min(left, 1 << 20))):
                os.write(out, chunk)
                left -= len(chunk)
        finally:
            os.close(out)
    except OSError as exc:
        raise FactError(f"cannot copy {src}: {exc.strerror}") from None
    finally:
        os.close(fd)
    return dst


def _batches(db_path: str, sql: str, columns: list[str], timeout: float, shown: str = ""):
    import sqlite3
    from urllib.parse import quote

    shown = shown or db_path
    try:
        conn = sqlite3.connect(f"file:{quote(db_path)}?mode=ro", uri=True, timeout=timeout,
                               isolation_level=None, check_same_thread=False)
    except sqlite3.Error as exc:
        raise FactError(sqlite_fault(shown, str(exc), timeout)) from None
    try:
        # names are bytes on disk: any that are not UTF-8 must still match os.listdir's spelling
        conn.text_factory = lambda b: b.decode("utf-8", "surrogateescape")
        conn.execute("PRAGMA query_only = 1")
        conn.execute("PRAGMA temp_store = MEMORY")
        conn.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
        cursor = conn.execute(f"SELECT {', '.join(columns)} FROM ({sql})")
        while True:
            batch = cursor.fetchmany(4096)
            if not batch:
                return
            yield batch
    except sqlite3.Error as exc:
        raise FactError(sqlite_fault(shown, str(exc), timeout)) from None
    finally:
        conn.close()


def is_wal(facts, db_path: str) -> bool:
    """The database file's header says WAL mode (file format versions 2 at offsets 18 and 19)."""
    try:
        head = facts.read_bytes(db_path, 100)
    except FactError:
        return False  # the open below says why it cannot be read
    return len(head) >= 20 and head[:16] == b"SQLite format 3\0" and head[18] == 2 and head[19] == 2


def sqlite_fault(db_path: str, text: str, timeout: float) -> str:
    """SQLite's complaint in sdcheck's words, naming the database."""
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
