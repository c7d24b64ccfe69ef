"""Waivers: known, accepted deviations, each with a reason and an expiry date.

File (``--waivers FILE``; default /etc/sdcheck/waivers.yml when it exists)::

    waivers:
      - check: iptables.ruleset
        rule: "-A INPUT -s 10.20.3.9/32 -p tcp -m tcp --dport 9100 -j ACCEPT"
        reason: "temporary monitoring port, ticket #123"
        expires: 2026-12-31
      - check: store.leftovers
        resource: "/var/lib/securedrop/tmp/*"   # shell-style pattern on the finding's resource
        reason: "migration in progress"
        expires: 2026-12-31

A finding about one firewall rule or policy names it (its ``subject``, which ``report``
prints). A waiver for it must name that rule (``rule``: any spelling iptables accepts,
compared in canonical form, comment aside) or match it with ``rule_pattern`` (a shell-style
pattern over the canonical text); its place alone (``resource``) never covers it, so a
different rule put at the same place is still reported. A finding that can let through
traffic the baseline stops (``widens``: an ACCEPT, a removed DROP, an ACCEPT policy) is
covered only by a ``rule`` equal to it: no pattern, and no waiver without a rule, can cover
something that accepts more than what was waived. ``resource`` may still narrow any waiver.

A waived FAIL shows as WAIVED in ``report`` and prints nothing in ``run``. An ERROR is
never waived: a check that cannot run must be seen. After its expiry date a waiver no
longer applies, and the expired waiver is itself reported (check ``sdcheck.waivers``).
A malformed file is an error (exit 2), never ignored.
"""

from __future__ import annotations

import datetime
import fnmatch

from sdcheck.baseline import line_of, load_yaml
from sdcheck.errors import BaselineError
from sdcheck.model import CheckOutcome, Finding, Severity, Status

DEFAULT_WAIVERS = "/etc/sdcheck/waivers.yml"
_KEYS = {"check", "resource", "rule", "rule_pattern", "reason", "expires"}


class Waiver:
    __slots__ = ("check", "resource", "rule", "rule_pattern", "reason", "expires", "line")

    def __init__(self, check: str, resource: str | None, reason: str, expires: datetime.date, line: int,
                 rule: str | None = None, rule_pattern: str | None = None):
        self.check, self.resource, self.reason, self.expires, self.line = check, resource, reason, expires, line
        self.rule, self.rule_pattern = rule, rule_pattern

    def matches(self, finding: Finding) -> bool:
        if finding.check_id != self.check:
            return False
        if self.resource is not None and not fnmatch.fnmatchcase(finding.resource, self.resource):
            return False
        if self.rule is not None:
            return finding.subject == self.rule
        if finding.widens:
            return False  # only a waiver naming exactly this rule covers what can let traffic through
        if self.rule_pattern is not None:
            return bool(finding.subject) and fnmatch.fnmatchcase(finding.subject, self.rule_pattern)
        return not finding.subject  # a place alone never covers a finding about one rule

    @property
    def names(self) -> str:
        return " ".join(filter(None, (self.rule or self.rule_pattern, self.resource)))


def load_waivers(path: str, known_checks: dict) -> list[Waiver]:
    """``known_checks``: check classes by id; a check whose findings name rules turns a waiver's
    ``rule`` into the canonical form of its findings' subjects (``Check.waiver_subject``)."""
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
        rule, pattern = item.get("rule"), item.get("rule_pattern")
        for key, value in (("rule", rule), ("rule_pattern", pattern)):
            if value is not None and (not isinstance(value, str) or not value.strip()):
                raise BaselineError(path, line_of(item, key, line), f"'{key}' must be a non-empty string")
        if rule is not None and pattern is not None:
            raise BaselineError(path, line_of(item, "rule_pattern", line),
                                "a waiver takes 'rule' or 'rule_pattern', not both")
        cls = known_checks[check]
        if (rule is not None or pattern is not None) and not cls.pins_subjects:
            raise BaselineError(path, line_of(item, "rule" if rule is not None else "rule_pattern", line),
                                f"{check} findings name no rule, so its waivers take 'resource' only")
        if rule is not None:
            try:
                rule = cls.waiver_subject(rule)
            except ValueError as exc:
                raise BaselineError(path, line_of(item, "rule", line), f"the waiver's rule: {exc}") from None
        out.append(Waiver(check, resource, reason.strip(), expires, line or 0, rule, pattern))
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
            message=f"the waiver for {w.check}{' ' + w.names if w.names else ''} expired on "
                    f"{w.expires} ({w.reason}); what it covered is reported again",
            resource=f"{path}:{w.line}" if w.line else path, expected=f"expires after {today}",
            actual=str(w.expires), group="expired",
            remedy=f"Fix what the waiver covered, or renew it in {path} with a new reason and date."))
    if not findings:
        findings.append(Finding(check_id="sdcheck.waivers", status=Status.PASS, severity=Severity.MEDIUM,
                                message=f"{len(waivers)} waiver(s) in {path}, none expired", resource=path))
    return CheckOutcome("sdcheck.waivers", "Waivers are current (none past its expiry date)",
                        Severity.MEDIUM, findings)
