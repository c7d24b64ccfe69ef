"""What a rule does to a packet, as far as letting it through goes: a verdict that can accept
(directly, through a chain it jumps to, or by handing the packet to userspace) or one that
stops its traversal. Pure."""

from __future__ import annotations

from sdcheck.plugins.iptables.rules import Rule

# verdicts that never let a packet through, and targets that do not end the traversal
_STOPS = frozenset({"DROP", "REJECT", "RETURN"})


_NON_TERMINATING = frozenset({"LOG", "NFLOG", "ULOG", "MARK", "CONNMARK", "TRACE", "AUDIT", "CLASSIFY", "DSCP",
                              "TOS", "TCPMSS", "SECMARK", "CONNSECMARK", "CT", "TTL", "HL", "NOTRACK"})


def can_accept(rule: Rule, chains: dict, _seen: frozenset = frozenset()) -> bool:
    """Whether a packet this rule matches can be let through by it: ACCEPT, QUEUE, NFQUEUE
    (a program on the queue decides; with --queue-bypass, nobody listening means accept),
    any target not known to stop or to continue, or a jump or goto to a chain holding such a
    rule. Only DROP, REJECT, RETURN, non-terminating targets (LOG...) and jumps to chains
    that cannot accept are safe."""
    target = rule.target
    if not target or target in _STOPS or target in _NON_TERMINATING:
        return False
    chain = chains.get(target)
    if chain is not None:
        if target in _seen:
            return False
        return any(can_accept(r, chains, _seen | {target}) for r in chain.rules)
    return True


# -- subjects: what a waiver pins ------------------------------------------------------
def stops(rule: Rule) -> bool:
    """Whether the rule can end a packet's way with something other than acceptance (a DROP,
    a REJECT, a jump that may drop): taking it away or moving it can let more through."""
    return bool(rule.target) and rule.target not in ("ACCEPT", "RETURN") and rule.target not in _NON_TERMINATING
