"""Firewall waivers name the rule, not its place (real iptables in network namespaces).

A waiver for one narrow ACCEPT covers that rule wherever it sits, in any spelling, and
nothing else: not another rule put at the same place, not a wider rule matching a pattern.
"""

from __future__ import annotations

import datetime
import json

import pytest
import yaml
from helpers.all import render, write_vars
from helpers.cli import PREFIX

VARS = str(write_vars())
NARROW = "-s 10.99.0.7/32 -p tcp -m tcp --dport 9100 -j ACCEPT"


def waivers(tmp_path, *items) -> str:
    path = tmp_path / "waivers.yml"
    path.write_text(yaml.safe_dump({"waivers": [dict(reason="monitoring, ticket 9", expires=datetime.date(2099, 12, 31), **i)
                                                for i in items]}))
    return str(path)


def run(ns, *extra):
    res = ns.sdcheck("run", "--profile", "app", "--vars", VARS, "--only", "iptables", "--skip", "iptables.boot-rules", *extra)
    return res, [ln for ln in res.stdout.splitlines() if ln.startswith(PREFIX)]


def report(ns, *extra) -> list[dict]:
    res = ns.sdcheck("report", "--profile", "app", "--vars", VARS, "--only", "iptables", "--skip", "iptables.boot-rules", "--format", "json", *extra)
    assert res.returncode in (0, 1), res.stderr
    return json.loads(res.stdout)["findings"]


@pytest.fixture
def sd(netns, backend):
    netns.restore_securedrop(backend, render("iptables-app-prod.j2"))
    netns.backend = backend
    return netns


def ipt(ns, args: str) -> None:
    ns.sh(f"iptables-{ns.backend} {args}")


@pytest.mark.parametrize("spelling", [
    "-A INPUT " + NARROW,
    # the same rule as an admin might write it: no /32, no explicit -m tcp, options reordered
    "-A INPUT -p tcp --dport 9100 -s 10.99.0.7 -j ACCEPT",
    "-t filter -A INPUT -p 6 -s 10.99.0.7 --dport 9100 -j ACCEPT",
])
def test_a_rule_waiver_covers_that_rule_in_any_spelling_and_place(sd, tmp_path, spelling):
    w = waivers(tmp_path, {"check": "iptables.ruleset", "rule": spelling})
    for where in ("-I INPUT 1", "-I INPUT 5"):
        ipt(sd, f"{where} {NARROW} -m comment --comment 'node exporter'")
        res, lines = run(sd, "--waivers", w)
        assert res.returncode == 0 and lines == [], lines
        waived = [f for f in report(sd, "--waivers", w) if f["status"] == "waived"]
        assert len(waived) == 1 and waived[0]["subject"] == "-t filter -A INPUT " + NARROW, waived
        ipt(sd, f"-D INPUT {NARROW} -m comment --comment 'node exporter'")


@pytest.mark.parametrize("other", [
    "-j ACCEPT",                                                  # the attack: all of INPUT open
    "-p tcp -m tcp --dport 9100 -j ACCEPT",                       # the same port from anywhere
    "-s 10.99.0.0/24 -p tcp -m tcp --dport 9100 -j ACCEPT",       # a wider source
    "-s 10.99.0.7/32 -p tcp -m tcp --dport 9100 -j NFQUEUE --queue-num 3 --queue-bypass",
])
def test_a_different_rule_at_the_waived_place_is_reported(sd, tmp_path, other):
    w = waivers(tmp_path,
                {"check": "iptables.ruleset", "rule": "-A INPUT " + NARROW},
                {"check": "iptables.ruleset", "rule_pattern": "-t filter -A INPUT *"})  # a pattern
    ipt(sd, f"-I INPUT 1 {other}")
    res, lines = run(sd, "--waivers", w)
    got = [ln for ln in lines if ln.startswith(PREFIX + "[iptables.ruleset]")]
    assert res.returncode == 1 and got and "unexpected rule #1 accepts traffic" in got[0], lines
    fails = [f for f in report(sd, "--waivers", w) if f["check_id"] == "iptables.ruleset" and f["status"] == "fail"]
    assert fails and fails[0]["widens"] and fails[0]["subject"].startswith("-t filter -A INPUT "), fails


def test_a_pattern_covers_only_what_cannot_let_traffic_through(sd, tmp_path):
    """A comment change and an extra LOG rule are harmless and may be waived by pattern; a
    removed DROP rule may not (it lets the rules after it accept more)."""
    w = waivers(tmp_path, {"check": "iptables.ruleset", "rule_pattern": "-t filter -A INPUT *"})
    ipt(sd, "-I INPUT 1 -p tcp --dport 7 -j LOG")
    res, lines = run(sd, "--waivers", w)
    assert res.returncode == 0 and lines == [], lines
    # the monitor server's SSH DROP rule is only in the direct-SSH variant, so take out the
    # INVALID-state DROP every variant has
    ipt(sd, "-D INPUT -p tcp -m state --state INVALID -j DROP "
            "-m comment --comment 'drop but do not log inbound invalid state packets'")
    res, lines = run(sd, "--waivers", w)
    got = [ln for ln in lines if ln.startswith(PREFIX + "[iptables.ruleset]")]
    assert res.returncode == 1 and got and "is missing" in got[0], lines


def test_a_place_alone_waives_nothing_it_is_refused(sd, tmp_path):
    w = waivers(tmp_path, {"check": "iptables.ruleset", "resource": "filter/INPUT#1"})
    res, lines = run(sd, "--waivers", w)
    assert res.returncode == 2 and "must name what it excuses" in lines[0], lines


def test_a_policy_waiver_names_the_policy(sd, tmp_path):
    ipt(sd, "-P FORWARD ACCEPT")
    res, lines = run(sd)
    assert res.returncode == 1 and any("FORWARD: the policy is ACCEPT" in ln for ln in lines), lines
    w = waivers(tmp_path, {"check": "iptables.ruleset", "rule": "-P FORWARD ACCEPT"},
                {"check": "iptables.default-drop", "rule": "-P FORWARD ACCEPT"})
    res, lines = run(sd, "--waivers", w)
    assert res.returncode == 0 and lines == [], lines


@pytest.mark.parametrize("item,words", [
    ({"check": "iptables.ruleset", "rule": "-A INPUT --no-such-thing"}, "the waiver's rule"),
    ({"check": "iptables.ruleset", "rule": "accept everything"}, "the waiver's rule"),
    ({"check": "store.orphan-files", "rule": "-A INPUT -j ACCEPT"}, "name no firewall rule"),
    ({"check": "iptables.ruleset", "rule": "-A INPUT -j ACCEPT", "rule_pattern": "*"}, "names one thing"),
    ({"check": "store.orphan-files"}, "must name what it excuses"),
    ({"check": "iptables.ruleset", "rule": ""}, "non-empty string"),
])
def test_a_waiver_rule_that_cannot_be_read_is_a_usage_error(sd, tmp_path, item, words):
    res, _ = run(sd, "--waivers", waivers(tmp_path, item))
    assert res.returncode == 2 and words in res.stdout and "waivers.yml:" in res.stdout, res.stdout  # run: an alert line
