"""iptables default-drop and backend checks against real iptables in namespaces, both backends."""

from __future__ import annotations

from helpers.all import render
from helpers.default_drop_suite import problems, run


def test_rules_in_both_backends(netns):
    netns.restore_securedrop("nft", render("iptables-app-prod.j2"))
    netns.restore("legacy", render("iptables-app-prod.j2"))  # IPv4 only in legacy
    res, lines = run(netns)
    assert res.returncode == 1
    got = problems(lines, "iptables.backends")
    assert len(got) == 1 and "both the nft and the legacy backend" in got[0]
    assert "nft: 38 rules, legacy: 38 rules" in got[0]
    # each backend's ruleset is still judged (both are correct here)
    assert problems(lines, "iptables.default-drop") == []
