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


def _error(cls: type[Check], message: str) -> Finding:
    return Finding(check_id=cls.id, status=Status.ERROR, severity=max(cls.severity, Severity.HIGH),
                   message=message, remedy="Run 'sdcheck report' on the server for details; "
                   "the check could not tell whether the configuration is right.",
                   group="sdcheck")


def _run_one(cls: type[Check], ctx: Context, out: dict, key: str) -> None:
    start = time.monotonic()
    try:
        findings = list(cls(ctx).run() or ())
        bad = [f for f in findings if not isinstance(f, Finding) or f.check_id != cls.id]
        if bad:
            findings = [_error(cls, "the check returned malformed results (a bug in sdcheck)")]
        elif not findings:
            findings = [_error(cls, "the check returned no result (a bug in sdcheck)")]
    except FactError as exc:
        findings = [_error(cls, f"the check could not run: {exc}")]
    except Exception as exc:  # noqa: BLE001 - any failure is an ERROR finding
        findings = [_error(cls, f"the check failed unexpectedly ({type(exc).__name__}: "
                                f"{exc})")]
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
            findings = [_error(cls, f"the check did not finish within {limit:g} s")]
            seconds = limit
        else:
            findings, seconds = results[cls.id]
        outcomes.append(CheckOutcome(cls.id, cls.title, cls.severity, findings, seconds))
    return outcomes
