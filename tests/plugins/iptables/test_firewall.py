"""iptables default-drop and backend checks against real iptables in namespaces, both backends."""

from __future__ import annotations

import subprocess

import pytest
from helpers.all import render
from helpers.default_drop_suite import (
    LEGACY_CORPUS,
    both_legacy_readers,
    run,
    tampered,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st


@pytest.mark.parametrize("profile,template", [("app", "iptables-app-prod.j2"), ("mon", "iptables-mon-prod.j2")])
def test_securedrop_ruleset_passes(netns, backend, profile, template):
    netns.restore_securedrop(backend, render(template))
    res, lines = run(netns, profile)
    assert res.returncode == 0, res.stdout + res.stderr
    assert len(lines) == 1 and "error" not in lines[0].lower()
    assert res.stderr == ""


def test_logndrop_renamed(netns, backend):
    res, got, _lines = tampered(netns, backend, "{ipt} -E LOGNDROP LOGX")
    assert res.returncode == 1
    text = "\n".join(got)
    assert "LOGNDROP chain does not exist; user chains present: LOGX" in text
    assert "INPUT chain does not end with an unconditional jump to LOGNDROP" in text
    assert "-j LOGX" in text


def test_accept_after_final_jump(netns, backend):
    res, got, _lines = tampered(netns, backend, "{ipt} -A INPUT -p tcp --dport 4444 -j ACCEPT")
    assert res.returncode == 1 and len(got) == 1
    assert "INPUT chain's catch-all jump to LOGNDROP is rule #" in got[0]
    assert "1 rule(s) follow it" in got[0] and "--dport 4444 -j ACCEPT" in got[0]


def test_accept_in_logndrop_before_drop(netns, backend):
    res, got, _lines = tampered(netns, backend, "{ipt} -I LOGNDROP 4 -j ACCEPT")
    assert res.returncode == 1
    assert any("unexpected rule #4 in the LOGNDROP chain: -A LOGNDROP -j ACCEPT" in g for g in got)


def test_log_rules_removed(netns, backend):
    res, got, _lines = tampered(netns, backend, *["{ipt} -D LOGNDROP 1"] * 3)
    assert res.returncode == 1
    # three findings about one chain: one summarised line
    assert len(got) == 1 and got[0].count("is missing") == 3, got
    for proto in ("tcp", "udp", "icmp"):
        assert f"rate-limited LOG rule for {proto} is missing" in got[0]


def test_log_rule_without_limit(netns, backend):
    res, got, _lines = tampered(netns, backend, "{ipt} -R LOGNDROP 2 -p udp -j LOG")
    assert res.returncode == 1 and len(got) == 1
    assert "rate-limited LOG rule for udp is not rate-limited" in got[0]


def test_reading_nft_creates_no_legacy_table(netns):
    """python-iptables must not be opened on an nft host: it would create a legacy table."""
    netns.restore_securedrop("nft", render("iptables-app-prod.j2"))
    before = netns.sh("cat /proc/net/ip_tables_names 2>/dev/null || true").stdout
    res, _lines = run(netns)
    after = netns.sh("cat /proc/net/ip_tables_names 2>/dev/null || true").stdout
    assert res.returncode == 0
    assert before.split() == after.split() == []
    assert "legacy tables present" not in netns.sh("iptables-nft -S 2>&1").stdout


def test_lock_free_after_release(netns, tmp_path):
    netns.restore_securedrop("legacy", render("iptables-app-prod.j2"))
    lock = tmp_path / "xtables.lock"
    lock.touch()
    subprocess.run(["flock", "-x", str(lock), "true"], check=True)
    res, lines = run(netns, "app", "--var", f"xtables_lock={lock}")
    assert res.returncode == 0, lines


def test_python_iptables_and_legacy_save_agree(netns):
    """The two legacy readers yield the same canonical rules (SecureDrop app and mon rulesets)."""
    for template in ("iptables-app-prod.j2", "iptables-mon-prod.j2"):
        a, b = both_legacy_readers(netns, render(template))
        assert a == b
        assert sum(len(v) - 1 for v in b.values()) >= 30


def test_both_legacy_readers_agree_on_a_corpus_of_modules_and_flags(netns):
    """python-iptables and iptables-legacy-save give the same canonical rule for every match,
    target and flag in the corpus: a field one reader cannot see is a bug."""
    a, b = both_legacy_readers(netns, LEGACY_CORPUS)
    assert sum(len(v) - 1 for v in b.values()) == len(LEGACY_CORPUS)
    assert a == b
    assert "'f'" in b["OUTPUT"][1]  # the fragment flag is part of the canonical rule


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from(LEGACY_CORPUS), min_size=1, max_size=10))
def test_both_legacy_readers_agree_on_random_rulesets(netns, rules):
    a, b = both_legacy_readers(netns, rules)
    assert a == b and sum(len(v) - 1 for v in b.values()) == len(rules)
