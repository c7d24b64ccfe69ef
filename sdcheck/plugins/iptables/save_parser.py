"""The text iptables-save prints (and the rule lines of SecureDrop's rules_v4), parsed into
the canonical rules of rules.py: pure functions of text."""

from __future__ import annotations

import re

from sdcheck.plugins.iptables.rules import Chain, ParseError, Rule, Table, odd_rule, rule_from_tokens
from sdcheck.startup import TYPE_CHECKING

if TYPE_CHECKING:
    from sdcheck.plugins.iptables.rules import Resolver


_TOKEN = re.compile(r'[ \t]*(?:"((?:[^"\\]|\\.)*)"|([^\s"\'\\]+))(?=[ \t]|$)', re.S)
_UNESCAPE = re.compile(r"\\(.)", re.S)


def _fast_split(text: str) -> list[str] | None:
    """Tokens of ``text`` in iptables-save's own quoting, or None when the text uses any
    other shell syntax (the caller then uses shlex). shlex is ~5x slower, which matters
    for 10,000-rule rulesets."""
    if text.isascii() and text.isprintable() and "\\" not in text and "'" not in text:
        # the common case, with plain string operations: printable ASCII (so the only
        # white space is ' '), "..." strings without escapes
        if '"' not in text:
            return text.split()
        parts = text.split('"')
        if len(parts) % 2 == 0:
            return None  # unbalanced
        out: list[str] = []
        last = len(parts) - 1
        for i, part in enumerate(parts):
            if i % 2:
                before, after = parts[i - 1], parts[i + 1]
                if (before and not before[-1].isspace()) or (after and not after[0].isspace()):
                    return None  # a quote glued to a word: leave it to the careful path
                out.append(part)
            elif part:
                out.extend(part.split())
            elif 0 < i < last:
                return None  # two quoted strings glued together
        return out
    tokens = []
    pos, end = 0, len(text.rstrip(" \t"))
    while pos < end:
        m = _TOKEN.match(text, pos)
        if m is None:
            return None
        quoted, bare = m.group(1), m.group(2)
        tokens.append(bare if bare is not None else _UNESCAPE.sub(r"\1", quoted))
        pos = m.end()
    return tokens


def _split_careful(text: str, line: int) -> list[str]:
    """Shell-like words in linear time (shlex concatenates strings, quadratic on a long word):
    white space separates words outside quotes; a backslash takes the next character as
    it is, outside and inside double quotes (iptables-save escapes \\, " and ' there);
    single quotes take everything up to the next one as it is."""
    tokens: list[str] = []
    cur: list[str] = []
    have, i, n = False, 0, len(text)
    while i < n:
        ch = text[i]
        if ch in " \t\r\n":
            if have:
                tokens.append("".join(cur))
                cur, have = [], False
            i += 1
            continue
        have = True
        if ch == "\\":
            if i + 1 >= n:
                raise ParseError("cannot split rule: a backslash ends the line", line)
            cur.append(text[i + 1])
            i += 2
        elif ch == "'":
            j = text.find("'", i + 1)
            if j < 0:
                raise ParseError("cannot split rule: no closing quotation", line)
            cur.append(text[i + 1:j])
            i = j + 1
        elif ch == '"':
            i += 1
            start = i
            while i < n and text[i] != '"':
                if text[i] == "\\":
                    cur.append(text[start:i])
                    if i + 1 >= n:
                        break
                    cur.append(text[i + 1])
                    i += 2
                    start = i
                else:
                    i += 1
            if i >= n:
                raise ParseError("cannot split rule: no closing quotation", line)
            cur.append(text[start:i])
            i += 1
        else:
            cur.append(ch)
            i += 1
    if have:
        tokens.append("".join(cur))
    return tokens


def split_rule(text: str, line: int = 0) -> list[str]:
    fast = _fast_split(text)
    if fast is not None:
        return fast
    return _split_careful(text, line)


def parse_rule(text: str, resolve: Resolver | None = None, line: int = 0) -> Rule:
    """Parse one ``-A CHAIN ...`` line."""
    tokens = split_rule(text, line)
    if len(tokens) < 2 or tokens[0] not in ("-A", "--append"):
        raise ParseError("a rule must start with -A CHAIN", line)
    return rule_from_tokens(tokens[1], tokens[2:], resolve, text=text.strip(), line=line)


def _quote_state(text: str, inside: bool = False, escaped: bool = False, start: bool = True):
    """Scan ``text`` as iptables-save quotes values: a double quote opens a quoted string only
    at the start of a token (a chain name such as a"b opens nothing), a backslash escapes
    the next character inside one, and the next unescaped double quote closes it. Returns
    the state after ``text`` (inside, escaped, at a token start), so continuation lines are
    scanned once each: linear however many newlines a comment holds."""
    for ch in text:
        if inside:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                inside = False
            start = False
        else:
            if ch == '"' and start:
                inside = True
            start = ch in " \t"
    return inside, escaped, start


def _open_quote(line: str) -> bool:
    """True when ``line`` ends inside a double-quoted string (iptables-save quoting)."""
    if '"' not in line:
        return False
    head = line.split(None, 2)  # '-A CHAIN rest': the chain's name never opens a quote
    rest = head[2] if len(head) > 2 and head[0] in ("-A", "--append") else line
    return _quote_state(rest)[0]


def parse_save(text: str, resolve: Resolver | None = None) -> dict[str, Table]:
    """Parse ``iptables-save`` output (or a rules_v4 file) into tables."""
    tables: dict[str, Table] = {}
    table: Table | None = None
    raw_lines = text.split("\n")
    index = 0
    while index < len(raw_lines):
        lineno = index + 1
        line = raw_lines[index].strip()
        index += 1
        if line.startswith(("-A ", "[", "--append ")):
            # A comment holding a newline is printed by iptables-save as is, so a quoted
            # string may continue on the next lines: join until the quotes balance.
            if _open_quote(line):
                head = line.split(None, 2)
                state = _quote_state(head[2] if len(head) > 2 and head[0] in ("-A", "--append") else line)
                parts = [line]
                while state[0] and index < len(raw_lines):
                    state = _quote_state("\n" + raw_lines[index], *state)
                    parts.append(raw_lines[index])
                    index += 1
                line = "\n".join(parts)
        if not line or line.startswith("#"):
            continue
        if line.startswith("*"):
            if table is not None:
                raise ParseError(f"table {line[1:]} starts before COMMIT of {table.name}", lineno)
            name = line[1:].strip()
            table = tables.setdefault(name, Table(name))
            continue
        if table is None:
            raise ParseError(f"{line.split()[0]!r} outside a table (missing '*table' line)", lineno)
        if line == "COMMIT":
            table = None
            continue
        if line.startswith(":"):
            parts = line[1:].split()
            if len(parts) < 2:
                raise ParseError("chain line needs a name and a policy", lineno)
            name, policy = parts[0], parts[1]
            table.chains[name] = Chain(name, None if policy == "-" else policy, line=lineno)
            continue
        if line.startswith("-A ") or line.startswith("[") or line.startswith("--append "):
            # a rule the parser finds odd is one odd rule of its chain (never trusted: its target
            # is unknown, so it counts as one that may accept); the other rules are still read
            words = line.split(None, 2)
            chain = words[1] if len(words) > 1 and words[0] in ("-A", "--append") else "?"
            try:
                tokens = split_rule(line, lineno)
                if tokens and tokens[0].startswith("["):
                    tokens = tokens[1:]
                if len(tokens) < 2 or tokens[0] not in ("-A", "--append"):
                    raise ParseError("a rule must start with -A CHAIN", lineno)
                chain = tokens[1]
                rule = rule_from_tokens(chain, tokens[2:], resolve, text=line, line=lineno)
            except ParseError as exc:
                rule = odd_rule(chain, line, lineno, str(exc.args[0]))
            if chain not in table.chains:  # a rule for a chain never declared: the chain is odd too
                table.chains[chain] = Chain(chain, None, line=lineno)
            table.chains[chain].rules.append(rule)
            continue
        raise ParseError(f"unexpected line starting {line.split()[0]!r}", lineno)
    if table is not None:
        raise ParseError(f"table {table.name} has no COMMIT", 0)
    return tables
