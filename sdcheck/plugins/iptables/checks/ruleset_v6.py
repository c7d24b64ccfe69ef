"""iptables.ruleset-v6: SecureDrop's rules_v6 compared as a whole ruleset."""

from __future__ import annotations

from sdcheck.baseline import line_of
from sdcheck.check import Option
from sdcheck.model import Finding
from sdcheck.plugins.iptables.base import ipv6_addresses
from sdcheck.plugins.iptables.checks.ruleset import Ruleset
from sdcheck.startup import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Iterable


class RulesetV6(Ruleset):
    id = "iptables.ruleset-v6"
    # the dumps it reads whatever the variables say (the plugin prefetches them): save dumps
    # by family, and "nft" for 'nft -j list ruleset'
    reads = (6,)
    title = "The whole IPv6 firewall ruleset (ip6tables) matches the baseline, rule by rule and in order"
    # what exactly is verified (docs/checks.md, sdcheck explain)
    details = ("(both) SecureDrop's `rules_v6` (DROP policies on INPUT, FORWARD and OUTPUT, no rule) compared with "
               "ip6tables as `iptables.ruleset` compares IPv4, on both backends, whether or not an interface has an "
               "IPv6 address yet; with IPv6 off in the kernel (no `/proc/net/if_inet6`) it passes. Nothing loaded is"
               ' one critical "not configured" finding.')
    why = ("An IPv6 address with an open ip6tables bypasses every IPv4 rule. SecureDrop loads its "
           "rules_v6 (DROP everything) on both servers; they are compared as strictly as the IPv4 "
           "rules, whether or not the host has an IPv6 address yet. With IPv6 disabled in the kernel "
           "(no /proc/net/if_inet6) there is nothing to compare.")
    remedy = ("Load SecureDrop's IPv6 rules: re-run 'securedrop-admin install', or "
              "'ip6tables-restore < /etc/iptables/rules_v6'.")
    options = dict(Ruleset.options, family=Option(int, 6, help="6: this check reads ip6tables"))

    @classmethod
    def prepare_options(cls, resolved: dict, raw: dict, fail) -> None:
        if resolved["family"] != 6:
            fail(f"{cls.id} reads ip6tables: option 'family' must be 6 (iptables.ruleset reads IPv4)",
                 line_of(raw, "family"))
        super().prepare_options(resolved, raw, fail)

    def run(self) -> Iterable[Finding]:
        if ipv6_addresses(self.ctx.facts) is None:
            yield self.passed("IPv6 is disabled in the kernel: no ip6tables ruleset to compare",
                              resource="ip6tables")
            return
        yield from super().run()
