"""``sdcheck baseline render``: the effective baseline (after ``extends``, conditions and
variables), every variable with where its value came from and every check with the file
and line of its section and the site variables it uses. Secrets are redacted; values are
JSON (valid YAML), one line each."""

from __future__ import annotations

import json
import re

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _uses(value) -> set[str]:
    if isinstance(value, str):
        return set(_VAR.findall(value))
    if isinstance(value, dict):
        return set().union(*map(_uses, value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*map(_uses, value)) if value else set()
    return set()


def render_baseline(args) -> str:
    import os

    from sdcheck.baseline import SECRET_VARS, load_baseline, load_vars_file
    from sdcheck.escape import escape
    from sdcheck.session import Options, plan

    opts = Options(command="report", profile=args.profile, baseline=args.baseline, vars=args.vars, var=args.var,
                   var_file=args.var_file)
    p = plan(opts)
    b = p.baseline
    full = load_baseline(b.path)  # every check, before --only/--skip and site variables chose
    vars_file = load_vars_file(p.vars_path) if p.vars_path else {}
    given = {text.partition("=")[0].strip() for text in [*args.var, *args.var_file]}
    env = {n for n in SECRET_VARS if os.environ.get(f"SDCHECK_{n.upper()}")}

    def source(name: str) -> str:
        if name in given:
            return "--var" if any(v.startswith(name + "=") for v in args.var) else "--var-file"
        if name in env:
            return f"environment SDCHECK_{name.upper()}"
        if name in vars_file:
            return f"vars file {p.vars_path}"
        where = b.var_sources.get(name, "a plugin's default")
        return f"{where} (not set by the site)" if name in b.site else where

    def value(v) -> str:
        return p.redact(json.dumps(v, default=str, ensure_ascii=True))

    out = [f"# The effective baseline of profile {p.profile} ({p.profile_source})",
           f"# baseline: {escape(b.path)}",
           f"# vars file: {escape(p.vars_path) if p.vars_path else 'none'}",
           "variables:"]
    for name in sorted(p.variables):
        shown = "[redacted]" if name in SECRET_VARS and p.variables[name] else value(p.variables[name])
        out.append(f"  {name}: {shown}  # {escape(source(name))}")
    out.append("checks:")
    for cid in sorted(full.checks):
        if cid not in p.options and cid not in p.held:
            continue  # left out by --only/--skip
        uses = sorted(_uses(full.checks[cid]))
        note = (f"  # {escape(full.source_of(cid))}:{full.line_of(cid)}"
                + (f"; uses {', '.join('${' + u + '}' for u in uses)}" if uses else ""))
        if cid in p.held:
            out.append(f"  {cid}: null{note}; NOT RUN: the site does not set {', '.join(p.held[cid])}")
            continue
        out.append(f"  {cid}:{note}")
        for key, val in p.options[cid].items():
            if not key.startswith("_"):
                out.append(f"    {key}: {value(val)}")
    return "\n".join(out) + "\n"
