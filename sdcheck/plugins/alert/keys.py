"""GnuPG's machine-readable key listing (--with-colons), parsed: pure."""

from __future__ import annotations

import re
import time

FPR_RE = re.compile(r"^[0-9A-F]{40}$")


DAY = 86400


class GpgKey:
    __slots__ = ("fpr", "validity", "expires", "caps", "subkeys", "uids")

    def __init__(self, fpr="", validity="", expires=0, caps=""):
        self.fpr, self.validity, self.expires, self.caps = fpr, validity, expires, caps
        self.subkeys: list[GpgKey] = []
        self.uids: list[str] = []


def parse_colons(text: str) -> list[GpgKey]:
    """``gpg --with-colons --fixed-list-mode --list-keys`` -> primary keys with subkeys."""
    keys: list[GpgKey] = []
    last: GpgKey | None = None
    for line in text.splitlines():
        f = line.split(":")
        if len(f) < 12:
            if f and f[0] == "fpr" and last is not None and len(f) > 9:
                last.fpr = f[9]
            continue
        kind = f[0]
        if kind in ("pub", "sub"):
            key = GpgKey("", f[1], int(f[6]) if f[6].isdigit() else 0, f[11])
            if kind == "pub":
                keys.append(key)
            elif keys:
                keys[-1].subkeys.append(key)
            last = key
        elif kind == "fpr" and last is not None:
            last.fpr = f[9]
        elif kind == "uid" and keys:
            keys[-1].uids.append(f[9])
    return keys


def day(epoch: float) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(epoch)) if epoch else "never"
