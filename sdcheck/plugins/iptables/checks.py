"""iptables checks: which backend holds the rules, the default-drop skeleton, IPv6, and
the whole ruleset compared, rule by rule and in order, with the baseline.

The live ruleset is read once per run (``ctx.memo``) and shared by every check here.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Iterable

from sdcheck.baseline import HOST_FACTS, line_of, substitute_facts
from sdcheck.check import Check, Context, Option
from sdcheck.host.base import FactError
from sdcheck.host.iptc import preload as preload_iptc
from sdcheck.model import Finding, Severity
from sdcheck.plugins.iptables.expected import ExpectedTable, parse_expected
from sdcheck.plugins.iptables.live import SAVE_TIMEOUT, Snapshot, read_snapshot
from sdcheck.plugins.iptables.rules import (Chain, Rule, Table, can_accept, canonical_subject, chain_subject,
                                            format_rule, is_owner_id, policy_subject, rebind, resolve_owner,
                                            rule_subject, stops)


# site variables the plugin reads itself (every check shares one snapshot of the firewall)
SETTINGS = {
    "xtables_lock": Option(str, "/run/xtables.lock", help="an absolute path (iptables-legacy's lock file)",
                           check=lambda v: v.startswith("/")),
    "iptables_lock_timeout": Option((int, float), 30, help="a number of seconds from 0 to 3600 (the wait "
                                    "for iptables-legacy's lock)", check=lambda v: 0 <= v <= 3600),
}

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
            lock_path=ctx.setting("xtables_lock", SETTINGS),
            lock_timeout=float(ctx.setting("iptables_lock_timeout", SETTINGS)),
            resolve=name_resolver(ctx),
        )
    return ctx.memo(f"iptables:{family}", read)


def describe(rule: Rule) -> str:
    return rule.text or format_rule(rule)


class PinnedWaivers:
    """Findings about one rule or policy carry its canonical text (``subject``): a waiver names
    the rule itself, never only its place, and a rule that can let more through than the
    baseline is covered only by a waiver naming exactly that rule."""

    pins_subjects = True

    @classmethod
    def waiver_subject(cls, text: str) -> str:
        return canonical_subject(text)


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


class DefaultDrop(PinnedWaivers, Check):
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
        if final is None or not _is_catch_all(final, "DROP"):
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


class Ipv6(PinnedWaivers, Check):
    id = "iptables.ipv6"
    title = "IPv6 is off, or ip6tables drops everything (DROP policies, no rule that can accept)"
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
                have = chain.policy if chain else "ACCEPT"
                if have != want:
                    problems.append((f"the {name} policy is {have}, expected {want} ({backend} backend)",
                                     policy_subject("filter", name, have)))
            for chain in (table.chains.values() if table else ()):
                for pos, rule in enumerate(chain.rules, 1):
                    if can_accept(rule, table.chains):
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


def ipv6_addresses(facts) -> list[str] | None:
    """IPv6 addresses on interfaces other than lo, from /proc/net/if_inet6 (None: IPv6 off)."""
    if facts.lstat("/proc/net/if_inet6") is None:
        return None
    out = []
    for line in facts.read_text("/proc/net/if_inet6", 1 << 20).splitlines():
        parts = line.split()
        if len(parts) >= 6 and parts[5] != "lo":
            import ipaddress

            try:
                address = str(ipaddress.IPv6Address(int(parts[0], 16)))
            except ValueError:
                address = parts[0]
            out.append(f"{address}%{parts[5]}")
    return out


def _is_catch_all(rule: Rule, target: str) -> bool:
    return rule.unconditional and rule.target == target and not rule.goto and not rule.target_options


BUILTIN_CHAINS = {
    "filter": ("INPUT", "FORWARD", "OUTPUT"),
    "nat": ("PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"),
    "mangle": ("PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"),
    "raw": ("PREROUTING", "OUTPUT"),
    "security": ("INPUT", "FORWARD", "OUTPUT"),
}
_PASS_TARGETS = ("ACCEPT", "RETURN")
_KIND_WORDS = {"missing": "missing rules", "unexpected": "unexpected rules", "moved": "rules out of order",
               "changed": "changed rules", "comment": "comment differences"}


class Ruleset(PinnedWaivers, Check):
    id = "iptables.ruleset"
    title = "The whole firewall ruleset matches the baseline, rule by rule and in order"
    severity = Severity.HIGH
    why = ("checksdconfig.py only looked at the last rules of INPUT and OUTPUT, so an ACCEPT "
           "inserted early in a chain went unnoticed. Every rule, its position, the policies, "
           "the user chains and the other tables are compared with SecureDrop's rules; "
           "equivalent spellings (-s 1.2.3.4 and 1.2.3.4/32, option order, user names and "
           "uids) compare equal.")
    remedy = REINSTATE
    options = {
        "family": Option(int, 4, help="4 (iptables) or 6 (ip6tables)"),
        "tables": Option(dict, required=True, help="table -> {policies: {chain: DROP}, chains: {chain: [rules]}}"),
        "ignore_tables": Option(list, [], help="tables whose contents are not judged"),
    }

    @classmethod
    def prepare_options(cls, resolved: dict, raw: dict, fail) -> None:
        if resolved["family"] not in (4, 6):
            fail("option 'family' must be 4 or 6", line_of(raw, "family"))
        resolved["_expected"] = parse_expected(resolved["tables"], fail)

    def run(self) -> Iterable[Finding]:
        family = self.opts["family"]
        self.cmd = "iptables" if family == 4 else "ip6tables"
        expected, problems = self._bind(self.opts["_expected"])
        yield from problems
        snap = snapshot(self.ctx, family)
        effective = snap.effective()
        if not effective:
            reasons = "; ".join(snap.unavailable.values()) or "no backend could be read"
            yield self.error(f"the {self.cmd} ruleset could not be read: {reasons}", resource=self.cmd)
            return
        several = len(effective) > 1
        for backend, tables in effective:
            found = list(self._compare(expected, tables, backend, several))
            if not found:
                n = sum(len(c) for t in expected.values() for c in t.chains.values())
                found.append(self.passed(f"the {self.cmd} ruleset matches the baseline: {n} rules in "
                                         f"{', '.join(expected)} ({backend} backend)", resource=self.cmd))
            yield from found

    # -- binding host facts and names ------------------------------------------------
    def _bind(self, expected: dict[str, ExpectedTable]):
        problems: list[Finding] = []
        unknown: dict[tuple[str, str], int] = {}
        fact_values: dict[str, str | None] = {}
        resolve = name_resolver(self.ctx)

        def fact(name: str) -> str | None:
            if name not in fact_values:
                try:
                    fact_values[name] = value = self.ctx.fact(name)
                except KeyError:
                    fact_values[name] = value = None
                    problems.append(self.fail(f"the baseline uses an unknown host fact {name!r} "
                                              f"(known: {', '.join(HOST_FACTS)})", resource=f"facts/{name}",
                                              group="facts", severity=Severity.HIGH))
                    return None
                if value is None:
                    problems.append(self.fail(
                        f"the host fact {name} could not be determined (no default route?); set the "
                        "variable that uses it (for example ssh_interface) in the vars file",
                        resource=f"facts/{name}", group="facts", severity=Severity.HIGH))
            return fact_values[name]

        def change(module: str, option: str, value: str) -> str:
            value = substitute_facts(value, fact)
            if option in ("uid-owner", "gid-owner"):
                bound = resolve_owner(option, value, resolve)
                if not is_owner_id(bound):
                    kind = "user" if option == "uid-owner" else "group"
                    unknown[(kind, bound)] = unknown.get((kind, bound), 0) + 1
                return bound
            return value

        bound: dict[str, ExpectedTable] = {}
        for tname, table in expected.items():
            chains = {c: [rebind(r, change) for r in rules] for c, rules in table.chains.items()}
            bound[tname] = ExpectedTable(tname, table.policies, chains)
        for (kind, name), count in sorted(unknown.items()):
            problems.append(self.fail(
                f"the baseline names the {kind} {name!r} in {count} rule(s), but no such {kind} exists "
                f"on this host, so those rules cannot match; set the variable that names it (for "
                f"example tor_user, app_user, postfix_user, time_service_user, ssh_group) to the "
                f"right name or id", resource=f"{kind}s/{name}", group="names",
                expected=f"{kind} {name} exists", actual="no such " + kind))
        return bound, problems

    # -- comparison -------------------------------------------------------------------
    def _compare(self, expected: dict[str, ExpectedTable], tables: dict[str, Table], backend: str,
                 several: bool) -> Iterable[Finding]:
        tag = f" ({backend} backend)"
        pre = f"{backend}:" if several else ""
        wanted = sum(len(c) for t in expected.values() for c in t.chains.values())
        drops = sorted({c for t in expected.values() for c, p in t.policies.items() if p != "ACCEPT"})
        if (wanted or drops) and all(t.is_empty() for t in tables.values()):
            # nothing loaded at all: one finding, not every baseline rule "missing" one by one
            want = " and ".join(filter(None, (f"{wanted} rules" if wanted else "",
                                              f"DROP policies ({', '.join(drops)})" if drops else "")))
            yield self.fail(f"the {self.cmd} firewall is not configured: no rules, every policy ACCEPT, "
                            f"while the baseline expects {want}{tag}", resource=f"{pre}{self.cmd}",
                            expected=want, actual="no rules, ACCEPT policies", widens=True,
                            severity=Severity.CRITICAL, group=f"{pre}not-configured", remedy=REINSTATE)
            return
        for tname, want in expected.items():
            have = tables.get(tname) or Table(tname)
            yield from self._table(want, have, tag, pre, backend)
        for tname, have in sorted(tables.items()):
            if tname in expected or tname in self.opts["ignore_tables"] or have.is_empty():
                continue
            chains = [c.name for c in have.chains.values() if c.rules or not c.builtin
                      or c.policy != "ACCEPT"]
            yield self.fail(
                f"the {tname} table holds {have.rule_count()} rule(s) (in {', '.join(chains)}), "
                f"which the baseline does not allow" + tag,
                resource=f"{pre}{tname}", group=f"{pre}{tname}", expected="empty table",
                actual=f"{have.rule_count()} rules", severity=Severity.HIGH,
                widens=any(can_accept(r, have.chains) for c in have.chains.values() for r in c.rules),
                detail=[describe(r) for c in have.chains.values() for r in c.rules][:50])

    def _table(self, want: ExpectedTable, have: Table, tag: str, pre: str, backend: str):
        tname = want.name
        builtins = BUILTIN_CHAINS.get(tname, ())
        for chain in dict.fromkeys(list(builtins) + list(want.policies)):
            expect = want.policies.get(chain, "ACCEPT")
            live = have.chains.get(chain)
            got = live.policy if live is not None and live.policy else "ACCEPT"
            if got != expect:
                yield self.fail(
                    f"{tname}/{chain}: the policy is {got}, expected {expect}" + tag,
                    resource=f"{pre}{tname}/{chain}:policy", expected=expect, actual=got,
                    group=f"{pre}{tname}:policies", subject=policy_subject(tname, chain, got),
                    widens=got == "ACCEPT", severity=Severity.CRITICAL if got == "ACCEPT" else Severity.HIGH)
        for chain, rules in want.chains.items():
            live = have.chains.get(chain)
            if live is None and chain not in builtins:
                yield self.fail(
                    f"{tname}/{chain}: the chain is missing ({len(rules)} rule(s) expected)" + tag,
                    resource=f"{pre}{tname}/{chain}", expected=f"chain {chain}", actual="missing",
                    group=f"{pre}{tname}:chains", subject=chain_subject(tname, chain),
                    widens=any(stops(r) for r in rules))
                continue
            yield from self._chain(tname, chain, rules, live.rules if live else [], live, tag, pre, backend,
                                   have.chains)
        for name, live in have.chains.items():
            if name in want.chains or name in builtins:
                continue
            if live.builtin and not live.rules and live.policy == "ACCEPT":
                continue
            yield self.fail(
                f"{tname}/{name}: unexpected chain with {len(live.rules)} rule(s)" + tag,
                resource=f"{pre}{tname}/{name}", expected="no such chain",
                actual=f"chain {name}, {len(live.rules)} rules", group=f"{pre}{tname}:chains",
                severity=Severity.MEDIUM, detail=[describe(r) for r in live.rules][:50],
                subject=chain_subject(tname, name))

    def _chain(self, tname: str, chain: str, want: list[Rule], have: list[Rule], live: Chain | None,
               tag: str, pre: str, backend: str, chains: dict) -> Iterable[Finding]:
        from sdcheck.plugins.iptables.diff import diff_rules, unified

        changes = diff_rules(want, have)
        if not changes:
            return
        catch_all = _first_catch_all(have, chains)
        policy_drops = live is not None and live.policy == "DROP"
        diff = unified(want, have, describe, labels=("baseline", f"{backend}"))
        where = f"{pre}{tname}/{chain}"
        for n, ch in enumerate(changes):
            sev = Severity.MEDIUM
            pos = ch.act_pos or ch.exp_pos
            subject = rule_subject(tname, ch.actual if ch.actual is not None else ch.expected)
            # a rule that can accept what the baseline stops, or a stopping rule gone or moved
            widens = ((ch.actual is not None and can_accept(ch.actual, chains))
                      or (ch.kind in ("missing", "moved", "changed") and stops(ch.expected or ch.actual)))
            if ch.kind == "missing":
                msg = f"rule #{ch.exp_pos} of the baseline is missing: {describe(ch.expected)}"
                if ch.expected.target not in _PASS_TARGETS:
                    sev = Severity.HIGH
                exp, act = describe(ch.expected), "no such rule"
            elif ch.kind == "unexpected":
                rule = ch.actual
                opens = can_accept(rule, chains) and (
                    (catch_all is not None and ch.act_pos < catch_all) or (catch_all is None and policy_drops))
                if opens:
                    sev = Severity.CRITICAL if rule.unconditional else Severity.HIGH
                    msg = (f"unexpected rule #{ch.act_pos} accepts traffic before the catch-all drop: "
                           f"{describe(rule)}")
                else:
                    msg = f"unexpected rule #{ch.act_pos}: {describe(rule)}"
                exp, act = "no such rule", describe(rule)
            elif ch.kind == "moved":
                msg = (f"rule #{ch.act_pos} is out of order: the baseline has it at #{ch.exp_pos}: "
                       f"{describe(ch.actual)}")
                sev = _by_effect(ch.actual, chains, Severity.HIGH)
                exp, act = f"#{ch.exp_pos}", f"#{ch.act_pos}"
            elif ch.kind == "changed":
                msg = (f"rule #{ch.act_pos} differs from the baseline's #{ch.exp_pos}: expected "
                       f"{describe(ch.expected)}, found {describe(ch.actual)}")
                sev = _by_effect(ch.actual, chains, Severity.MEDIUM)
                exp, act = describe(ch.expected), describe(ch.actual)
            else:  # comment only
                msg = (f"rule #{ch.act_pos} matches the baseline's #{ch.exp_pos} but its comment "
                       f"differs: {_quote(ch.actual.comment)} instead of {_quote(ch.expected.comment)}")
                sev = Severity.LOW
                exp, act = _quote(ch.expected.comment), _quote(ch.actual.comment)
            yield self.fail(f"{tname}/{chain}: {msg}" + tag, resource=f"{where}#{pos}", expected=exp,
                            actual=act, severity=sev, group=f"{where}:{ch.kind}",
                            detail=diff if n == 0 else (), subject=subject, widens=widens)


class RulesetV6(Ruleset):
    id = "iptables.ruleset-v6"
    title = "The whole IPv6 firewall ruleset (ip6tables) matches the baseline, rule by rule and in order"
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


def _by_effect(rule: Rule, chains: dict, otherwise: Severity) -> Severity:
    """A rule that can accept traffic: critical when it matches everything, high otherwise."""
    if can_accept(rule, chains):
        return Severity.CRITICAL if rule.unconditional else Severity.HIGH
    return otherwise


def _quote(comment: str | None) -> str:
    return "no comment" if comment is None else f'"{comment}"'


def _first_catch_all(rules: list[Rule], chains: dict) -> int | None:
    """1-based position of the first unconditional rule that ends the chain's traversal
    with a verdict that cannot let a packet through (DROP, REJECT, a jump to LOGNDROP...)."""
    for pos, rule in enumerate(rules, 1):
        if (rule.unconditional and rule.target and rule.target not in _PASS_TARGETS + ("LOG",)
                and not rule.goto and not can_accept(rule, chains)):
            return pos
    return None


XTABLES_OWNED = {(f, t) for f in ("ip", "ip6") for t in BUILTIN_CHAINS}


class NftNative(Check):
    id = "iptables.nft-native"
    title = "No native nftables table filters traffic beside iptables' own tables"
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


NFT_JSON = ["nft", "-j", "list", "ruleset"]


def nft_ruleset(ctx) -> bytes:
    """``nft -j list ruleset``: the kernel's own view of every table, read once per run."""
    def read() -> bytes:
        res = ctx.facts.run(NFT_JSON, timeout=20)
        if not res.ok:
            err = res.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or ["no output"]
            raise FactError(f"'nft -j list ruleset' failed (exit {res.returncode}): {err[0]}")
        return res.stdout
    return ctx.memo("nft:ruleset", read)


_SAVE = {4: "iptables", 6: "ip6tables"}


class NftKernel(Check):
    id = "iptables.nft-kernel"
    title = "The kernel's nft rules in iptables' own tables are exactly what iptables shows"
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
                printed = tables.get(table).chains.get(chain) if table in tables else None
                shown = describe(printed.rules[pos - 1]) if printed and 0 < pos <= len(printed.rules) else ""
                yield self.fail(f"{where}: {what}" + (f" (iptables prints: {shown})" if shown else "") +
                                "; the kernel enforces something iptables does not show", resource=where,
                                expected=shown or "what iptables shows", actual="another nft rule or object",
                                group=f"{family}:{table}/{chain}")
        if clean:
            yield self.passed(f"the kernel's {rules} rule(s) in iptables' tables are exactly what iptables shows",
                              resource="nftables")


CHECKS = [Backends, DefaultDrop, Ipv6, Ruleset, RulesetV6, NftNative, NftKernel]
for _cls in CHECKS:  # python-iptables is imported in the main thread, before any check runs
    _cls.main_thread_setup = staticmethod(preload_iptc)
