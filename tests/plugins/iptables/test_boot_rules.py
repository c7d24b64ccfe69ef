"""iptables.boot-rules: the rules file SecureDrop's role writes (its rules_v4 template rendered
as Ansible renders it) matches the baseline; a changed file, which is the firewall after the
next reboot, is critical; a missing one too."""

from __future__ import annotations

import json

import pytest
from helpers import cli
from helpers.securedrop import render_rules_v4, write_vars

CHECK = "iptables.boot-rules"


def _run(tmp_path, role: str, text: str | None, ssh_over_tor: bool = False):
    path = tmp_path / "rules.v4"
    if text is not None:
        path.write_text(text)
    vars_file = write_vars(tmp_path / "vars.yml", enable_ssh_over_tor=ssh_over_tor, iptables_v4_path=str(path),
                           ssh_interface="eth0")
    res = cli.sdcheck("report", "--profile", role, "--vars", str(vars_file), "--only", CHECK, "--format", "json")
    assert res.returncode in (0, 1), res.stderr
    return [f for f in json.loads(res.stdout)["findings"] if f["check_id"] == CHECK]


@pytest.mark.parametrize("role", ["app", "mon"])
@pytest.mark.parametrize("ssh_over_tor", [True, False])
def test_securedrop_s_rules_file_passes(tmp_path, role, ssh_over_tor):
    found = _run(tmp_path, role, render_rules_v4(role, ssh_over_tor), ssh_over_tor)
    assert [f["status"] for f in found] == ["pass"], found


@pytest.mark.parametrize("role", ["app", "mon"])
def test_an_accept_added_to_the_file_is_critical(tmp_path, role):
    text = render_rules_v4(role, False).replace("-A INPUT ", "-A INPUT -p tcp --dport 4444 -j ACCEPT\n-A INPUT ", 1)
    bad = [f for f in _run(tmp_path, role, text) if f["status"] == "fail"]
    assert bad and all(f["severity"] == "critical" for f in bad), bad
    assert any("4444" in f["message"] and "at the next boot" in f["message"] for f in bad), bad


def test_a_missing_file_is_critical(tmp_path):
    (bad,) = _run(tmp_path, "app", None)
    assert bad["status"] == "fail" and bad["severity"] == "critical" and "does not exist" in bad["message"]
