"""``--format html``: one self-contained file (inline style, no script, no external
asset), readable offline, e.g. attached to a ticket."""

from __future__ import annotations

import html

from sdcheck.formatters import FIELD_LIMIT, clean, frame, worst_first
from sdcheck.model import Status

# Read as a person sees it (tests/test_report_formats.py renders it in Chromium and checks the
# computed styles): the solid colours are only on the small status badges; a finding is dark
# text on a near-white tint with a coloured edge, so its words stay readable.
_STYLE = """
body{font:15px/1.45 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222;
background:#fff}
h1{font-size:1.4rem}h2{font-size:1.05rem;margin:1.4rem 0 .3rem}
.badge{display:inline-block;min-width:4.5rem;padding:.05rem .4rem;border-radius:.25rem;color:#fff;
font-size:.8rem;text-align:center;margin-right:.5rem;font-weight:600}
.badge-fail{background:#b3261e}.badge-error{background:#7b1fa2}.badge-pass{background:#2e7d32}
.badge-skip{background:#6d5600}.badge-waived{background:#00696f}
.finding{margin:.4rem 0 .8rem 1.2rem;padding:.3rem .6rem;border-left:.3rem solid #999;background:#fafafa;
color:#222}
.finding-fail{border-left-color:#b3261e;background:#fdf3f2}.finding-error{border-left-color:#7b1fa2;
background:#f8f1fa}.finding-pass{border-left-color:#2e7d32}.finding-skip{border-left-color:#8d6e00}
.finding-waived{border-left-color:#00838f}
.message{margin:0}dl{margin:.2rem 0 0 1rem}
dt{float:left;clear:left;width:5.5rem;color:#555}dd{margin:0 0 .1rem 5.8rem;overflow-wrap:anywhere}
pre{background:#f4f4f4;color:#222;padding:.5rem;overflow-x:auto;font-size:.8rem}
.summary{clear:both;padding-top:.6rem;font-weight:600}.first{margin-top:.2rem}
"""


# one host per file: report --hosts refuses html (the CLI reads this)
SINGLE_HOST = True


def render(run, options) -> str:
    result, redact = run.result, run.redact
    verbose = True  # a file to keep or attach: every check's details

    def c(value) -> str:
        return html.escape(clean(value, redact, FIELD_LIMIT), quote=True)

    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; style-src \'unsafe-inline\'">',
           f"<title>sdcheck report: {c(result.profile)}</title><style>{_STYLE}</style></head><body>",
           f"<h1>sdcheck report: profile {c(result.profile)}</h1>",
           f"<p>{c(result.profile_source)}; baseline {c(result.baseline)}</p>"]
    if result.info:
        out.append("<dl>" + "".join(f"<dt>{c(k)}</dt><dd>{c(v)}</dd>" for k, v in result.info.items()) + "</dl>")
    outcomes = worst_first(result.outcomes)
    counts = {s: 0 for s in Status}
    by_severity: dict = {}
    for o in outcomes:
        counts[o.status] += 1
        for f in o.findings:
            if f.status.is_problem:
                by_severity[f.severity] = by_severity.get(f.severity, 0) + 1
    summary = ", ".join(f"{counts[s]} {s.value}" for s in Status if counts[s])
    severities = ", ".join(f"{n} {s}" for s, n in sorted(by_severity.items(), reverse=True))
    # what to do first comes first: the summary, then the worst problem, then every check
    out.append(f'<p class="summary" id="summary">Summary: {len(outcomes)} checks: {summary or "none run"}'
               + (f"; problems: {severities}" if severities else "") + "</p>")
    first = next((o for o in outcomes if o.status.is_problem), None)
    if first is not None:
        msg = next(f.message for f in first.findings if f.status.is_problem)
        out.append(f'<p class="first">First: <a href="#{html.escape(frame(first.check_id), quote=True)}">'
                   f"{html.escape(frame(first.check_id), quote=True)}</a>: {c(msg)}</p>")
    for o in outcomes:
        st = o.status.value
        cid = html.escape(frame(o.check_id), quote=True)
        out.append(f'<section class="check check-{st}" id="{cid}"><h2><span class="badge badge-{st}">'
                   f"{st.upper()}</span>{cid} <small>[{o.severity}]</small></h2>"
                   f"<p>{html.escape(frame(o.title), quote=True)}</p>")
        for f in o.findings:
            if not (f.status.is_problem or verbose or f.status in (Status.SKIP, Status.WAIVED)):
                continue
            out.append(f'<div class="finding finding-{f.status.value}"><p class="message">{c(f.message)}</p><dl>')
            for label, value in (("where", f.resource), ("expected", f.expected), ("actual", f.actual)):
                if value:
                    out.append(f"<dt>{label}</dt><dd>{c(value)}</dd>")
            if f.status.is_problem and f.remedy:
                out.append(f"<dt>fix</dt><dd>{c(f.remedy)}</dd>")
            out.append("</dl>")
            if f.detail:
                out.append("<pre>" + "\n".join(c(d) for d in f.detail) + "</pre>")
            out.append("</div>")
        out.append("</section>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"
