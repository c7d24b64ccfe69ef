"""Waivers: known, accepted deviations, each with a reason and an expiry date.

File (``--waivers FILE``; default /etc/sdcheck/waivers.yml when it exists)::

    waivers:
      - check: iptables.ruleset
        rule: "-A INPUT -s 10.20.3.9/32 -p tcp -m tcp --dport 9100 -j ACCEPT"
        reason: "temporary monitoring port, ticket #123"
        expires: 2026-12-31
      - check: alert.gpg
        subject: "key 0123...CDEF expires 2027-01-10"   # as 'sdcheck report' shows it
        reason: "new key being rolled out, ticket #124"
        expires: 2026-12-31
      - check: postfix.config
        subject: "delay_warning_time = 4h"              # a main.cf parameter and its value
        reason: "the relay asked for earlier delay notices"
        expires: 2026-12-31

Every waiver names what it excuses. Each finding has a subject: the one thing it is about
and its condition (a canonical firewall rule, a parameter and its value, a file and its
entry, a key fingerprint and what is wrong with it), which ``report`` prints; a finding that
declares none has its message as its subject. A waiver covers a finding only when it names
that subject: ``subject`` (the exact text) or ``subject_pattern`` (a shell-style pattern),
and for the firewall ``rule`` (any spelling iptables accepts, compared in canonical form,
comment aside) or ``rule_pattern``. A place alone (``resource``) never covers anything, so
something worse written at the same place later is still reported; ``resource`` may still
narrow any waiver. A pattern never covers a critical finding, and a finding that can let
through traffic the baseline stops (``widens``: an ACCEPT, a removed DROP, an ACCEPT
policy) is covered only by a ``rule`` or ``subject`` equal to it.

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
_KEYS = {"check", "resource", "rule", "rule_pattern", "subject", "subject_pattern", "reason", "expires"}


def subject_of(finding: Finding) -> str:
    """What a finding is about, as waivers name it: its subject, else its message."""
    return finding.subject or finding.message


class Waiver:
    __slots__ = ("check", "resource", "rule", "rule_pattern", "reason", "expires", "line")

    def __init__(self, check: str, resource: str | None, reason: str, expires: datetime.date, line: int,
                 rule: str | None = None, rule_pattern: str | None = None):
        """``rule``/``rule_pattern``: the subject (exact, or a pattern) the waiver names; a
        firewall ``rule`` already in its canonical form."""
        self.check, self.resource, self.reason, self.expires, self.line = check, resource, reason, expires, line
        self.rule, self.rule_pattern = rule, rule_pattern

    def matches(self, finding: Finding) -> bool:
        if finding.check_id != self.check:
            return False
        if self.resource is not None and not fnmatch.fnmatchcase(finding.resource, self.resource):
            return False
        if self.rule is not None:
            return subject_of(finding) == self.rule
        if finding.widens or finding.severity >= Severity.CRITICAL:
            return False  # only a waiver naming exactly this subject covers what can let traffic through
        return self.rule_pattern is not None and fnmatch.fnmatchcase(subject_of(finding), self.rule_pattern)

    @property
    def names(self) -> str:  # what the waiver names, for report
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
        named = [k for k in ("rule", "rule_pattern", "subject", "subject_pattern") if item.get(k) is not None]
        for key in named:
            if not isinstance(item[key], str) or not item[key].strip():
                raise BaselineError(path, line_of(item, key, line), f"'{key}' must be a non-empty string")
        if not named:
            raise BaselineError(path, line, f"the waiver for {check} must name what it excuses: 'subject' (as "
                                "'sdcheck report' shows it) or 'subject_pattern'; a place alone covers nothing")
        if len(named) > 1:
            raise BaselineError(path, line_of(item, named[1], line),
                                f"a waiver names one thing: {' and '.join(repr(k) for k in named)} given")
        cls = known_checks[check]
        if named[0].startswith("rule") and not cls.pins_subjects:
            raise BaselineError(path, line_of(item, named[0], line),
                                f"{check} findings name no firewall rule: use 'subject' or 'subject_pattern'")
        rule = item.get("rule") if named[0] == "rule" else item.get("subject")
        pattern = item.get("rule_pattern") if named[0] == "rule_pattern" else item.get("subject_pattern")
        if named[0] == "rule":
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
            message=f"the waiver for {w.check}{' (' + w.names + ')' if w.names else ''} expired on "
                    f"{w.expires} ({w.reason}); what it covered is reported again",
            resource=f"{path}:{w.line}" if w.line else path, expected=f"expires after {today}",
            actual=str(w.expires), group="expired",
            remedy=f"Fix what the waiver covered, or renew it in {path} with a new reason and date."))
    if not findings:
        findings.append(Finding(check_id="sdcheck.waivers", status=Status.PASS, severity=Severity.MEDIUM,
                                message=f"{len(waivers)} waiver(s) in {path}, none expired", resource=path))
    return CheckOutcome("sdcheck.waivers", "Waivers are current (none past its expiry date)",
                        Severity.MEDIUM, findings)
