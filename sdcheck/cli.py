"""Command line: ``sdcheck run | report | list | explain | baseline capture``.

Exit codes (shared by run and report):
  0  every selected check passed (or was skipped)
  1  at least one check found a problem (FAIL) or could not run (ERROR)
  2  sdcheck itself could not run: bad arguments, bad baseline or vars file, broken plugin

``run`` is what OSSEC executes: everything it has to say, including its own failures,
goes to standard output as lines OSSEC's rules understand (see formatters/ossec.py).
Start-up is kept cheap: argparse and the selected plugins; yaml only for a vars file or a
baseline that is not one of the bundled ones (those are precompiled).
"""

from __future__ import annotations

import os
import sys


def _argparse():
    """argparse, imported without gettext when nothing has imported gettext yet: gettext
    compiles a regex at import and looks for translation catalogues (importing locale) on
    each message argparse prepares, ~4 ms of a 40 ms start-up. sdcheck's messages are English
    and Debian ships no catalogue for argparse's, so its strings are used as they are."""
    if "argparse" in sys.modules or "gettext" in sys.modules:
        import argparse
        return argparse
    import types

    plain = types.ModuleType("gettext")
    plain.gettext = lambda message: message
    plain.ngettext = lambda singular, plural, n: singular if n == 1 else plural
    sys.modules["gettext"] = plain
    try:
        import argparse
    finally:
        del sys.modules["gettext"]  # anyone else importing gettext gets the real one
    return argparse


argparse = _argparse()

from sdcheck import __version__

from sdcheck.session import DEFAULT_VARS, UsageError

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2


class _Formatter(argparse.HelpFormatter):
    """argparse's formatter with the width found without shutil: argparse builds one for
    every argument it adds, and importing shutil (bz2, lzma) costs ~2 ms of start-up."""

    def __init__(self, prog, **kw):
        if kw.get("width") is None:
            try:
                columns = int(os.environ.get("COLUMNS", "")) or os.get_terminal_size(sys.stdout.fileno()).columns
            except (ValueError, OSError):
                columns = 80
            kw["width"] = max(columns, 40) - 2
        super().__init__(prog, **kw)


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args, **kw):
        kw.setdefault("formatter_class", _Formatter)
        super().__init__(*args, **kw)

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

def _options(args):
    """The session's options from parsed arguments (progress on a terminal, for report)."""
    from sdcheck.session import Options

    opts = Options.from_namespace(args)
    if args.command == "report" and sys.stderr.isatty():
        opts.progress = _progress
    return opts


def _execute(args, facts=None):
    """Run the checks; the redactor reaches ``args`` as soon as the secrets are known, so
    that even a failure while loading cannot print them."""
    from sdcheck.session import execute

    def keep(redactor):
        args._redact = redactor
    return execute(_options(args), facts, keep)


def _progress(done: int, total: int) -> None:
    """Progress of a long scan, on the terminal only (report), overwritten in place."""
    sys.stderr.write(f"\rscanning: {done}/{total} source directories" + ("\n" if done >= total else ""))
    sys.stderr.flush()


def _merge_select(args) -> None:
    args.only = list(args.only) + list(getattr(args, "select", []) or [])


DEADLINE = 1200.0  # seconds a whole 'run' may take (the longest check limit is 900 s)


def _watchdog(deadline: float) -> int | None:
    """A forked process that waits for ``deadline`` seconds; if 'run' has not finished by
    then (stuck in C code that holds the GIL, where no Python timer can fire), it kills
    'run' and prints the alert line itself, so OSSEC never gets silence. Returns its pid."""
    sys.stdout.flush()
    try:
        pid = os.fork()
    except OSError:
        return None
    if pid:
        return pid
    try:  # the watchdog: nothing of sdcheck's, plain system calls only
        import signal
        import time

        parent = os.getppid()
        time.sleep(deadline)
        os.kill(parent, signal.SIGKILL)
        os.write(1, (f"System configuration error: [sdcheck.hang] sdcheck did not finish within {deadline:g} s "
                     "and was stopped; run 'sdcheck report --debug' on the server\n").encode())
    finally:
        os._exit(0)


def cmd_run(args) -> int:
    from sdcheck.formatters import ossec
    from sdcheck.session import exit_code

    watchdog = _watchdog(float(os.environ.get("SDCHECK_DEADLINE", DEADLINE)))
    try:
        return _run(args, ossec, exit_code)
    finally:
        if watchdog:
            import signal

            os.kill(watchdog, signal.SIGKILL)
            os.waitpid(watchdog, 0)


def _run(args, ossec, exit_code) -> int:
    result, redact, _ctx = _execute(args)
    code = exit_code(result, args.fail_on)
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


def cmd_report(args) -> int:
    from sdcheck.session import add_report_info, add_state, exit_code

    if args.hosts:
        return _report_hosts(args)
    result, redact, ctx = _execute(args)
    add_report_info(result, ctx)
    add_state(_options(args), result, ctx)
    _emit(args.output, _render(args, result, redact))
    return exit_code(result, args.fail_on)


def _report_hosts(args) -> int:
    """One report per testinfra host, checked in parallel: text under a header per host,
    JSON as one document listing the hosts, JUnit as one test suite per host."""
    from concurrent.futures import ThreadPoolExecutor

    from sdcheck.host.testinfra import HostSpecError, expand_specs
    from sdcheck.session import HostOptions, add_report_info, execute_on_host, exit_code

    if args.format == "html":
        raise UsageError("--format html covers one host; with --hosts use text, json or junit")
    try:
        specs = expand_specs([h.strip() for h in args.hosts.split(",") if h.strip()], args.ansible_inventory)
    except HostSpecError as exc:
        raise UsageError(str(exc)) from None
    how = HostOptions(args.ssh_config, args.ssh_identity_file, args.sudo, args.ansible_inventory)
    opts = _options(args)
    with ThreadPoolExecutor(max_workers=min(8, len(specs))) as pool:
        results = list(pool.map(lambda spec: execute_on_host(opts, spec, how), specs))
    code = EXIT_OK
    for spec, (result, _redact, ctx) in zip(specs, results):
        if ctx is not None:
            add_report_info(result, ctx)
        result.info["host"] = spec
        code = max(code, exit_code(result, args.fail_on))
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


def _emit(path: str | None, text: str) -> None:
    """Write ``text`` to ``--output`` or standard output."""
    if path:
        try:
            with open(path, "w", encoding="utf-8", errors="surrogateescape") as fh:
                fh.write(text)
        except OSError as exc:
            raise UsageError(f"cannot write the report to {path}: {exc.strerror or exc}") from None
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
    from sdcheck.registry import plugin_settings

    shared = [(name, opt) for name, (plugin, opt) in plugin_settings().items() if plugin == cls.id.split(".")[0]]
    if shared:
        print("Site variables its plugin reads (vars file or --var):")
        for name, opt in shared:
            print(f"  {name}: default {opt.default!r}" + (f" ({opt.help})" if opt.help else ""))
    return EXIT_OK


def cmd_baseline(args) -> int:
    from sdcheck.check import Context
    from sdcheck.host.local import LocalFacts
    from sdcheck.registry import plugin_hook

    capture = plugin_hook(args.what, "capture")  # a plugin's capture(ctx, **options) -> baseline text
    if capture is None:
        raise UsageError(f"the {args.what} plugin cannot capture a baseline")
    text = capture(Context(LocalFacts(), "captured", {}), family=args.family, backend=args.backend)
    _emit(args.output, text)
    return EXIT_OK


COMMANDS = {"run": cmd_run, "report": cmd_report, "list": cmd_list, "explain": cmd_explain,
            "baseline": cmd_baseline}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    running = bool(argv) and argv[0] == "run"
    # whatever the locale: 'run' prints ASCII only, and a report escapes what cannot be shown
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.reconfigure(errors="backslashreplace")
        except (AttributeError, ValueError):
            pass
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
    from sdcheck.escape import Redactor, clean

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
                    sys.stderr.write(clean(part, redact, 2048) + "\n")
    if running:
        sys.stdout.write(error_line(f"sdcheck.{kind}", message, redact) + "\n")
    else:
        sys.stderr.write(f"sdcheck: error: {clean(message, redact, 2048)}\n")
    return EXIT_USAGE


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
