"""Escaping and redaction: nothing from the host may split, forge or hide an output line,
and no secret may be printed."""

from __future__ import annotations

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


def escape(value: object) -> str:
    """Return ``value`` as one printable line.

    Backslashes, every control character (C0, DEL, C1), and every other non-printable
    code point (line/paragraph separators, bidi overrides, zero-width characters,
    surrogates left over from undecodable bytes) are written as backslash escapes.
    """
    text = value if isinstance(value, str) else str(value)
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


class Redactor:
    """Replaces known secret values by a fixed mark. Used on every string a formatter
    writes, as a second line of defence behind checks that never put secrets in
    findings."""

    MARK = "[redacted]"
    # marks tried in turn: the first that cannot combine with surrounding text into a secret
    _MARKS = ("[redacted]", "<hidden>", "***", "###", "%%%", "@@@", "~~~", "^^^", "|||", "===")
    WITHHELD = "[text withheld: it would reveal a secret]"

    def __init__(self, secrets: list[str] | tuple[str, ...] = ()):
        self._set(secrets)

    def add(self, *secrets: str) -> None:
        """Also redact these (a secret a check read from the host, such as a map's password)."""
        fresh = [s for s in secrets if s and s not in self._secrets]
        if fresh:
            self._set(self._secrets + fresh)

    def _set(self, secrets) -> None:
        # longest first, so a secret containing another is removed whole
        self._secrets = sorted({s for s in secrets if s}, key=len, reverse=True)
        self._escaped = sorted(
            {escape(s) for s in self._secrets} - set(self._secrets), key=len, reverse=True
        )
        every = self._secrets + self._escaped
        self.mark = next((m for m in self._MARKS if all(_cannot_form(m, s) for s in every)), self.MARK)

    def __bool__(self) -> bool:
        return bool(self._secrets)

    def __call__(self, text: str) -> str:
        if not self._secrets:
            return text
        for _round in range(4):
            changed = False
            for secret in self._secrets + self._escaped:
                if secret in text:
                    text = text.replace(secret, self.mark)
                    changed = True
            if not changed:
                return text
        return self.WITHHELD  # a secret keeps re-forming: say nothing rather than leak
