"""Findings and run results: plain data, no host access, no output."""

from __future__ import annotations

import enum
from collections import namedtuple


class Severity(enum.IntEnum):
    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4

    def __str__(self) -> str:
        return self.name.lower()


class Status(enum.Enum):
    PASS = "pass"
    FAIL = "fail"
    SKIP = "skip"
    ERROR = "error"
    WAIVED = "waived"

    def __str__(self) -> str:
        return self.value

    @property
    def is_problem(self) -> bool:
        return self in (Status.FAIL, Status.ERROR)


_FindingBase = namedtuple(
    "_FindingBase",
    "check_id status severity message resource expected actual remedy group detail subject widens",
    defaults=("", None, None, "", "", (), "", False),
)


class Finding(_FindingBase):
    """One observation of one check about one resource (immutable).

    ``message`` is one plain sentence; it may contain host-derived values, which the
    formatters escape. It must never contain a secret.
    ``group`` is the resource class used to bound ``sdcheck run`` output: findings of one
    check with the same group are summarised into one line.
    ``detail`` holds extra lines for the report (a diff, a list); never printed by ``run``.
    ``subject`` is the canonical text of the one thing the finding is about (a firewall rule,
    a policy), which a waiver must pin; ``widens`` says that thing can let traffic through
    that the baseline stops, so only a waiver naming it exactly may cover it.
    """

    __slots__ = ()

    @property
    def line_group(self) -> str:
        return self.group or self.resource.split("#", 1)[0]


class CheckOutcome:
    __slots__ = ("check_id", "title", "severity", "findings", "seconds")

    def __init__(self, check_id: str, title: str, severity: Severity, findings: list,
                 seconds: float = 0.0):
        self.check_id, self.title, self.severity = check_id, title, severity
        self.findings, self.seconds = findings, seconds

    @property
    def status(self) -> Status:
        statuses = {f.status for f in self.findings}
        for s in (Status.ERROR, Status.FAIL, Status.WAIVED, Status.PASS):
            if s in statuses:
                return s
        return Status.SKIP


class RunResult:
    def __init__(self, profile: str, profile_source: str, baseline: str):
        self.profile, self.profile_source, self.baseline = profile, profile_source, baseline
        self.outcomes: list[CheckOutcome] = []
        self.info: dict[str, str] = {}

    @property
    def findings(self) -> list[Finding]:
        return [f for o in self.outcomes for f in o.findings]

    @property
    def problems(self) -> list[Finding]:
        return [f for f in self.findings if f.status.is_problem]


def redacted(result: RunResult, redact) -> RunResult:
    """``result`` with every known secret taken out of its findings' host text (message,
    resource, expected, actual, remedy, detail, subject) and of its info; sdcheck's own frame
    (check ids, titles, statuses) is left as it is. Idempotent: the redactor's mark never
    forms a secret."""
    if not redact:
        return result

    def r(value):
        return value if value is None or not isinstance(value, str) else redact(value)

    for outcome in result.outcomes:
        outcome.findings = [f._replace(message=r(f.message), resource=r(f.resource), expected=r(f.expected),
                                       actual=r(f.actual), remedy=r(f.remedy), subject=r(f.subject),
                                       detail=tuple(r(d) for d in f.detail)) for f in outcome.findings]
    result.info = {redact(str(k)): redact(str(v)) for k, v in result.info.items()}
    return result

