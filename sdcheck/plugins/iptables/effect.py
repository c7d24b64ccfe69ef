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


# targets that hand a packet, or a copy of it with its contents, to something outside the
# firewall's verdict: a program reading a netlink socket (NFLOG, ULOG) or a queue (QUEUE,
# NFQUEUE), or another host (TEE, MIRROR). LOG writes headers to the kernel log, not contents.
COPY_TARGETS = frozenset({"NFLOG", "ULOG", "QUEUE", "NFQUEUE", "TEE", "MIRROR"})


def copies(rule: Rule, chains: dict, _seen: frozenset = frozenset()) -> bool:
    """Whether packets this rule matches, or copies of them, can leave the firewall: a copying
    or queueing target, or a jump or goto to a chain holding such a rule."""
    target = rule.target
    if target in COPY_TARGETS:
        return True
    chain = chains.get(target) if target else None
    if chain is None or target in _seen:
        return False
    return any(copies(r, chains, _seen | {target}) for r in chain.rules)


def stops(rule: Rule) -> bool:
    """Whether the rule can end a packet's way with something other than acceptance (a DROP,
    a REJECT, a jump that may drop): taking it away or moving it can let more through."""
    return bool(rule.target) and rule.target not in ("ACCEPT", "RETURN") and rule.target not in _NON_TERMINATING
