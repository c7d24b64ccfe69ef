"""Postfix text formats: ``postconf`` output, main.cf line positions, protocol lists,
table references, header_checks rules. Pure functions: the effective configuration
itself always comes from Postfix's own ``postconf`` (defaults, ``$name`` expansion,
continuation lines); the main.cf reader here only finds where a parameter is set, so a
finding can point at ``file:line``.
"""

from __future__ import annotations

import re

PROTOCOLS = ("SSLv2", "SSLv3", "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3")
_ORDER = {p.lower(): i for i, p in enumerate(PROTOCOLS)}
_SPLIT = re.compile(r"[\s,]+")
_NAME = re.compile(r"^([A-Za-z0-9_]+)\s*=\s?(.*)$")
_SERVICE_PARAM = re.compile(r"^([^/\s]+)/([^/\s]+)/([A-Za-z0-9_]+)\s*=\s?(.*)$")


def _logical_lines(text: str):
    """(first line number, joined text) of each logical line: a line starting with white
    space continues the previous one, as in main.cf, master.cf and postconf output."""
    start, parts = 0, []
    for number, raw in enumerate(text.splitlines(), 1):
        if raw[:1] in (" ", "\t") and parts:
            if raw.strip() and not raw.lstrip().startswith("#"):
                parts.append(raw.strip())
            continue
        if parts:
            yield start, " ".join(parts)
        parts = []
        if raw.strip() and not raw.lstrip().startswith("#"):
            start, parts = number, [raw.strip()]
    if parts:
        yield start, " ".join(parts)


def parse_postconf(text: str) -> dict[str, str]:
    """``name = value`` lines (postconf's output) -> {name: value}."""
    out: dict[str, str] = {}
    for _line, logical in _logical_lines(text):
        m = _NAME.match(logical)
        if m:
            out[m.group(1)] = m.group(2).strip()
    return out


def main_cf_lines(text: str) -> dict[str, int]:
    """Parameter -> line of its last setting in main.cf (the one Postfix uses)."""
    out: dict[str, int] = {}
    for line, logical in _logical_lines(text):
        m = _NAME.match(logical)
        if m:
            out[m.group(1)] = line
    return out


def parse_service_params(text: str) -> list[tuple[str, str, str, str]]:
    """``postconf -P`` output -> [(service, type, parameter, value)] (master.cf ``-o``)."""
    out = []
    for _line, logical in _logical_lines(text):
        m = _SERVICE_PARAM.match(logical)
        if m:
            out.append((m.group(1), m.group(2), m.group(3), m.group(4).strip()))
    return out


def parse_services(text: str) -> dict[tuple[str, str], str]:
    """``postconf -M`` output -> {(service, type): command}."""
    out = {}
    for _line, logical in _logical_lines(text):
        fields = logical.split()
        if len(fields) >= 8:
            out[(fields[0], fields[1])] = fields[7]
    return out


def words(value: str) -> list[str]:
    """A list-valued parameter split as Postfix does (white space and commas)."""
    return [w for w in _SPLIT.split(value.strip()) if w]


def allowed_protocols(value: str) -> set[str]:
    """The TLS protocols a ``*_tls_protocols`` value allows. Postfix accepts exclusions
    (``!SSLv3``), a list of included protocols, and ``>=V``/``<=V`` bounds."""
    included: set[str] = set()
    excluded: set[str] = set()
    low, high = 0, len(PROTOCOLS) - 1
    for word in words(value.replace(":", " ")):
        if word.startswith(">="):
            low = max(low, _ORDER.get(word[2:].lower(), low))
        elif word.startswith("<="):
            high = min(high, _ORDER.get(word[2:].lower(), high))
        elif word.startswith("!"):
            if word[1:].lower() in _ORDER:
                excluded.add(PROTOCOLS[_ORDER[word[1:].lower()]])
        elif word.lower() in _ORDER:
            included.add(PROTOCOLS[_ORDER[word.lower()]])
    base = included or set(PROTOCOLS)
    return {p for p in base - excluded if low <= _ORDER[p.lower()] <= high}


def table_refs(value: str) -> list[tuple[str, str]]:
    """``hash:/etc/postfix/sasl_passwd, lmdb:/x`` -> [("hash", "/etc/postfix/sasl_passwd"), ...].
    A reference without a type gets type ""."""
    out = []
    for word in words(value):
        kind, sep, path = word.partition(":")
        out.append((kind, path) if sep else ("", word))
    return out


def header_rules(text: str) -> list[tuple[str, str]]:
    """A regexp table -> [(pattern, ACTION...)], comments and blank lines dropped, the
    action's first word upper-cased, white space normalised."""
    out = []
    for _line, logical in _logical_lines(text):
        parts = logical.split(None, 1)
        if not parts:
            continue
        action = parts[1].split() if len(parts) > 1 else []
        if action:
            action[0] = action[0].upper()
        out.append((parts[0], " ".join(action)))
    return out


def normalise_fingerprint(value: str) -> str:
    return value.replace(":", "").replace(" ", "").upper()


_NESTING_MAPS = ("pipemap", "unionmap")


def _map_words(value: str) -> list[str]:
    """Postfix's list of map references: separated by white space or commas outside braces."""
    out, word, depth = [], [], 0
    for ch in value:
        if ch == "{":
            depth += 1
        elif ch == "}" and depth:
            depth -= 1
        if depth == 0 and (ch in ", \t\n\r"):
            if word:
                out.append("".join(word))
                word = []
            continue
        word.append(ch)
    if word:
        out.append("".join(word))
    return out


def _unbrace(text: str) -> str:
    text = text.strip()
    return text[1:-1].strip() if text.startswith("{") and text.endswith("}") else text


def map_parts(value: str) -> tuple[list[str], list[tuple[str, str]]]:
    """A map list (``static:user:pw``, ``inline:{ k=v, k2={v 2} }``, ``hash:/path``,
    ``pipemap:{...}``) -> (the literal result values it holds, [(type, name) of tables to
    look up]). The literal values are what a lookup can return: for a password map, secrets."""
    literals: list[str] = []
    tables: list[tuple[str, str]] = []
    for word in _map_words(value):
        kind, sep, rest = word.partition(":")
        if not sep:
            tables.append(("", word))
        elif kind == "static":
            literals.append(_unbrace(rest))
        elif kind == "inline":
            for entry in _map_words(_unbrace(rest)):
                _key, eq, result = entry.partition("=")
                if eq:
                    literals.append(_unbrace(result))
        elif kind in _NESTING_MAPS:
            inner_literals, inner_tables = map_parts(_unbrace(rest))
            literals += inner_literals
            tables += inner_tables
        else:
            tables.append((kind, rest))
    return literals, tables


def secret_parts(result: str) -> list[str]:
    """A SASL password map's result ``user:password`` -> every part to keep secret (the
    whole, and both sides: swapped fields put the password where the user belongs)."""
    user, colon, password = result.partition(":")
    return [result] + ([user, password] if colon else [])
