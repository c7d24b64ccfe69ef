"""``--format json``: a versioned object; its JSON Schema is docs/report.schema.json.

ASCII only, secrets redacted; strings carry host values escaped exactly as the text
formats do (a newline in a file name is the two characters backslash and n).
"""

from __future__ import annotations

import json

from sdcheck import __version__
from sdcheck.formatters import FIELD_LIMIT, clean, frame
from sdcheck.model import Status

SCHEMA_ID = "sdcheck-report"
SCHEMA_VERSION = 1


def build(run) -> dict:
    result, redact = run.result, run.redact

    def r(value):  # host values escaped as in every format: a consumer that prints one gets one line
        return None if value is None else clean(value, redact, FIELD_LIMIT)

    counts = {s.value: 0 for s in Status}
    for o in result.outcomes:
        counts[o.status.value] += 1
    return {
        "schema": SCHEMA_ID,
        "version": SCHEMA_VERSION,
        "sdcheck_version": __version__,
        "profile": r(result.profile),
        "profile_source": r(result.profile_source),
        "baseline": r(result.baseline),
        "info": {r(k): r(v) for k, v in result.info.items()},
        "summary": counts,
        "checks": [
            {"id": frame(o.check_id), "title": frame(o.title), "status": o.status.value,
             "severity": str(o.severity), "seconds": round(o.seconds, 4)}
            for o in result.outcomes
        ],
        "findings": [
            {"check_id": frame(f.check_id), "status": f.status.value, "severity": str(f.severity),
             "message": r(f.message), "resource": r(f.resource), "expected": r(f.expected),
             "actual": r(f.actual), "remedy": r(f.remedy), "detail": [r(d) for d in f.detail],
             "subject": r(f.subject), "widens": f.widens}
            for f in result.findings
        ],
    }


def render(run, options) -> str:
    # surrogateescape'd bytes from the host are written as \udcXX escapes
    return json.dumps(build(run), indent=2, ensure_ascii=True) + "\n"


def render_hosts(runs: list, options) -> str:
    """report --hosts: one document listing the hosts."""
    return json.dumps({"schema": "sdcheck-multihost-report", "version": 1,
                       "hosts": [dict(build(run), host=run.host) for run in runs]},
                      indent=2, ensure_ascii=True) + "\n"
