"""store.missing-files: every file the database records is in the store."""

from __future__ import annotations

from sdcheck.plugins.store.base import StoreCheck, parts_text, size_text


class MissingFiles(StoreCheck):
    id = "store.missing-files"
    kind = "missing"
    title = "Every submission and reply in the database has its file in the store"
    # what exactly is verified (docs/checks.md, sdcheck explain)
    details = ("(app) every `submissions`/`replies` row has its file in its own source's directory")
    why = "A row without its file is a submission journalists see listed but cannot download: lost or moved data."

    def describe(self, t, r) -> str:
        return (f"{t.count} database row(s) have no file in their source's directory ({parts_text(t)}; "
                f"{size_text(t.bytes)} recorded)")
