"""``--format html``: one self-contained file (inline style, no script, no external
asset), readable offline, e.g. attached to a ticket."""

from __future__ import annotations

import html

from sdcheck.formatters import FIELD_LIMIT, clean, frame
from sdcheck.model import Status

_STYLE = """
body{font:15px/1.45 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}
h1{font-size:1.4rem}h2{font-size:1.05rem;margin:1.4rem 0 .3rem}
.status{display:inline-block;min-width:4.5rem;padding:.05rem .4rem;border-radius:.25rem;color:#fff;
font-size:.8rem;text-align:center;margin-right:.5rem}
.fail{background:#b3261e}.error{background:#7b1fa2}.pass{background:#2e7d32}.skip{background:#8d6e00}
.waived{background:#00838f}
.finding{margin:.4rem 0 .8rem 1.2rem}.message{margin:0}dl{margin:.2rem 0 0 1rem}
dt{float:left;clear:left;width:5.5rem;color:#555}dd{margin:0 0 .1rem 5.8rem}
pre{background:#f4f4f4;padding:.5rem;overflow-x:auto;font-size:.8rem}
.summary{margin-top:2rem;font-weight:600}
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
    counts = {s: 0 for s in Status}
    for o in result.outcomes:
        counts[o.status] += 1
        st = o.status.value
        cid = html.escape(frame(o.check_id), quote=True)
        out.append(f'<section class="check" id="{cid}"><h2><span class="status {st}">'
                   f"{st.upper()}</span>{cid} <small>[{o.severity}]</small></h2>"
                   f"<p>{html.escape(frame(o.title), quote=True)}</p>")
        for f in o.findings:
            if not (f.status.is_problem or verbose or f.status in (Status.SKIP, Status.WAIVED)):
                continue
            out.append(f'<div class="finding {f.status.value}"><p class="message">{c(f.message)}</p><dl>')
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
    summary = ", ".join(f"{counts[s]} {s.value}" for s in Status if counts[s])
    out.append(f'<p class="summary">Summary: {len(result.outcomes)} checks: {summary or "none run"}</p>')
    out.append("</body></html>")
    return "\n".join(out) + "\n"
