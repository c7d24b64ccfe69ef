"""``--format junit``: one testcase per check, for CI (Jenkins, GitLab, GitHub)."""

from __future__ import annotations

from xml.etree import ElementTree as ET

from sdcheck.formatters import FIELD_LIMIT, clean, frame
from sdcheck.model import Status


def render(run, options) -> str:
    return _document([(None, run)])


def render_hosts(runs: list, options) -> str:
    """report --hosts: one document, a test suite per host."""
    return _document([(run.host, run) for run in runs])


def _document(runs: list) -> str:
    root = ET.Element("testsuites", name="sdcheck")
    for host, run in runs:
        root.append(_suite(host, run.result, run.redact))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _suite(host: str | None, result, redact) -> ET.Element:
    def c(value) -> str:
        return clean(value, redact, FIELD_LIMIT)

    where = f"{c(host)}, " if host else ""
    suite = ET.Element("testsuite", name=f"sdcheck ({where}{c(result.profile)})")
    counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    total = 0.0
    for o in result.outcomes:
        counts["tests"] += 1
        total += o.seconds
        case = ET.SubElement(suite, "testcase", classname=f"sdcheck.{frame(o.check_id).split('.')[0]}",
                             name=frame(o.check_id), time=f"{o.seconds:.3f}")
        problems = [f for f in o.findings if f.status.is_problem]
        lines = []
        for f in o.findings:
            parts = [f"[{f.status.value}] {c(f.message)}"]
            for label, value in (("where", f.resource), ("expected", f.expected), ("actual", f.actual)):
                if value:
                    parts.append(f"  {label}: {c(value)}")
            parts.extend(f"  {c(d)}" for d in f.detail)
            if f.status.is_problem and f.remedy:
                parts.append(f"  fix: {c(f.remedy)}")
            lines.append("\n".join(parts))
        text = "\n".join(lines)
        if o.status == Status.ERROR:
            counts["errors"] += 1
            el = ET.SubElement(case, "error", message=c(problems[0].message), type=str(o.severity))
            el.text = text
        elif o.status == Status.FAIL:
            counts["failures"] += 1
            first = c(problems[0].message) + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else "")
            el = ET.SubElement(case, "failure", message=first, type=str(o.severity))
            el.text = text
        elif o.status == Status.SKIP:
            counts["skipped"] += 1
            ET.SubElement(case, "skipped", message=c(o.findings[0].message) if o.findings else "skipped")
        else:
            ET.SubElement(case, "system-out").text = text
    for key, value in counts.items():
        suite.set(key, str(value))
    suite.set("time", f"{total:.3f}")
    # JUnit's own attributes for where and when, and every other fact as a property
    if result.info.get("host"):
        suite.set("hostname", c(result.info["host"]))
    if result.info.get("time"):
        suite.set("timestamp", c(result.info["time"]).replace(" UTC", "").replace(" ", "T"))
    if result.info:
        props = ET.Element("properties")
        for key, value in result.info.items():
            ET.SubElement(props, "property", name=c(key), value=c(value))
        suite.insert(0, props)
    return suite
