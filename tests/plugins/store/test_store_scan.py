"""store.*: the submission store against its SQLite database, on real directories and
real SQLite files, read-only."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
from helpers.store_suite import (
    CHECKS,
    INJECT,
    PREFIX,
    file_digest,
    inject_fault,
    json_findings,
    add_hostile_files,
    tree_listing,
    inject_missing,
    inject_orphans,
    counts,
    sdcheck,
)
from helpers.storegen import StoreFixture


def test_clean_store_passes(fx):
    res = sdcheck(fx, "run")
    assert res.returncode == 0, res.stdout
    assert res.stdout.decode() == f"sdcheck: OK: {len(CHECKS)} checks passed (profile app)\n"


def test_a_store_past_the_worker_threshold_uses_the_default_workers(tmp_path):
    """From PARALLEL_MIN_DIRS sources, store_workers 0 (the default) splits the comparison
    between as many processes as the host has cores: the same verdicts as one process."""
    from sdcheck.plugins.store.live import PARALLEL_MIN_DIRS

    fx = StoreFixture(tmp_path, sources=PARALLEL_MIN_DIRS, per_source=4)
    res = sdcheck(fx, "run")
    assert res.returncode == 0, res.stdout
    assert res.stdout.decode() == f"sdcheck: OK: {len(CHECKS)} checks passed (profile app)\n"
    want = dict.fromkeys(CHECKS, 0)
    want.update(INJECT["missing"](fx))
    assert counts(fx) == want == counts(fx, store_workers=1)


@pytest.mark.parametrize("workers", [1, 3])
def test_all_kinds_together(tmp_path, workers):
    """Alone or split between worker processes (as for a large store), the same counts."""
    fx = StoreFixture(tmp_path, sources=8, per_source=6)
    want = dict.fromkeys(CHECKS, 0)
    for inject in INJECT.values():
        want.update(inject(fx))
    assert counts(fx, store_workers=workers) == want
    res = sdcheck(fx, "run")
    assert len(res.stdout.decode().splitlines()) == len(CHECKS)


def test_run_prints_no_names_or_ids_and_hostile_names_cannot_forge(fx):
    fs = fx.files[0][0]
    add_hostile_files(fx, fs)
    inject_missing(fx)
    res = sdcheck(fx, "run")
    out = res.stdout.decode("utf-8", "surrogateescape")
    lines = out.splitlines()
    assert all(ln.startswith(PREFIX + "[store.") for ln in lines), lines
    for fs_id, name in fx.files:
        assert fs_id not in out and name not in out
    assert "forged" not in out and "\x1b" not in out and "\r" not in out
    report = sdcheck(fx, "report", "--limit", "100")
    text = report.stdout.decode("utf-8", "surrogateescape")
    assert "\x1b" not in text and "\r" not in text and "\u202e" not in text
    data = json.loads(sdcheck(fx, "report", "--format", "json", "--limit", "100").stdout)
    listed = [d for f in data["findings"] for d in f["detail"]]
    assert any("\\nSystem configuration error: [store.x] forged" in d for d in listed)  # escaped, one line
    assert any("\\udcff\\udcfe" in d for d in listed) and any("\\u202e" in d for d in listed)
    assert not any(ln.startswith("System configuration error") for ln in text.splitlines())


def test_report_lists_names_up_to_the_limit(fx):
    inject_orphans(fx)
    text = sdcheck(fx, "report", "--limit", "2").stdout.decode()
    assert "2 of 3 (first 2 shown):" in text
    assert text.count("-msg.gpg") >= 2


def test_database_locked_by_a_writer_is_an_error_within_the_bound(fx):
    before, files_before = file_digest(fx.db), tree_listing(fx.root)
    writer = subprocess.Popen([sys.executable, "-c", (
        "import sqlite3, sys, time\n"
        f"c = sqlite3.connect({str(fx.db)!r}, isolation_level=None)\n"
        "c.execute('BEGIN EXCLUSIVE')\n"
        "c.execute(\"UPDATE sources SET pending = 1 WHERE id = 1\")\n"
        "print('locked', flush=True)\n"
        "time.sleep(30)\n")], stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout.readline().strip() == "locked"
        start = time.monotonic()
        res = sdcheck(fx, "run", db_busy_timeout=1)
        took = time.monotonic() - start
    finally:
        writer.kill()
        writer.wait()
    out = res.stdout.decode()
    assert res.returncode == 1
    assert "stayed locked by a writer for more than 1 s" in out and len(out.splitlines()) == 1
    assert took < 10
    journal = fx.root / "db.sqlite-journal"
    if journal.exists():  # the killed writer's; SQLite rolls it back on the next write open
        journal.unlink()
    assert file_digest(fx.db) == before and tree_listing(fx.root) == files_before


@pytest.mark.parametrize("fault,words", [
    ("db-missing", "does not exist"),
    ("db-corrupt", "is corrupt"),
    ("db-no-table", "has no replies table"),
    ("db-symlink", "is a symlink"),
    ("store-missing", "the store"),
    ("db-unreadable-dir", "cannot be opened read-only"),
])
def test_faults_are_errors_and_write_nothing(fx, fault, words):
    if fault in ("db-missing", "db-corrupt", "db-no-table", "store-missing"):
        inject_fault(fx, fault)
    elif fault == "db-symlink":
        real = fx.root / "real.sqlite"
        fx.db.rename(real)
        fx.db.symlink_to(real)
    else:  # a database directory where nothing may be created, and a hot journal to roll back
        (fx.root / "db.sqlite-journal").write_bytes(b"\xd9\xd5\x05\xf9\x20\xa1\x63\xd7" + b"\0" * 504)
    before = tree_listing(fx.root)
    digest = file_digest(fx.db) if fx.db.exists() and not fx.db.is_symlink() else None
    res = sdcheck(fx, "run")
    out = res.stdout.decode()
    assert res.returncode == 1 and len(out.splitlines()) == 1, out
    assert out.startswith(f"{PREFIX}[store.") and words in out
    assert tree_listing(fx.root) == before
    if digest:
        assert file_digest(fx.db) == digest


def test_reading_leaves_the_database_untouched(fx):
    before = (file_digest(fx.db), fx.db.stat().st_mtime_ns, tree_listing(fx.root))
    assert sdcheck(fx, "run").returncode == 0
    assert (file_digest(fx.db), fx.db.stat().st_mtime_ns, tree_listing(fx.root)) == before


def test_same_findings_through_testinfra(tmp_path):
    fx = StoreFixture(tmp_path, sources=8, per_source=6)
    for inject in INJECT.values():
        inject(fx)
    fs = fx.files[1][0]
    add_hostile_files(fx, fs)
    fx.sql("INSERT INTO submissions (uuid, source_id, filename, size) VALUES ('u-h', 2, CAST(? AS TEXT), 9)",
           "5-\udcff-msg.gpg".encode("utf-8", "surrogateescape"))
    local = sdcheck(fx, "report", "--format", "json", "--limit", "100")
    remote = sdcheck(fx, "report", "--format", "json", "--limit", "100", "--hosts", "local://")
    assert json_findings(local) == json_findings(remote)
    assert any(f[1] == "fail" for f in json_findings(remote))


@pytest.mark.parametrize("fault", ["db-missing", "db-corrupt", "db-no-table", "store-missing"])
def test_faults_through_testinfra(fx, fault):
    inject_fault(fx, fault)
    local = sdcheck(fx, "report", "--format", "json")
    remote = sdcheck(fx, "report", "--format", "json", "--hosts", "local://")
    assert {f[1] for f in json_findings(remote)} == {"error"}
    assert json_findings(local)[0][2].split(" (")[0][:40] == json_findings(remote)[0][2].split(" (")[0][:40]


def _run_with_peak_rss(fx) -> tuple[subprocess.CompletedProcess, int]:
    """``sdcheck run`` on ``fx``, and its own peak resident size (bytes)."""
    import yaml
    from helpers import cli
    from helpers.rss import run_measured

    vars_file = fx.root.parent / "wal-vars.yml"
    vars_file.write_text(yaml.safe_dump(fx.vars()))
    res, peak, _took = run_measured([*cli.SDCHECK, "run", "--profile", "app", "--vars", str(vars_file), "--only",
                                     "store"], timeout=120)
    return res, peak


@pytest.mark.parametrize("grown", ["db.sqlite-wal", "db.sqlite"])
def test_a_sparse_database_of_gigabytes_is_refused_unread(fx, grown):
    """The web application's user puts the database in WAL mode and extends the log (or the
    database itself) sparsely to 1.5 GB: root's run refuses it, naming it, without reading it."""
    import os

    fx.sql("PRAGMA journal_mode = WAL")
    path = fx.root / grown
    with open(path, "ab") as fh:
        fh.truncate(1536 << 20)
    assert os.stat(path).st_blocks * 512 < (16 << 20)  # sparse: holes, not data
    res, peak = _run_with_peak_rss(fx)
    lines = res.stdout.splitlines()
    assert res.returncode == 1 and res.stderr == ""
    (line,) = lines  # one cause, one line for the eight checks
    assert line.startswith(f"{PREFIX}[store.") and "in WAL mode" in line and "1536 MiB" in line, line
    assert grown in line
    assert peak < 300 << 20, f"peak RSS {peak >> 20} MiB"
