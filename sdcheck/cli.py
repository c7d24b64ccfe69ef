"""Command line: ``sdcheck run | report | list | explain | baseline capture``.

Exit codes (shared by run and report):
  0  every selected check passed (or was skipped)
  1  at least one check found a problem (FAIL) or could not run (ERROR)
  2  sdcheck itself could not run: bad arguments, bad baseline or vars file, broken plugin

``run`` is what OSSEC executes: everything it has to say, including its own failures,
goes to standard output as lines OSSEC's rules understand (see formatters/ossec.py).
Start-up is kept cheap: argparse, yaml and the selected plugins only.
"""

from __future__ import annotations

import argparse
import os
import sys

from sdcheck import __version__

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2
DEFAULT_VARS = "/etc/sdcheck/vars.yml"


class UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # never print usage and exit from inside argparse
        raise UsageError(message)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--profile", help="app or mon; detected from the host when absent")
    p.add_argument("--baseline", metavar="FILE", help="baseline file (default: the bundled one for the profile)")
    p.add_argument("--vars", metavar="FILE", help=f"site variables (YAML; SecureDrop's site-specific works "
                   f"as is). Default: {DEFAULT_VARS} if it exists")
    p.add_argument("--var", metavar="NAME=VALUE", action="append", default=[], help="set one variable (repeatable)")
    p.add_argument("--only", metavar="PREFIX", action="append", default=[], help="run only checks whose id starts so")
    p.add_argument("--skip", metavar="PREFIX", action="append", default=[], help="leave out checks whose id starts so")
    p.add_argument("--waivers", metavar="FILE", help="accepted deviations with reasons and expiry dates "
                   "(default: /etc/sdcheck/waivers.yml if it exists)")
    p.add_argument("--fail-on", metavar="SEVERITY", choices=("low", "medium", "high", "critical"), default="low",
                   help="exit 1 only for problems of this severity or above (errors always count); default low")
    p.add_argument("--state", metavar="FILE", help="run: record this run there; report: say when sdcheck "
                   "last ran (default: /var/lib/sdcheck/state.json if it exists)")
    p.add_argument("--debug", action="store_true", help=argparse.SUPPRESS)


def _add_command(sub_or_none, name: str, **kw) -> argparse.ArgumentParser:
    if sub_or_none is None:
        return _Parser(prog=f"sdcheck {name}", description=kw.get("help"))
    return sub_or_none.add_parser(name, **kw)


def _define(name: str, sub=None) -> argparse.ArgumentParser:
    """Define one sub-command (on ``sub``, or as a parser of its own)."""
    if name == "run":
        p = _add_command(sub, "run", help="for OSSEC: one line per problem, or one OK line")
        _common(p)
    elif name == "report":
        p = _add_command(sub, "report", help="for admins: every check, differences and fixes")
        _common(p)
        p.add_argument("--format", choices=("text", "json", "junit", "html"), default="text")
        p.add_argument("--output", metavar="FILE", help="write the report to FILE instead of standard output")
        p.add_argument("--verbose", "-v", action="store_true", help="also show details of passing checks")
        p.add_argument("--limit", type=int, default=50, metavar="N",
                       help="list at most N names per finding (store checks); default 50")
        p.add_argument("select", nargs="*", metavar="PREFIX", help="same as --only PREFIX")
        p.add_argument("--online", action="store_true", help="also run checks that contact other hosts "
                       "(the SMTP relay probe); never done by 'run'")
        p.add_argument("--hosts", metavar="SPECS", help="check these hosts through testinfra instead of "
                       "this one, in parallel: ssh://root@app,ssh://mon,ansible://mon,local://")
        p.add_argument("--ssh-config", metavar="FILE", help="ssh_config for ssh:// hosts")
        p.add_argument("--ssh-identity-file", metavar="FILE", help="private key for ssh:// hosts")
        p.add_argument("--sudo", action="store_true", help="run the commands on the hosts through sudo")
        p.add_argument("--ansible-inventory", metavar="FILE", help="Ansible inventory for ansible:// hosts; "
                       "ansible://GROUP checks every host of the group")
    elif name == "list":
        p = _add_command(sub, "list", help="the checks, with ids and descriptions")
        p.add_argument("--profile", help="only the checks this profile's baseline enables")
    elif name == "baseline":
        p = _add_command(sub, "baseline", help="capture the live state as a baseline to review")
        p.add_argument("action", choices=("capture",))
        p.add_argument("what", choices=("iptables",))
        p.add_argument("--family", type=int, choices=(4, 6), default=4)
        p.add_argument("--backend", choices=("nft", "legacy"), help="when both hold rules")
        p.add_argument("--output", metavar="FILE", help="write to FILE (default: standard output)")
        p.add_argument("--debug", action="store_true", help=argparse.SUPPRESS)
    else:
        p = _add_command(sub, "explain", help="what a check verifies, why, and how to fix it")
        p.add_argument("check_id")
    p.set_defaults(command=name)
    return p


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="sdcheck", description="Configuration compliance checks for SecureDrop servers.")
    parser.add_argument("--version", action="version", version=f"sdcheck {__version__}")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)
    for name in COMMAND_NAMES:
        _define(name, sub)
    return parser


def parse_args(argv: list[str]) -> argparse.Namespace:
    # Building every sub-parser costs ~10 ms of argparse work; `run` is started by OSSEC on
    # every host every day, so only the requested command's parser is built.
    if argv and argv[0] in COMMAND_NAMES:
        return _define(argv[0]).parse_args(argv[1:])
    return build_parser().parse_args(argv)


COMMAND_NAMES = ("run", "report", "list", "explain", "baseline")


# -- running -------------------------------------------------------------------------

def _prepare(args, facts=None):
    """Everything up to running checks. Raises UsageError/BaselineError/RegistryError/ProfileError."""
    from sdcheck.baseline import (PROFILES, SECRET_VARS, BaselineError, bundled_path, load_baseline,
                                  load_vars_file, merge_variables, parse_var_option, resolve_options)
    from sdcheck.host.local import LocalFacts
    from sdcheck.profile import detect_profile
    from sdcheck.registry import load_checks, plugin_names, select
    from sdcheck.escape import Redactor

    facts = facts or LocalFacts()
    cli_vars = [parse_var_option(v) for v in args.var]
    vars_path = args.vars or (DEFAULT_VARS if os.path.exists(DEFAULT_VARS) else None)
    vars_file = load_vars_file(vars_path) if vars_path else {}
    # secrets first, so even an error below cannot print them
    secrets = [str(v) for k, v in list(vars_file.items()) + cli_vars if k in SECRET_VARS and v]
    redact = args._redact = Redactor(secrets)

    if args.profile:
        if args.profile not in PROFILES and not args.baseline:
            raise UsageError(f"unknown profile {args.profile!r} (choose {' or '.join(PROFILES)}, "
                             "or give --baseline)")
        profile, source = args.profile, "chosen with --profile"
    elif args.baseline:
        profile, source = "", "from --baseline"
    else:
        profile, path = detect_profile(facts)
        source = f"detected: {path} exists"
    baseline = load_baseline(args.baseline or bundled_path(profile))
    profile = profile or baseline.profile

    classes = load_checks(args.only or None)
    installed, loaded = plugin_names(), {c.split(".")[0] for c in classes}
    for cid in baseline.checks:
        plugin = cid.split(".")[0]
        if plugin not in installed or (plugin in loaded and cid not in classes):
            raise BaselineError(getattr(baseline.checks[cid], "_path", None) or baseline.path,
                                baseline.lines.get(cid), f"unknown check {cid!r} (see 'sdcheck list')")
    variables = merge_variables(baseline, vars_file, cli_vars)
    redact = args._redact = Redactor(secrets + [str(variables[k]) for k in SECRET_VARS if variables.get(k)])
    wanted = [c for c in select(list(baseline.checks), args.only, args.skip) if c in classes]
    if not wanted:
        raise UsageError("no check is selected (baseline "
                         f"{baseline.path}, --only {args.only or '-'}, --skip {args.skip or '-'})")
    section = {cid: baseline.checks[cid] for cid in wanted}
    baseline.checks = section
    options = resolve_options(baseline, classes, variables)
    return facts, profile, source, baseline, variables, options, [classes[c] for c in wanted], redact


def execute(args, facts=None):
    from sdcheck.check import Context
    from sdcheck.model import RunResult
    from sdcheck.runner import run_checks

    facts, profile, source, baseline, variables, options, classes, redact = _prepare(args, facts)
    ctx = Context(facts, profile, variables, options, redact=redact)
    if args.command == "report":
        ctx.detail_limit = max(0, args.limit)
        ctx.online = args.online
        if sys.stderr.isatty():
            ctx.progress = _progress
    result = RunResult(profile=profile, profile_source=source, baseline=baseline.path)
    result.outcomes = run_checks(classes, ctx)
    _waive(args, result, classes)
    return result, redact, ctx


def _waive(args, result, classes) -> None:
    from sdcheck.waivers import DEFAULT_WAIVERS, apply_waivers, load_waivers

    path = args.waivers or (DEFAULT_WAIVERS if os.path.exists(DEFAULT_WAIVERS) else None)
    if path is None:
        return
    from sdcheck.registry import load_checks

    waivers = load_waivers(path, set(load_checks()))
    extra = apply_waivers(result.outcomes, waivers, path)
    if extra is not None:
        result.outcomes.append(extra)


def _progress(done: int, total: int) -> None:
    """Progress of a long scan, on the terminal only (report), overwritten in place."""
    sys.stderr.write(f"\rscanning: {done}/{total} source directories" + ("\n" if done >= total else ""))
    sys.stderr.flush()


def _exit_code(result, fail_on: str = "low") -> int:
    """1 when a check could not run, or found a problem at or above ``--fail-on``."""
    from sdcheck.model import Severity, Status

    floor = Severity[fail_on.upper()]
    for f in result.problems:
        if f.status == Status.ERROR or f.severity >= floor:
            return EXIT_FINDINGS
    return EXIT_OK


def _merge_select(args) -> None:
    args.only = list(args.only) + list(getattr(args, "select", []) or [])


def cmd_run(args) -> int:
    from sdcheck.formatters import ossec

    result, redact, _ctx = execute(args)
    code = _exit_code(result, args.fail_on)
    lines = ossec.render(result, redact)
    if args.state:
        from sdcheck.state import StateError, record

        try:
            record(args.state, result, code)
        except StateError as exc:  # a run that cannot be recorded will look stale: say so now
            lines = [ln for ln in lines if not ln.startswith("sdcheck: OK")]
            lines.append(ossec.error_line("sdcheck.state", str(exc), redact))
            code = EXIT_FINDINGS
    sys.stdout.write("\n".join(lines) + "\n")
    return code


def _host_facts(spec: str, args):
    import testinfra

    from sdcheck.host.testinfra import TestinfraFacts

    kw = {}
    if args.ssh_config:
        kw["ssh_config"] = args.ssh_config
    if args.ssh_identity_file:
        kw["ssh_identity_file"] = args.ssh_identity_file
    if args.ansible_inventory and spec.startswith("ansible://"):
        kw["ansible_inventory"] = args.ansible_inventory
    return TestinfraFacts(testinfra.get_host(spec, **kw), name=spec, sudo=args.sudo)


def _report_host(spec: str, args):
    """(result, redact, ctx) for one testinfra host; an unreachable host is one ERROR."""
    import copy

    from sdcheck.host.base import FactError
    from sdcheck.model import CheckOutcome, Finding, RunResult, Severity, Status

    try:
        facts = _host_facts(spec, args)
        probe = facts.run(["true"], timeout=30)
        if not probe.ok:
            raise FactError(f"{spec}: a test command failed (exit {probe.returncode}); with --sudo, is sudo "
                            "allowed without a password?")
    except Exception as exc:  # noqa: BLE001 - reported as this host's finding
        from sdcheck.escape import Redactor

        result = RunResult(profile=args.profile or "?", profile_source="not reached", baseline="-")
        result.outcomes = [CheckOutcome("sdcheck.host", f"{spec} can be reached", Severity.CRITICAL, [Finding(
            "sdcheck.host", Status.ERROR, Severity.CRITICAL, f"{spec} could not be checked: {exc}", spec,
            remedy="Check that the host is up, that SSH (or the testinfra backend) reaches it, and that "
                   "the user may run commands as root (--sudo).")])]
        return result, Redactor(), None
    return execute(copy.copy(args), facts)


def _emit(path: str | None, text: str) -> None:
    """Write ``text`` to ``--output`` or standard output."""
    if path:
        with open(path, "w", encoding="utf-8", errors="surrogateescape") as fh:
            fh.write(text)
    else:
        sys.stdout.write(text)


def _render(args, result, redact) -> str:
    """One result in the report format asked for."""
    if args.format == "json":
        from sdcheck.formatters import json as fmt
        return fmt.render(result, redact)
    if args.format == "junit":
        from sdcheck.formatters import junit as fmt
        return fmt.render(result, redact)
    if args.format == "html":
        from sdcheck.formatters import html as fmt
        return fmt.render(result, redact)
    from sdcheck.formatters import text as fmt
    colour = args.output is None and sys.stdout.isatty() and not os.environ.get("NO_COLOR")
    return fmt.render(result, redact, verbose=args.verbose, colour=colour)


def cmd_report(args) -> int:
    if args.hosts:
        return _report_hosts(args)
    result, redact, ctx = execute(args)
    _add_info(result, ctx)
    _add_state(args, result, ctx)
    _emit(args.output, _render(args, result, redact))
    return _exit_code(result, args.fail_on)


def _report_hosts(args) -> int:
    """One report per testinfra host, checked in parallel: text under a header per host,
    JSON as one document listing the hosts, JUnit as one test suite per host."""
    from concurrent.futures import ThreadPoolExecutor

    if args.format == "html":
        raise UsageError("--format html covers one host; with --hosts use text, json or junit")
    from sdcheck.host.testinfra import HostSpecError, expand_specs

    try:
        specs = expand_specs([h.strip() for h in args.hosts.split(",") if h.strip()], args.ansible_inventory)
    except HostSpecError as exc:
        raise UsageError(str(exc)) from None
    with ThreadPoolExecutor(max_workers=min(8, len(specs))) as pool:
        results = list(pool.map(lambda spec: _report_host(spec, args), specs))
    code = EXIT_OK
    for spec, (result, _redact, ctx) in zip(specs, results):
        if ctx is not None:
            _add_info(result, ctx)
        result.info["host"] = spec
        code = max(code, _exit_code(result, args.fail_on))
    if args.format == "json":
        import json

        from sdcheck.formatters import json as fmt
        text = json.dumps({"schema": "sdcheck-multihost-report", "version": 1, "hosts": [
            dict(fmt.build(result, redact), host=spec) for spec, (result, redact, _c) in zip(specs, results)]},
            indent=2, ensure_ascii=True) + "\n"
    elif args.format == "junit":
        from sdcheck.formatters import junit as fmt
        text = fmt.render_many([(spec, result, redact) for spec, (result, redact, _c) in zip(specs, results)])
    else:
        text = "\n".join(f"===== {spec} =====\n" + _render(args, result, redact)
                         for spec, (result, redact, _c) in zip(specs, results))
    _emit(args.output, text)
    return code


def _add_state(args, result, ctx) -> None:
    from sdcheck.state import DEFAULT_STATE, check_state

    path = args.state or (DEFAULT_STATE if os.path.exists(DEFAULT_STATE) else None)
    if path is None:
        return
    outcome, summary = check_state(path, float(ctx.vars.get("run_max_age_hours", 26)))
    result.info["last 'sdcheck run'"] = summary
    result.outcomes.append(outcome)


def _add_info(result, ctx) -> None:
    """Context for the admin: which firewall backend was read, and how."""
    for snap in ctx.computed("iptables:").values():
        name = "iptables" if snap.family == 4 else "ip6tables"
        readers = ", ".join(f"{b} via {how}" for b, how in snap.readers.items())
        result.info[f"{name} backend"] = (f"the '{name}' command uses {snap.selected or 'unknown'}; "
                                          f"holding rules: {', '.join(snap.loaded()) or 'none'}; read: {readers}")


def cmd_list(args) -> int:
    from sdcheck.baseline import PROFILES, bundled_path, load_baseline
    from sdcheck.registry import load_checks

    classes = load_checks()
    enabled = {p: set(load_baseline(bundled_path(p)).checks) for p in PROFILES}
    for cid, cls in classes.items():
        profiles = [p for p in PROFILES if cid in enabled[p]]
        if args.profile and args.profile not in profiles:
            continue
        print(f"{cid:28} {str(cls.severity):8} {cls.title}  (profiles: {', '.join(profiles) or 'none'})")
    return EXIT_OK


def cmd_explain(args) -> int:
    from sdcheck.registry import load_checks

    classes = load_checks([args.check_id])
    cls = classes.get(args.check_id)
    if cls is None:
        raise UsageError(f"unknown check {args.check_id!r} (see 'sdcheck list')")
    print(f"{cls.id} [{cls.severity}]\n\nVerifies: {cls.title}\n")
    if cls.why:
        print(f"Why it matters: {cls.why}\n")
    print(f"How to fix a failure: {cls.remedy}\n")
    if cls.options:
        print("Baseline options:")
        for key, opt in cls.options.items():
            print(f"  {key}: default {opt.default!r}" + (f" ({opt.help})" if opt.help else ""))
    return EXIT_OK


def cmd_baseline(args) -> int:
    from sdcheck.plugins.iptables.capture import CaptureError, capture_iptables
    from sdcheck.check import Context
    from sdcheck.host.local import LocalFacts

    ctx = Context(LocalFacts(), "captured", {})
    try:
        text = capture_iptables(ctx, args.family, args.backend)
    except CaptureError as exc:
        raise UsageError(str(exc)) from None
    _emit(args.output, text)
    return EXIT_OK


COMMANDS = {"run": cmd_run, "report": cmd_report, "list": cmd_list, "explain": cmd_explain,
            "baseline": cmd_baseline}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    running = bool(argv) and argv[0] == "run"
    args = None
    try:
        args = parse_args(argv)
        args._redact = None
        if not getattr(args, "command", None):
            raise UsageError("a command is required: run, report, list, explain or baseline")
        if hasattr(args, "only"):
            _merge_select(args)
        return COMMANDS[args.command](args)
    except Exception as exc:  # noqa: BLE001 - every failure ends as one line and exit 2
        return _fail(exc, running, getattr(args, "_redact", None), debug="--debug" in argv)


def _fail(exc: BaseException, running: bool, redact, debug: bool) -> int:
    from sdcheck.baseline import BaselineError
    from sdcheck.formatters.ossec import error_line
    from sdcheck.profile import ProfileError
    from sdcheck.registry import RegistryError
    from sdcheck.escape import Redactor, escape

    expected = (UsageError, BaselineError, RegistryError, ProfileError)
    redact = redact or Redactor()
    if isinstance(exc, expected):
        kind = {UsageError: "usage", BaselineError: "config", RegistryError: "plugins",
                ProfileError: "profile"}[type(exc)]
        message = str(exc)
    else:
        kind = "internal"
        message = f"sdcheck failed unexpectedly ({type(exc).__name__}); run 'sdcheck report --debug' for details"
        if debug:
            import traceback
            for line in traceback.format_exception(exc):
                for part in line.rstrip("\n").split("\n"):
                    sys.stderr.write(escape(redact(part)) + "\n")
    if running:
        sys.stdout.write(error_line(f"sdcheck.{kind}", message, redact) + "\n")
    else:
        sys.stderr.write(f"sdcheck: error: {escape(redact(message))}\n")
    return EXIT_USAGE


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
