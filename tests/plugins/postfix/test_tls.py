"""Postfix checks against real Postfix tools (postconf, postmap from Debian's postfix) on
configurations rendered from SecureDrop's templates into temporary directories."""

from __future__ import annotations

import pytest
from helpers.postfix import Site
from helpers.postfix_suite import BREAKAGES, breakage_is_detected


def test_findings_point_at_main_cf_lines(tmp_path):
    site = Site(tmp_path)
    site.main_cf("smtp_tls_security_level = none")
    n = len((site.dir / "main.cf").read_text().splitlines())
    data = site.report()
    tls = [f for f in data["findings"] if f["check_id"] == "postfix.tls" and f["status"] == "fail"]
    assert tls[0]["resource"] == f"{site.dir}/main.cf:{n}"
    assert tls[0]["severity"] == "critical" and "not verified" in tls[0]["message"]


@pytest.mark.parametrize("name", sorted(n for n, b in BREAKAGES.items() if b[2] == "postfix.tls"))
def test_breakage_is_detected(tmp_path, name):
    breakage_is_detected(tmp_path, name)
