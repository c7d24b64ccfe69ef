"""store.misplaced: every file is in the directory of the source its row names."""

from __future__ import annotations

from sdcheck.model import Severity
from sdcheck.plugins.store.base import StoreCheck, size_text


class Misplaced(StoreCheck):
    id = "store.misplaced"
    kind = "misplaced"
    title = "No file sits under another source's directory than its row's"
    # what exactly is verified (docs/checks.md, sdcheck explain)
    details = ("(app) a row's file missing from its source's directory but present, unclaimed, under another "
               "source's: one finding, not a missing file plus an orphan")
    severity = Severity.CRITICAL
    why = ("A submission filed under the wrong source would be shown to journalists as coming "
           "from someone else. Matching by bare file name, as manage.py does, hides this.")

    def describe(self, t, r) -> str:
        return (f"{t.count} file(s) are missing from their source's directory but present under "
                f"another source's ({size_text(t.bytes)})")
