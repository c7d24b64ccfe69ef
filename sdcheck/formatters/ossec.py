"""The output OSSEC's command monitor reads: one event per line.

Contract (README "Output contract"):
- one line per problem group, each ``System configuration error: [<check id>] (<severity>)
  <sentence>``, the worst first (OSSEC's rules route on the severity: low is logged, not
  mailed; anything else, or a line without one, is mailed);
- when nothing is wrong, exactly one line ``sdcheck: OK ...`` (never containing "error");
- every line is at most MAX_LINE_BYTES bytes, host values escaped, secrets redacted;
- at most MAX_LINES_PER_CHECK lines per check and MAX_LINES in all.
"""

from __future__ import annotations

from sdcheck.escape import Redactor, clean, escape, truncate_utf8
from sdcheck.model import Finding, RunResult, Severity, Status

PREFIX = "System configuration error: "
MAX_LINE_BYTES = 1024
MAX_LINES_PER_CHECK = 8
MAX_LINES = 60


def _body(text: str, redact: Redactor) -> str:
    """Host or user text for a line: redacted, then cut, then escaped, ASCII only (OSSEC and
    the mail that carries the alert read it in any locale)."""
    return clean(text, redact, limit=MAX_LINE_BYTES, ascii_only=True)


def error_line(check_id: str, message: str, redact: Redactor | None = None) -> str:
    """One line in sdcheck's frame (sdcheck's own failures: critical): the prefix, the check
    id and the severity are fixed text, the message is host or user text."""
    return truncate_utf8(f"{PREFIX}[{escape(check_id, True)}] (critical) {_body(message, redact or Redactor())}",
                         MAX_LINE_BYTES)


def _fixed_line(check_id: str, severity: Severity, message: str) -> str:
    """A line whose message is sdcheck's own wording (nothing from the host)."""
    return f"{PREFIX}[{escape(check_id, True)}] ({severity}) {escape(message, True)}"


def _group_line(check_id: str, findings: list[Finding], redact: Redactor) -> str:
    head = f"{PREFIX}[{escape(check_id, True)}] ({_worst(findings)}) "
    if len(findings) == 1:
        return truncate_utf8(head + _body(findings[0].message, redact), MAX_LINE_BYTES)
    messages = [_body(f.message, redact) for f in findings]
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
    """One cause that stops several checks (a missing database) is one line, naming them,
    with the worst severity among them (lines come worst first)."""
    bodies: dict[str, list[str]] = {}
    tags: dict[str, str] = {}
    order: list[str] = []
    for line in lines:
        head, sep, body = line.partition("] ")
        tag = ""
        if sep and body.startswith("(") and ") " in body:
            tag, body = body.split(") ", 1)
            tag += ") "
        if not sep:
            body = line
        if body not in bodies:
            bodies[body], tags[body] = [], tag
            order.append(body)
        bodies[body].append(head[len(PREFIX) + 1:] if sep else "")
    out: list[str] = []
    for body in order:
        ids, tag = bodies[body], tags[body]
        if len(ids) == 1 or not all(ids):
            out.extend(f"{PREFIX}[{i}] {tag}{body}" if i else body for i in ids)
            continue
        tail = f" (the same for {len(ids) - 1} more: {', '.join(ids[1:])})"
        out.append(truncate_utf8(f"{PREFIX}[{ids[0]}] {tag}{body}", MAX_LINE_BYTES - len(tail.encode())) + tail
                   if len(tail) < 300 else
                   truncate_utf8(f"{PREFIX}[{ids[0]}] {tag}{body} (the same for {len(ids) - 1} more checks)",
                                 MAX_LINE_BYTES))
    return out


def _worst(findings: list[Finding]):
    return max(f.severity for f in findings)


def render(run, options=None) -> str:
    """The whole output of 'sdcheck run' for ``run`` (a session.Run)."""
    return "\n".join(lines(run.result, run.redact)) + "\n"


def lines(result: RunResult, redact: Redactor) -> list[str]:
    """One line per problem group, the worst first (within a check and in all), bounded; or
    the OK line."""
    ranked: list[tuple[Severity, str]] = []
    for outcome in result.outcomes:
        groups: dict[str, list[Finding]] = {}
        for f in outcome.findings:
            if f.status.is_problem:
                groups.setdefault(f.line_group, []).append(f)
        # the worst first, so a line cap never pushes a critical problem out of the mail
        items = sorted(groups.items(), key=lambda item: -_worst(item[1]))
        if len(items) > MAX_LINES_PER_CHECK:
            rest = items[MAX_LINES_PER_CHECK - 1:]
            extra = sum(len(fs) for _g, fs in rest)
            worst = max(_worst(fs) for _g, fs in rest)
            items = items[:MAX_LINES_PER_CHECK - 1]
            ranked.extend((_worst(fs), _group_line(outcome.check_id, fs, redact)) for _g, fs in items)
            ranked.append((worst, _fixed_line(outcome.check_id, worst, f"{extra} more problems, the worst "
                                              f"{worst}; see 'sdcheck report --only {outcome.check_id}'")))
        else:
            ranked.extend((_worst(fs), _group_line(outcome.check_id, fs, redact)) for _g, fs in items)
    ranked.sort(key=lambda item: -item[0])  # stable: checks keep their order within a severity
    severity_of = {line: sev for sev, line in ranked}
    out = _merge_repeats([line for _sev, line in ranked])
    if len(out) > MAX_LINES:
        dropped = out[MAX_LINES - 1:]
        worst = max((severity_of.get(line, Severity.CRITICAL) for line in dropped), default=Severity.CRITICAL)
        out = out[:MAX_LINES - 1] + [_fixed_line("sdcheck.output", worst, f"{len(dropped)} more lines not shown, "
                                                 f"the worst {worst}; see 'sdcheck report'")]
    if not out:
        counts = {s: 0 for s in Status}
        for o in result.outcomes:
            counts[o.status] += 1
        others = "".join(f", {counts[s]} {s.value}" for s in (Status.SKIP, Status.WAIVED) if counts[s])
        out.append(f"sdcheck: OK: {counts[Status.PASS]} checks passed{others} (profile {escape(result.profile, True)})")
    return out
