"""postfix.maps: the lookup tables main.cf names, on real postmap. SecureDrop's files pass
(tests/plugins/postfix/test_postfix_misc.py runs every postfix check on them in each TLS mode)."""

from __future__ import annotations

import os

import pytest

from helpers.cli import PREFIX
from helpers.postfix import Site

CHECK = "postfix.maps"


def _stale_generic(site):
    """The source changed, not compiled: Postfix still rewrites as before, and the next postmap,
    run for any reason, silently sends the alerts' sender elsewhere."""
    (site.dir / "generic").write_text("ossec@mon.news.example someone@else.example\n")


def _compiled_from_another_source(site):
    source = (site.dir / "generic").read_text()
    (site.dir / "generic").write_text("ossec@mon.news.example someone@else.example\n")
    site.postmap("generic")
    (site.dir / "generic").write_text(source)


def _symlinked_header_checks(site):
    real = site.root / "elsewhere"
    os.replace(site.dir / "header_checks", real)
    os.symlink(real, site.dir / "header_checks")


ATTACKS = {
    "header_checks writable by all": lambda site: (site.dir / "header_checks").chmod(0o666),
    "header_checks owned by another user": lambda site: os.chown(site.dir / "header_checks", 65534, 65534),
    "header_checks a symlink": _symlinked_header_checks,
    "generic edited, not compiled": _stale_generic,
    "generic compiled from another source": _compiled_from_another_source,
    "compiled generic writable by the group": lambda site: (site.dir / "generic.db").chmod(0o664),
}


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_each_attack_is_a_critical_finding(tmp_path, name):
    site = Site(tmp_path)
    ATTACKS[name](site)
    code, lines = site.run()
    mine = [ln for ln in lines if ln.startswith(f"{PREFIX}[{CHECK}]")]
    assert code == 1 and len(mine) == 1, lines
    report = site.report()
    assert {f["severity"] for f in report["findings"] if f["check_id"] == CHECK and f["status"] == "fail"} == {
        "critical"}


def test_a_stale_map_names_the_keys_not_the_values(tmp_path):
    site = Site(tmp_path)
    _stale_generic(site)
    _code, lines = site.run()
    (line,) = [ln for ln in lines if ln.startswith(f"{PREFIX}[{CHECK}]")]
    assert "ossec@mon.news.example" in line and "is not what its source says for 1 key(s)" in line
    assert "someone@else.example" not in line and "alerts@news.example" not in line
