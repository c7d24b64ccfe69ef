"""Rule text helpers for the iptables tests."""

from __future__ import annotations


def groups(rule_text: str) -> tuple[str, list[list[str]]]:
    """Split '-A CHAIN ...' into movable groups: basic options, each -m match with its
    options, the target with its options."""
    import shlex
    tokens = shlex.split(rule_text)[2:]
    groups, cur = [], []
    for tok in tokens:
        if tok in ("-m", "-j", "-s", "-d", "-i", "-o", "-p", "!") and cur and cur[-1] != "!":
            groups.append(cur)
            cur = []
        cur.append(tok)
    groups.append(cur)
    return shlex.split(rule_text)[1], groups
