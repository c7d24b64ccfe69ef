"""system.services with the real systemctl on a scratch root (--root): SecureDrop's shredder
unit, enabled as its package enables it, passes; disabled, masked, or loosened by a drop-in
(UMask, User, an empty reset) it is reported, the drop-in named."""

from __future__ import annotations

import subprocess

import pytest
from helpers import cli
from helpers.securedrop import write_vars
from helpers.programs import need

CHECK = "system.services"
UNIT = "securedrop-shredder.service"


@pytest.fixture
def root(tmp_path):
    """A root with SecureDrop's shredder unit in /lib/systemd/system, enabled."""
    from helpers.securedrop import SD

    need("systemctl")
    root = tmp_path / "root"
    (root / "lib/systemd/system").mkdir(parents=True)
    (root / "etc/systemd/system").mkdir(parents=True)
    (root / "lib/systemd/system" / UNIT).write_text((SD / "securedrop-shredder.service").read_text())
    subprocess.run(["systemctl", f"--root={root}", "enable", UNIT], check=True, capture_output=True)
    return root


def _lines(tmp_path, root):
    vars_file = write_vars(tmp_path / "vars.yml", systemd_root=str(root),
                           services={UNIT: {"UMask": "0077", "User": "www-data"}})
    res = cli.sdcheck("run", "--profile", "app", "--vars", str(vars_file), "--only", CHECK)
    return res.returncode, [ln for ln in res.stdout.splitlines() if ln.startswith(f"{cli.PREFIX}[{CHECK}]")]


def test_the_shipped_unit_enabled_passes(tmp_path, root):
    code, lines = _lines(tmp_path, root)
    assert code == 0 and lines == [], lines


def test_a_disabled_unit_is_reported(tmp_path, root):
    subprocess.run(["systemctl", f"--root={root}", "disable", UNIT], check=True, capture_output=True)
    code, lines = _lines(tmp_path, root)
    assert code == 1 and any(f"{UNIT} is disabled at boot" in ln for ln in lines), lines


def test_a_masked_unit_is_reported(tmp_path, root):
    subprocess.run(["systemctl", f"--root={root}", "mask", UNIT], check=True, capture_output=True)
    code, lines = _lines(tmp_path, root)
    assert code == 1 and any(f"{UNIT} is masked" in ln for ln in lines), lines


@pytest.mark.parametrize("dropin,shown", [
    ("[Service]\nUMask=0022\n", "UMask is 0022"),
    ("[Service]\nUMask=\n", "UMask is not set"),
    ("[Service]\nUser=root\n", "User is root"),
])
def test_a_drop_in_that_loosens_the_unit_is_named(tmp_path, root, dropin, shown):
    d = root / "etc/systemd/system" / f"{UNIT}.d"
    d.mkdir()
    (d / "override.conf").write_text(dropin)
    code, lines = _lines(tmp_path, root)
    assert code == 1 and any(shown in ln and "override.conf" in ln for ln in lines), lines


def test_a_later_drop_in_restoring_the_setting_passes(tmp_path, root):
    d = root / "etc/systemd/system" / f"{UNIT}.d"
    d.mkdir()
    (d / "10-loose.conf").write_text("[Service]\nUMask=0022\n")
    (d / "20-tight.conf").write_text("[Service]\nUMask=077\n")
    code, lines = _lines(tmp_path, root)
    assert code == 0, lines
