"""iptables.ruleset: the whole ruleset against the app/mon baselines, real iptables in
namespaces, both backends; tamperings; the report diff; baseline capture."""

from __future__ import annotations

import pytest
from helpers.all import need, render
from helpers.ruleset_suite import TEMPLATE, VARS, run


def test_native_nft_table_is_a_finding(netns, tmp_path):
    need("nft")
    netns.restore_securedrop("nft", render(TEMPLATE["app"]))
    res = run(netns)
    assert res.returncode == 0, res.stdout
    netns.sh("nft add table inet sneaky && nft add chain inet sneaky input "
             "'{ type filter hook input priority -10; policy accept; }' && "
             "nft add rule inet sneaky input tcp dport 4444 accept")
    res = run(netns)
    (line,) = [ln for ln in res.stdout.splitlines() if "[iptables.nft-native]" in ln]
    assert "native nftables table inet sneaky: 1 chain(s), hooked into input, 1 rule(s)" in line
    # allowed, the table is still read whole: its accept is named
    res = netns.sdcheck("run", "--profile", "app", "--vars", VARS, "--only", "iptables", "--skip", "iptables.boot-rules",
                        "--var", "nft_allowed_tables=['inet sneaky']")
    (line,) = [ln for ln in res.stdout.splitlines() if "[iptables.nft-native]" in ln]
    assert "allowed nftables table inet sneaky, chain input" in line and "accepts traffic" in line


def _allowed_run(netns, rules: str):
    netns.sh("nft add table inet f2b && nft add chain inet f2b input "
             "'{ type filter hook input priority -1; policy accept; }' && "
             "nft add chain inet f2b pre '{ type nat hook prerouting priority -100; }' && " + rules)
    res = netns.sdcheck("report", "--profile", "app", "--vars", VARS, "--only", "iptables.nft-native",
                        "--var", "nft_allowed_tables=['inet f2b']", "--format", "json")
    import json
    return [f for f in json.loads(res.stdout)["findings"] if f["status"] != "pass"]


def test_an_allowed_table_that_only_drops_passes(netns):
    need("nft")
    assert _allowed_run(netns, "nft add rule inet f2b input ip saddr 192.0.2.7 drop && "
                               "nft add rule inet f2b input ip saddr 192.0.2.8 reject") == []


# this machine's kernel has no nft dup or queue module: those statements are read from the
# JSON nft prints for them (test_statements_of_every_copying_kind)
@pytest.mark.parametrize("rule,shown", [
    ("nft add rule inet f2b input log group 5", "log group"),
    ("nft add rule inet f2b pre tcp dport 80 dnat ip to 192.0.2.9", "dnat"),
    ("nft add rule inet f2b pre tcp dport 81 redirect to :8080", "redirect"),
])
def test_an_allowed_table_that_copies_or_redirects_is_critical(netns, rule, shown):
    need("nft")
    (bad,) = _allowed_run(netns, rule)
    assert bad["severity"] == "critical" and shown in bad["message"] and bad["widens"], bad


def test_statements_of_every_copying_kind():
    """nft -j's statement objects (libnftables-json(5)) for what copies or redirects."""
    from sdcheck.plugins.iptables.checks.nft_native import _statements

    expr = [{"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 80}},
            {"dup": {"addr": "192.0.2.9", "dev": "eth0"}}, {"fwd": {"dev": "eth1"}}, {"queue": {"num": 3}},
            {"log": {"prefix": "x"}}, {"log": {"group": 2}}, {"tproxy": {"port": 1}}, {"masquerade": None},
            {"counter": {"packets": 0, "bytes": 0}}, {"accept": None}]
    assert _statements(expr) == ["dup", "fwd", "queue", "log group", "tproxy", "masquerade", "accept"]
    assert _statements(None) == [] and _statements([1, "x", {"log": None}]) == []
