"""iptables checks: which backend holds the rules, and the default-drop skeleton.

The live ruleset is read once per run (``ctx.memo``) and shared by every check here.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Iterable

from sdcheck.check import Check, Context, Option
from sdcheck.model import Finding, Severity
from sdcheck.netfilter import LOCK_PATH, Snapshot, read_snapshot
from sdcheck.parsers.iptables_save import Chain, Rule, Table, format_rule

REINSTATE = ("Reinstate the standard firewall by re-running the installer from the Admin "
             "Workstation ('securedrop-admin install'), then run 'sdcheck report' again.")
TERMINAL_TARGETS = {"DROP", "REJECT"}


def name_resolver(ctx: Context):
    facts = ctx.facts

    def resolve(kind: str, name: str) -> str | None:
        got = facts.user_id(name) if kind == "user" else facts.group_id(name)
        return None if got is None else str(got)
    return resolve


def snapshot(ctx: Context, family: int = 4) -> Snapshot:
    def read() -> Snapshot:
        return read_snapshot(
            ctx.facts, family,
            lock_path=str(ctx.vars.get("xtables_lock", LOCK_PATH)),
            lock_timeout=float(ctx.vars.get("iptables_lock_timeout", 5)),
            resolve=name_resolver(ctx),
        )
    return ctx.memo(f"iptables:{family}", read)


def describe(rule: Rule) -> str:
    return rule.text or format_rule(rule)


class Backends(Check):
    id = "iptables.backends"
    title = "Firewall rules live in one iptables backend only (nft or legacy)"
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


class DefaultDrop(Check):
    id = "iptables.default-drop"
    title = "iptables drops by default: DROP policies, catch-all LOGNDROP and DROP rules"
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
                actual="no rules, ACCEPT policies", group=pre + "filter")
            return
        # policies, all of them
        for chain_name, want in self.opts["policies"].items():
            chain = table.chains.get(chain_name)
            have = chain.policy if chain else None
            if have != want:
                yield self.fail(
                    f"the {chain_name} chain's policy is {have or 'missing'}, expected {want}" + tag,
                    resource=f"{pre}filter/{chain_name}:policy", expected=want, actual=have or "missing",
                    group=pre + "policies")
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
                            f"{verb} {target}" + tag, resource=res, expected=expected, actual="no rules")
            return
        rules = chain.rules
        last = rules[-1]
        if _is_catch_all(last, target):
            return
        catch = [i for i, r in enumerate(rules, 1) if _is_catch_all(r, target)]
        if catch:
            k = catch[-1]
            after = len(rules) - k
            yield self.fail(
                f"the {chain_name} chain's catch-all {verb} {target} is rule #{k}, but {after} "
                f"rule(s) follow it; the last is #{len(rules)}: {describe(last)}" + tag,
                resource=f"{res}#{len(rules)}", expected=f"#{len(rules)}: {expected}",
                actual=f"#{len(rules)}: {describe(last)}",
                severity=Severity.HIGH if last.target in ("ACCEPT", "RETURN") else Severity.MEDIUM)
            return
        yield self.fail(
            f"the {chain_name} chain does not end with an unconditional {verb} {target}: its last "
            f"rule #{len(rules)} is: {describe(last)}" + tag,
            resource=f"{res}#{len(rules)}", expected=expected, actual=describe(last))

    def _log_chain(self, table: Table, tag: str, pre: str) -> Iterable[Finding]:
        name = self.opts["log_chain"]
        res = f"{pre}filter/{name}"
        chain: Chain | None = table.chains.get(name)
        if chain is None:
            user_chains = sorted(c for c, ch in table.chains.items() if not ch.builtin)
            others = f"; user chains present: {', '.join(user_chains)}" if user_chains else ""
            yield self.fail(f"the {name} chain does not exist{others}" + tag, resource=res,
                            expected=f"chain {name}", actual="missing")
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
        if final is None or not _is_catch_all(final, "DROP"):
            yield self.fail(
                f"the {name} chain does not end with an unconditional DROP: "
                + (f"its last rule #{len(rules)} is: {describe(final)}" if final else "it is empty") + tag,
                resource=f"{res}#{len(rules)}" if rules else res, expected=f"-A {name} -j DROP",
                actual=describe(final) if final else "no rules")
        for pos, rule in enumerate(rules[:-1], 1):
            if rule.target != "LOG":
                yield self.fail(
                    f"unexpected rule #{pos} in the {name} chain: {describe(rule)}" + tag,
                    resource=f"{res}#{pos}", expected="only LOG rules before the final DROP",
                    actual=describe(rule),
                    severity=Severity.CRITICAL if rule.target in ("ACCEPT", "RETURN") else Severity.HIGH)


class Ipv6(Check):
    id = "iptables.ipv6"
    title = "IPv6 is off, or ip6tables drops everything (DROP policies, no ACCEPT rule)"
    severity = Severity.HIGH
    why = ("SecureDrop's firewall is written for IPv4. An IPv6 address with an open ip6tables "
           "would bypass every IPv4 rule.")
    remedy = ("Load SecureDrop's IPv6 rules (DROP on INPUT, FORWARD and OUTPUT): re-run "
              "'securedrop-admin install', or 'ip6tables-restore < /etc/iptables/rules.v6'.")
    options = {"policies": Option(dict, {"INPUT": "DROP", "FORWARD": "DROP", "OUTPUT": "DROP"})}

    def run(self) -> Iterable[Finding]:
        addresses = self._global_addresses()
        if addresses is None:
            yield self.passed("IPv6 is disabled in the kernel", resource="ip6tables")
            return
        snap = snapshot(self.ctx, 6)
        problems: list[str] = []
        for backend, tables in snap.effective():
            table = tables.get("filter")
            for name, want in self.opts["policies"].items():
                chain = table.chains.get(name) if table else None
                have = chain.policy if chain else "ACCEPT"
                if have != want:
                    problems.append(f"the {name} policy is {have}, expected {want} ({backend} backend)")
            for chain in (table.chains.values() if table else ()):
                for pos, rule in enumerate(chain.rules, 1):
                    if rule.target == "ACCEPT":
                        problems.append(f"rule #{pos} of {chain.name} accepts traffic: {describe(rule)} "
                                        f"({backend} backend)")
        if not problems:
            yield self.passed("ip6tables drops everything", resource="ip6tables")
        elif not addresses:
            yield self.passed("no IPv6 address outside loopback, so ip6tables does not matter yet "
                              f"({len(problems)} difference(s) from the drop-all rules)", resource="ip6tables")
        else:
            shown = ", ".join(addresses[:3]) + (f" and {len(addresses) - 3} more" if len(addresses) > 3 else "")
            for text in problems:
                yield self.fail(f"IPv6 is in use ({shown}) but {text}", resource="ip6tables/filter",
                                group="ip6tables")

    def _global_addresses(self) -> list[str] | None:
        """IPv6 addresses on interfaces other than lo, from /proc/net/if_inet6 (None: IPv6 off)."""
        facts = self.ctx.facts
        if facts.lstat("/proc/net/if_inet6") is None:
            return None
        out = []
        for line in facts.read_text("/proc/net/if_inet6", 1 << 20).splitlines():
            parts = line.split()
            if len(parts) >= 6 and parts[5] != "lo":
                raw = parts[0]
                out.append(":".join(raw[i:i + 4] for i in range(0, 32, 4)) + f"%{parts[5]}")
        return out


def _is_catch_all(rule: Rule, target: str) -> bool:
    return rule.unconditional and rule.target == target and not rule.goto and not rule.target_options


CHECKS = [Backends, DefaultDrop, Ipv6]
