"""store.leftovers: nothing old is left in the shredder and temporary areas."""

from __future__ import annotations

from sdcheck.model import Severity
from sdcheck.plugins.store.base import StoreCheck, size_text


class Leftovers(StoreCheck):
    id = "store.leftovers"
    kind = "leftover"
    title = "Nothing lingers in the shredder or temporary areas past the threshold"
    # what exactly is verified (docs/checks.md, sdcheck explain)
    details = ("(app) nothing in the shredder or temporary area older than `leftover_max_age_hours` (24)")
    severity = Severity.MEDIUM
    why = "Deleted submissions waiting in the shredder, or upload leftovers, should not outlive a day."
    remedy = ("Check that SecureDrop's shredder service runs ('systemctl status securedrop-shredder') "
              "and that nothing holds the files open.")

    def describe(self, t, r) -> str:
        return (f"{t.count} entr{'y' if t.count == 1 else 'ies'} older than the threshold in the "
                f"shredder/temporary areas ({size_text(t.bytes)})")

    def ok(self, result) -> str:
        return "no old leftovers in the shredder or temporary areas"
