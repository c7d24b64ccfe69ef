"""iptables.ruleset: the whole ruleset against the app/mon baselines, real iptables in
namespaces, both backends; tamperings; the report diff; baseline capture."""

from __future__ import annotations

import json

import pytest
from helpers.all import render
from helpers.cli import PREFIX
from helpers.ruleset_suite import TEMPLATE, VARS, run


@pytest.mark.parametrize("profile", ["app", "mon"])
def test_testinfra_ruleset_passes(netns, backend, profile):
    netns.restore_securedrop(backend, render(TEMPLATE[profile]))
    res = run(netns, profile)
    assert res.returncode == 0, res.stdout
    from sdcheck.registry import load_checks

    selected = [c for c in load_checks() if c.startswith("iptables") and not c.startswith("iptables.boot-rules")]
    assert "iptables.ruleset-v6" in selected  # the IPv6 ruleset is compared too
    assert res.stdout.startswith(f"sdcheck: OK: {len(selected)} checks passed")


@pytest.mark.parametrize("profile", ["app", "mon"])
@pytest.mark.parametrize("tamper,words,severity", [
    # the attack: nothing listens on the queue, so with --queue-bypass everything passes
    ("-I INPUT 1 -j NFQUEUE --queue-num 7 --queue-bypass", "unexpected rule #1 accepts traffic", "critical"),
    ("-I OUTPUT 1 -p tcp --dport 443 -j ACCEPT", "unexpected rule #1 accepts traffic", "high"),
    ("-P OUTPUT ACCEPT", "OUTPUT: the policy is ACCEPT, expected DROP", "critical"),
    ("-N SIDE && ip6tables-{backend} -A SIDE -j ACCEPT", "unexpected chain", "medium"),
    ("-t mangle -A PREROUTING -j MARK --set-mark 1", "the mangle table holds 1 rule(s)", "high"),
])
def test_ipv6_ruleset_is_compared_rule_by_rule(netns, backend, profile, tamper, words, severity):
    netns.restore_securedrop(backend, render(TEMPLATE[profile]))
    res = run(netns, profile)
    assert res.returncode == 0, res.stdout
    netns.sh(f"ip6tables-{backend} " + tamper.format(backend=backend))
    res = run(netns, profile)
    got = [ln for ln in res.stdout.splitlines() if ln.startswith(PREFIX + "[iptables.ruleset-v6]")]
    assert res.returncode == 1 and got and words in got[0], res.stdout
    data = json.loads(netns.sdcheck("report", "--profile", profile, "--vars", VARS, "--only",
                                    "iptables.ruleset-v6", "--format", "json").stdout)
    fails = [f for f in data["findings"] if f["status"] == "fail"]
    worst = max((f["severity"] for f in fails), key=["low", "medium", "high", "critical"].index)
    assert worst == severity, fails


def test_ipv6_ruleset_not_loaded_is_one_critical_finding(netns, backend):
    netns.restore(backend, render(TEMPLATE["app"]))  # IPv4 only
    data = json.loads(netns.sdcheck("report", "--profile", "app", "--vars", VARS, "--only",
                                    "iptables.ruleset-v6", "--format", "json").stdout)
    fails = [f for f in data["findings"] if f["status"] == "fail"]
    assert len(fails) == 1 and fails[0]["severity"] == "critical", fails
    assert "the ip6tables firewall is not configured" in fails[0]["message"]
    assert "DROP policies (FORWARD, INPUT, OUTPUT)" in fails[0]["message"]
