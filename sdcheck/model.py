"""Findings and run results: plain data, no host access, no output."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


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


@dataclass(frozen=True)
class Finding:
    """One observation of one check about one resource.

    ``message`` is one plain sentence; it may contain host-derived values, which the
    formatters escape. It must never contain a secret.
    ``group`` is the resource class used to bound ``sdcheck run`` output: findings of one
    check with the same group are summarised into one line.
    """

    check_id: str
    status: Status
    severity: Severity
    message: str
    resource: str = ""
    expected: str | None = None
    actual: str | None = None
    remedy: str = ""
    group: str = ""
    detail: tuple[str, ...] = ()  # extra lines for the report (e.g. a diff); never in `run`

    @property
    def line_group(self) -> str:
        return self.group or self.resource.split("#", 1)[0]


@dataclass
class CheckOutcome:
    check_id: str
    title: str
    severity: Severity
    findings: list[Finding]
    seconds: float = 0.0

    @property
    def status(self) -> Status:
        statuses = {f.status for f in self.findings}
        for s in (Status.ERROR, Status.FAIL, Status.WAIVED, Status.PASS):
            if s in statuses:
                return s
        return Status.SKIP


@dataclass
class RunResult:
    profile: str
    profile_source: str  # "option" or how it was detected
    baseline: str
    outcomes: list[CheckOutcome] = field(default_factory=list)
    info: dict[str, str] = field(default_factory=dict)

    @property
    def findings(self) -> list[Finding]:
        return [f for o in self.outcomes for f in o.findings]

    @property
    def problems(self) -> list[Finding]:
        return [f for f in self.findings if f.status.is_problem]
