"""The iptables plugin's shared ground: its settings, the one snapshot of the firewall per run
and family, wording shared by its checks, and what several checks judge the same way."""

from __future__ import annotations

from sdcheck.baseline import HOST_FACTS, substitute_facts
from sdcheck.check import Context, Option
from sdcheck.host.base import FactError
from sdcheck.model import Finding, Severity
from sdcheck.plugins.iptables.effect import can_accept
from sdcheck.plugins.iptables.expected import ExpectedTable
from sdcheck.plugins.iptables.live import Snapshot, read_snapshot
from sdcheck.plugins.iptables.rules import Rule, is_owner_id, rebind, resolve_owner
from sdcheck.plugins.iptables.subjects import canonical_subject, format_rule

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


def ipv6_addresses(facts) -> list[str] | None:
    """IPv6 addresses on interfaces other than lo, as ``address%interface`` (None: IPv6 off)."""
    found = facts.ipv6_addresses()
    return None if found is None else [f"{a}%{i}" for a, i in found if i != "lo"]


def is_catch_all(rule: Rule, target: str) -> bool:
    return rule.unconditional and rule.target == target and not rule.goto and not rule.target_options


BUILTIN_CHAINS = {
    "filter": ("INPUT", "FORWARD", "OUTPUT"),
    "nat": ("PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"),
    "mangle": ("PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"),
    "raw": ("PREROUTING", "OUTPUT"),
    "security": ("INPUT", "FORWARD", "OUTPUT"),
}


PASS_TARGETS = ("ACCEPT", "RETURN")


def by_effect(rule: Rule, chains: dict, otherwise: Severity) -> Severity:
    """A rule that can accept traffic: critical when it matches everything, high otherwise."""
    if can_accept(rule, chains):
        return Severity.CRITICAL if rule.unconditional else Severity.HIGH
    return otherwise


def quote_comment(comment: str | None) -> str:
    return "no comment" if comment is None else f'"{comment}"'


def first_catch_all(rules: list[Rule], chains: dict) -> int | None:
    """1-based position of the first unconditional rule that ends the chain's traversal
    with a verdict that cannot let a packet through (DROP, REJECT, a jump to LOGNDROP...)."""
    for pos, rule in enumerate(rules, 1):
        if (rule.unconditional and rule.target and rule.target not in PASS_TARGETS + ("LOG",)
                and not rule.goto and not can_accept(rule, chains)):
            return pos
    return None


XTABLES_OWNED = {(f, t) for f in ("ip", "ip6") for t in BUILTIN_CHAINS}


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


def bind_to_host(check, expected: dict[str, ExpectedTable]) -> tuple[dict[str, ExpectedTable], list[Finding]]:
    """The baseline's rules bound to this host: ``${fact:NAME}`` substituted and account names
    turned into the host's ids. A fact or name the host cannot give is a finding of ``check``
    (the rules that use it cannot match)."""
    problems: list[Finding] = []
    unknown: dict[tuple[str, str], int] = {}
    named: dict[tuple[str, str], str] = {}  # (kind, the name the baseline writes) -> the host's id
    fact_values: dict[str, str | None] = {}
    resolve = name_resolver(check.ctx)

    def fact(name: str) -> str | None:
        if name not in fact_values:
            try:
                fact_values[name] = value = check.ctx.fact(name)
            except KeyError:
                fact_values[name] = value = None
                problems.append(check.fail(f"the baseline uses an unknown host fact {name!r} "
                                          f"(known: {', '.join(HOST_FACTS)})", resource=f"facts/{name}",
                                          group="facts", severity=Severity.HIGH))
                return None
            if value is None:
                problems.append(check.fail(
                    f"the host fact {name} could not be determined (no default route?); set the "
                    "variable that uses it (for example ssh_interface) in the vars file",
                    resource=f"facts/{name}", group="facts", severity=Severity.HIGH))
        return fact_values[name]

    def shown(name: str) -> str:
        # a fact the host cannot give (its finding says why) is shown as such in the rules that
        # use it; longer than any interface name, so the rule still matches nothing real
        value = fact(name)
        return value if value is not None else f"<{name}:unknown>"

    def change(module: str, option: str, value: str) -> str:
        value = substitute_facts(value, shown)
        if option in ("uid-owner", "gid-owner"):
            bound = resolve_owner(option, value, resolve)
            kind = "user" if option == "uid-owner" else "group"
            if not is_owner_id(bound):
                unknown[(kind, bound)] = unknown.get((kind, bound), 0) + 1
            elif not is_owner_id(value):
                named[(kind, value)] = bound
            return bound
        return value

    def bind(rule: Rule) -> Rule:
        # shown in the baseline's own spelling (account names stay names), facts filled in
        bound_rule = rebind(rule, change)
        return bound_rule._replace(text=substitute_facts(bound_rule.text, shown)) if bound_rule.text else bound_rule

    bound: dict[str, ExpectedTable] = {}
    for tname, table in expected.items():
        chains = {c: [bind(r) for r in rules] for c, rules in table.chains.items()}
        bound[tname] = ExpectedTable(tname, table.policies, chains)
    for (kind, name), number in sorted(named.items()):
        if not number.isdigit():  # a range: not an account's id
            continue
        others = [n for n in check.ctx.facts.names_with_id("passwd" if kind == "user" else "group", int(number))
                  if n != name]
        if others:
            # the kernel sees ids, not names: a rule for this account matches the others too
            problems.append(check.fail(
                f"the {kind} {name!r} the baseline's rules name has {'uid' if kind == 'user' else 'gid'} {number}, "
                f"which the {kind}(s) {', '.join(repr(o) for o in others[:5])} also have: every rule for "
                f"{name} matches them too", resource=f"{kind}s/{name}", group="names",
                expected=f"{kind} {name} alone with id {number}", actual=f"shared with {len(others)} other(s)",
                severity=Severity.CRITICAL, widens=True))
    for (kind, name), count in sorted(unknown.items()):
        problems.append(check.fail(
            f"the baseline names the {kind} {name!r} in {count} rule(s), but no such {kind} exists "
            f"on this host, so those rules cannot match; set the variable that names it (for "
            f"example tor_user, app_user, postfix_user, time_service_user, ssh_group) to the "
            f"right name or id", resource=f"{kind}s/{name}", group="names",
            expected=f"{kind} {name} exists", actual="no such " + kind))
    return bound, problems
