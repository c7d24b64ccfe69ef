"""store.size: every file has the size its database row records."""

from __future__ import annotations

from sdcheck.model import Severity
from sdcheck.plugins.store.base import StoreCheck, size_text


class Size(StoreCheck):
    id = "store.size"
    kind = "size"
    title = "Each file's size on disk equals the size recorded in the database"
    # what exactly is verified (docs/checks.md, sdcheck explain)
    details = ("(app) size on disk equals the row's `size`")
    severity = Severity.MEDIUM
    why = "A different size means a truncated, replaced or corrupted submission."

    def describe(self, t, r) -> str:
        return f"{t.count} file(s) differ in size from their database row ({size_text(t.bytes)} in all)"
