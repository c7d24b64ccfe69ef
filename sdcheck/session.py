"""Options -> plan -> Run: one path for the command line and the pytest plugin.

``Options`` holds what a run is asked to do (the CLI fills it from argparse, the pytest
plugin from its own options); ``plan()`` loads the baseline, variables and plugins and picks
the checks; ``execute()`` runs them on a host, applies waivers and returns a ``Run``: the
result, the redactor and the context in one object. A Run's findings are redacted on the way
out of here, so no caller (a formatter, the pytest plugin, a test) can show a secret by
forgetting to; formatters still pass every host value through ``clean`` with ``run.redact``
(escaping, and secrets learned later). Nothing here prints.
"""

from __future__ import annotations

import os
from collections import namedtuple

from sdcheck.errors import BaselineError, UsageError

DEFAULT_VARS = "/etc/sdcheck/vars.yml"


class Options:
    """What one run is asked to do. Unknown keywords are an error, so a caller's typo
    never silently turns a setting off."""

    command = "report"      # "run" or "report"
    profile = None
    baseline = None         # a baseline file instead of the bundled one
    vars = None             # a vars file
    var: list = []          # ["NAME=VALUE", ...]
    var_file: list = []     # ["NAME=PATH", ...]: a variable's value is the file's text
    only: list = []
    skip: list = []
    waivers = None
    fail_on = "low"
    state = None
    limit = 50              # report: names listed per finding
    online = False          # report: checks that contact other hosts
    progress = None         # callable(done, total), on a terminal
    verbose = False         # report: details of passing checks too
    colour = False          # report: colours (a terminal, no NO_COLOR)

    def __init__(self, **kw):
        for key, value in kw.items():
            if not hasattr(Options, key) or key.startswith("_"):
                raise TypeError(f"unknown sdcheck option {key!r}")
            setattr(self, key, list(value) if isinstance(value, tuple) else value)

    @classmethod
    def from_namespace(cls, ns) -> Options:
        return cls(**{k: v for k, v in vars(ns).items() if hasattr(Options, k) and not k.startswith("_")})


# Everything decided before any check runs.
Plan = namedtuple("Plan", "facts profile profile_source baseline variables options settings classes redact "
                          "held vars_path")


def plan(opts: Options, facts=None, redact_hook=None) -> Plan:
    """Load vars, baseline and plugins, and pick the checks. Raises UsageError,
    BaselineError, RegistryError or ProfileError. ``redact_hook(redactor)`` receives the
    redactor as soon as the secrets are known, so an error after that is redacted too."""
    from sdcheck.baseline import SECRET_VARS, load_vars_file, merge_variables, parse_var_option
    from sdcheck.baseline.loader import secret_inputs
    from sdcheck.escape import Redactor
    from sdcheck.host.local import LocalFacts
    from sdcheck.options import resolve_options, resolve_settings
    from sdcheck.registry import hooks

    facts = facts or LocalFacts()
    # The checks are picked first (no variable needed), so the commands they run whatever the
    # variables say start now and run while the vars file is parsed. A problem met here is
    # raised only once the secrets are known, as if the vars file had been read first.
    try:
        profile, source, baseline, classes, wanted = _select(opts, facts)
        problem = None
    except Exception as exc:  # noqa: BLE001 - raised below, after the secrets are known
        problem = exc
    else:
        try:
            for hook in hooks("prefetch"):
                facts.prefetch(hook(wanted))
        except Exception:  # noqa: BLE001, S110 - a hint only: the checks run the commands anyway
            pass
    cli_vars = secret_inputs(opts.var_file, os.environ) + [parse_var_option(v) for v in opts.var]
    vars_path = opts.vars or (DEFAULT_VARS if os.path.exists(DEFAULT_VARS) else None)
    vars_file = load_vars_file(vars_path) if vars_path else {}
    secrets = [str(v) for k, v in list(vars_file.items()) + cli_vars if k in SECRET_VARS and v]
    if redact_hook:
        redact_hook(Redactor(secrets))
    if problem is not None:
        raise problem

    variables = merge_variables(baseline, vars_file, cli_vars)
    redact = Redactor(secrets + [str(variables[k]) for k in SECRET_VARS if variables.get(k)])
    if redact_hook:
        redact_hook(redact)
    if not wanted:
        raise UsageError("no check is selected (baseline "
                         f"{baseline.path}, --only {opts.only or '-'}, --skip {opts.skip or '-'})"
                         + did_you_mean(opts.only, list(classes)))
    from sdcheck.sitevars import needs_site

    held = needs_site(baseline, wanted, set(vars_file) | {k for k, _v in cli_vars})
    wanted = [c for c in wanted if c not in held]
    baseline.checks = {cid: baseline.checks[cid] for cid in wanted}
    from sdcheck.baseline.files import line_of

    origins = {k: (vars_path, line_of(vars_file, k)) for k in vars_file}
    origins.update({k: (f"--var {k}", None) for k, _v in cli_vars})
    options = resolve_options(baseline, classes, variables, origins)
    settings = resolve_settings(baseline, variables, vars_path if vars_file else None)
    return Plan(facts=facts, profile=profile, profile_source=source, baseline=baseline, variables=variables,
                options=options, settings=settings, classes=[classes[c] for c in wanted], redact=redact,
                held=held, vars_path=vars_path)


def _select(opts: Options, facts):
    """(profile, how it was chosen, baseline, check classes by id, ids selected)."""
    from sdcheck.baseline import PROFILES, bundled_path, load_baseline
    from sdcheck.profile import detect_profile
    from sdcheck.registry import load_checks, plugin_names, select

    if opts.profile:
        if opts.profile not in PROFILES and not opts.baseline:
            raise UsageError(f"unknown profile {opts.profile!r} (choose {' or '.join(PROFILES)}, "
                             "or give --baseline)")
        profile, source = opts.profile, "chosen with --profile"
    elif opts.baseline:
        profile, source = "", "from --baseline"
    else:
        profile, path = detect_profile(facts)
        source = f"detected: {path} exists"
    baseline = load_baseline(opts.baseline or bundled_path(profile))
    profile = profile or baseline.profile

    classes = load_checks(opts.only or None)
    installed, loaded = plugin_names(), {c.split(".")[0] for c in classes}
    for cid in baseline.checks:
        plugin = cid.split(".")[0]
        if plugin not in installed or (plugin in loaded and cid not in classes):
            raise BaselineError(baseline.source_of(cid), baseline.line_of(cid),
                                f"unknown check {cid!r} (see 'sdcheck list')")
    wanted = [c for c in select(list(baseline.checks), opts.only, opts.skip) if c in classes]
    _no_stray_prefix(opts, set(classes) | set(baseline.checks))
    return profile, source, baseline, classes, wanted


def _no_stray_prefix(opts: Options, ids: set[str]) -> None:
    """A ``--only`` or ``--skip`` that names no check at all is a typo: exit 2, never a
    silently ignored skip."""
    if not opts.only and not opts.skip:
        return
    from sdcheck.catalog import CHECKS

    known = sorted(ids | {c[0] for c in CHECKS})
    for flag, given in (("--only", opts.only), ("--skip", opts.skip)):
        for text in given or []:
            if not text.startswith("sdcheck") and not any(cid.startswith(text) for cid in known):
                raise UsageError(f"{flag} {text} matches no check{did_you_mean([text], known)} "
                                 "(see 'sdcheck list')")


class Run:
    """One run on one host: ``result`` (a RunResult whose findings are already redacted),
    ``redact`` (the run's Redactor, for anything else from the host), ``ctx`` (the checks'
    Context, None when the host could not be reached) and ``host`` (its name)."""

    __slots__ = ("result", "redact", "ctx", "host")

    def __init__(self, result, redact, ctx=None, host: str = ""):
        from sdcheck.model import redacted

        self.result, self.redact, self.ctx, self.host = redacted(result, redact), redact, ctx, host

    # what the pytest fixture returned before it returned a Run (suites use these)
    @property
    def outcomes(self):
        return self.result.outcomes

    @property
    def findings(self):
        return self.result.findings

    @property
    def problems(self):
        return self.result.problems

    def __repr__(self) -> str:
        """The problems themselves (what an ``assert not run.problems, run`` shows), redacted,
        each cut to one short line."""
        from sdcheck.escape import clean

        shown = "; ".join(f"{f.check_id} {f.status.value} ({f.severity}): {clean(f.message, self.redact, limit=160)}"
                          for f in self.problems[:10])
        more = f"; and {len(self.problems) - 10} more" if len(self.problems) > 10 else ""
        return (f"<sdcheck Run {clean(self.host or 'local', self.redact)} profile={self.result.profile}: "
                f"{len(self.problems)} problem(s){': ' if shown else ''}{shown}{more}>")


def execute(opts: Options, facts=None, redact_hook=None) -> Run:
    """Plan and run on ``facts`` (this machine when None)."""
    from sdcheck.check import Context
    from sdcheck.model import RunResult
    from sdcheck.runner import run_checks

    p = plan(opts, facts, redact_hook)
    ctx = Context(p.facts, p.profile, p.variables, p.options, redact=p.redact)
    ctx.settings = p.settings
    if opts.command == "report":
        ctx.detail_limit = max(0, opts.limit)
        ctx.online = opts.online
        ctx.progress = opts.progress
    # The secrets are learned while the checks run (both mostly wait on commands): what a
    # check says is redacted when it is printed, and nothing is printed before both are done.
    import threading

    learning = threading.Thread(target=learn_secrets, args=(ctx,), name="secrets", daemon=True)
    learning.start()
    result = RunResult(profile=p.profile, profile_source=p.profile_source, baseline=p.baseline.path)
    import socket
    import time

    result.info["host"] = getattr(p.facts, "name", "") if not getattr(p.facts, "is_local", False) \
        else socket.gethostname()
    result.info["time"] = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    result.info["vars file"] = p.vars_path or f"none ({DEFAULT_VARS} does not exist)"
    from sdcheck.sitevars import site_outcomes

    result.outcomes = site_outcomes(p.held, p.vars_path) + run_checks(p.classes, ctx)
    learning.join(SECRETS_TIMEOUT)
    if learning.is_alive():  # its commands have time limits: this is a bug, and nothing is shown
        raise RuntimeError(f"the plugins' secrets were not learned within {SECRETS_TIMEOUT:g} s")
    _waive(opts, result)
    return Run(result, p.redact, ctx, getattr(p.facts, "name", ""))


SECRETS_TIMEOUT = 300.0


def learn_secrets(ctx) -> None:
    """Before any check runs, every secret the plugins can find on the host (the relay
    password in main.cf, master.cf and the tables they name) joins the redactor, so no
    check's message, error or traceback can show one. A hook that fails is ignored here: the
    checks that read the same data report why it could not be read."""
    from sdcheck.registry import hooks

    for hook in hooks("secrets"):
        try:
            ctx.add_secret(*hook(ctx))
        except Exception:  # noqa: BLE001, S112 - see above
            continue


def _waive(opts: Options, result) -> None:
    from sdcheck.waivers import DEFAULT_WAIVERS, apply_waivers, load_waivers

    path = opts.waivers or (DEFAULT_WAIVERS if os.path.exists(DEFAULT_WAIVERS) else None)
    result.info["waivers file"] = path or f"none ({DEFAULT_WAIVERS} does not exist)"
    if path is None:
        return
    from sdcheck.registry import load_checks

    waivers = load_waivers(path, load_checks())
    extra = apply_waivers(result.outcomes, waivers, path)
    if extra is not None:
        result.outcomes.append(extra)


def add_report_info(run: Run) -> None:
    """What plugins tell the admin besides their checks (which firewall backend was read,
    and how), through their ``report_info(ctx)`` hooks."""
    from sdcheck.registry import hooks

    if run.ctx is None:
        return
    for hook in hooks("report_info"):
        run.result.info.update({k: run.redact(str(v)) for k, v in hook(run.ctx).items()})


def did_you_mean(given: list[str] | None, known: list[str], prefixes: bool = True) -> str:
    """'; did you mean X?' for a given id (or, with ``prefixes``, prefix) that selects nothing
    but is close to a known id."""
    import difflib

    hints = []
    for text in given or []:
        if text in known or (prefixes and any(k.startswith(text) for k in known)):
            continue
        hints += difflib.get_close_matches(text, known, n=1, cutoff=0.75)
    return f"; did you mean {' or '.join(dict.fromkeys(hints))}?" if hints else ""


def add_state(opts: Options, run: Run) -> None:
    """report: when 'sdcheck run' last recorded its state, as a check of its own."""
    from sdcheck.state import DEFAULT_STATE, check_state

    path = opts.state or (DEFAULT_STATE if os.path.exists(DEFAULT_STATE) else None)
    if path is None or run.ctx is None:
        return
    outcome, summary = check_state(path, float(run.ctx.vars.get("run_max_age_hours", 26)))
    run.result.info["last 'sdcheck run'"] = summary
    run.result.outcomes.append(outcome)


def exit_code(result, fail_on: str = "low") -> int:
    """``result``: a Run or a RunResult."""
    """1 when a check could not run, or found a problem at or above ``fail_on``; else 0."""
    from sdcheck.model import Severity, Status

    floor = Severity[fail_on.upper()]
    result = getattr(result, "result", result)
    for f in result.problems:
        if f.status == Status.ERROR or f.severity >= floor:
            return 1
    return 0
