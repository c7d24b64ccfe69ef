"""store.permissions: the store's owner and modes are those SecureDrop sets."""

from __future__ import annotations

from sdcheck.plugins.store.base import StoreCheck


class Permissions(StoreCheck):
    id = "store.permissions"
    kind = "permissions"
    title = "The store is owned by the application user and closed to group and other"
    # what exactly is verified (docs/checks.md, sdcheck explain)
    details = ("(app) the store, its directories and files belong to the application user (`app_user`) and have no "
               "group/other permission")
    why = "Submissions are for the application alone; any group/other permission widens who can read them."
    remedy = ("Run 'chown -R www-data:www-data /var/lib/securedrop/store' and "
              "'chmod -R go-rwx /var/lib/securedrop/store' (SecureDrop's own ownership and modes).")

    def describe(self, t, r) -> str:
        return (f"{t.count} store entr{'y' if t.count == 1 else 'ies'} not owned by the application "
                "user or open to group/other")
