"""iptables.backends: the rules live in one backend only (nft or legacy)."""

from __future__ import annotations

from sdcheck.check import Check, Option
from sdcheck.model import Finding, Severity
from sdcheck.plugins.iptables.base import snapshot
from sdcheck.startup import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Iterable


class Backends(Check):
    id = "iptables.backends"
    # the dumps it reads whatever the variables say (the plugin prefetches them): save dumps
    # by family, and "nft" for 'nft -j list ruleset'
    reads = (4, 6)
    title = "Firewall rules live in one iptables backend only (nft or legacy)"
    # what exactly is verified (docs/checks.md, sdcheck explain)
    details = ("rules live in one backend only; rules in both nft and legacy are a finding (the kernel applies both)")
    severity = Severity.HIGH
    why = ("The kernel applies nft and legacy rules one after the other. Rules left in the "
           "backend the 'iptables' command does not show are invisible to admins and to "
           "checks that read only one backend.")
    remedy = ("Remove the stray ruleset: flush the backend that should be empty "
              "('iptables-legacy -F; iptables-legacy -X' or 'iptables-nft -F; iptables-nft -X', "
              "with the same for each table), then re-run 'securedrop-admin install'.")
    options = {"families": Option(list, [4], help="IP versions to look at (4, 6)")}

    def run(self) -> Iterable[Finding]:
        for family in self.opts["families"]:
            snap = snapshot(self.ctx, int(family))
            name = "iptables" if family == 4 else "ip6tables"
            loaded = snap.loaded()
            if len(loaded) > 1:
                counts = ", ".join(f"{b}: {sum(t.rule_count() for t in snap.tables[b].values())} rules"
                                   for b in loaded)
                yield self.fail(
                    f"{name} rules are loaded in both the nft and the legacy backend ({counts}); "
                    f"the '{name}' command shows only the {snap.selected or 'selected'} one",
                    resource=f"{name}/backends", expected="one backend", actual=" and ".join(loaded))
            else:
                where = loaded[0] if loaded else "neither backend"
                yield self.passed(f"{name}: rules are in {where} (the '{name}' command uses "
                                  f"{snap.selected or 'an unknown backend'})",
                                  resource=f"{name}/backends")
