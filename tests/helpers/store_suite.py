"""Shared by the store plugin's tests (tests/plugins/store/): a store and its SQLite database
as SecureDrop lays them out, each kind of problem injected, sdcheck run against them."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from helpers import cli
from helpers.cli import PREFIX
from helpers.storegen import StoreFixture, file_name

CHECKS = ("store.missing-files", "store.orphan-files", "store.misplaced", "store.size", "store.unexpected",
          "store.unknown-sources", "store.permissions", "store.leftovers", "store.claims")


def sdcheck(fx: StoreFixture, *args: str, **extra_vars) -> subprocess.CompletedProcess:
    vars_file = fx.root.parent / f"{fx.root.name}-vars.yml"  # outside the tree the tests list
    vars_file.write_text(yaml.safe_dump(dict(fx.vars(), **extra_vars)))
    return cli.sdcheck(*args, "--profile", "app", "--vars", str(vars_file), "--only", "store", text=False, timeout=120)


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


def inject_missing(fx):  # one submission and one reply file gone
    third = sorted({fs for fs, _n in fx.files})[2]  # a source no other injection touches
    sub = next(f for f in fx.files if f[0] == third and "-msg" in f[1])
    rep = next(f for f in fx.files if f[0] == third and "-reply" in f[1])
    fx.path(*sub).unlink()
    fx.path(*rep).unlink()
    return {"store.missing-files": 2}


def inject_orphans(fx):
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
    fx.path(*fx.files[5]).chmod(0o664)  # writable by the group: 0644 is what SecureDrop makes
    os.chown(fx.path(*fx.files[6]), 0, 0)
    return {"store.permissions": 2}


def _leftovers(fx):
    old = fx.shredder / "deleted-1.gpg"
    old.write_bytes(b"x")
    past = time.time() - 3 * 86400
    os.utime(old, (past, past))
    (fx.shredder / "fresh.gpg").write_bytes(b"x")
    return {"store.leftovers": 1}


def inject_claims(fx):  # a submission recorded as a reply: hidden among the replies
    fs, name = next(f for f in reversed(fx.files) if "-msg" in f[1])  # a file no other injection touches
    fx.sql("INSERT INTO replies (id, uuid, journalist_id, source_id, filename, size, deleted_by_source) "
           "SELECT 10000, 'claims', 1, source_id, filename, size, 0 FROM submissions WHERE filename = ?", name)
    fx.sql("DELETE FROM submissions WHERE filename = ?", name)
    return {"store.claims": 1}


INJECT = {"missing": inject_missing, "orphans": inject_orphans, "misplaced": _misplaced, "size": _size,
          "unexpected": _unexpected, "unknown-source": _unknown_source, "permissions": _permissions,
          "leftovers": _leftovers, "claims": inject_claims}


def each_kind_alone(fx, kind):
    """Inject one kind of problem: exactly its check finds it, with the exact count, in one line."""
    want = dict.fromkeys(CHECKS, 0)
    want.update(INJECT[kind](fx))
    assert counts(fx) == want
    res = sdcheck(fx, "run")
    lines = res.stdout.decode().splitlines()
    assert res.returncode == 1 and len(lines) == 1
    (check_id,) = [c for c, n in want.items() if n]
    assert re.match(rf"{re.escape(PREFIX)}\[{check_id}\] \((critical|high|medium|low)\) {want[check_id]} ", lines[0])


HOSTILE = [b"1-a\nSystem configuration error: [store.x] forged-msg.gpg", b"2-b\r\x1b[2Kc-msg.gpg",
           b"3-\xff\xfe-msg.gpg", "4-\u202eevil-msg.gpg".encode()]


def add_hostile_files(fx: StoreFixture, fs: str) -> None:
    """Files with HOSTILE names (bytes, so invalid UTF-8 survives) in source ``fs``."""
    for raw in HOSTILE:
        path = os.path.join(os.fsencode(fx.store / fs), raw)
        with open(path, "wb") as fh:
            fh.write(b"x")
        os.chown(path, fx.uid, fx.uid)
        os.chmod(path, 0o600)


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def tree_listing(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def inject_fault(fx, fault: str) -> None:
    if fault == "db-missing":
        fx.db.unlink()
    elif fault == "db-corrupt":
        fx.db.write_bytes(b"this is not a database" * 100)
    elif fault == "db-no-table":
        fx.sql("DROP TABLE replies")
    elif fault == "store-missing":
        import shutil
        shutil.rmtree(fx.store)


def json_findings(res) -> list:
    data = json.loads(res.stdout)
    section = data["hosts"][0] if "hosts" in data else data
    return sorted((f["check_id"], f["status"], f["message"].split(" (")[0] if f["status"] == "pass" else f["message"],
                   f["actual"], tuple(sorted(f["detail"]))) for f in section["findings"])


def tree_digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): (file_digest(p) if p.is_file() else "dir") for p in sorted(root.rglob("*"))}


def loosen_table(fx, table: str) -> None:
    """The table rebuilt without its NOT NULL constraints (an attacker's database)."""
    fx.sql(f"CREATE TABLE loose AS SELECT * FROM {table}")
    fx.sql(f"DROP TABLE {table}")
    fx.sql(f"ALTER TABLE loose RENAME TO {table}")
