"""The submission store and its database agree (Application Server).

One read-only pass (collect.py, judged by judge.py) serves every check here. File names and
filesystem ids identify sources, so messages carry counts and sizes only; the names go to
the finding's detail, which ``sdcheck report`` shows (escaped, at most ``--limit``) and
``sdcheck run`` never prints.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Iterable

from sdcheck.check import Check, Context, Option
from sdcheck.model import Finding, Severity

REMEDY_DB = ("Compare with SecureDrop's own tools on the Application Server: "
             "'sudo -u www-data bash', 'cd /var/www/securedrop', "
             "'./manage.py list-disconnected-db-submissions' and "
             "'./manage.py list-disconnected-fs-submissions'; restore from backup or remove "
             "what is confirmed stale with the matching 'delete-disconnected-*' command.")


def _size(n: int) -> str:
    for unit in ("bytes", "kB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n} bytes"


def store_scan(ctx: Context, o: dict):
    """The one pass every store check shares (per distinct settings)."""
    from sdcheck.plugins.store.collect import scan

    key = "store:scan:" + repr(sorted((k, v) for k, v in o.items()))

    def compute():
        facts = ctx.facts
        uid = facts.user_id(o["app_user"])
        return scan(facts, o["store_dir"], o["db_path"], app_uid=uid, timeout=float(o["db_busy_timeout"]),
                    keep=int(ctx.detail_limit), leftover_dirs=tuple(d for d in (o["shredder_dir"], o["store_tmp_dir"]) if d),
                    leftover_age=float(o["leftover_max_age_hours"]) * 3600, progress=ctx.progress,
                    workers=o["store_workers"] or None)
    return ctx.memo(key, compute)


class _StoreCheck(Check):
    kind = ""
    severity = Severity.HIGH
    timeout = 900.0  # a million-file store takes seconds; a hung disk must still end in ERROR
    remedy = REMEDY_DB
    # every store check reads the same settings (one shared pass); app.yml gives them once
    options = {
        "store_dir": Option(str, "/var/lib/securedrop/store", help="the submission store"),
        "db_path": Option(str, "/var/lib/securedrop/db.sqlite", help="SecureDrop's database"),
        "shredder_dir": Option(str, "/var/lib/securedrop/shredder", help="files awaiting deletion"),
        "store_tmp_dir": Option(str, "/var/lib/securedrop/tmp", help="temporary uploads"),
        "leftover_max_age_hours": Option((int, float), 24, help="older leftovers are findings"),
        "db_busy_timeout": Option((int, float), 5, help="seconds a writer may hold the database"),
        "store_workers": Option(int, 0, help="worker processes; 0: one, or up to 4 from 2,000 sources"),
        "app_user": Option(str, "www-data", help="the application user who owns the store"),
    }

    @classmethod
    def prepare_options(cls, resolved: dict, raw: dict, fail) -> None:
        from sdcheck.baseline import line_of

        for key in ("leftover_max_age_hours", "db_busy_timeout"):
            value = resolved[key]
            if not (0 <= value < 1e6):  # also refuses NaN
                fail(f"option {key!r} must be a number of seconds or hours from 0, got {value!r}", line_of(raw, key))
        if not 0 <= resolved["store_workers"] <= 64:
            fail(f"option 'store_workers' must be from 0 to 64, got {resolved['store_workers']}",
                 line_of(raw, "store_workers"))
        for key in ("store_dir", "db_path"):
            if not resolved[key].startswith("/"):
                fail(f"option {key!r} must be an absolute path, got {resolved[key]!r}", line_of(raw, key))

    def run(self) -> Iterable[Finding]:
        from sdcheck.plugins.store.collect import StoreFault

        try:
            result = store_scan(self.ctx, self.opts)
        except StoreFault as exc:
            yield self.error(str(exc), resource="store", remedy=(
                "Check that the paths (variables store_dir, db_path) are right and that nothing "
                "holds a long write lock on the database; then run 'sdcheck report --only store'."))
            return
        tally = result.tally[self.kind]
        if tally.count:
            more = f" (first {len(tally.names)} shown)" if tally.count > len(tally.names) else ""
            detail = [f"{len(tally.names)} of {tally.count}{more}:"] + tally.names
            yield self.fail(self.describe(tally, result), resource="store", group=self.kind,
                            expected="none", actual=str(tally.count), detail=detail)
        else:
            yield self.passed(self.ok(result), resource="store")

    def describe(self, tally, result) -> str:
        raise NotImplementedError

    def ok(self, result) -> str:
        return (f"none among {result.files} files in {result.sources} sources and {result.rows} "
                f"rows ({result.seconds:.1f} s)")


def _parts(tally) -> str:
    return ", ".join(f"{n} {k}{'s' if n != 1 and not k.endswith('s') else ''}" for k, n in sorted(tally.parts.items()))


class MissingFiles(_StoreCheck):
    id = "store.missing-files"
    kind = "missing"
    title = "Every submission and reply in the database has its file in the store"
    why = "A row without its file is a submission journalists see listed but cannot download: lost or moved data."

    def describe(self, t, r) -> str:
        return (f"{t.count} database row(s) have no file in their source's directory ({_parts(t)}; "
                f"{_size(t.bytes)} recorded)")


class OrphanFiles(_StoreCheck):
    id = "store.orphan-files"
    kind = "orphan"
    title = "Every file in the store has its database row"
    why = ("A file without a row is invisible to journalists and never deleted with its source: "
           "data kept that the newsroom believes gone.")

    def describe(self, t, r) -> str:
        return f"{t.count} file(s) in the store have no database row ({_size(t.bytes)})"


class Misplaced(_StoreCheck):
    id = "store.misplaced"
    kind = "misplaced"
    title = "No file sits under another source's directory than its row's"
    severity = Severity.CRITICAL
    why = ("A submission filed under the wrong source would be shown to journalists as coming "
           "from someone else. Matching by bare file name, as manage.py does, hides this.")

    def describe(self, t, r) -> str:
        return (f"{t.count} file(s) are missing from their source's directory but present under "
                f"another source's ({_size(t.bytes)})")


class SizeMismatch(_StoreCheck):
    id = "store.size"
    kind = "size"
    title = "Each file's size on disk equals the size recorded in the database"
    severity = Severity.MEDIUM
    why = "A different size means a truncated, replaced or corrupted submission."

    def describe(self, t, r) -> str:
        return f"{t.count} file(s) differ in size from their database row ({_size(t.bytes)} in all)"


class Unexpected(_StoreCheck):
    id = "store.unexpected"
    kind = "unexpected"
    title = "The store holds only source directories of regular, well-named submission files"
    why = ("Symlinks, special files, subdirectories, files in the store root or names outside "
           "SecureDrop's pattern are not written by SecureDrop: tampering or a failed manual fix.")
    remedy = ("Inspect the entries listed by 'sdcheck report --only store.unexpected' and remove "
              "or restore them; SecureDrop writes only <n>-<designation>-{msg,doc.gz,doc.zip,reply}.gpg "
              "files inside source directories.")

    def describe(self, t, r) -> str:
        return f"{t.count} unexpected entr{'y' if t.count == 1 else 'ies'} in the store ({_parts(t)})"


class UnknownSources(_StoreCheck):
    id = "store.unknown-sources"
    kind = "unknown_source"
    title = "Every source directory belongs to a source in the database"
    why = "A directory without a sources row holds submissions nobody can see or delete."

    def describe(self, t, r) -> str:
        files = t.parts.get("files", 0)
        return (f"{t.count} source director{'y' if t.count == 1 else 'ies'} have no sources row "
                f"({files} file(s), {_size(t.bytes)})")


class Permissions(_StoreCheck):
    id = "store.permissions"
    kind = "permissions"
    title = "The store is owned by the application user and closed to group and other"
    why = "Submissions are for the application alone; any group/other permission widens who can read them."
    remedy = ("Run 'chown -R www-data:www-data /var/lib/securedrop/store' and "
              "'chmod -R go-rwx /var/lib/securedrop/store' (SecureDrop's own ownership and modes).")

    def describe(self, t, r) -> str:
        return (f"{t.count} store entr{'y' if t.count == 1 else 'ies'} not owned by the application "
                "user or open to group/other")


class Leftovers(_StoreCheck):
    id = "store.leftovers"
    kind = "leftover"
    title = "Nothing lingers in the shredder or temporary areas past the threshold"
    severity = Severity.MEDIUM
    why = "Deleted submissions waiting in the shredder, or upload leftovers, should not outlive a day."
    remedy = ("Check that SecureDrop's shredder service runs ('systemctl status securedrop-shredder') "
              "and that nothing holds the files open.")

    def describe(self, t, r) -> str:
        return (f"{t.count} entr{'y' if t.count == 1 else 'ies'} older than the threshold in the "
                f"shredder/temporary areas ({_size(t.bytes)})")

    def ok(self, result) -> str:
        return "no old leftovers in the shredder or temporary areas"


CHECKS = [MissingFiles, OrphanFiles, Misplaced, SizeMismatch, Unexpected, UnknownSources, Permissions,
          Leftovers]
