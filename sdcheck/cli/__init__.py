"""Command line: ``sdcheck run | report | list | explain | baseline capture``.

Exit codes (shared by run and report):
  0  every selected check passed (or was skipped)
  1  at least one check found a problem (FAIL) or could not run (ERROR)
  2  sdcheck itself could not run: bad arguments, bad baseline or vars file, broken plugin
     (the error's kind, sdcheck/errors.py, names it: usage, config, plugins, profile,
     internal)
A reader that goes away before the output is written (``sdcheck list | head``) ends it
quietly with exit 0: the output was cut by the reader, not by sdcheck.

``run`` is what OSSEC executes: everything it has to say, including its own failures,
goes to standard output as lines OSSEC's rules understand (see formatters/ossec.py).
"""

from __future__ import annotations

import os
import sys

from sdcheck.cli.parser import parse_args
from sdcheck.errors import EXIT_FINDINGS, EXIT_OK, EXIT_USAGE, UsageError

DEADLINE = 1200.0  # seconds a whole 'run' may take (the longest check limit is 900 s)


def _options(args):
    """The session's options from parsed arguments (progress and colour on a terminal)."""
    from sdcheck.session import Options

    opts = Options.from_namespace(args)
    if args.command == "report":
        if sys.stderr.isatty():
            opts.progress = _progress
        opts.colour = args.output is None and sys.stdout.isatty() and not os.environ.get("NO_COLOR")
    return opts


def _execute(args, opts):
    """Run the checks; the redactor reaches ``args`` as soon as the secrets are known, so
    that even a failure while loading cannot print them."""
    from sdcheck.session import execute

    def keep(redactor):
        args._redact = redactor
    run = execute(opts, None, keep)
    args._redact = run.redact
    return run


def _progress(done: int, total: int) -> None:
    """Progress of a long scan, on the terminal only (report), overwritten in place."""
    sys.stderr.write(f"\rscanning: {done}/{total} source directories" + ("\n" if done >= total else ""))
    sys.stderr.flush()


def cmd_run(args) -> int:
    from sdcheck.cli import watchdog

    dog = watchdog.start(float(os.environ.get("SDCHECK_DEADLINE", DEADLINE)))
    try:
        return _run(args)
    finally:
        if dog is not None:
            dog.stop()


def _run(args) -> int:
    from sdcheck.formatters import ossec
    from sdcheck.session import exit_code

    _no_symlink("--state", args.state)
    run = _execute(args, _options(args))
    code = exit_code(run, args.fail_on)
    if args.state:
        from sdcheck.state import StateError, record, state_error

        try:
            record(args.state, run.result, code)
        except StateError as exc:  # a run that cannot be recorded will look stale: say so now
            run.result.outcomes.append(state_error(str(exc)))
            code = EXIT_FINDINGS
    sys.stdout.write(ossec.render(run, None))
    return code


def cmd_report(args) -> int:
    from sdcheck.session import add_report_info, add_state, exit_code

    outputs = _formats(args)  # [(formatter module, name, file or None)], checked before anything runs
    _no_symlink("--state", args.state)
    for _fmt, _name, path in outputs:
        _no_symlink("--output", path)
    opts = _options(args)
    colour = opts.colour
    if args.hosts:
        from sdcheck.cli.hosts import render_hosts, run_hosts

        runs = run_hosts(args, opts, [fmt for fmt, _n, _p in outputs])
        code = max((exit_code(run, args.fail_on) for run in runs), default=EXIT_OK)
        for fmt, _name, path in outputs:
            opts.colour = colour and path is None  # colour only on the terminal
            _emit(path, render_hosts(fmt, runs, opts))
        return code
    run = _execute(args, opts)
    add_report_info(run)
    add_state(opts, run)
    for fmt, _name, path in outputs:
        opts.colour = colour and path is None
        _emit(path, fmt.render(run, opts))
    return exit_code(run, args.fail_on)


def _formats(args) -> list:
    """``--format NAME[:FILE]`` (repeatable, as InSpec's reporters): at most one without a
    file, which goes to --output or standard output."""
    from sdcheck.registry import formatter, formatter_names

    out, seen_plain = [], False
    for spec in args.format or ["text"]:
        name, sep, path = spec.partition(":")
        if name not in formatter_names():
            raise UsageError(f"unknown format {name!r} (choose {', '.join(formatter_names())})")
        if sep and not path:
            raise UsageError(f"--format {spec}: the file name is missing")
        if not sep:
            if seen_plain:
                raise UsageError("only one --format may go to standard output (or --output); give the others "
                                 "a file: --format json:report.json")
            seen_plain, path = True, args.output
        out.append((formatter(name), name, path or None))
    return out


def _no_symlink(option: str, path: str | None) -> None:
    """--output and --state are written as root: never through a symlink someone left there."""
    if path and os.path.islink(path):
        raise UsageError(f"{option} {path} is a symlink: sdcheck does not write or read through one")


def _emit(path: str | None, text: str) -> None:
    """Write ``text`` to ``--output`` (never through a symlink) or standard output."""
    if path:
        _no_symlink("--output", path)
        import stat

        try:
            # no truncation before the checks: a FIFO or device is refused at once, not written to
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, 0o600)
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                os.close(fd)
                raise UsageError(f"cannot write the report to {path}: not a regular file")
            os.fchmod(fd, 0o600)  # reports hold source ids and host details
            os.ftruncate(fd, 0)
            os.set_blocking(fd, True)
            with os.fdopen(fd, "w", encoding="utf-8", errors="surrogateescape") as fh:
                fh.write(text)
        except OSError as exc:
            raise UsageError(f"cannot write the report to {path}: {exc.strerror or exc}") from None
    else:
        sys.stdout.write(text)


def cmd_list(args) -> int:
    from sdcheck.baseline import PROFILES, bundled_path, load_baseline
    from sdcheck.startup import catalog_listing

    if args.profile and args.profile not in PROFILES:
        raise UsageError(f"unknown profile {args.profile!r} (choose {' or '.join(PROFILES)})")
    lines = catalog_listing(args.profile)
    if lines is not None:
        sys.stdout.write("".join(lines))
        return EXIT_OK
    from sdcheck.registry import load_checks

    classes = load_checks()
    enabled = {p: set(load_baseline(bundled_path(p)).checks) for p in PROFILES}
    for cid, cls in classes.items():
        profiles = [p for p in PROFILES if cid in enabled[p]]
        if args.profile and args.profile not in profiles:
            continue
        sys.stdout.write(f"{cid:28} {str(cls.severity):8} {cls.title}  (profiles: {', '.join(profiles) or 'none'})\n")
    return EXIT_OK


def cmd_explain(args) -> int:
    from sdcheck.docs import explain
    from sdcheck.registry import load_checks

    cls = load_checks([args.check_id]).get(args.check_id)
    if cls is None:
        from sdcheck.session import did_you_mean

        hint = did_you_mean([args.check_id], list(load_checks()), prefixes=False)
        raise UsageError(f"unknown check {args.check_id!r} (see 'sdcheck list'){hint}")
    sys.stdout.write(explain(cls))
    return EXIT_OK


def cmd_baseline(args) -> int:
    from sdcheck.check import Context
    from sdcheck.host.local import LocalFacts
    from sdcheck.registry import plugin_hook

    if args.action == "render":
        from sdcheck.cli.render import render_baseline

        _emit(args.output, render_baseline(args))
        return EXIT_OK
    if args.what is None:
        raise UsageError("baseline capture needs what to capture: iptables")
    capture = plugin_hook(args.what, "capture")  # a plugin's capture(ctx, **options) -> baseline text
    if capture is None:
        raise UsageError(f"the {args.what} plugin cannot capture a baseline")
    from sdcheck.profile import chosen_profile

    facts = LocalFacts()
    profile = chosen_profile(args.profile, facts, " (the capture extends that profile)")
    text = capture(Context(facts, profile, {}), family=args.family, backend=args.backend, profile=profile)
    _emit(args.output, text)
    return EXIT_OK


def cmd_vars(args) -> int:
    from sdcheck.cli.vars_init import vars_init

    sys.stdout.write(vars_init(args))
    return EXIT_OK


COMMANDS = {"run": cmd_run, "report": cmd_report, "list": cmd_list, "explain": cmd_explain,
            "baseline": cmd_baseline, "vars": cmd_vars}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    running = bool(argv) and argv[0] == "run"
    # whatever the locale: 'run' prints ASCII only, and a report escapes what cannot be shown
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.reconfigure(errors="backslashreplace")  # type: ignore[union-attr]  # a TextIOWrapper here
        except (AttributeError, ValueError):
            pass
    args = None
    try:
        args = parse_args(argv)
        args._redact = None
        if not getattr(args, "command", None):
            raise UsageError("a command is required: run, report, list, explain or baseline")
        if hasattr(args, "only"):
            args.only = list(args.only) + list(getattr(args, "select", []) or [])
        code = COMMANDS[args.command](args)
        sys.stdout.flush()
        return code
    except BrokenPipeError:
        return _closed_pipe()
    except Exception as exc:  # noqa: BLE001 - every failure ends as one line and exit 2
        return _fail(exc, running, getattr(args, "_redact", None), debug="--debug" in argv)


def _closed_pipe() -> int:
    """The reader went away (``sdcheck list | head``): stop quietly, as other tools do."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # the interpreter's final flush must not fail again
    except OSError:
        pass
    return EXIT_OK


def _fail(exc: BaseException, running: bool, redact, debug: bool) -> int:
    from sdcheck.errors import kind_of
    from sdcheck.escape import Redactor, clean
    from sdcheck.formatters.ossec import error_line

    redact = redact or Redactor()
    kind = kind_of(exc)
    if kind != "internal":
        message = str(exc)
    else:
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
