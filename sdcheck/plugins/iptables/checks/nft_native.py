"""iptables.nft-native: no native nftables table beside the ones iptables-nft owns."""

from __future__ import annotations

from sdcheck.check import Check, Option
from sdcheck.host.base import FactError
from sdcheck.model import Finding, Severity
from sdcheck.plugins.iptables.base import XTABLES_OWNED, nft_ruleset
from sdcheck.startup import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Iterable


# statements that hand packets, or copies of them, elsewhere (copy) or change where they go
COPY = frozenset({"dup", "fwd", "queue"})
REDIRECT = frozenset({"dnat", "snat", "redirect", "masquerade", "tproxy"})


def _statements(expr) -> list[str]:
    """The statement names of a rule's expression list ('log' only when it logs to an nflog
    group, which hands copies to a program)."""
    out = []
    for stmt in expr if isinstance(expr, list) else []:
        if not isinstance(stmt, dict):
            continue
        for key, value in stmt.items():
            if key == "log":
                if isinstance(value, dict) and "group" in value:
                    out.append("log group")
            elif key in COPY or key in REDIRECT or key == "accept":
                out.append(key)
    return out


class NftNative(Check):
    id = "iptables.nft-native"
    # the dumps it reads whatever the variables say (the plugin prefetches them): save dumps
    # by family, and "nft" for 'nft -j list ruleset'
    reads = ("nft",)
    title = "No native nftables table filters traffic beside iptables' own tables"
    # what exactly is verified (docs/checks.md, sdcheck explain)
    details = ("no native nftables table (created with `nft`, invisible to `iptables -S` and iptables-save) besides "
               "iptables' own; each is named with its chains, hooks and rule count. `nft_allowed_tables` accepts "
               "known ones, but reads them whole: a rule of an allowed table that copies traffic (dup, fwd, queue, "
               "log to an nflog group) or redirects it (dnat, snat, redirect, masquerade, tproxy) is critical, one "
               "that accepts is high. Without the `nft` program the check is an ERROR")
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
                    entry.setdefault("statements", []).append(
                        (obj.get("chain"), obj.get("handle"), _statements(obj.get("expr"))))
        allowed = {tuple(str(a).split(None, 1)) for a in self.opts["allowed"]}
        found = False
        for (family, name), entry in sorted(tables.items()):
            if (family, name) in allowed:
                for finding in self._allowed(family, name, entry):
                    found = True
                    yield finding
                continue
            if (family, name) in XTABLES_OWNED:
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

    def _allowed(self, family: str, name: str, entry: dict) -> Iterable[Finding]:
        """An allowed table is still read whole: what it copies, redirects or accepts."""
        for chain, handle, stmts in entry.get("statements", []):
            bad = [s for s in stmts if s in COPY or s in REDIRECT or s == "log group"]
            if bad or "accept" in stmts:
                what = ", ".join(bad or ["accept"])
                effect = ("copies or hands traffic elsewhere" if any(s in COPY or s == "log group" for s in bad)
                          else "redirects traffic" if bad else "accepts traffic")
                where = f"nftables/{family} {name}/{chain}#{handle}"
                yield self.fail(f"allowed nftables table {family} {name}, chain {chain}, rule handle {handle}: "
                                f"{what}: it {effect}, which an allowed table may not do", resource=where,
                                expected="no copy, redirect or accept",
                                actual=what, severity=Severity.CRITICAL if bad else Severity.HIGH,
                                group="allowed", widens=bool(bad), subject=f"nft {family} {name} {chain} {what}")
