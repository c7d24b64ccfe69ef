"""iptables.ruleset: the whole IPv4 ruleset compared, rule by rule and in order, with the
baseline; severity by what a difference can let through."""

from __future__ import annotations

from sdcheck.baseline import line_of
from sdcheck.check import Check, Option
from sdcheck.model import Finding, Severity
from sdcheck.plugins.iptables.base import (
    BUILTIN_CHAINS,
    PASS_TARGETS,
    REINSTATE,
    PinnedWaivers,
    bind_to_host,
    by_effect,
    describe,
    first_catch_all,
    quote_comment,
    snapshot,
)
from sdcheck.plugins.iptables.effect import can_accept, copies, stops
from sdcheck.plugins.iptables.expected import ExpectedTable, parse_expected
from sdcheck.plugins.iptables.rules import Chain, Rule, Table
from sdcheck.plugins.iptables.subjects import chain_subject, policy_subject, rule_subject
from sdcheck.startup import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import ClassVar, Iterable


_KIND_WORDS = {"missing": "missing rules", "unexpected": "unexpected rules", "moved": "rules out of order",
               "changed": "changed rules", "comment": "comment differences"}


class Ruleset(PinnedWaivers, Check):
    id = "iptables.ruleset"
    # the dumps it reads whatever the variables say (the plugin prefetches them): save dumps
    # by family, and "nft" for 'nft -j list ruleset'
    reads: ClassVar[tuple] = (4,)
    title = "The whole firewall ruleset matches the baseline, rule by rule and in order"
    # what exactly is verified (docs/checks.md, sdcheck explain)
    details = ("the whole ruleset against the baseline, rule by rule and in order: missing, unexpected, out-of-order"
               " (both positions named) and changed rules, comment-only differences (low), policies, missing and "
               "unexpected chains, and any rule in a table the baseline does not list (`nat`, `mangle`, `raw`, "
               "`security`). Severity follows the effect, for IPv4 and IPv6 alike: a rule that can let traffic "
               "through (see `iptables.ipv6`) added before the chain's catch-all drop, or replacing or moving a "
               "rule, is critical when unconditional and high otherwise; a changed comment is low. A firewall with "
               'nothing loaded is one critical "not configured" finding. A rule the parser finds odd (an unparseable'
               ' rule, a chain name holding `"`, a comment with any number of newlines) is one odd rule in its '
               "place, treated as one that may accept; the other rules are still compared. `run` prints one line per"
               " chain and kind; `report` lists every difference and shows a unified-diff-like view per chain with "
               "positions on both sides.")
    severity = Severity.HIGH
    why = ("checksdconfig.py only looked at the last rules of INPUT and OUTPUT, so an ACCEPT "
           "inserted early in a chain went unnoticed. Every rule, its position, the policies, "
           "the user chains and the other tables are compared with SecureDrop's rules; "
           "equivalent spellings (-s 1.2.3.4 and 1.2.3.4/32, option order, user names and "
           "uids) compare equal.")
    remedy = REINSTATE
    source_word = "backend"  # how a message names where the rules were read ("nft backend")
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
        expected, problems = bind_to_host(self, self.opts["_expected"])
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
    # -- comparison -------------------------------------------------------------------
    def _compare(self, expected: dict[str, ExpectedTable], tables: dict[str, Table], backend: str,
                 several: bool) -> Iterable[Finding]:
        tag = f" ({backend} {self.source_word})"
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
        for tname, table in expected.items():
            yield from self._table(table, tables.get(tname) or Table(tname), tag, pre, backend)
        for tname, have in sorted(tables.items()):
            if tname in expected or tname in self.opts["ignore_tables"] or have.is_empty():
                continue
            chains = [c.name for c in have.chains.values() if c.rules or not c.builtin
                      or c.policy != "ACCEPT"]
            rules = [r for c in have.chains.values() for r in c.rules]
            copying = any(copies(r, have.chains) for r in rules)
            yield self.fail(
                f"the {tname} table holds {have.rule_count()} rule(s) (in {', '.join(chains)}), "
                f"which the baseline does not allow" +
                ("; one hands packets or copies of them to a program or another host" if copying else "") + tag,
                resource=f"{pre}{tname}", group=f"{pre}{tname}", expected="empty table",
                actual=f"{have.rule_count()} rules", severity=Severity.CRITICAL if copying else Severity.HIGH,
                widens=copying or any(can_accept(r, have.chains) for r in rules),
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
        catch_all = first_catch_all(have, chains)
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
                if ch.expected.target not in PASS_TARGETS:
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
                sev = by_effect(ch.actual, chains, Severity.HIGH)
                exp, act = f"#{ch.exp_pos}", f"#{ch.act_pos}"
            elif ch.kind == "changed":
                msg = (f"rule #{ch.act_pos} differs from the baseline's #{ch.exp_pos}: expected "
                       f"{describe(ch.expected)}, found {describe(ch.actual)}")
                sev = by_effect(ch.actual, chains, Severity.MEDIUM)
                exp, act = describe(ch.expected), describe(ch.actual)
            else:  # comment only
                msg = (f"rule #{ch.act_pos} matches the baseline's #{ch.exp_pos} but its comment "
                       f"differs: {quote_comment(ch.actual.comment)} instead of {quote_comment(ch.expected.comment)}")
                sev = Severity.LOW
                exp, act = quote_comment(ch.expected.comment), quote_comment(ch.actual.comment)
            if ch.kind != "comment" and ch.actual is not None and copies(ch.actual, chains):
                # the plaintext hops SecureDrop's firewall guards (Tor to Apache) leave it: as grave
                # as accepting, and no pattern may excuse it
                msg += "; it hands packets or copies of them to a program or another host"
                sev, widens = Severity.CRITICAL, True
            yield self.fail(f"{tname}/{chain}: {msg}" + tag, resource=f"{where}#{pos}", expected=exp,
                            actual=act, severity=sev, group=f"{where}:{ch.kind}",
                            detail=diff if n == 0 else (), subject=subject, widens=widens)
