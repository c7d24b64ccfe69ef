"""iptables.default-drop: DROP policies and the catch-all LOGNDROP and DROP rules
(what SecureDrop's checksdconfig.py was meant to verify)."""

from __future__ import annotations

from sdcheck.check import Check, Option
from sdcheck.model import Finding, Severity
from sdcheck.plugins.iptables.base import REINSTATE, TERMINAL_TARGETS, PinnedWaivers, describe, is_catch_all, snapshot
from sdcheck.plugins.iptables.rules import Chain, Table
from sdcheck.plugins.iptables.subjects import policy_subject, rule_subject
from sdcheck.startup import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Iterable


class DefaultDrop(PinnedWaivers, Check):
    id = "iptables.default-drop"
    # the dumps it reads whatever the variables say (the plugin prefetches them): save dumps
    # by family, and "nft" for 'nft -j list ruleset'
    reads = (4,)
    title = "iptables drops by default: DROP policies, catch-all LOGNDROP and DROP rules"
    # what exactly is verified (docs/checks.md, sdcheck explain)
    details = ("filter policies INPUT/FORWARD/OUTPUT are DROP; INPUT ends with an unconditional jump to LOGNDROP, "
               "OUTPUT with an unconditional DROP; LOGNDROP holds rate-limited LOG rules for tcp, udp and icmp, "
               'nothing else, and ends with DROP. "Not configured" (no rules, ACCEPT policies) is its own finding. '
               "Every deviation is named: chain, position, expected vs actual.")
    severity = Severity.CRITICAL
    why = ("Everything the firewall does not explicitly allow must be dropped and logged. "
           "This is what SecureDrop's checksdconfig.py was meant to verify every day.")
    remedy = REINSTATE
    options = {
        "policies": Option(dict, {"INPUT": "DROP", "FORWARD": "DROP", "OUTPUT": "DROP"}),
        "input_final_jump": Option(str, "LOGNDROP"),
        "output_final_target": Option(str, "DROP"),
        "log_chain": Option(str, "LOGNDROP"),
        "log_protocols": Option(list, ["tcp", "udp", "icmp"]),
    }

    def run(self) -> Iterable[Finding]:
        snap = snapshot(self.ctx, 4)
        effective = snap.effective()
        if not effective:
            reasons = "; ".join(snap.unavailable.values()) or "no backend could be read"
            yield self.error(f"the firewall could not be read: {reasons}", resource="filter")
            return
        several = len(effective) > 1
        for backend, tables in effective:
            found = list(self._judge(backend, tables.get("filter"), several))
            if not found:
                n = tables["filter"].rule_count()
                found.append(self.passed(
                    f"default-drop rules are in place ({backend} backend, {n} filter rules)",
                    resource="filter"))
            yield from found

    def _judge(self, backend: str, table: Table | None, several: bool) -> Iterable[Finding]:
        tag = f" ({backend} backend)"
        pre = f"{backend}:" if several else ""
        if table is None or table.is_empty():
            yield self.fail(
                "The iptables rules have not been configured: the filter table has no rules "
                "and every policy is ACCEPT" + tag,
                resource=pre + "filter", expected="SecureDrop's firewall rules",
                actual="no rules, ACCEPT policies", group=pre + "filter", widens=True)
            return
        # policies, all of them
        for chain_name, want in self.opts["policies"].items():
            chain = table.chains.get(chain_name)
            have = chain.policy if chain else None
            if have != want:
                yield self.fail(
                    f"the {chain_name} chain's policy is {have or 'missing'}, expected {want}" + tag,
                    resource=f"{pre}filter/{chain_name}:policy", expected=want, actual=have or "missing",
                    group=pre + "policies", widens=True,
                    subject=policy_subject("filter", chain_name, have) if have else "")
        yield from self._tail(table, "INPUT", self.opts["input_final_jump"], tag, pre)
        yield from self._tail(table, "OUTPUT", self.opts["output_final_target"], tag, pre)
        yield from self._log_chain(table, tag, pre)

    def _tail(self, table: Table, chain_name: str, target: str, tag: str, pre: str) -> Iterable[Finding]:
        chain = table.chains.get(chain_name)
        res = f"{pre}filter/{chain_name}"
        verb = "jump to" if target not in TERMINAL_TARGETS else "rule with target"
        expected = f"-A {chain_name} -j {target}"
        if chain is None or not chain.rules:
            yield self.fail(f"the {chain_name} chain is empty; it must end with an unconditional "
                            f"{verb} {target}" + tag, resource=res, expected=expected, actual="no rules",
                            widens=True)
            return
        rules = chain.rules
        last = rules[-1]
        if is_catch_all(last, target):
            return
        catch = [i for i, r in enumerate(rules, 1) if is_catch_all(r, target)]
        if catch:
            k = catch[-1]
            after = len(rules) - k
            yield self.fail(
                f"the {chain_name} chain's catch-all {verb} {target} is rule #{k}, but {after} "
                f"rule(s) follow it; the last is #{len(rules)}: {describe(last)}" + tag,
                resource=f"{res}#{len(rules)}", expected=f"#{len(rules)}: {expected}",
                actual=f"#{len(rules)}: {describe(last)}", widens=True, subject=rule_subject("filter", last),
                severity=Severity.HIGH if last.target in ("ACCEPT", "RETURN") else Severity.MEDIUM)
            return
        yield self.fail(
            f"the {chain_name} chain does not end with an unconditional {verb} {target}: its last "
            f"rule #{len(rules)} is: {describe(last)}" + tag,
            resource=f"{res}#{len(rules)}", expected=expected, actual=describe(last), widens=True,
            subject=rule_subject("filter", last))

    def _log_chain(self, table: Table, tag: str, pre: str) -> Iterable[Finding]:
        name = self.opts["log_chain"]
        res = f"{pre}filter/{name}"
        chain: Chain | None = table.chains.get(name)
        if chain is None:
            user_chains = sorted(c for c, ch in table.chains.items() if not ch.builtin)
            others = f"; user chains present: {', '.join(user_chains)}" if user_chains else ""
            yield self.fail(f"the {name} chain does not exist{others}" + tag, resource=res,
                            expected=f"chain {name}", actual="missing", widens=True)
            return
        rules = chain.rules
        for proto in self.opts["log_protocols"]:
            logs = [r for r in rules if r.target == "LOG" and r.option("", "p") == proto]
            if not any(r.matches("limit", "limit") for r in logs):
                what = "is not rate-limited" if logs else "is missing"
                yield self.fail(
                    f"the {name} chain's rate-limited LOG rule for {proto} {what}" + tag,
                    resource=res, expected=f"-A {name} -p {proto} -m limit --limit 5/min -j LOG ...",
                    actual=describe(logs[0]) if logs else "no LOG rule for " + proto,
                    severity=Severity.MEDIUM)
        final = rules[-1] if rules else None
        if final is None or not is_catch_all(final, "DROP"):
            yield self.fail(
                f"the {name} chain does not end with an unconditional DROP: "
                + (f"its last rule #{len(rules)} is: {describe(final)}" if final else "it is empty") + tag,
                resource=f"{res}#{len(rules)}" if rules else res, expected=f"-A {name} -j DROP",
                actual=describe(final) if final else "no rules", widens=True,
                subject=rule_subject("filter", final) if final else "")
        for pos, rule in enumerate(rules[:-1], 1):
            if rule.target != "LOG":
                yield self.fail(
                    f"unexpected rule #{pos} in the {name} chain: {describe(rule)}" + tag,
                    resource=f"{res}#{pos}", expected="only LOG rules before the final DROP",
                    actual=describe(rule), widens=True, subject=rule_subject("filter", rule),
                    severity=Severity.CRITICAL if rule.target in ("ACCEPT", "RETURN") else Severity.HIGH)
