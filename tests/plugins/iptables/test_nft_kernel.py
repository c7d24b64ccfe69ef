"""iptables.nft-kernel: the kernel's own view of iptables' nft tables (nft -j list ruleset)
must be exactly what iptables-nft generates for the rules iptables-nft-save prints. A native
nft expression put into iptables' table (printed by the save tool as a plain rule, or not
at all) is a finding, whatever the expression."""

from __future__ import annotations

import json

import pytest
from helpers.all import need, render, write_vars
from helpers.cli import PREFIX

CHECK = "iptables.nft-kernel"
VARS = str(write_vars())


@pytest.fixture
def app(netns):
    need("nft")
    netns.restore_securedrop("nft", render("iptables-app-prod.j2"))
    return netns


def _handle(ns, chain: str, position: int, family: str = "ip") -> int:
    data = json.loads(ns.sh(f"nft -j list chain {family} filter {chain}").stdout)
    rules = [i["rule"] for i in data["nftables"] if "rule" in i]
    return rules[position - 1]["handle"]


def _lines(ns, *extra) -> tuple[int, list[str]]:
    res = ns.sdcheck("run", "--profile", "app", "--vars", VARS, "--only", CHECK, *extra)
    return res.returncode, res.stdout.splitlines()


def test_securedrop_rulesets_pass(app):
    code, lines = _lines(app)
    assert code == 0 and lines[0].startswith("sdcheck: OK"), lines


def test_a_set_lookup_narrowing_logndrops_drop_is_found(app):
    """The issue's attack: LOGNDROP's final drop now drops two addresses only; iptables-nft-save
    still prints '-A LOGNDROP -j DROP'."""
    rules = app.sh("nft -j list chain ip filter LOGNDROP").stdout
    last = [i["rule"] for i in json.loads(rules)["nftables"] if "rule" in i][-1]["handle"]
    app.sh(f"nft replace rule ip filter LOGNDROP handle {last} ip daddr {{ 192.0.2.1, 192.0.2.2 }} counter drop")
    assert "-A LOGNDROP -j DROP" in app.sh("iptables-nft-save").stdout  # the save tool hides it
    code, lines = _lines(app)
    assert code == 1
    hit = [ln for ln in lines if ln.startswith(f"{PREFIX}[{CHECK}]")]
    assert hit and "filter/LOGNDROP" in hit[0] and "#4" in hit[0], lines


@pytest.mark.parametrize("attack", [
    # an accept added with an expression iptables cannot print, before the drops
    "nft insert rule ip filter INPUT meta mark 0x1 accept",
    # a chain iptables-nft-save does not show, jumped to from a rule it prints oddly
    "nft add chain ip filter HIDDEN && nft add rule ip filter HIDDEN accept",
    # a named set in iptables' own table
    "nft add set ip filter allowed '{ type ipv4_addr; }'",
    # the same in the IPv6 table
    "nft insert rule ip6 filter OUTPUT meta l4proto tcp accept",
    # the whole filter table switched off, while iptables-nft-save still prints every rule
    "nft add table ip filter '{ flags dormant; }'",
])
def test_native_additions_to_iptables_tables_are_found(app, attack):
    app.sh(attack)
    code, lines = _lines(app)
    assert code == 1 and any(ln.startswith(f"{PREFIX}[{CHECK}]") for ln in lines), lines


def test_a_changed_verdict_in_a_printed_rule_is_found(app):
    """A rule whose comment and match stay, but whose verdict became accept via a replaced rule
    that iptables prints the same way (a 'log' turned into 'log' + 'accept')."""
    handle = _handle(app, "LOGNDROP", 1)
    expr = json.loads(app.sh("nft -j list chain ip filter LOGNDROP").stdout)
    assert expr  # the chain is there
    app.sh(f"nft replace rule ip filter LOGNDROP handle {handle} ip protocol tcp limit rate 5/minute "
           "burst 5 packets counter log prefix \"LOGNDROP \" level warn accept")
    code, lines = _lines(app)
    assert code == 1 and any(f"{CHECK}]" in ln and "LOGNDROP" in ln for ln in lines), lines


def test_critical_and_read_only(app):
    before = app.sh("nft -j list ruleset").stdout
    app_state = json.loads(before)
    res = app.sdcheck("report", "--profile", "app", "--vars", VARS, "--only", CHECK, "--format", "json")
    data = json.loads(res.stdout)
    assert {f["status"] for f in data["findings"]} == {"pass"}
    assert json.loads(app.sh("nft -j list ruleset").stdout) == app_state  # nothing changed here


# iptables-nft creates a table's chains lazily (only those a rule needs) while iptables-nft-save
# prints every built-in chain of the table: that is how SecureDrop's own servers look
LAZY = ["-t nat -A POSTROUTING -o eth0 -j MASQUERADE", "-t raw -A PREROUTING -p udp --dport 53 -j NOTRACK",
        "-t mangle -A OUTPUT -p tcp --dport 22 -j TOS --set-tos 0x10",
        "-t mangle -A FORWARD -j ACCEPT"]


@pytest.mark.parametrize("rule", LAZY)
def test_a_table_made_by_one_iptables_append_gives_no_line(app, rule):
    app.sh(f"iptables-nft {rule}")
    code, lines = _lines(app)
    assert code == 0 and lines[0].startswith("sdcheck: OK"), lines


def test_an_empty_table_left_after_add_and_delete_gives_no_line(app):
    app.sh("iptables-nft -t nat -A PREROUTING -j RETURN && iptables-nft -t nat -D PREROUTING -j RETURN")
    assert "*nat" in app.sh("iptables-nft-save").stdout
    code, lines = _lines(app)
    assert code == 0 and lines[0].startswith("sdcheck: OK"), lines


def test_a_native_chain_that_accepts_is_still_found(app):
    app.sh("iptables-nft -t nat -A POSTROUTING -o eth0 -j MASQUERADE")
    app.sh("nft add chain ip nat sneaky '{ type filter hook prerouting priority -150; policy accept; }' "
           "&& nft add rule ip nat sneaky tcp dport 4444 accept")
    code, lines = _lines(app)
    hit = [ln for ln in lines if ln.startswith(f"{PREFIX}[{CHECK}] (critical) ip nat/sneaky: a chain that iptables does "
                                               "not show (1 rule(s)); the kernel enforces it")]
    assert code == 1 and hit, lines


def test_a_printed_chain_the_kernel_lacks_counts_unless_it_changes_nothing():
    """The pure comparison: a base chain with ACCEPT policy and no rules changes nothing when
    absent; one with a DROP policy, or with rules, or a user chain, is the kernel enforcing
    less than iptables shows."""
    from sdcheck.plugins.iptables.nft import differences

    def chain(policy, rules=(), hook="input"):
        return {"base": ("filter", hook, 0, policy, None) if hook else None, "rules": list(rules)}

    printed = {"filter": {"flags": None, "objects": set(), "chains": {
        "INPUT": chain("accept"), "FORWARD": chain("drop"), "OUTPUT": chain("accept", ["x"]),
        "MINE": chain(None, hook=None)}}}
    kernel = {"filter": {"flags": None, "objects": set(), "chains": {}}}
    found = {(c, what) for _t, c, _pos, what in differences(kernel, printed)}
    assert found == {(c, "a chain iptables shows is not in the kernel; the kernel enforces neither its policy "
                         "nor its rules") for c in ("FORWARD", "OUTPUT", "MINE")}
