"""How values travel back from a remote host's commands: sqlite3's typed hex, find's type
letters, and command lines kept short."""

from __future__ import annotations


def batches(paths: list[str], size: int = 400):
    """Paths in groups short enough for one command line."""
    for start in range(0, len(paths), size):
        yield paths[start:start + size]


# find's %y letters as the file-type bits of st_mode
FIND_TYPES = {b"f": 0o100000, b"d": 0o040000, b"l": 0o120000, b"p": 0o010000, b"s": 0o140000,
               b"c": 0o020000, b"b": 0o060000}


def typed_value(kind: str, hexed: str):
    raw = bytes.fromhex(hexed or "")
    if kind == "null":
        return None
    if kind == "integer":
        return int(raw)
    if kind == "real":
        return float(raw)
    if kind == "text":
        return raw.decode("utf-8", "surrogateescape")
    return raw
