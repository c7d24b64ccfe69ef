"""iptables rules as text -> one canonical structure.

The same canonical form serves three sources: ``iptables-save`` output (nft or legacy),
rules written in a baseline (in ``iptables-save`` or Ansible ``rules_v4`` spelling), and
rules read through python-iptables (turned into the same tokens first). Two rules that
the kernel treats alike compare equal: ``-s 1.2.3.4`` = ``-s 1.2.3.4/32``, implicit
``-m tcp``, option order, state lists in any order, ``--uid-owner NAME`` = its uid,
``-j X -m comment`` = ``-m comment -j X``, default values iptables-save leaves out.

Pure functions: no host access. Names are resolved through a callback.
"""

from __future__ import annotations

import re
from collections import namedtuple

from sdcheck.startup import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Callable

    Resolver = Callable[[str, str], "str | None"]  # (kind "user"|"group", name) -> id or None


class ParseError(ValueError):
    def __init__(self, message: str, line: int = 0):
        super().__init__(message)
        self.line = line

    def __str__(self) -> str:
        base = super().__str__()
        return f"line {self.line}: {base}" if self.line else base


# (module, option) -> canonical option name; long spellings and aliases
_BASIC = {
    "-s": "s", "--source": "s", "--src": "s",
    "-d": "d", "--destination": "d", "--dst": "d",
    "-i": "i", "--in-interface": "i",
    "-o": "o", "--out-interface": "o",
    "-p": "p", "--protocol": "p",
    "-f": "f", "--fragment": "f",
}


_OPTION_ALIASES = {
    "source-port": "sport", "destination-port": "dport",
    "source-ports": "sports", "destination-ports": "dports",
}


# options each well-known match accepts; used to attribute an option written after
# another match (``-m owner --uid-owner 0 --sport 22``) to the protocol's implicit match,
# as iptables itself does.
_MODULE_OPTIONS = {
    "tcp": {"sport", "dport", "tcp-flags", "syn", "tcp-option"},
    "udp": {"sport", "dport"},
    "udplite": {"sport", "dport"},
    "sctp": {"sport", "dport", "chunk-types"},
    "dccp": {"sport", "dport", "dccp-types", "dccp-option"},
    "icmp": {"icmp-type"},
    "icmpv6": {"icmpv6-type"},
    "ipv6-icmp": {"icmpv6-type"},
    "multiport": {"sports", "dports", "ports"},
    "state": {"state"},
    "owner": {"uid-owner", "gid-owner", "socket-exists", "suppl-groups"},
    "limit": {"limit", "limit-burst"},
    "comment": {"comment"},
    "iprange": {"src-range", "dst-range"},
    "mac": {"mac-source"},
}


_FLAGS = {
    "syn", "socket-exists", "suppl-groups", "log-tcp-sequence", "log-tcp-options",
    "log-ip-options", "log-uid", "log-macdecode", "rsource", "rdest", "set", "rcheck",
    "update", "remove", "reap", "rttl", "clamp-mss-to-pmtu", "random", "persistent",
    "random-fully", "fragment", "fragres", "fraglast", "fragfirst", "fragmore",
    "strict", "loose", "kerneltz", "nodst",
}


TWO_ARGS = {"tcp-flags"}


_VALUE_OPTIONS = {o for opts in _MODULE_OPTIONS.values() for o in opts} - _FLAGS


_ONE_ARG_TEXT = {"comment", "log-prefix", "nflog-prefix", "uid-owner", "gid-owner", "name"}


_PROTOCOLS = {"6": "tcp", "17": "udp", "1": "icmp", "58": "ipv6-icmp", "icmpv6": "ipv6-icmp",
              "132": "sctp", "33": "dccp", "136": "udplite", "47": "gre", "50": "esp", "51": "ah"}


_RATE_UNITS = {"s": "sec", "sec": "sec", "second": "sec", "m": "min", "min": "min",
               "minute": "min", "h": "hour", "hour": "hour", "d": "day", "day": "day"}


_DEFAULT_TARGET_OPTIONS = {
    # option values iptables-save omits because they are the default
    ("LOG", "log-level"): {"4", "warning", "warn"},
}


_DEFAULT_MATCH_OPTIONS = {("limit", "limit-burst"): {"5"}}


Atom = tuple[str, str, bool, str]  # (module, option, negated, value)


_RuleBase = namedtuple("_RuleBase", "chain conditions target target_options goto comment text line",
                       defaults=("", (), False, None, "", 0))


class Rule(_RuleBase):
    """One rule in canonical form (immutable). ``text`` and ``line`` say where it came
    from; compare rules by ``key`` (what the kernel acts on) and ``comment``."""

    __slots__ = ()

    @property
    def key(self) -> tuple:
        """What the kernel acts on: everything but the comment."""
        return (self.conditions, self.target, self.target_options, self.goto)

    @property
    def unconditional(self) -> bool:
        return not self.conditions

    def matches(self, module: str, option: str, value: str | None = None) -> bool:
        return any(m == module and o == option and (value is None or v == value)
                   for m, o, _n, v in self.conditions)

    def option(self, module: str, option: str) -> str | None:
        for m, o, n, v in self.conditions:
            if m == module and o == option:
                return ("! " if n else "") + v
        return None


class Chain:
    __slots__ = ("name", "policy", "rules", "line")

    def __init__(self, name: str, policy: str | None = None, rules: list | None = None, line: int = 0):
        self.name, self.policy, self.line = name, policy, line  # policy None: user-defined chain
        self.rules: list[Rule] = [] if rules is None else rules

    @property
    def builtin(self) -> bool:
        return self.policy is not None


class Table:
    __slots__ = ("name", "chains")

    def __init__(self, name: str, chains: dict | None = None):
        self.name = name
        self.chains: dict[str, Chain] = {} if chains is None else chains

    def is_empty(self) -> bool:
        """True when the table filters nothing: only built-in chains, ACCEPT, no rules."""
        return all(c.builtin and c.policy == "ACCEPT" and not c.rules for c in self.chains.values())

    def rule_count(self) -> int:
        return sum(len(c.rules) for c in self.chains.values())


_CANONICAL_V4 = re.compile(r"^(?:\d{1,3}\.){3}\d{1,3}/(?:3[0-2]|[12]?\d)$")


def _norm_address(value: str) -> str:
    if _CANONICAL_V4.match(value) and value.endswith("/32"):
        return value  # iptables-save's own spelling of a host: nothing to do
    import ipaddress

    try:
        return str(ipaddress.ip_network(value, strict=False))
    except ValueError:
        return value  # a host name or something odd: compared as written


def _norm_rate(value: str) -> str:
    number, _, unit = value.partition("/")
    return f"{number}/{_RATE_UNITS.get(unit, unit)}" if unit else value


def _norm_ports(value: str) -> str:
    def key(p: str):
        head = p.split(":", 1)[0]
        return (0, int(head), p) if head.isdigit() else (1, 0, p)
    return ",".join(sorted(value.split(","), key=key))


def _norm_protocol(value: str) -> str:
    v = value.lower()
    return _PROTOCOLS.get(v, v)


def _norm_value(module: str, option: str, value: str, resolve: Resolver | None) -> str:
    if module == "":
        if option in ("s", "d"):
            return _norm_address(value)
        if option == "p":
            return _norm_protocol(value)
        return value
    if option in ("state", "ctstate", "ctstatus"):
        return ",".join(sorted(v.upper() for v in value.split(",")))
    if option in ("sports", "dports", "ports"):
        return _norm_ports(value)
    if option in ("limit", "hashlimit-upto", "hashlimit-above"):
        return _norm_rate(value)
    if option in ("uid-owner", "gid-owner") and resolve is not None:
        return resolve_owner(option, value, resolve)
    if option in ("src-range", "dst-range"):
        return value
    return value


_ID_RANGE = re.compile(r"^\d+(?:-\d+)?$")


def resolve_owner(option: str, value: str, resolve: Resolver) -> str:
    """``--uid-owner``/``--gid-owner`` value with a name turned into its id. Ids and id
    ranges (``1000-2000``) stay; names may hold '-' (www-data, debian-tor)."""
    if _ID_RANGE.match(value):
        return value
    resolved = resolve("user" if option == "uid-owner" else "group", value)
    return resolved if resolved is not None else value


def is_owner_id(value: str) -> bool:
    return _ID_RANGE.match(value) is not None


def rebind(rule: Rule, change: Callable[[str, str, str], str]) -> Rule:
    """``rule`` with each condition value, target option and the comment replaced by
    ``change(module, option, value)`` (the comment as module and option ``comment``)."""
    conditions = tuple(sorted((m, o, n, change(m, o, v)) for m, o, n, v in rule.conditions))
    target_options = tuple((o, change("target", o, v)) for o, v in rule.target_options)
    comment = None if rule.comment is None else change("comment", "comment", rule.comment)
    if (conditions, target_options, comment) == (rule.conditions, rule.target_options, rule.comment):
        return rule
    return rule._replace(conditions=conditions, target_options=target_options, comment=comment)


def _opt_name(token: str) -> str:
    name = token[2:] if token.startswith("--") else token.lstrip("-")
    return _OPTION_ALIASES.get(name, name)


def _needs_value(name: str, next_token: str | None) -> int:
    if name in _FLAGS:
        return 0
    if name in TWO_ARGS:
        return 2
    if name in _ONE_ARG_TEXT:
        return 1
    if next_token is None or next_token == "!" or (next_token.startswith("-") and len(next_token) > 1
                                                   and not next_token[1:2].isdigit()):
        return 0
    return 1


def rule_from_tokens(chain: str, tokens: list[str], resolve: Resolver | None = None,
                     text: str = "", line: int = 0) -> Rule:
    """Canonicalise the tokens that follow ``-A CHAIN``."""
    atoms: list[Atom] = []
    target_opts: list[tuple[str, str]] = []
    comments: list[str] = []
    protocol = ""
    module = ""          # the match whose options we are reading
    in_target = False
    target = ""
    goto = False
    negate = False
    i = 0
    n = len(tokens)
    while i < n:
        tok = tokens[i]
        if tok == "!":
            negate = True
            i += 1
            continue
        if tok.startswith("[") and tok.endswith("]") and ":" in tok and i == 0:
            i += 1  # packet counters
            continue
        if tok in ("-c", "--set-counters"):
            i += 3
            continue
        if tok in _BASIC:
            opt = _BASIC[tok]
            if opt == "f":
                atoms.append(("", "f", negate, ""))
                negate = False
                i += 1
                continue
            if i + 1 >= n:
                raise ParseError(f"option {tok} needs a value", line)
            value = _norm_value("", opt, tokens[i + 1], resolve)
            if opt == "p":
                protocol = value
            if not negate and ((opt == "p" and value == "all")
                               or (opt in ("s", "d") and value in ("0.0.0.0/0", "::/0"))):
                i += 2  # matches everything: the same as not writing it
                continue
            atoms.append(("", opt, negate, value))
            negate = False
            i += 2
            continue
        if tok in ("-m", "--match"):
            if i + 1 >= n:
                raise ParseError("-m needs a match name", line)
            module = tokens[i + 1]
            in_target = False
            i += 2
            continue
        if tok in ("-j", "--jump", "-g", "--goto"):
            if i + 1 >= n:
                raise ParseError(f"{tok} needs a target", line)
            if target:
                raise ParseError("more than one target", line)
            target = tokens[i + 1]
            goto = tok in ("-g", "--goto")
            in_target = True
            i += 2
            continue
        if tok.startswith("-") and len(tok) > 1:
            name = _opt_name(tok)
            nxt = tokens[i + 1] if i + 1 < n else None
            count = _needs_value(name, nxt)
            values = tokens[i + 1:i + 1 + count]
            if len(values) < count:
                raise ParseError(f"option {tok} needs {count} value(s)", line)
            if count == 0 and name in _VALUE_OPTIONS:
                raise ParseError(f"option {tok} needs a value", line)
            value = " ".join(values)
            if in_target:
                target_opts.append((name, value))
            else:
                owner = module
                known = _MODULE_OPTIONS.get(module)
                if not owner or (known is not None and name not in known
                                 and name in _MODULE_OPTIONS.get(protocol, ())):
                    owner = protocol or module
                if not owner:
                    raise ParseError(f"option {tok} outside any match", line)
                if owner == "comment" and name == "comment":
                    comments.append(value)
                elif value not in _DEFAULT_MATCH_OPTIONS.get((owner, name), ()) or negate:
                    atoms.append((owner, name, negate, _norm_value(owner, name, value, resolve)))
            negate = False
            i += 1 + count
            continue
        raise ParseError(f"unexpected word {tok!r}", line)
    if negate:
        raise ParseError("'!' at the end of the rule", line)
    opts = tuple(sorted(
        (k, v) for k, v in target_opts
        if v not in _DEFAULT_TARGET_OPTIONS.get((target, k), ())
    ))
    if target == "REJECT" and not any(k == "reject-with" for k, _ in opts):
        opts = tuple(sorted(opts + (("reject-with", "icmp-port-unreachable"),)))
    if target == "LOG":
        opts = tuple((k, _norm_rate(v)) for k, v in opts)
    return Rule(
        chain=chain,
        conditions=tuple(sorted(atoms)),
        target=target,
        target_options=opts,
        goto=goto,
        comment=" / ".join(comments) if comments else None,
        text=text,
        line=line,
    )


def odd_rule(chain: str, text: str, line: int, why: str) -> Rule:
    """A rule sdcheck cannot understand, kept in its place: it never equals a baseline rule,
    and its target is unknown, so it counts as one that may let traffic through."""
    return Rule(chain=chain, conditions=(("odd", "rule", False, why),), target="?", target_options=(),
                goto=False, comment=None, text=text, line=line)
