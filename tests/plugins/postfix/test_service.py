"""Postfix checks against real Postfix tools (postconf, postmap from Debian's postfix) on
configurations rendered from SecureDrop's templates into temporary directories."""

from __future__ import annotations

import json

import pytest
from helpers import cli
from helpers.all import need
from helpers.cli import PREFIX
from helpers.postfix import Master, Site
from helpers.postfix_suite import lines_of


def test_service_disabled_is_a_skip_and_enabled_without_postfix_fails(tmp_path):
    site = Site(tmp_path)
    data = site.report()
    service = next(c for c in data["checks"] if c["id"] == "postfix.service")
    assert service["status"] == "skip"
    code, lines = site.run(postfix_enable_service=True)
    # no Postfix master runs on the test machine
    assert code == 1 and lines_of(lines, "postfix.service") == [
        f"{PREFIX}[postfix.service] (high) Postfix is not running: no process runs /usr/lib/postfix/sbin/master as root, "
        "so alerts are not mailed"]


@pytest.mark.parametrize("interfaces,ok", [("loopback-only", True), ("all", False)])
def test_service_with_a_real_postfix(tmp_path, netns, interfaces, ok):
    need("unshare", "ss")
    site = Site(tmp_path / "site")
    master = Master(netns, interfaces)
    try:
        # in the master's own mount namespace: its /etc/postfix and spool (master.pid) are there
        vars_file = site.vars_file(postfix_enable_service=True, postfix_dir="/etc/postfix")
        res = cli.sdcheck("report", "--profile", "mon", "--vars", vars_file, "--only", "postfix.service", "--format", "json", through=["nsenter", "-t", str(master.pid), "-m", "-n"], timeout=60)
        data = json.loads(res.stdout)
        (finding,) = data["findings"]
        if ok:
            assert finding["status"] == "pass" and "127.0.0.1:25" in finding["message"], finding
            assert str(master.pid) in finding["message"]
        else:
            assert finding["status"] == "fail" and "0.0.0.0:25" in finding["message"], finding
    finally:
        master.stop()
