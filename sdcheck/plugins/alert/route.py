"""Files on the alert path, compared as wholes (pure: text in, differences out)."""

from __future__ import annotations

import difflib


def canonical_lines(text: str) -> list[str]:
    """Lines as a program reads them: trailing blanks and the final newline do not count."""
    return [line.rstrip() for line in text.rstrip("\n").split("\n")] if text.strip() else []


def differences(expected: str, actual: str, limit: int = 3) -> list[tuple[int, str, str]]:
    """(line in actual, expected text, actual text) of the first ``limit`` differing lines;
    a line only in one of them has "" in the other's place."""
    want, have = canonical_lines(expected), canonical_lines(actual)
    out: list[tuple[int, str, str]] = []
    matcher = difflib.SequenceMatcher(a=want, b=have, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        for k in range(max(i2 - i1, j2 - j1)):
            w = want[i1 + k] if i1 + k < i2 else ""
            h = have[j1 + k] if j1 + k < j2 else ""
            out.append((j1 + k + 1 if j1 + k < j2 else j2 + 1, w, h))
            if len(out) >= limit:
                return out
    return out


# entries postalias adds to every aliases database for sendmail's sake
ALIAS_INTERNAL = frozenset({"@", "YP_LAST_MODIFIED", "YP_MASTER_NAME"})


def alias_db_entries(text: str) -> list[tuple[str, str]]:
    """(key, value) per entry of ``postalias -s`` output (``key:<TAB>value``), Postfix's own
    entries left out. (Other maps are listed by the postfix plugin's ``table_entries``.)"""
    out = []
    for line in text.splitlines():
        if not line.strip():
            continue
        key, _, value = line.partition("\t")
        key = key[:-1] if key.endswith(":") else key
        if key not in ALIAS_INTERNAL:
            out.append((key, " ".join(value.split())))
    return out


def alias_file_entries(text: str) -> list[tuple[str, str]]:
    """Entries of an aliases source file as newaliases reads it (``name: value``, continuation
    lines start with a blank, ``#`` comments)."""
    out: list[list[str]] = []
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if line[0] in " \t" and out:
            out[-1][1] += " " + line.strip()
            continue
        key, _, value = line.partition(":")
        out.append([key.strip(), value.strip()])
    return [(k, " ".join(v.split())) for k, v in out]


def has_directives(text: str) -> bool:
    """A GnuPG or mail option file that sets anything (not only comments and blank lines)."""
    return any(line.strip() and not line.lstrip().startswith("#") for line in text.splitlines())
