"""iptables.nft-native: no native nftables table beside the ones iptables-nft owns."""

from __future__ import annotations

from sdcheck.check import Check, Option
from sdcheck.host.base import FactError
from sdcheck.model import Finding, Severity
from sdcheck.plugins.iptables.base import XTABLES_OWNED, nft_ruleset
from sdcheck.startup import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Iterable


class NftNative(Check):
    id = "iptables.nft-native"
    # the dumps it reads whatever the variables say (the plugin prefetches them): save dumps
    # by family, and "nft" for 'nft -j list ruleset'
    reads = ("nft",)
    title = "No native nftables table filters traffic beside iptables' own tables"
    # what exactly is verified (docs/checks.md, sdcheck explain)
    details = ("no native nftables table (created with `nft`, invisible to `iptables -S` and iptables-save) besides "
               "iptables' own; each is named with its chains, hooks and rule count. `nft_allowed_tables` accepts "
               "known ones; without the `nft` program the check is a SKIP")
    severity = Severity.HIGH
    why = ("nftables tables created with 'nft' (not through iptables-nft) are invisible to "
           "'iptables -S' and to iptables-save, yet the kernel runs their chains on every packet: "
           "a place to drop, redirect or log traffic that no iptables check would see.")
    remedy = ("Inspect it with 'nft list table FAMILY NAME'; if nothing on the server needs it, "
              "remove it ('nft delete table FAMILY NAME') and disable what created it (for example "
              "'systemctl disable --now nftables').")
    options = {"allowed": Option(list, [], help="tables to accept, as 'family name' (e.g. 'inet fail2ban')")}

    def run(self) -> Iterable[Finding]:
        facts = self.ctx.facts
        if facts.which("nft") is None:
            # fail closed: without nft, tables it created are invisible, so this is no pass
            yield self.error("the nft program is not installed, so nftables tables cannot be listed; "
                             "install the Debian package nftables", resource="nftables")
            return
        try:
            text = nft_ruleset(self.ctx)
        except FactError as exc:
            yield self.error(str(exc), resource="nftables")
            return
        import json

        try:
            items = json.loads(text or b"{}").get("nftables", [])
        except ValueError:
            yield self.error("'nft -j list ruleset' printed something that is not JSON", resource="nftables")
            return
        tables: dict[tuple[str, str], dict] = {}
        for item in items:
            for kind in ("table", "chain", "rule"):
                obj = item.get(kind) if isinstance(item, dict) else None
                if not isinstance(obj, dict):
                    continue
                key = (str(obj.get("family")), str(obj.get("table") or obj.get("name")))
                entry = tables.setdefault(key, {"chains": 0, "rules": 0, "hooks": set()})
                if kind == "chain":
                    entry["chains"] += 1
                    if obj.get("hook"):
                        entry["hooks"].add(str(obj["hook"]))
                elif kind == "rule":
                    entry["rules"] += 1
        allowed = {tuple(str(a).split(None, 1)) for a in self.opts["allowed"]}
        found = False
        for (family, name), entry in sorted(tables.items()):
            if (family, name) in XTABLES_OWNED or (family, name) in allowed:
                continue
            found = True
            hooks = ", ".join(sorted(entry["hooks"]))
            yield self.fail(
                f"native nftables table {family} {name}: {entry['chains']} chain(s)"
                + (f", hooked into {hooks}" if hooks else ", none hooked") + f", {entry['rules']} rule(s); "
                "the kernel applies it besides iptables", resource=f"nftables/{family} {name}",
                expected="only iptables' own tables", actual=f"table {family} {name}",
                severity=Severity.HIGH if hooks else Severity.MEDIUM, group="tables")
        if not found:
            yield self.passed(f"no native nftables table ({len(tables)} table(s), all iptables')",
                              resource="nftables")
