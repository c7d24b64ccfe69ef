"""store.*: the submission store against its SQLite database, on real directories and
real SQLite files, read-only."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from helpers.store_suite import tree_digest, counts, each_kind_alone, sdcheck
from helpers.storegen import StoreFixture


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("fs", ["..", ".", "/etc", "../store"])
def test_filesystem_ids_never_lead_outside_the_store(tmp_path, workers, fs):
    fx = StoreFixture(tmp_path, sources=6, per_source=2)
    (tmp_path / "outside-secret.txt").write_text("x")
    fx.sql("UPDATE sources SET filesystem_id = ? WHERE id = 1", fs)
    res = sdcheck(fx, "report", "--format", "json", "--limit", "1000", store_workers=workers)
    data = json.loads(res.stdout)
    names = [d for f in data["findings"] for d in f["detail"]]
    assert not any("outside-secret" in n or "db.sqlite" in n or "passwd" in n for n in names), names
    got = {f["check_id"]: f["actual"] for f in data["findings"] if f["status"] == "fail"}
    # source 1's directory has no sources row now, and source 1's rows have no directory
    assert got.get("store.unknown-sources") == "1" and "store.missing-files" in got, got


def test_a_wal_database_is_read_without_creating_files_beside_it(fx):
    fx.sql("PRAGMA journal_mode = WAL")
    newdir = fx.store / "ZZZNEWSOURCE"  # an unknown source, unless the WAL's row is read
    newdir.mkdir(mode=0o700)
    os.chown(newdir, 33, 33)
    assert counts(fx)["store.unknown-sources"] == 1
    # a writer keeps committed frames in the WAL (no checkpoint) while sdcheck reads
    writer = subprocess.Popen([sys.executable, "-c", (
        "import sqlite3, sys, time\n"
        f"c = sqlite3.connect({str(fx.db)!r}, isolation_level=None)\n"
        "c.execute('PRAGMA wal_autocheckpoint = 0')\n"
        "c.execute(\"INSERT INTO sources (id, uuid, filesystem_id, journalist_designation, interaction_count) "
        "VALUES (999, 'u999', 'ZZZNEWSOURCE', 'new source', 0)\")\n"
        "print('ready', flush=True)\n"
        "time.sleep(60)\n")], stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout.readline().strip() == "ready"
        assert (fx.root / "db.sqlite-wal").exists()
        before = tree_digest(fx.root)
        got = counts(fx)
        after = tree_digest(fx.root)
    finally:
        writer.kill()
        writer.wait()
    assert after == before  # the store and the database's directory, byte for byte
    assert sum(got.values()) == 0, got  # the row committed to the WAL was read: the directory is known


def test_found_alone_with_the_exact_count(fx):
    each_kind_alone(fx, 'unknown-source')
