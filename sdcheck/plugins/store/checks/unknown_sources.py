"""store.unknown-sources: every source directory belongs to a source in the database."""

from __future__ import annotations

from sdcheck.plugins.store.base import StoreCheck, size_text


class UnknownSources(StoreCheck):
    id = "store.unknown-sources"
    kind = "unknown_source"
    title = "Every source directory belongs to a source in the database"
    # what exactly is verified (docs/checks.md, sdcheck explain)
    details = ("(app) every source directory has a `sources` row")
    why = "A directory without a sources row holds submissions nobody can see or delete."

    def describe(self, t, r) -> str:
        files = t.parts.get("files", 0)
        return (f"{t.count} source director{'y' if t.count == 1 else 'ies'} have no sources row "
                f"({files} file(s), {size_text(t.bytes)})")
