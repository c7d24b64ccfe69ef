"""store.claims: each stored file is claimed by one database row, of the file's own kind."""

from __future__ import annotations

from sdcheck.plugins.store.base import StoreCheck, parts_text


class Claims(StoreCheck):
    id = "store.claims"
    kind = "claims"
    title = "Each file is claimed by one database row, of its own kind (submission or reply)"
    # what exactly is verified (docs/checks.md, sdcheck explain)
    details = ("(app) no file of a source is named by two rows (two submissions, two replies, or one of each), "
               "and a reply row names a `-reply.gpg` file while a submission row names a message or document "
               "(SecureDrop names them so)")
    why = ("A file two rows claim is shown twice and deleted with either; a submission recorded as a reply "
           "is hidden from the journalists' list of what the source sent, and a reply recorded as a "
           "submission is shown as the source's words. Either can only come from a changed database.")

    def describe(self, t, r) -> str:
        return f"{t.count} file(s) claimed twice or by a row of the other kind ({parts_text(t)})"
