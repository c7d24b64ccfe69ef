"""store.orphan-files: every file in the store has a database row."""

from __future__ import annotations

from sdcheck.plugins.store.base import StoreCheck, size_text


class OrphanFiles(StoreCheck):
    id = "store.orphan-files"
    kind = "orphan"
    title = "Every file in the store has its database row"
    # what exactly is verified (docs/checks.md, sdcheck explain)
    details = ("(app) every file has its row")
    why = ("A file without a row is invisible to journalists and never deleted with its source: "
           "data kept that the newsroom believes gone.")

    def describe(self, t, r) -> str:
        return f"{t.count} file(s) in the store have no database row ({size_text(t.bytes)})"
