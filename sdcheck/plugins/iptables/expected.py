"""The expected firewall: a baseline's ``tables`` option as canonical rules (names and host
facts still unbound until the check runs on a host)."""

from __future__ import annotations

from sdcheck.baseline import item_lines, line_of
from sdcheck.plugins.iptables.rules import ParseError, Rule
from sdcheck.plugins.iptables.save_parser import parse_rule


class ExpectedTable:
    __slots__ = ("name", "policies", "chains")

    def __init__(self, name: str, policies: dict[str, str], chains: dict[str, list[Rule]]):
        self.name, self.policies, self.chains = name, policies, chains


def parse_expected(tables: dict, fail) -> dict[str, ExpectedTable]:
    """The baseline's ``tables`` option as canonical rules (names and facts still unbound)."""
    out: dict[str, ExpectedTable] = {}
    for tname, spec in tables.items():
        tline = line_of(tables, tname, None)
        if not isinstance(spec, dict) or set(spec) - {"policies", "chains"}:
            fail(f"table {tname!r} must be a mapping with 'policies' and 'chains'", tline)
        policies = spec.get("policies") or {}
        chains_spec = spec.get("chains") or {}
        if not isinstance(policies, dict) or not isinstance(chains_spec, dict):
            fail(f"table {tname!r}: 'policies' and 'chains' must be mappings", tline)
        for chain, policy in policies.items():
            if policy not in ("ACCEPT", "DROP"):
                fail(f"table {tname!r}: policy of {chain} must be ACCEPT or DROP, got {policy!r}",
                     line_of(policies, chain, tline))
        chains: dict[str, list[Rule]] = {}
        for chain, rules in chains_spec.items():
            cline = line_of(chains_spec, chain, tline)
            if rules is None:
                rules = []
            if not isinstance(rules, list):
                fail(f"{tname}/{chain}: the rules must be a list", cline)
            parsed = []
            for text, line in zip(rules, item_lines(rules)):
                if not isinstance(text, str):
                    fail(f"{tname}/{chain}: each rule must be a string like '-p tcp --dport 22 -j ACCEPT'",
                         line or cline)
                body = text.strip()
                if body.startswith(("-A ", "--append ")):
                    parts = body.split(None, 2)
                    if len(parts) < 2 or parts[1] != chain:
                        fail(f"{tname}/{chain}: a rule written with -A must name this chain", line or cline)
                    body = parts[2] if len(parts) > 2 else ""
                try:
                    parsed.append(parse_rule(f"-A {chain} {body}", line=line or 0))
                except ParseError as exc:
                    fail(f"{tname}/{chain}: cannot parse rule {body!r}: {exc.args[0]}", line or cline)
            chains[chain] = parsed
        out[tname] = ExpectedTable(tname, dict(policies), chains)
    return out
