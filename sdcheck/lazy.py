"""Regular expressions compiled on first use, not at import.

A module-level ``re.compile`` costs start-up time in every process that imports the
module, whether or not the expression is ever used (``sdcheck list`` uses none of the
parsers' expressions). ``Pattern(...)`` is a drop-in for a module-level compiled
expression: the first attribute asked for (``.match``, ``.sub``...) compiles it, and the
compiled expression's methods then sit on the object itself, so later calls cost what a
compiled expression's do. ``tests/test_startup.py`` checks that importing sdcheck and
every plugin compiles nothing.
"""

from __future__ import annotations

import _thread

_LOCK = _thread.allocate_lock()


class Pattern:
    def __init__(self, pattern: str, flags: int = 0):
        self._source = (pattern, flags)

    def __getattr__(self, name: str):
        # only reached while the expression is not compiled yet (or for a missing name)
        if name.startswith("__") or name == "_source":
            raise AttributeError(name)
        with _LOCK:  # checks run in threads: compile once
            if "_compiled" not in self.__dict__:
                import re

                compiled = re.compile(*self._source)
                for attr in ("match", "fullmatch", "search", "sub", "subn", "split", "finditer",
                             "findall", "pattern", "flags", "groups", "groupindex"):
                    self.__dict__[attr] = getattr(compiled, attr)
                self.__dict__["_compiled"] = compiled
        return getattr(self.__dict__["_compiled"], name)

    def __repr__(self) -> str:
        return f"Pattern({self._source[0]!r})"
