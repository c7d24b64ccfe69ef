"""Waivers: known, accepted deviations, each with a reason and an expiry date.

File (``--waivers FILE``; default /etc/sdcheck/waivers.yml when it exists)::

    waivers:
      - check: iptables.ruleset
        resource: "filter/INPUT#*"     # optional; shell-style pattern on the finding's resource
        reason: "temporary monitoring port, ticket #123"
        expires: 2026-12-31

A waived FAIL shows as WAIVED in ``report`` and prints nothing in ``run``. An ERROR is
never waived: a check that cannot run must be seen. After its expiry date a waiver no
longer applies, and the expired waiver is itself reported (check ``sdcheck.waivers``).
A malformed file is an error (exit 2), never ignored.
"""

from __future__ import annotations

import datetime
import fnmatch

from sdcheck.baseline import BaselineError, line_of, load_yaml
from sdcheck.model import CheckOutcome, Finding, Severity, Status

DEFAULT_WAIVERS = "/etc/sdcheck/waivers.yml"
_KEYS = {"check", "resource", "reason", "expires"}


class Waiver:
    __slots__ = ("check", "resource", "reason", "expires", "line")

    def __init__(self, check: str, resource: str | None, reason: str, expires: datetime.date, line: int):
        self.check, self.resource, self.reason, self.expires, self.line = check, resource, reason, expires, line

    def matches(self, finding: Finding) -> bool:
        return finding.check_id == self.check and (
            self.resource is None or fnmatch.fnmatchcase(finding.resource, self.resource))


def load_waivers(path: str, known_checks: set[str]) -> list[Waiver]:
    data = load_yaml(path, secret=True)
    items = data.get("waivers") if isinstance(data, dict) else data
    if isinstance(data, dict) and set(data) - {"waivers"}:
        raise BaselineError(path, line_of(data, default=1), "a waivers file has one key, 'waivers'")
    if items is None:
        return []
    if not isinstance(items, list):
        raise BaselineError(path, line_of(data, default=1), "'waivers' must be a list")
    out = []
    for item, line in zip(items, getattr(items, "item_lines", [0] * len(items))):
        if not isinstance(item, dict):
            raise BaselineError(path, line, "each waiver is a mapping with check, reason and expires")
        unknown = set(item) - _KEYS
        if unknown:
            raise BaselineError(path, line, f"unknown key(s) in a waiver: {', '.join(sorted(map(str, unknown)))}")
        check = item.get("check")
        if not isinstance(check, str) or not check:
            raise BaselineError(path, line, "a waiver needs 'check' (a check id)")
        if check not in known_checks:
            raise BaselineError(path, line_of(item, "check", line), f"unknown check {check!r} in a waiver")
        reason = item.get("reason")
        if not isinstance(reason, str) or not reason.strip():
            raise BaselineError(path, line, f"the waiver for {check} needs a 'reason'")
        expires = item.get("expires")
        if not isinstance(expires, datetime.date) or isinstance(expires, datetime.datetime):
            raise BaselineError(path, line_of(item, "expires", line) if "expires" in item else line,
                                f"the waiver for {check} needs 'expires' as a date (YYYY-MM-DD)")
        resource = item.get("resource")
        if resource is not None and not isinstance(resource, str):
            raise BaselineError(path, line_of(item, "resource", line), "'resource' must be a string")
        out.append(Waiver(check, resource, reason.strip(), expires, line or 0))
    return out


def apply_waivers(outcomes: list[CheckOutcome], waivers: list[Waiver], path: str,
                  today: datetime.date | None = None) -> CheckOutcome | None:
    """Mark waived findings; return an outcome reporting expired waivers (or None)."""
    today = today or datetime.date.today()
    active = [w for w in waivers if w.expires >= today]
    expired = [w for w in waivers if w.expires < today]
    for outcome in outcomes:
        changed = []
        for f in outcome.findings:
            w = next((w for w in active if f.status == Status.FAIL and w.matches(f)), None)
            if w is not None:
                f = f._replace(status=Status.WAIVED,
                               message=f"{f.message} [waived until {w.expires}: {w.reason}]")
            changed.append(f)
        outcome.findings = changed
    if not waivers:
        return None
    findings = []
    for w in expired:
        findings.append(Finding(
            check_id="sdcheck.waivers", status=Status.FAIL, severity=Severity.MEDIUM,
            message=f"the waiver for {w.check}{' ' + w.resource if w.resource else ''} expired on "
                    f"{w.expires} ({w.reason}); what it covered is reported again",
            resource=f"{path}:{w.line}" if w.line else path, expected=f"expires after {today}",
            actual=str(w.expires), group="expired",
            remedy=f"Fix what the waiver covered, or renew it in {path} with a new reason and date."))
    if not findings:
        findings.append(Finding(check_id="sdcheck.waivers", status=Status.PASS, severity=Severity.MEDIUM,
                                message=f"{len(waivers)} waiver(s) in {path}, none expired", resource=path))
    return CheckOutcome("sdcheck.waivers", "Waivers are current (none past its expiry date)",
                        Severity.MEDIUM, findings)
