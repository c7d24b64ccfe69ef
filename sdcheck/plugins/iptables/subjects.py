"""Rules written back as text: ``format_rule`` (iptables-save's spelling of the canonical
form), and the canonical text of the one thing a finding is about (a rule, a policy, a
chain), which a waiver names: any spelling iptables accepts gives the same subject. Pure."""

from __future__ import annotations

import re

from sdcheck.plugins.iptables.rules import TWO_ARGS, ParseError, Rule


# iptables-save's quoting: bare words, or "..." with \" and \\ escapes. One token per match.
def format_rule(rule: Rule) -> str:
    """A canonical iptables-save-like spelling of ``rule``, for messages and captures."""
    out = ["-A", rule.chain]
    basic_order = {"s": 0, "d": 1, "i": 2, "o": 3, "p": 4, "f": 5}
    basics = sorted((a for a in rule.conditions if a[0] == ""), key=lambda a: basic_order.get(a[1], 9))
    for _m, opt, neg, value in basics:
        if neg:
            out.append("!")
        out.append(f"-{opt}")
        if value:
            out.append(value)
    modules: list[str] = []
    for m, _o, _n, _v in rule.conditions:
        if m and m not in modules:
            modules.append(m)
    for m in modules:
        out += ["-m", m]
        for mm, opt, neg, value in rule.conditions:
            if mm != m:
                continue
            if neg:
                out.append("!")
            out.append(f"--{opt}")
            if value:
                out.extend(value.split(" ") if opt in TWO_ARGS else [value])
    if rule.comment is not None:
        out += ["-m", "comment", "--comment", rule.comment]
    if rule.target:
        out += ["-g" if rule.goto else "-j", rule.target]
        for k, v in rule.target_options:
            out.append(f"--{k}")
            if v:
                out.append(v)
    return " ".join(quote_token(t) for t in out)


_NEEDS_QUOTES = re.compile(r"[\s\"'\\]")


def quote_token(token: str) -> str:
    """iptables-save's quoting: "..." with \\ and \" escapes, only where needed."""
    if token and not _NEEDS_QUOTES.search(token):
        return token
    return '"' + token.replace("\\", "\\\\").replace('"', '\\"') + '"'


def rule_subject(table: str, rule: Rule) -> str:
    """The rule as a waiver names it: table, chain and canonical text, comment left out
    (a comment changes nothing the kernel does)."""
    return f"-t {table} " + format_rule(rule._replace(comment=None))


def policy_subject(table: str, chain: str, policy: str) -> str:
    return f"-t {table} -P {chain} {policy}"


def chain_subject(table: str, chain: str) -> str:
    return f"-t {table} -N {chain}"


def canonical_subject(text: str) -> str:
    """A waiver's ``rule`` (``[-t TABLE] -A CHAIN ...``, ``-P CHAIN POLICY`` or ``-N CHAIN``)
    in the canonical form of ``rule_subject``; ValueError when it is none of these."""
    from sdcheck.plugins.iptables.save_parser import parse_rule

    body = text.strip()
    table = "filter"
    if body.startswith(("-t ", "--table ")):
        parts = body.split(None, 2)
        if len(parts) < 3:
            raise ValueError("'-t' needs a table and a rule after it")
        table, body = parts[1], parts[2]
    words = body.split()
    if words[:1] == ["-P"] and len(words) == 3 and words[2] in ("ACCEPT", "DROP"):
        return policy_subject(table, words[1], words[2])
    if words[:1] == ["-N"] and len(words) == 2:
        return chain_subject(table, words[1])
    try:
        rule = parse_rule(body)
    except ParseError as exc:
        raise ValueError(f"not a rule sdcheck can read ({exc.args[0]}); write it as 'sdcheck report' "
                         "prints it, for example '-A INPUT -p tcp -m tcp --dport 9100 -j ACCEPT'") from None
    return rule_subject(table, rule)
