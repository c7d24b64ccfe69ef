"""The admin's report: every check, what differs, where, and what to do."""

from __future__ import annotations

from sdcheck.formatters import FIELD_LIMIT, clean, frame, worst_first
from sdcheck.model import Status

WIDTH = 80
_COLOURS = {Status.FAIL: "31", Status.ERROR: "35", Status.PASS: "32", Status.SKIP: "33", Status.WAIVED: "36"}


def _tokens(text: str) -> list[tuple[str, str]]:
    """(the spaces before it, a token): words, with a quoted command ('...') or a rule in
    backquotes kept whole, so a line is never broken inside a token and what the report says
    to run can be copied as it is."""
    import re

    return re.findall(r"(\s*)([^\s'`]*'[^']*'[^\s'`]*|[^\s'`]*`[^`]*`[^\s'`]*|\S+)", text)


def _wrap(text: str, indent: str) -> list[str]:
    """Fill to WIDTH, breaking only between tokens (their spacing kept); a token longer than
    the line stands alone, whole (a path, a command, a rule)."""
    lines, line = [], indent
    rest = indent + "  "
    for space, token in _tokens(text):
        if line.strip() and len(line) + len(space) + len(token) > WIDTH:
            lines.append(line)
            line = rest + token
        else:
            line = line + (space if line.strip() else "") + token
    lines.append(line)
    return lines


def render(run, options) -> str:
    """``run``: a session.Run; ``options``: session.Options (``verbose``, ``colour``)."""
    from sdcheck.model import Severity

    result, redact = run.result, run.redact
    verbose, colour = options.verbose, options.colour

    def c(text: str) -> str:
        return clean(text, redact, FIELD_LIMIT)

    def tag(status: Status) -> str:
        label = f"{status.value.upper():6}"
        return f"\x1b[{_COLOURS[status]}m{label}\x1b[0m" if colour else label

    outcomes = worst_first(result.outcomes)
    counts = {s: 0 for s in Status}
    by_severity = {s: 0 for s in Severity}
    for outcome in outcomes:
        counts[outcome.status] += 1
        for f in outcome.findings:
            if f.status.is_problem:
                by_severity[f.severity] += 1
    summary = ", ".join(f"{counts[s]} {s.value}" for s in
                        (Status.FAIL, Status.ERROR, Status.PASS, Status.SKIP, Status.WAIVED) if counts[s])
    severities = ", ".join(f"{by_severity[s]} {s}" for s in sorted(Severity, reverse=True) if by_severity[s])
    summary_line = (f"Summary: {len(outcomes)} checks: {summary or 'none run'}"
                    + (f"; problems: {severities}" if severities else ""))
    out: list[str] = []
    out.append(f"sdcheck report: profile {c(result.profile)} ({c(result.profile_source)})")
    out.append(f"baseline: {c(result.baseline)}")
    for key, value in result.info.items():
        out.extend(_wrap(f"{c(key)}: {c(value)}", ""))
    out.extend(_wrap(summary_line, ""))
    first = next((o for o in outcomes if o.status.is_problem), None)
    if first is not None:
        out.extend(_wrap(f"first: {frame(first.check_id)} [{_rank_severity(first)}]: "
                         f"{c(next(f.message for f in first.findings if f.status.is_problem))}", ""))
    out.append("")
    said: dict[tuple, str] = {}  # problem messages -> the check that showed them (one cause, said once)
    for outcome in outcomes:
        status = outcome.status
        out.append(f"{tag(status)} {frame(outcome.check_id)} [{outcome.severity}]")
        problems = tuple(f.message for f in outcome.findings if f.status.is_problem)
        if problems and problems in said:
            out.extend(_wrap(f"- the same cause as {said[problems]}, above", "       "))
            out.append("")
            continue
        if problems and len(problems) == 1:
            said[problems] = outcome.check_id
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
            for line in f.detail:  # diff lines and listings: whole, never wrapped
                out.append("         " + c(line))
            if f.status.is_problem and f.remedy and shared is None:
                out.extend(_wrap(f"fix:      {c(f.remedy)}", "         "))
        if shared:
            out.extend(_wrap(f"fix: {c(shared)}", "       "))
        out.append("")
    out.extend(_wrap(summary_line, ""))
    return "\n".join(out) + "\n"


def _rank_severity(outcome) -> str:
    return str(max(f.severity for f in outcome.findings if f.status.is_problem))
