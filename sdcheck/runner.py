"""Runs checks concurrently, each with a time limit.

Fail closed: a check that raises, returns nothing, returns something that is not a
Finding, or overruns its time becomes an ERROR finding. Nothing a check does can crash
the run or turn into a pass.
"""

from __future__ import annotations

import threading
import time

from sdcheck.check import Check, Context
from sdcheck.host.base import FactError
from sdcheck.model import CheckOutcome, Finding, Severity, Status


def _error(cls: type[Check], message: str, ctx: Context | None = None) -> Finding:
    return Finding(check_id=cls.id, status=Status.ERROR, severity=max(cls.severity, Severity.HIGH),
                   message=message, remedy=_error_remedy(cls.id, message, ctx), group="sdcheck")


def _error_remedy(check_id: str, message: str, ctx: Context | None) -> str:
    """Advice that is not circular: without root, say to run as root; otherwise what to do
    about the thing the message names."""
    import os

    local = ctx is not None and getattr(ctx.facts, "is_local", False)
    if local and os.geteuid() != 0:
        return ("Run sdcheck as root ('sudo sdcheck report'): it reads files and asks programs that only "
                "root may; as another user this check cannot tell whether the configuration is right.")
    if "bug in sdcheck" in message or "failed unexpectedly" in message:
        return (f"Run 'sdcheck report --debug --only {check_id}' and report the traceback "
                "to sdcheck's developers; the check could not tell whether the configuration is right.")
    return ("Fix what the message names (a missing program, a file that cannot be read, a command that hung), "
            f"then run 'sdcheck report --only {check_id}' again; until then this check cannot tell whether the "
            "configuration is right.")


def _run_one(cls: type[Check], ctx: Context, out: dict, key: str) -> None:
    start = time.monotonic()
    try:
        findings = list(cls(ctx).run() or ())
        bad = [f for f in findings if not isinstance(f, Finding) or f.check_id != cls.id]
        if bad:
            findings = [_error(cls, "the check returned malformed results (a bug in sdcheck)", ctx)]
        elif not findings:
            findings = [_error(cls, "the check returned no result (a bug in sdcheck)", ctx)]
    except FactError as exc:
        findings = [_error(cls, f"the check could not run: {exc}", ctx)]
    except Exception as exc:  # noqa: BLE001 - any failure is an ERROR finding
        findings = [_error(cls, f"the check failed unexpectedly ({type(exc).__name__}: "
                                f"{exc})", ctx)]
    out[key] = (findings, time.monotonic() - start)


def run_checks(classes: list[type[Check]], ctx: Context, time_scale: float = 1.0) -> list[CheckOutcome]:
    results: dict[str, tuple[list[Finding], float]] = {}
    for setup in dict.fromkeys(cls.main_thread_setup for cls in classes if cls.main_thread_setup):
        setup()
    threads = []
    for cls in classes:
        t = threading.Thread(target=_run_one, args=(cls, ctx, results, cls.id),
                             name=f"check:{cls.id}", daemon=True)
        t.start()
        threads.append((cls, t, time.monotonic()))
    outcomes = []
    for cls, t, started in threads:
        limit = cls.timeout * time_scale
        t.join(max(0.0, started + limit - time.monotonic()))
        if t.is_alive() or cls.id not in results:
            findings = [_error(cls, f"the check did not finish within {limit:g} s", ctx)]
            seconds = limit
        else:
            findings, seconds = results[cls.id]
        outcomes.append(CheckOutcome(cls.id, cls.title, cls.severity, findings, seconds))
    return outcomes
