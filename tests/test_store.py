"""store.*: the submission store against its SQLite database, on real directories and
real SQLite files, read-only."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from helpers.storegen import StoreFixture, file_name

PREFIX = "System configuration error: "
CHECKS = ("store.missing-files", "store.orphan-files", "store.misplaced", "store.size", "store.unexpected",
          "store.unknown-sources", "store.permissions", "store.leftovers")


def sdcheck(fx: StoreFixture, *args: str, **extra_vars) -> subprocess.CompletedProcess:
    vars_file = fx.root.parent / f"{fx.root.name}-vars.yml"  # outside the tree the tests list
    vars_file.write_text(yaml.safe_dump(dict(fx.vars(), **extra_vars)))
    return subprocess.run([sys.executable, "-m", "sdcheck", *args, "--profile", "app", "--vars",
                           str(vars_file), "--only", "store"], capture_output=True, timeout=120)


def counts(fx: StoreFixture, **extra_vars) -> dict[str, int]:
    """check id -> number of problems it found (0 when it passed)."""
    res = sdcheck(fx, "report", "--format", "json", **extra_vars)
    data = json.loads(res.stdout)
    out = {c: 0 for c in CHECKS}
    for f in data["findings"]:
        assert f["status"] in ("pass", "fail"), f
        if f["status"] == "fail":
            out[f["check_id"]] = int(f["actual"])
    return out


@pytest.fixture
def fx(tmp_path):
    return StoreFixture(tmp_path, sources=6, per_source=5)


def test_clean_store_passes(fx):
    res = sdcheck(fx, "run")
    assert res.returncode == 0, res.stdout
    assert res.stdout.decode() == "sdcheck: OK: 8 checks passed (profile app)\n"


# -- each kind alone, with exact counts ------------------------------------------------

def _missing(fx):  # one submission and one reply file gone
    third = sorted({fs for fs, _n in fx.files})[2]  # a source no other injection touches
    sub = next(f for f in fx.files if f[0] == third and "-msg" in f[1])
    rep = next(f for f in fx.files if f[0] == third and "-reply" in f[1])
    fx.path(*sub).unlink()
    fx.path(*rep).unlink()
    return {"store.missing-files": 2}


def _orphans(fx):
    fs = fx.files[0][0]
    for i in (90, 91, 92):
        fx.path(fs, file_name(i, "msg")).write_bytes(b"x" * 10)
        os.chown(fx.path(fs, file_name(i, "msg")), fx.uid, fx.uid)
        fx.path(fs, file_name(i, "msg")).chmod(0o600)
    return {"store.orphan-files": 3}


def _misplaced(fx):
    (fs_a, name), fs_b = fx.files[0], fx.files[-1][0]
    fx.path(fs_a, name).rename(fx.store / fs_b / name)
    return {"store.misplaced": 1}


def _size(fx):
    with open(fx.path(*fx.files[3]), "ab") as fh:
        fh.write(b"extra")
    return {"store.size": 1}


def _unexpected(fx):
    fs = fx.files[0][0]
    os.symlink("/etc/passwd", fx.store / fs / file_name(77, "msg"))
    (fx.store / fs / "sub").mkdir(mode=0o700)
    os.chown(fx.store / fs / "sub", fx.uid, fx.uid)
    root_file = fx.store / "stray.gpg"
    root_file.write_bytes(b"")
    os.chown(root_file, fx.uid, fx.uid)
    root_file.chmod(0o600)
    os.mkfifo(fx.store / fs / "fifo", 0o600)
    os.chown(fx.store / fs / "fifo", fx.uid, fx.uid)
    # a badly named file that does have its row: only "unexpected"
    bad = fx.store / fs / "notes.txt"
    bad.write_bytes(b"abc")
    os.chown(bad, fx.uid, fx.uid)
    bad.chmod(0o600)
    fx.sql("INSERT INTO submissions (uuid, source_id, filename, size) VALUES ('u-bad', 1, 'notes.txt', 3)")
    return {"store.unexpected": 5}


def _unknown_source(fx):
    d = fx.store / "UNKNOWNSOURCEID"
    d.mkdir(mode=0o700)
    os.chown(d, fx.uid, fx.uid)
    for i in (1, 2):
        p = d / file_name(i, "msg")
        p.write_bytes(b"1234")
        os.chown(p, fx.uid, fx.uid)
        p.chmod(0o600)
    return {"store.unknown-sources": 1}


def _permissions(fx):
    fx.path(*fx.files[5]).chmod(0o644)
    os.chown(fx.path(*fx.files[6]), 0, 0)
    return {"store.permissions": 2}


def _leftovers(fx):
    old = fx.shredder / "deleted-1.gpg"
    old.write_bytes(b"x")
    past = time.time() - 3 * 86400
    os.utime(old, (past, past))
    (fx.shredder / "fresh.gpg").write_bytes(b"x")
    return {"store.leftovers": 1}


INJECT = {"missing": _missing, "orphans": _orphans, "misplaced": _misplaced, "size": _size,
          "unexpected": _unexpected, "unknown-source": _unknown_source, "permissions": _permissions,
          "leftovers": _leftovers}


@pytest.mark.parametrize("kind", sorted(INJECT))
def test_each_kind_alone(fx, kind):
    want = dict.fromkeys(CHECKS, 0)
    want.update(INJECT[kind](fx))
    assert counts(fx) == want
    res = sdcheck(fx, "run")
    lines = res.stdout.decode().splitlines()
    assert res.returncode == 1 and len(lines) == 1
    (check_id,) = [c for c, n in want.items() if n]
    assert lines[0].startswith(f"{PREFIX}[{check_id}] {want[check_id]} ")


def test_a_store_past_the_worker_threshold_uses_the_default_workers(tmp_path):
    """From PARALLEL_MIN_DIRS sources, store_workers 0 (the default) splits the comparison
    between as many processes as the host has cores: the same verdicts as one process."""
    from sdcheck.plugins.store.collect import PARALLEL_MIN_DIRS

    fx = StoreFixture(tmp_path, sources=PARALLEL_MIN_DIRS, per_source=4)
    res = sdcheck(fx, "run")
    assert res.returncode == 0, res.stdout
    assert res.stdout.decode() == "sdcheck: OK: 8 checks passed (profile app)\n"
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


def test_match_is_by_source_and_name_not_bare_name(fx):
    """Two sources with a file of the same name; A's file moved over B's. A bare-name match
    (manage.py's) still finds every name somewhere; matching by (source, name) does not."""
    fs_a, name = fx.files[0]
    fs_b = next(fs for fs, _n in fx.files if fs != fs_a)
    size = fx.path(fs_a, name).stat().st_size
    fx.sql("INSERT INTO submissions (uuid, source_id, filename, size) "
           "VALUES ('u-same', (SELECT id FROM sources WHERE filesystem_id = ?), ?, ?)", fs_b, name, size)
    fx.path(fs_a, name).rename(fx.path(fs_b, name))
    got = counts(fx)
    assert got["store.missing-files"] == 1 and got["store.orphan-files"] == 0 and got["store.misplaced"] == 0


# -- confidentiality and hostile names --------------------------------------------------

HOSTILE = [b"1-a\nSystem configuration error: [store.x] forged-msg.gpg", b"2-b\r\x1b[2Kc-msg.gpg",
           b"3-\xff\xfe-msg.gpg", "4-\u202eevil-msg.gpg".encode()]


def _hostile_files(fx: StoreFixture, fs: str) -> None:
    """Files with HOSTILE names (bytes, so invalid UTF-8 survives) in source ``fs``."""
    for raw in HOSTILE:
        path = os.path.join(os.fsencode(fx.store / fs), raw)
        with open(path, "wb") as fh:
            fh.write(b"x")
        os.chown(path, fx.uid, fx.uid)
        os.chmod(path, 0o600)


def test_run_prints_no_names_or_ids_and_hostile_names_cannot_forge(fx):
    fs = fx.files[0][0]
    _hostile_files(fx, fs)
    _missing(fx)
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
    _orphans(fx)
    text = sdcheck(fx, "report", "--limit", "2").stdout.decode()
    assert "2 of 3 (first 2 shown):" in text
    assert text.count("-msg.gpg") >= 2


# -- faults: errors, never a pass, nothing written ----------------------------------------

def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _listing(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def test_database_locked_by_a_writer_is_an_error_within_the_bound(fx):
    before, files_before = _digest(fx.db), _listing(fx.root)
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
    assert _digest(fx.db) == before and _listing(fx.root) == files_before


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
        _fault(fx, fault)
    elif fault == "db-symlink":
        real = fx.root / "real.sqlite"
        fx.db.rename(real)
        fx.db.symlink_to(real)
    else:  # a database directory where nothing may be created, and a hot journal to roll back
        (fx.root / "db.sqlite-journal").write_bytes(b"\xd9\xd5\x05\xf9\x20\xa1\x63\xd7" + b"\0" * 504)
    before = _listing(fx.root)
    digest = _digest(fx.db) if fx.db.exists() and not fx.db.is_symlink() else None
    res = sdcheck(fx, "run")
    out = res.stdout.decode()
    assert res.returncode == 1 and len(out.splitlines()) == 1, out
    assert out.startswith(f"{PREFIX}[store.") and words in out
    assert _listing(fx.root) == before
    if digest:
        assert _digest(fx.db) == digest


def _fault(fx, fault: str) -> None:
    if fault == "db-missing":
        fx.db.unlink()
    elif fault == "db-corrupt":
        fx.db.write_bytes(b"this is not a database" * 100)
    elif fault == "db-no-table":
        fx.sql("DROP TABLE replies")
    elif fault == "store-missing":
        import shutil
        shutil.rmtree(fx.store)


def test_reading_leaves_the_database_untouched(fx):
    before = (_digest(fx.db), fx.db.stat().st_mtime_ns, _listing(fx.root))
    assert sdcheck(fx, "run").returncode == 0
    assert (_digest(fx.db), fx.db.stat().st_mtime_ns, _listing(fx.root)) == before


# -- the same through testinfra (sqlite3 -readonly and find on the host) ---------------------

def _findings(res) -> list:
    data = json.loads(res.stdout)
    section = data["hosts"][0] if "hosts" in data else data
    return sorted((f["check_id"], f["status"], f["message"].split(" (")[0] if f["status"] == "pass" else f["message"],
                   f["actual"], tuple(sorted(f["detail"]))) for f in section["findings"])


def test_same_findings_through_testinfra(tmp_path):
    fx = StoreFixture(tmp_path, sources=8, per_source=6)
    for inject in INJECT.values():
        inject(fx)
    fs = fx.files[1][0]
    _hostile_files(fx, fs)
    fx.sql("INSERT INTO submissions (uuid, source_id, filename, size) VALUES ('u-h', 2, CAST(? AS TEXT), 9)",
           "5-\udcff-msg.gpg".encode("utf-8", "surrogateescape"))
    local = sdcheck(fx, "report", "--format", "json", "--limit", "100")
    remote = sdcheck(fx, "report", "--format", "json", "--limit", "100", "--hosts", "local://")
    assert _findings(local) == _findings(remote)
    assert any(f[1] == "fail" for f in _findings(remote))


@pytest.mark.parametrize("fault", ["db-missing", "db-corrupt", "db-no-table", "store-missing"])
def test_faults_through_testinfra(fx, fault):
    _fault(fx, fault)
    local = sdcheck(fx, "report", "--format", "json")
    remote = sdcheck(fx, "report", "--format", "json", "--hosts", "local://")
    assert {f[1] for f in _findings(remote)} == {"error"}
    assert _findings(local)[0][2].split(" (")[0][:40] == _findings(remote)[0][2].split(" (")[0][:40]


# -- hostile or unusual databases (issue 15) ---------------------------------------------------

def _tree_digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): (_digest(p) if p.is_file() else "dir") for p in sorted(root.rglob("*"))}


def _loosen(fx, table: str) -> None:
    """The table rebuilt without its NOT NULL constraints (an attacker's database)."""
    fx.sql(f"CREATE TABLE loose AS SELECT * FROM {table}")
    fx.sql(f"DROP TABLE {table}")
    fx.sql(f"ALTER TABLE loose RENAME TO {table}")


@pytest.mark.parametrize("value", [None, "abc", 2.5])
def test_rows_without_a_valid_source_id_are_findings(fx, value):
    _loosen(fx, "submissions")
    fx.sql("UPDATE submissions SET source_id = ? WHERE id = (SELECT min(id) FROM submissions)", value)
    got = counts(fx)
    # the row names no source: its file is missing from any source's directory, and the file it
    # named is under another source's (misplaced), never silently dropped
    assert got["store.missing-files"] + got["store.misplaced"] == 1, got
    res = sdcheck(fx, "run")
    assert res.returncode == 1 and b"failed unexpectedly" not in res.stdout


def test_a_size_that_is_not_a_number_is_a_finding(fx):
    fx.sql("UPDATE submissions SET size = 'abc' WHERE id = (SELECT min(id) FROM submissions)")
    got = counts(fx)
    assert got["store.size"] == 1 and sum(got.values()) == 1, got


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
        before = _tree_digest(fx.root)
        got = counts(fx)
        after = _tree_digest(fx.root)
    finally:
        writer.kill()
        writer.wait()
    assert after == before  # the store and the database's directory, byte for byte
    assert sum(got.values()) == 0, got  # the row committed to the WAL was read: the directory is known
