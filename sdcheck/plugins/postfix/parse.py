"""Postfix text formats: ``postconf`` output, main.cf line positions, protocol lists,
table references, header_checks rules. Pure functions: the effective configuration
itself always comes from Postfix's own ``postconf`` (defaults, ``$name`` expansion,
continuation lines); the main.cf reader here only finds where a parameter is set, so a
finding can point at ``file:line``.
"""

from __future__ import annotations

PROTOCOLS = ("SSLv2", "SSLv3", "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3")
_ORDER = {p.lower(): i for i, p in enumerate(PROTOCOLS)}
# Postfix's white space is C's isspace() in the C locale; nothing else (not \x1c-\x1f, \x85,
# U+2028, which str.splitlines() and str.split() also break on)
WHITESPACE = " \t\n\v\f\r"


def _is_space(ch: str) -> bool:
    return ch != "" and ch in WHITESPACE


def _strip(text: str) -> str:
    return text.strip(WHITESPACE)


def split_words(value: str, separators: str = WHITESPACE) -> list[str]:
    """``value`` split on runs of ``separators``, linear, with no regex."""
    out, start = [], None
    for i, ch in enumerate(value):
        if ch in separators:
            if start is not None:
                out.append(value[start:i])
                start = None
        elif start is None:
            start = i
    if start is not None:
        out.append(value[start:])
    return out


def _logical_lines(text: str, raw: bool = False):
    """(first line number, joined text) of each logical line, as Postfix's readllines() reads
    main.cf, master.cf and lookup tables: physical lines end only at \n; a line whose first
    non-white character is # is a comment, and a blank one is skipped; a line starting with
    white space continues the logical line before it, which starts with non-white text (with
    none before it, it is skipped). ``raw``: the joined text as it is (a lookup table's);
    else with main.cf's blanks folded."""
    fold = (lambda line: line) if raw else _blanks
    start = 0
    parts: list[str] = []
    for number, physical in enumerate(text.split("\n"), 1):
        body = _strip(physical)
        if not body or body.startswith("#"):
            continue
        if _is_space(physical[:1]):
            if parts:
                parts.append(physical)  # joined as it is, the line break dropped
            # else: continues no logical line; Postfix warns "logical line must not start with
            # whitespace" and skips it
            continue
        if parts:
            yield start, fold("".join(parts))
        start, parts = number, [physical]
    if parts:
        yield start, fold("".join(parts))


def _blanks(line: str) -> str:
    """Postfix's view of a logical line's blanks: each run of spaces, tabs and carriage
    returns is one space (\v and \f stay), white space at both ends dropped."""
    out, blank = [], False
    for ch in line:
        if ch in " \t\r":
            blank = True
            continue
        if blank:
            out.append(" ")
            blank = False
        out.append(ch)
    return _strip("".join(out))


def _name_value(logical: str) -> tuple[str, str] | None:
    """``name = value`` as Postfix splits it (split_nameval): the name ends at white space or
    '='; white space around both is dropped."""
    name, eq, value = logical.partition("=")
    name = _strip(name)
    if not eq or not name or any(_is_space(c) for c in name):
        return None
    return name, _strip(value)


def parse_postconf(text: str) -> dict[str, str]:
    """``name = value`` lines (postconf's output) -> {name: value}. postconf prints one
    parameter a line: only \n ends one, whatever control characters a value holds."""
    out: dict[str, str] = {}
    for raw in text.split("\n"):
        got = _name_value(raw)
        if got:
            out[got[0]] = got[1]
    return out


def read_main_cf(text: str) -> dict[str, str]:
    """main.cf's parameters as Postfix reads the file (the last setting wins), values as
    written (``$name`` not expanded)."""
    out: dict[str, str] = {}
    for _line, logical in _logical_lines(text):
        got = _name_value(logical)
        if got:
            out[got[0]] = got[1]
    return out


def main_cf_lines(text: str) -> dict[str, int]:
    """Parameter -> line of its last setting in main.cf (the one Postfix uses)."""
    out: dict[str, int] = {}
    for line, logical in _logical_lines(text):
        got = _name_value(logical)
        if got:
            out[got[0]] = line
    return out


def parse_service_params(text: str) -> list[tuple[str, str, str, str]]:
    """``postconf -P`` output -> [(service, type, parameter, value)] (master.cf ``-o``)."""
    out = []
    for raw in text.split("\n"):
        got = _name_value(raw)
        if got and got[0].count("/") == 2:
            service, kind, param = got[0].split("/")
            out.append((service, kind, param, got[1]))
    return out


def brace_words(value: str, separators: str = WHITESPACE) -> list[str]:
    """Words separated by ``separators`` outside braces: ``-o {name=a b}`` is two words, as
    master.cf's and map lists' ``{ }`` grouping reads (linear, no regex)."""
    out: list[str] = []
    word: list[str] = []
    depth = 0
    for ch in value:
        if ch == "{":
            depth += 1
        elif ch == "}" and depth:
            depth -= 1
        if depth == 0 and ch in separators:
            if word:
                out.append("".join(word))
                word = []
            continue
        word.append(ch)
    if word:
        out.append("".join(word))
    return out


def parse_services_full(text: str) -> dict[tuple[str, str], list[str]]:
    """``postconf -M`` output -> {(service, type): its fields and arguments}."""
    out = {}
    for raw in text.split("\n"):
        fields = brace_words(raw)
        if len(fields) >= 8:
            out[(fields[0], fields[1])] = fields
    return out


def parse_services(text: str) -> dict[tuple[str, str], str]:
    """``postconf -M`` output -> {(service, type): command}."""
    return {key: fields[7] for key, fields in parse_services_full(text).items()}


def program_of(command: str, daemon_dir: str) -> tuple[str, bool]:
    """The program a master.cf command runs: (its name, whether it lies outside daemon_directory).
    Postfix runs a relative command from daemon_directory, so './smtp' is the smtp client."""
    import posixpath

    path = posixpath.normpath(posixpath.join(daemon_dir, command))
    return posixpath.basename(path), posixpath.dirname(path) != posixpath.normpath(daemon_dir)


def words(value: str) -> list[str]:
    """A list-valued parameter split as Postfix does (white space and commas)."""
    return split_words(value, WHITESPACE + ",")


def value_words(value: str) -> tuple[str, ...]:
    """A value as compared with the baseline: its words, white space and commas aside."""
    return tuple(words(value))


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


def normalise_fingerprint(value: str) -> str:
    return value.replace(":", "").replace(" ", "").upper()


_NESTING_MAPS = ("pipemap", "unionmap")


def _map_words(value: str) -> list[str]:
    """Postfix's list of map references: separated by white space or commas outside braces."""
    return brace_words(value, ", \t\n\r")


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


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def map_source_entries(text: str) -> dict[str, str]:
    """What postmap makes of an indexed lookup table's source (hash, lmdb, cdb...): per logical
    line, the key up to the first white space, lower-cased in ASCII as postmap does without
    -f, and the value the rest without the white space around it. A line without a value is
    skipped and a repeated key keeps its first value, as postmap does (with a warning)."""
    out: dict[str, str] = {}
    for _line, logical in _logical_lines(text, raw=True):
        line = _strip(logical)
        cut = next((i for i, ch in enumerate(line) if _is_space(ch)), None)
        if cut is None:
            continue
        key, value = line[:cut].translate(_ASCII_LOWER), _strip(line[cut:])
        if value:
            out.setdefault(key, value)
    return out

