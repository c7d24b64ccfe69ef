"""store.missing-files: every file the database records is in the store."""

from __future__ import annotations

from sdcheck.plugins.store.base import StoreCheck, parts_text, size_text
from sdcheck.plugins.store.judge import SOURCELESS


class MissingFiles(StoreCheck):
    id = "store.missing-files"
    kind = "missing"
    title = "Every submission and reply in the database has its file in the store"
    # what exactly is verified (docs/checks.md, sdcheck explain)
    details = ("(app) every `submissions`/`replies` row has its file in its own source's directory")
    why = "A row without its file is a submission journalists see listed but cannot download: lost or moved data."

    def describe(self, t, r) -> str:
        sourceless = t.parts.get(SOURCELESS, 0)
        if sourceless == t.count:
            return (f"{t.count} database row(s) belong to no source: their sources row is gone or their "
                    f"source_id is not valid, so their files have no place in the store "
                    f"({size_text(t.bytes)} recorded)")
        return (f"{t.count} database row(s) have no file in their source's directory ({parts_text(t)}; "
                f"{size_text(t.bytes)} recorded)")
