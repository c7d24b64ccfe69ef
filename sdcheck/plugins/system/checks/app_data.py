"""system.app-data: SecureDrop's data directory, its subdirectories and its database have the
owner and modes SecureDrop's app-code postinst gives them."""

from __future__ import annotations

from sdcheck.check import Check, Option
from sdcheck.model import Finding, Severity
from sdcheck.startup import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Iterable

# what the postinst creates with 'mkdir -p; chmod 0700' and 'chown -R www-data:www-data' (but
# the store, which store.permissions judges with what is in it)
SUBDIRS = ["tmp", "shredder", "keys", "keys/private-keys-v1.d", "keys/openpgp-revocs.d", "backups"]
DIR_FORBIDDEN = 0o7077   # 0700: nothing for group or other, no set-id or sticky bit
DB_FORBIDDEN = 0o7137    # 0640 at most: the group may read, nobody else anything, nothing executable


class AppData(Check):
    id = "system.app-data"
    title = "SecureDrop's data directory, its keys and its database are the application user's alone"
    # what exactly is verified (docs/checks.md, sdcheck explain)
    details = ("(app) `data_dir` (/var/lib/securedrop) and its `tmp`, `shredder`, `keys`, "
               "`keys/private-keys-v1.d`, `keys/openpgp-revocs.d` and `backups` are directories (not symlinks) "
               "of the application user (`app_user`) with no permission for group or other (0700, as "
               "SecureDrop's app-code postinst sets them); the database (`db_path`) is a regular file of the "
               "application user, readable by its group at most (0640, created by the postinst under umask "
               "0027; SecureDrop's own test requires exactly that). The store directory is `store.permissions`'s, "
               "and a missing or symlinked database is reported by the store checks.")
    severity = Severity.CRITICAL
    why = ("The database holds the journalists' password hashes and two-factor secrets; the keys directory "
           "holds the private key every submission is encrypted to; tmp and the shredder hold submissions "
           "in transit. Readable by another user, they are disclosed; writable, they can be replaced.")
    remedy = ("Restore SecureDrop's ownership and modes: 'chown -R www-data:www-data /var/lib/securedrop', "
              "'chmod 0700' on it and each of its directories, 'chmod 0640 /var/lib/securedrop/db.sqlite' "
              "(re-running 'securedrop-admin install' does the same), then find out who changed them.")
    options = {
        "data_dir": Option(str, "/var/lib/securedrop", help="SecureDrop's data directory",
                           check=lambda v: v.startswith("/")),
        "subdirs": Option(list, SUBDIRS, help="its directories that must be 0700 (relative paths)",
                          check=lambda v: all(isinstance(d, str) and d and not d.startswith("/")
                                              and ".." not in d.split("/") for d in v)),
        "db_path": Option(str, "/var/lib/securedrop/db.sqlite", help="SecureDrop's database",
                          check=lambda v: v.startswith("/")),
        "app_user": Option(str, "www-data", help="the application user"),
    }

    def run(self) -> Iterable[Finding]:
        facts, o = self.ctx.facts, self.opts
        uid = facts.user_id(o["app_user"])
        if uid is None:
            yield self.error(f"the application user {o['app_user']} does not exist on this host",
                             resource=f"users/{o['app_user']}")
            return
        paths = [o["data_dir"]] + [f"{o['data_dir'].rstrip('/')}/{d}" for d in o["subdirs"]]
        bad = [f for path in paths for f in self._judge(path, uid, directory=True)]
        db = facts.lstat(o["db_path"])
        if db is not None and db.is_file and not db.is_symlink:  # else the store checks say what it is
            bad.extend(self._judge(o["db_path"], uid, directory=False, st=db))
        yield from bad or [self.passed(f"{o['data_dir']}, its {len(o['subdirs'])} directories and the database "
                                       "have SecureDrop's owner and modes", resource=o["data_dir"])]

    def _judge(self, path: str, uid: int, directory: bool, st=None) -> Iterable[Finding]:
        st = st or self.ctx.facts.lstat(path)
        want = f"a {'directory, 0700' if directory else 'regular file, 0640 at most'}, of {self.opts['app_user']}"
        if st is None:
            yield self.fail(f"{path} does not exist", resource=path, expected=want, actual="missing",
                            group="app-data", severity=Severity.HIGH)
            return
        kind_ok = st.is_dir if directory else st.is_file
        if st.is_symlink or not kind_ok:
            what = "a symlink" if st.is_symlink else "not a directory" if directory else "not a regular file"
            yield self.fail(f"{path} is {what}", resource=path, expected=want, actual=what, group="app-data")
            return
        wrong = []
        if st.uid != uid:
            wrong.append(f"owned by uid {st.uid}")
        if st.mode & (DIR_FORBIDDEN if directory else DB_FORBIDDEN):
            wrong.append(f"mode {st.mode & 0o7777:04o}")
        if wrong:
            yield self.fail(f"{path} is {' and '.join(wrong)}", resource=path, expected=want,
                            actual=f"uid {st.uid}, mode {st.mode & 0o7777:04o}", group="app-data")
