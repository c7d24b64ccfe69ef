"""store.permissions: the store's owner and modes are those SecureDrop sets."""

from __future__ import annotations

from sdcheck.plugins.store.base import StoreCheck


class Permissions(StoreCheck):
    id = "store.permissions"
    kind = "permissions"
    title = "The store is the application user's, closed to group and other, nothing in it writable by them"
    # what exactly is verified (docs/checks.md, sdcheck explain)
    details = ("(app) the store directory (`store_dir`) is the application user's (`app_user`) and closed to "
               "group and other; every directory and file in it is the application user's, with no write "
               "permission for group or other and no set-id or sticky bit. Read permission inside is "
               "expected: SecureDrop's web application creates source directories and submissions under "
               "Apache's umask 022 (0755, 0644), and the closed store directory keeps them from others.")
    why = ("Submissions are for the application alone: an open store directory lets any local user "
           "read them, and a write bit inside lets another user replace or plant a submission.")
    remedy = ("Run 'chown -R www-data:www-data /var/lib/securedrop/store', 'chmod 0700 "
              "/var/lib/securedrop/store' and 'chmod -R go-w,-s,-t /var/lib/securedrop/store' "
              "(SecureDrop's own ownership and modes).")

    def describe(self, t, r) -> str:
        return (f"{t.count} store entr{'y' if t.count == 1 else 'ies'} not owned by the application "
                "user, or open to group/other beyond what SecureDrop sets")
