"""iptables.ipv6: no IPv6 rule can accept a packet."""

from __future__ import annotations

from sdcheck.check import Check, Option
from sdcheck.model import Finding, Severity
from sdcheck.plugins.iptables.base import PinnedWaivers, describe, ipv6_addresses, snapshot
from sdcheck.plugins.iptables.effect import can_accept
from sdcheck.plugins.iptables.subjects import policy_subject, rule_subject
from sdcheck.startup import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Iterable


class Ipv6(PinnedWaivers, Check):
    id = "iptables.ipv6"
    # the dumps it reads whatever the variables say (the plugin prefetches them): save dumps
    # by family, and "nft" for 'nft -j list ruleset'
    reads = (6,)
    title = "IPv6 is off, or ip6tables drops everything (DROP policies, no rule that can accept)"
    # what exactly is verified (docs/checks.md, sdcheck explain)
    details = ("IPv6 is off in the kernel, or ip6tables has DROP policies and no rule that can let traffic through "
               "(ACCEPT, QUEUE/NFQUEUE with or without bypass, an unknown target, or a jump or goto to a chain "
               "holding one); an open ip6tables only passes while no interface but `lo` has an IPv6 address "
               "(link-local ones count)")
    severity = Severity.HIGH
    why = ("SecureDrop's firewall is written for IPv4. An IPv6 address with an open ip6tables "
           "would bypass every IPv4 rule.")
    remedy = ("Load SecureDrop's IPv6 rules (DROP on INPUT, FORWARD and OUTPUT): re-run "
              "'securedrop-admin install', or 'ip6tables-restore < /etc/iptables/rules.v6'.")
    options = {"policies": Option(dict, {"INPUT": "DROP", "FORWARD": "DROP", "OUTPUT": "DROP"})}

    def run(self) -> Iterable[Finding]:
        addresses = ipv6_addresses(self.ctx.facts)
        if addresses is None:
            yield self.passed("IPv6 is disabled in the kernel", resource="ip6tables")
            return
        snap = snapshot(self.ctx, 6)
        problems: list[tuple[str, str]] = []  # (what, subject)
        for backend, tables in snap.effective():
            table = tables.get("filter")
            for name, want in self.opts["policies"].items():
                chain = table.chains.get(name) if table else None
                have = chain.policy if chain and chain.policy else "ACCEPT"  # built-in chains have one
                if have != want:
                    problems.append((f"the {name} policy is {have}, expected {want} ({backend} backend)",
                                     policy_subject("filter", name, have)))
            for chain in (table.chains.values() if table else ()):
                for pos, rule in enumerate(chain.rules, 1):
                    if table and can_accept(rule, table.chains):
                        problems.append((f"rule #{pos} of {chain.name} can let traffic through: {describe(rule)} "
                                         f"({backend} backend)", rule_subject("filter", rule)))
        if not problems:
            yield self.passed("ip6tables drops everything", resource="ip6tables")
        elif not addresses:
            yield self.passed("no IPv6 address outside loopback, so ip6tables does not matter yet "
                              f"({len(problems)} difference(s) from the drop-all rules)", resource="ip6tables")
        else:
            shown = ", ".join(addresses[:3]) + (f" and {len(addresses) - 3} more" if len(addresses) > 3 else "")
            for text, subject in problems:
                yield self.fail(f"IPv6 is in use ({shown}) but {text}", resource="ip6tables/filter",
                                group="ip6tables", widens=True, subject=subject)
