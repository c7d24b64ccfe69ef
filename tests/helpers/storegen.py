"""Build a SecureDrop-like submission store and database (tests and bench/store).

The tables carry the columns SecureDrop's models define that sdcheck reads, plus a few
others, in SecureDrop's layout: sources (id, uuid, filesystem_id, journalist_designation,
...), submissions and replies (source_id, filename, size, ...).
"""

from __future__ import annotations

import base64
import hashlib
import os
import sqlite3
import uuid
from pathlib import Path

SCHEMA = """
CREATE TABLE sources (
    id INTEGER NOT NULL PRIMARY KEY,
    uuid VARCHAR(36) NOT NULL UNIQUE,
    filesystem_id VARCHAR(96) UNIQUE,
    journalist_designation VARCHAR(255) NOT NULL,
    last_updated DATETIME,
    pending BOOLEAN,
    interaction_count INTEGER NOT NULL,
    deleted_at DATETIME
);
CREATE TABLE submissions (
    id INTEGER NOT NULL PRIMARY KEY,
    uuid VARCHAR(36) NOT NULL UNIQUE,
    source_id INTEGER NOT NULL REFERENCES sources (id),
    filename VARCHAR(255) NOT NULL,
    size INTEGER NOT NULL,
    downloaded BOOLEAN,
    checksum VARCHAR(255)
);
CREATE TABLE replies (
    id INTEGER NOT NULL PRIMARY KEY,
    uuid VARCHAR(36) NOT NULL UNIQUE,
    journalist_id INTEGER,
    source_id INTEGER NOT NULL REFERENCES sources (id),
    filename VARCHAR(255) NOT NULL,
    size INTEGER NOT NULL,
    deleted_by_source BOOLEAN NOT NULL,
    checksum VARCHAR(255)
);
"""

KINDS = ("msg", "doc.gz", "reply", "doc.zip")


def filesystem_id(n: int) -> str:
    return base64.b32encode(hashlib.sha256(f"source {n}".encode()).digest()).decode()


def file_name(index: int, kind: str, designation: str = "abject_cactus") -> str:
    return f"{index}-{designation}-{kind}.gpg"


class StoreFixture:
    """A store and database under ``root`` laid out as SecureDrop lays them out: sources with
    ``per_source`` files each, sizes ``100 + index`` bytes (sparse), owned by ``uid``.

    As on a real Application Server, ``root`` is SecureDrop's data directory: it and its
    store, shredder, tmp, keys (with private-keys-v1.d, openpgp-revocs.d) and backups
    directories are 0700 and ``uid``'s (the app-code postinst); source directories come from a bare mkdir and files are written with
    no mode by the web application, under ``umask`` (Apache's 022: 0755 and 0644); the
    database is created under umask 0027 (0640, the postinst)."""

    def __init__(self, root: Path, sources: int = 5, per_source: int = 4, uid: int = 33,
                 sparse: bool = True, umask: int = 0o022):
        old = os.umask(0o027)
        try:
            self._build(Path(root), sources, per_source, uid, sparse, umask)
        finally:
            os.umask(old)

    def _build(self, root: Path, sources: int, per_source: int, uid: int, sparse: bool, umask: int) -> None:
        self.root = Path(root)
        self.store = self.root / "store"
        self.db = self.root / "db.sqlite"
        self.shredder = self.root / "shredder"
        self.tmp = self.root / "tmp"
        self.uid = uid
        for d in (self.root, self.store, self.shredder, self.tmp, self.root / "keys",
                  self.root / "keys/private-keys-v1.d", self.root / "keys/openpgp-revocs.d", self.root / "backups"):
            d.mkdir(parents=True, exist_ok=True)
            os.chown(d, uid, uid)
            d.chmod(0o700)
        os.umask(0o027)
        conn = sqlite3.connect(self.db)
        conn.executescript(SCHEMA)
        self.files: list[tuple[str, str]] = []  # (filesystem_id, filename)
        src_rows, sub_rows, rep_rows = [], [], []
        for s in range(1, sources + 1):
            fs = filesystem_id(s)
            src_rows.append((s, str(uuid.UUID(int=s)), fs, f"source {s}", 1))
            sdir = self.store / fs
            os.umask(umask)
            sdir.mkdir()
            os.chown(sdir, uid, uid)
            for i in range(1, per_source + 1):
                kind = KINDS[(i - 1) % len(KINDS)]
                name = file_name(i, kind, f"d{s}_cactus")  # designations differ per source
                size = 100 + i
                path = sdir / name
                fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o666)  # as open() does: the umask decides
                if sparse:
                    os.ftruncate(fd, size)
                else:
                    os.write(fd, b"x" * size)
                os.fchown(fd, uid, uid)
                os.close(fd)
                row_id = len(sub_rows) + len(rep_rows) + 1
                if kind == "reply":
                    rep_rows.append((row_id, str(uuid.UUID(int=10**9 + row_id)), 1, s, name, size, 0))
                else:
                    sub_rows.append((row_id, str(uuid.UUID(int=10**9 + row_id)), s, name, size, 0))
                self.files.append((fs, name))
        conn.executemany("INSERT INTO sources (id, uuid, filesystem_id, journalist_designation, "
                         "interaction_count) VALUES (?, ?, ?, ?, ?)", src_rows)
        conn.executemany("INSERT INTO submissions (id, uuid, source_id, filename, size, downloaded) "
                         "VALUES (?, ?, ?, ?, ?, ?)", sub_rows)
        conn.executemany("INSERT INTO replies (id, uuid, journalist_id, source_id, filename, size, "
                         "deleted_by_source) VALUES (?, ?, ?, ?, ?, ?, ?)", rep_rows)
        conn.commit()
        conn.close()
        os.chown(self.db, uid, uid)

    def path(self, fs: str, name: str) -> Path:
        return self.store / fs / name

    def sql(self, statement: str, *params) -> None:
        conn = sqlite3.connect(self.db)
        conn.execute(statement, params)
        conn.commit()
        conn.close()

    def vars(self) -> dict:
        return {"data_dir": str(self.root), "store_dir": str(self.store), "db_path": str(self.db), "shredder_dir": str(self.shredder),
                "store_tmp_dir": str(self.tmp), "app_user": "www-data"}
