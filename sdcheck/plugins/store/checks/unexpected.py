"""store.unexpected: the store holds nothing but source directories and their files."""

from __future__ import annotations

from sdcheck.plugins.store.base import StoreCheck, parts_text


class Unexpected(StoreCheck):
    id = "store.unexpected"
    kind = "unexpected"
    title = "The store holds only source directories of regular, well-named submission files"
    # what exactly is verified (docs/checks.md, sdcheck explain)
    details = ("(app) no symlinks, special files, subdirectories inside source directories, files in the store root,"
               " or names outside SecureDrop's `<n>-<designation>-{msg,doc.gz,doc.zip,reply}.gpg`")
    why = ("Symlinks, special files, subdirectories, files in the store root or names outside "
           "SecureDrop's pattern are not written by SecureDrop: tampering or a failed manual fix.")
    remedy = ("Inspect the entries listed by 'sdcheck report --only store.unexpected' and remove "
              "or restore them; SecureDrop writes only <n>-<designation>-{msg,doc.gz,doc.zip,reply}.gpg "
              "files inside source directories.")

    def describe(self, t, r) -> str:
        return f"{t.count} unexpected entr{'y' if t.count == 1 else 'ies'} in the store ({parts_text(t)})"
