"""Escaping and redaction: nothing from the host may split, forge or hide an output line,
and no secret may be printed."""

from __future__ import annotations

import re

_ESCAPES = {"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape_char(ch: str) -> str:
    if ch in _ESCAPES:
        return _ESCAPES[ch]
    code = ord(ch)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def escape(value: object, ascii_only: bool = False) -> str:
    """Return ``value`` as one printable line (``ascii_only``: every non-ASCII character
    escaped too, for output read in any locale).

    Backslashes, every control character (C0, DEL, C1), and every other non-printable
    code point (line/paragraph separators, bidi overrides, zero-width characters,
    surrogates left over from undecodable bytes) are written as backslash escapes.
    """
    text = value if isinstance(value, str) else str(value)
    if ascii_only:
        if text.isascii() and text.isprintable() and "\\" not in text:
            return text
        return "".join(ch if ch.isascii() and ch.isprintable() and ch != "\\" else _escape_char(ch) for ch in text)
    if text.isprintable() and "\\" not in text:
        return text
    return "".join(ch if ch.isprintable() and ch != "\\" else _escape_char(ch) for ch in text)


def from_host(data: bytes) -> str:
    """Decode bytes read from the host without ever failing: undecodable bytes become
    lone surrogates, which ``escape`` renders as visible escapes."""
    return data.decode("utf-8", "surrogateescape")


def truncate_utf8(text: str, limit: int, marker: str = "...") -> str:
    """Cut ``text`` so its UTF-8 encoding is at most ``limit`` bytes, without splitting a
    character or an escape sequence in a misleading way."""
    raw = text.encode("utf-8", "surrogatepass")
    if len(raw) <= limit:
        return text
    budget = limit - len(marker.encode())
    cut = raw[:budget].decode("utf-8", "ignore")
    # do not leave a dangling half escape such as "\x4"
    back = cut.rfind("\\")
    if back != -1 and len(cut) - back < 10:
        cut = cut[:back]
    return cut + marker


def _cannot_form(mark: str, secret: str) -> bool:
    """True when no occurrence of ``secret`` can overlap ``mark`` in any text: the secret
    neither contains nor lies in the mark, and no end of one overlaps the start of the other.
    (The text between marks is already free of the secret.)"""
    if mark in secret or secret in mark:
        return False
    for k in range(1, min(len(mark), len(secret))):
        if mark.endswith(secret[:k]) or mark.startswith(secret[-k:]):
            return False
    return True


def _trie_pattern(words: list[str]) -> str:
    """One regex matching any of ``words`` (longest first at each position), built as a trie
    so a match costs the length of the longest word, not the number of words."""
    trie: dict = {}
    for word in words:
        node = trie
        for ch in word:
            node = node.setdefault(ch, {})
        node[""] = True

    def emit(node: dict) -> str:
        end = "" in node
        branches = []
        for ch, child in sorted(node.items()):
            if not ch:
                continue
            run = ch  # a chain of single children is one literal (keeps the recursion shallow)
            while len(child) == 1 and "" not in child:
                (nxt, child), = child.items()
                run += nxt
            branches.append(re.escape(run) + emit(child))
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        return f"(?:{body})?" if end else body
    return emit(trie)


class Redactor:
    """Replaces known secret values by a fixed mark, in text that came from the host or the
    user (never in sdcheck's own frame: the prefix, check ids, the OK line). Secrets shorter
    than MIN_LENGTH are not redacted by substring (they would blank out ordinary letters):
    sdcheck never puts a password-bearing value into its output in the first place."""

    MARK = "[redacted]"
    MIN_LENGTH = 4
    # marks tried in turn: the first that cannot combine with surrounding text into a secret
    _MARKS = ("[redacted]", "<hidden>", "***", "###", "%%%", "@@@", "~~~", "^^^", "|||", "===")
    WITHHELD = "[text withheld: it would reveal a secret]"

    def __init__(self, secrets: list[str] | tuple[str, ...] = ()):
        self._secrets: set[str] = set()
        self._pattern = None
        self.mark = self.MARK
        self.add(*secrets)

    def add(self, *secrets: str) -> None:
        """Also redact these (a secret a check read from the host, such as a map's password).
        Cheap to call often: the matcher is rebuilt on the next use."""
        fresh = {str(s) for s in secrets if s and len(str(s)) >= self.MIN_LENGTH} - self._secrets
        if fresh:
            self._secrets |= fresh
            self._pattern = None

    def _build(self):
        every = self._secrets | {escape(s) for s in self._secrets}
        self.mark = next((m for m in self._MARKS if all(_cannot_form(m, s) for s in every)), self.MARK)
        self._pattern = re.compile(_trie_pattern(sorted(every, key=len, reverse=True)), re.S)
        return self._pattern

    def __bool__(self) -> bool:
        return bool(self._secrets)

    def __call__(self, text: str) -> str:
        if not self._secrets:
            return text
        pattern = self._pattern or self._build()
        out = pattern.sub(self.mark, text)
        # the mark cannot combine with its neighbours into a secret; make sure anyway
        return self.WITHHELD if pattern.search(out) else out


def clean(value: object, redact: Redactor | None = None, limit: int | None = None, ascii_only: bool = False) -> str:
    """The one path from host (or user) text to output: redact every known secret first,
    then cut to ``limit`` characters, then escape to one printable line (and redact the
    escaped form once more: a secret may be spelled with escapes). Nothing else cuts host
    text, so a secret can never be half-printed across a cut."""
    text = "" if value is None else str(value)
    if redact:
        text = redact(text)
    if limit is not None and len(text) > limit:
        text = text[:max(0, limit - 3)] + "..."
    text = escape(text, ascii_only)
    return redact(text) if redact else text
