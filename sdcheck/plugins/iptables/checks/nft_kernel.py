"""iptables.nft-kernel: what the kernel enforces is what iptables-nft-save shows (the
printed rules reloaded in a scratch network namespace and compared as nft JSON)."""

from __future__ import annotations

from sdcheck.check import Check
from sdcheck.host.base import FactError
from sdcheck.model import Finding, Severity
from sdcheck.plugins.iptables.base import describe, nft_ruleset, snapshot
from sdcheck.startup import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Iterable


_SAVE = {4: "iptables", 6: "ip6tables"}


class NftKernel(Check):
    id = "iptables.nft-kernel"
    # the dumps it reads whatever the variables say (the plugin prefetches them): save dumps
    # by family, and "nft" for 'nft -j list ruleset'
    reads = (4, 6, "nft")
    title = "The kernel's nft rules in iptables' own tables are exactly what iptables shows"
    # what exactly is verified (docs/checks.md, sdcheck explain)
    details = ("what the kernel enforces in iptables' own nft tables is exactly what iptables shows. The rules "
               "`iptables-nft-save`/`ip6tables-nft-save` print are loaded again into a network namespace of "
               "sdcheck's own (`unshare --net`, gone when the command ends). The kernel's JSON of both (`nft -j list"
               " ruleset`) must then be equal, expression for expression (handles and counter values aside). A "
               "native nft expression the save tool cannot print (a set lookup, a mark match, another verdict), a "
               "chain, set or map it does not show, and changed table flags (a `dormant` table filters nothing while"
               " the save tool still prints its rules) are findings. So is a rule the save tool prints that cannot "
               "be loaded again (ERROR: cannot verify). A built-in chain the save tool prints with ACCEPT policy "
               "and no rule, which iptables-nft never created in the kernel (it creates only the chains a rule "
               "needs), changes nothing and is not a finding.")
    severity = Severity.CRITICAL
    why = ("iptables-nft-save prints what it can express and silently leaves out the rest: a native nft "
           "expression (a set lookup, a mark match, another verdict) put into iptables' own table still "
           "prints as the plain rule, or not at all, while the kernel enforces it. Every other firewall "
           "check would then judge a ruleset the kernel does not run. What iptables prints is loaded again "
           "into a network namespace of sdcheck's own; the kernel's JSON of both must be equal, expression "
           "for expression (handles and counter values aside).")
    remedy = ("Reload the firewall from its rules files (SecureDrop: re-run 'securedrop-admin install', or "
              "'iptables-restore < /etc/iptables/rules_v4' and 'ip6tables-restore < /etc/iptables/rules_v6'), "
              "then find what changed the tables: 'nft list ruleset' shows what the kernel holds.")

    def run(self) -> Iterable[Finding]:
        from sdcheck.plugins.iptables.nft import FAMILY, NftError, differences, tables_of

        facts = self.ctx.facts
        for program in ("nft", "unshare"):
            if facts.which(program) is None:
                yield self.error(f"the {program} program is not installed, so the kernel's nft rules cannot be "
                                 "compared with what iptables shows", resource="nftables")
                return
        try:
            live = nft_ruleset(self.ctx)
        except FactError as exc:
            yield self.error(str(exc), resource="nftables")
            return
        clean, rules = True, 0
        saved: dict[int, str] = {}  # family -> what iptables-nft-save printed
        for family in (4, 6):
            snap = snapshot(self.ctx, family)
            if snap.raw.get("nft") is None:
                clean = False
                yield self.error(f"the {_SAVE[family]} nft rules could not be read: "
                                 f"{snap.unavailable.get('nft', '')}", resource=f"nftables/{FAMILY[family]}")
            else:
                saved[family] = snap.raw["nft"]
        # what iptables-nft makes of the printed rules, in network namespaces of our own (both
        # families at once: they are independent)
        reloaded = self.ctx.concurrently(
            *[lambda f=f: facts.run(["unshare", "--net", "sh", "-c", f"{_SAVE[f]}-nft-restore && exec nft -j list "
                                     "ruleset"], timeout=30, input=saved[f].encode("utf-8", "surrogateescape"))
              for f in saved])
        for family, (ok, res) in zip(saved, reloaded):
            cmd = _SAVE[family]
            snap = snapshot(self.ctx, family)
            try:
                if not ok:
                    raise NftError(str(res))
                if not res.ok:
                    raise NftError(f"exit {res.returncode}")
                expected = tables_of(res.stdout, FAMILY[family])
                have = tables_of(live, FAMILY[family])
            except NftError as exc:
                clean = False
                yield self.error(f"what {cmd}-nft-save prints could not be loaded again into a scratch network "
                                 f"namespace ({exc}), so it cannot be compared with the kernel",
                                 resource=f"nftables/{FAMILY[family]}")
                continue
            rules += sum(len(c["rules"]) for t in have.values() for c in t["chains"].values())
            tables = snap.tables.get("nft", {})
            for table, chain, pos, what in differences(have, expected):
                clean = False
                where = f"{FAMILY[family]} {table}/{chain}" + (f"#{pos}" if pos else "")
                printed_table = tables.get(table)
                printed = printed_table.chains.get(chain) if printed_table else None
                shown = describe(printed.rules[pos - 1]) if printed and 0 < pos <= len(printed.rules) else ""
                yield self.fail(f"{where}: {what}" + (f" (iptables prints: {shown})" if shown else ""), resource=where,
                                expected=shown or "what iptables shows", actual="another nft rule or object",
                                group=f"{family}:{table}/{chain}")
        if clean:
            yield self.passed(f"the kernel's {rules} rule(s) in iptables' tables are exactly what iptables shows",
                              resource="nftables")
