"""iptables.boot-rules-v6: the IPv6 rules file loaded at boot, compared as the live ip6tables."""

from __future__ import annotations

from sdcheck.check import Option
from sdcheck.plugins.iptables.checks.boot_rules import BootRules


class BootRulesV6(BootRules):
    id = "iptables.boot-rules-v6"
    title = "The IPv6 rules file loaded at boot matches the baseline (the ip6tables firewall after a reboot)"
    # what exactly is verified (docs/checks.md, sdcheck explain)
    details = ("(both) `path` (SecureDrop's `iptables_v6_path`, /etc/iptables/rules.v6) compared with the IPv6 "
               "baseline as `iptables.boot-rules` compares the IPv4 file; checked whether or not IPv6 is on now, "
               "since a reboot may turn it on.")
    options = dict(BootRules.options, family=Option(int, 6, help="6: this file is ip6tables'"),
                   path=Option(str, "/etc/iptables/rules.v6", help="the IPv6 rules file loaded at boot",
                               check=lambda v: v.startswith("/")))
