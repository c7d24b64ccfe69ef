"""The output OSSEC's command monitor reads: one event per line.

Contract (README "Output contract"):
- one line per problem group, each ``System configuration error: [<check id>] <sentence>``;
- when nothing is wrong, exactly one line ``sdcheck: OK ...`` (never containing "error");
- every line is at most MAX_LINE_BYTES bytes, host values escaped, secrets redacted;
- at most MAX_LINES_PER_CHECK lines per check and MAX_LINES in all.
"""

from __future__ import annotations

from sdcheck.formatters import clean
from sdcheck.model import Finding, RunResult, Status
from sdcheck.escape import Redactor, truncate_utf8

PREFIX = "System configuration error: "
MAX_LINE_BYTES = 1024
MAX_LINES_PER_CHECK = 8
MAX_LINES = 60


def error_line(check_id: str, message: str, redact: Redactor | None = None) -> str:
    body = clean(message, redact or Redactor())
    return truncate_utf8(f"{PREFIX}[{check_id}] {body}", MAX_LINE_BYTES)


def _group_line(check_id: str, findings: list[Finding], redact: Redactor) -> str:
    head = f"{PREFIX}[{check_id}] "
    if len(findings) == 1:
        return truncate_utf8(head + clean(findings[0].message, redact), MAX_LINE_BYTES)
    messages = [clean(f.message, redact) for f in findings]
    text = head + f"{len(findings)} problems: "
    for i, msg in enumerate(messages):
        rest = len(messages) - i
        tail = f" (and {rest} more; see 'sdcheck report --only {check_id}')"
        piece = ("; " if i else "") + msg
        if len((text + piece).encode("utf-8", "surrogatepass")) + len(tail) > MAX_LINE_BYTES:
            if i == 0:  # even the first does not fit: cut it
                return truncate_utf8(text + msg, MAX_LINE_BYTES - len(tail)) + tail
            return text + tail
        text += piece
    return text


def _merge_repeats(lines: list[str]) -> list[str]:
    """One cause that stops several checks (a missing database) is one line, naming them."""
    bodies: dict[str, list[str]] = {}
    order: list[str] = []
    for line in lines:
        head, sep, body = line.partition("] ")
        if not sep:
            body = line
        if body not in bodies:
            bodies[body] = []
            order.append(body)
        bodies[body].append(head[len(PREFIX) + 1:] if sep else "")
    out = []
    for body in order:
        ids = bodies[body]
        if len(ids) == 1 or not all(ids):
            out.extend(f"{PREFIX}[{i}] {body}" if i else body for i in ids)
            continue
        tail = f" (the same for {len(ids) - 1} more: {', '.join(ids[1:])})"
        out.append(truncate_utf8(f"{PREFIX}[{ids[0]}] {body}", MAX_LINE_BYTES - len(tail.encode())) + tail
                   if len(tail) < 300 else
                   truncate_utf8(f"{PREFIX}[{ids[0]}] {body} (the same for {len(ids) - 1} more checks)",
                                 MAX_LINE_BYTES))
    return out


def render(result: RunResult, redact: Redactor) -> list[str]:
    lines: list[str] = []
    for outcome in result.outcomes:
        groups: dict[str, list[Finding]] = {}
        for f in outcome.findings:
            if f.status.is_problem:
                groups.setdefault(f.line_group, []).append(f)
        items = list(groups.items())
        if len(items) > MAX_LINES_PER_CHECK:
            extra = sum(len(fs) for _g, fs in items[MAX_LINES_PER_CHECK - 1:])
            items = items[:MAX_LINES_PER_CHECK - 1]
            lines.extend(_group_line(outcome.check_id, fs, redact) for _g, fs in items)
            lines.append(error_line(outcome.check_id,
                                    f"{extra} more problems; see 'sdcheck report --only {outcome.check_id}'"))
        else:
            lines.extend(_group_line(outcome.check_id, fs, redact) for _g, fs in items)
    lines = _merge_repeats(lines)
    if len(lines) > MAX_LINES:
        dropped = len(lines) - (MAX_LINES - 1)
        lines = lines[:MAX_LINES - 1] + [error_line("sdcheck.output", f"{dropped} more lines not shown; "
                                                    "see 'sdcheck report'")]
    if redact:  # a secret equal to a fixed word (a check id) is removed there too
        lines = [truncate_utf8(redact(line), MAX_LINE_BYTES) for line in lines]
    if not lines:
        counts = {s: 0 for s in Status}
        for o in result.outcomes:
            counts[o.status] += 1
        extra = "".join(f", {counts[s]} {s.value}" for s in (Status.SKIP, Status.WAIVED) if counts[s])
        ok = f"sdcheck: OK: {counts[Status.PASS]} checks passed{extra} (profile {result.profile})"
        lines.append(redact(ok) if redact else ok)
    return lines
