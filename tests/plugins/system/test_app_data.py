"""system.app-data: /var/lib/securedrop as SecureDrop's app-code postinst lays it out passes;
each way of opening its keys, database or working directories is a finding."""

from __future__ import annotations

import os

import pytest

from helpers import cli
from helpers.storegen import StoreFixture

CHECK = "system.app-data"


@pytest.fixture
def data(tmp_path):
    """The data directory as the postinst makes it (see StoreFixture)."""
    return StoreFixture(tmp_path / "securedrop", sources=2, per_source=2)


def _run(fx):
    return cli.sdcheck("run", "--profile", "app", "--only", CHECK, "--var", f"data_dir={fx.root}",
                       "--var", f"db_path={fx.db}")


def test_securedrop_as_its_postinst_lays_it_out_passes(data):
    assert data.db.stat().st_mode & 0o777 == 0o640
    res = _run(data)
    assert res.returncode == 0 and res.stdout == "sdcheck: OK: 1 checks passed (profile app)\n", res.stdout


ATTACKS = {
    "database world-readable": lambda fx: fx.db.chmod(0o644),
    "database group-writable": lambda fx: fx.db.chmod(0o660),
    "database owned by root": lambda fx: os.chown(fx.db, 0, 0),
    "keys directory 0755": lambda fx: (fx.root / "keys").chmod(0o755),
    "private keys readable by the group": lambda fx: (fx.root / "keys/private-keys-v1.d").chmod(0o750),
    "tmp world-writable": lambda fx: fx.tmp.chmod(0o1777),
    "shredder world-writable": lambda fx: fx.shredder.chmod(0o777),
    "data directory owned by root": lambda fx: os.chown(fx.root, 0, 0),
    "keys replaced by a symlink": lambda fx: (os.rename(fx.root / "keys", fx.root / "keys.real"),
                                              os.symlink(fx.root / "keys.real", fx.root / "keys")),
    "backups missing": lambda fx: (fx.root / "backups").rmdir(),
}


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_each_opening_is_one_finding(data, name):
    ATTACKS[name](data)
    res = _run(data)
    lines = [ln for ln in res.stdout.splitlines() if ln.startswith(f"{cli.PREFIX}[{CHECK}]")]
    assert res.returncode == 1 and len(lines) == 1, res.stdout
