"""iptables.ruleset: the whole ruleset against the app/mon baselines, real iptables in
namespaces, both backends; tamperings; the report diff; baseline capture."""

from __future__ import annotations

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
    res = netns.sdcheck("run", "--profile", "app", "--vars", VARS, "--only", "iptables",
                        "--var", "nft_allowed_tables=['inet sneaky']")
    assert res.returncode == 0 and "[iptables.nft-native]" not in res.stdout, res.stdout
