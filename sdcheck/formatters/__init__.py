"""Output formats. A formatter turns a RunResult into text and never touches the host.

Every string that may carry a host or user value goes through ``clean`` (redact, cut,
escape: sdcheck.escape), so no secret and no control character reaches the output.
sdcheck's own frame (the OSSEC prefix, check ids, severities, titles, the OK line) is fixed
text: it is escaped for safety but never rewritten by the redactor.
"""

from __future__ import annotations

from sdcheck.escape import Redactor, clean, escape

__all__ = ["FIELD_LIMIT", "Redactor", "clean", "escape", "frame", "worst_first"]

FIELD_LIMIT = 8192  # characters of host text in one field of a report (a message, a detail line)


def frame(value: object) -> str:
    """sdcheck's own fixed text (a check id, a title): escaped, never redacted."""
    return escape("" if value is None else str(value))


def worst_first(outcomes: list) -> list:
    """Problems first, the worst severity first (an ERROR at its severity), then waived,
    skipped and passed checks; checks keep their order otherwise."""
    from sdcheck.model import Status

    order = {Status.ERROR: 0, Status.FAIL: 0, Status.WAIVED: 1, Status.SKIP: 2, Status.PASS: 3}

    def rank(outcome) -> tuple:
        worst = max((f.severity for f in outcome.findings if f.status.is_problem), default=outcome.severity)
        return (order[outcome.status], -int(worst))
    return sorted(outcomes, key=rank)
