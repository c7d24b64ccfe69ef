"""The admin's report: every check, what differs, where, and what to do."""

from __future__ import annotations

import textwrap

from sdcheck.formatters import FIELD_LIMIT, clean, frame
from sdcheck.model import Status

WIDTH = 80
_COLOURS = {Status.FAIL: "31", Status.ERROR: "35", Status.PASS: "32", Status.SKIP: "33", Status.WAIVED: "36"}


def _wrap(text: str, indent: str) -> list[str]:
    return textwrap.wrap(text, WIDTH, initial_indent=indent, subsequent_indent=indent + "  ",
                         break_long_words=True, break_on_hyphens=False) or [indent]


def render(run, options) -> str:
    """``run``: a session.Run; ``options``: session.Options (``verbose``, ``colour``)."""
    result, redact = run.result, run.redact
    verbose, colour = options.verbose, options.colour

    def c(text: str) -> str:
        return clean(text, redact, FIELD_LIMIT)

    def tag(status: Status) -> str:
        label = f"{status.value.upper():6}"
        return f"\x1b[{_COLOURS[status]}m{label}\x1b[0m" if colour else label

    out: list[str] = []
    out.append(f"sdcheck report: profile {c(result.profile)} ({c(result.profile_source)})")
    out.append(f"baseline: {c(result.baseline)}")
    for key, value in result.info.items():
        out.extend(_wrap(f"{c(key)}: {c(value)}", ""))
    out.append("")
    counts = {s: 0 for s in Status}
    for outcome in result.outcomes:
        status = outcome.status
        counts[status] += 1
        out.append(f"{tag(status)} {frame(outcome.check_id)} [{outcome.severity}]")
        out.extend(_wrap(frame(outcome.title), "       "))
        remedies = {f.remedy for f in outcome.findings if f.status.is_problem}
        shared = remedies.pop() if len(remedies) == 1 else None  # said once, after the findings
        for f in outcome.findings:
            if not (f.status.is_problem or verbose or f.status in (Status.SKIP, Status.WAIVED)):
                continue
            out.extend(_wrap(f"- {c(f.message)}", "       "))
            if f.resource:
                out.extend(_wrap(f"where:    {c(f.resource)}", "         "))
            if f.expected is not None:
                out.extend(_wrap(f"expected: {c(f.expected)}", "         "))
            if f.actual is not None:
                out.extend(_wrap(f"actual:   {c(f.actual)}", "         "))
            if f.subject and f.status.is_problem:  # what a waiver names (without one: the message)
                out.extend(_wrap(f"subject:  {c(f.subject)}", "         "))
            for line in f.detail:
                out.extend(_wrap(c(line), "         "))
            if f.status.is_problem and f.remedy and shared is None:
                out.extend(_wrap(f"fix:      {c(f.remedy)}", "         "))
        if shared:
            out.extend(_wrap(f"fix: {c(shared)}", "       "))
        out.append("")
    summary = ", ".join(f"{counts[s]} {s.value}" for s in
                        (Status.FAIL, Status.ERROR, Status.PASS, Status.SKIP, Status.WAIVED) if counts[s])
    out.append(f"Summary: {len(result.outcomes)} checks: {summary or 'none run'}")
    return "\n".join(out) + "\n"
