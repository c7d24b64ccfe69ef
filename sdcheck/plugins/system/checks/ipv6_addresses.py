"""system.ipv6-addresses: no interface holds an IPv6 address (SecureDrop disables IPv6)."""

from __future__ import annotations

from sdcheck.check import Check
from sdcheck.model import Finding, Severity
from sdcheck.startup import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Iterable


class Ipv6Addresses(Check):
    id = "system.ipv6-addresses"
    title = "No interface holds an IPv6 address, the loopback included"
    # what exactly is verified (docs/checks.md, sdcheck explain)
    details = ("(both) /proc/net/if_inet6 lists no address (SecureDrop's test_ipv6_addresses_absent: `ip -6 addr` "
               "prints nothing); with IPv6 disabled at boot the file does not exist, which passes.")
    severity = Severity.HIGH
    why = ("SecureDrop disables IPv6 and its firewall drops all of it. An address means IPv6 is back on: "
           "traffic that ip6tables then decides, services that listen on it, and a second path a "
           "misconfiguration can open.")
    remedy = ("Disable IPv6 again as SecureDrop does (the ipv6.disable=1 boot option and the disable_ipv6 "
              "settings; re-run 'securedrop-admin install'), then reboot and find what enabled it.")

    def run(self) -> Iterable[Finding]:
        found = self.ctx.facts.ipv6_addresses()
        if not found:
            yield self.passed("IPv6 is off" if found is None else "no interface holds an IPv6 address",
                              resource="ipv6")
            return
        shown = [f"{address}%{interface}" for address, interface in found]
        yield self.fail(f"{len(found)} IPv6 address(es) on {', '.join(sorted({i for _a, i in found}))}: "
                        f"{', '.join(shown[:5])}" + (" ..." if len(shown) > 5 else ""), resource="ipv6",
                        expected="no IPv6 address", actual=f"{len(found)} address(es)", detail=shown[:50])
