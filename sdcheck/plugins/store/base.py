"""The store plugin's shared ground: the one pass over the submission store and its database
(shared by the eight checks, memoised per run), the base of its checks and their wording."""

from __future__ import annotations

from sdcheck.check import Check, Context, Option
from sdcheck.model import Finding, Severity
from sdcheck.startup import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Iterable


REMEDY_DB = ("Compare with SecureDrop's own tools on the Application Server: "
             "'sudo -u www-data bash', 'cd /var/www/securedrop', "
             "'./manage.py list-disconnected-db-submissions' and "
             "'./manage.py list-disconnected-fs-submissions'; restore from backup or remove "
             "what is confirmed stale with the matching 'delete-disconnected-*' command.")


def size_text(n: float) -> str:
    for unit in ("bytes", "kB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n} bytes"


def store_scan(ctx: Context, o: dict):
    """The one pass every store check shares (per distinct settings)."""
    from sdcheck.plugins.store.live import scan

    key = "store:scan:" + repr(sorted((k, v) for k, v in o.items()))

    def compute():
        facts = ctx.facts
        uid = facts.user_id(o["app_user"])
        return scan(facts, o["store_dir"], o["db_path"], app_uid=uid, timeout=float(o["db_busy_timeout"]),
                    keep=int(ctx.detail_limit),
                    leftover_dirs=tuple(d for d in (o["shredder_dir"], o["store_tmp_dir"]) if d),
                    leftover_age=float(o["leftover_max_age_hours"]) * 3600, progress=ctx.progress,
                    workers=o["store_workers"] or None)
    return ctx.memo(key, compute)


class StoreCheck(Check):
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
        from sdcheck.plugins.store.live import StoreFault

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


def parts_text(tally) -> str:
    return ", ".join(f"{n} {k}{'s' if n != 1 and not k.endswith('s') else ''}" for k, n in sorted(tally.parts.items()))
