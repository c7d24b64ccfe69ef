"""``run --state FILE`` records when sdcheck last ran and what it found; ``report`` reads it
back and warns when that is older than OSSEC's schedule allows: a check that silently
stopped running is the failure nobody sees."""

from __future__ import annotations

import json
import os
import stat
import time

from sdcheck.model import CheckOutcome, Finding, RunResult, Severity, Status

DEFAULT_STATE = "/var/lib/sdcheck/state.json"
SCHEMA = "sdcheck-state"


class StateError(Exception):
    pass


def record(path: str, result: RunResult, exit_code: int, now: float | None = None) -> None:
    now = time.time() if now is None else now
    data = {"schema": SCHEMA, "version": 1, "profile": result.profile, "finished": now,
            "finished_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)), "exit": exit_code,
            "checks": {o.check_id: o.status.value for o in result.outcomes}}
    tmp = f"{path}.tmp-{os.getpid()}"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(data, fh)
        os.replace(tmp, path)
    except OSError as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise StateError(f"cannot record the run in {path}: {exc.strerror or exc}") from None


def state_error(message: str) -> CheckOutcome:
    """'run': the run could not be recorded, so 'report' will find it stale; say so now."""
    f = Finding(check_id="sdcheck.state", status=Status.ERROR, severity=Severity.HIGH, message=message,
                remedy="Make the state file's directory writable by root (see README, OSSEC).")
    return CheckOutcome("sdcheck.state", "sdcheck can record its run", Severity.HIGH, [f])


def check_state(path: str, max_age_hours: float, now: float | None = None) -> tuple[CheckOutcome, str]:
    """An outcome for ``sdcheck.state`` and a one-line summary for the report header."""
    now = time.time() if now is None else now

    def outcome(status: Status, message: str, **kw) -> CheckOutcome:
        f = Finding(check_id="sdcheck.state", status=status, severity=Severity.HIGH, message=message,
                    resource=path, remedy=kw.pop("remedy", ""), **kw)
        return CheckOutcome("sdcheck.state", "sdcheck run has run recently (OSSEC's schedule)",
                            Severity.HIGH, [f])
    remedy = ("Check that OSSEC's command monitor still runs sdcheck: the <localfile> entry with "
              "'sdcheck run --state ...' in /var/ossec/etc/ossec.conf, and 'systemctl status ossec'.")
    try:
        # never through a symlink, never blocking on a FIFO, and only a regular file
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY)
        with os.fdopen(fd, "rb") as fh:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise ValueError("not a regular file")
            data = json.loads(fh.read(1 << 20))
        finished = float(data["finished"])
        exit_code = int(data["exit"])
    except FileNotFoundError:
        return outcome(Status.FAIL, f"no run has been recorded in {path}", remedy=remedy,
                       expected="a recorded run", actual="none"), "never recorded"
    except (OSError, ValueError, KeyError, TypeError):
        return outcome(Status.ERROR, f"the state file {path} cannot be read", remedy=remedy), "unreadable"
    age_h = (now - finished) / 3600
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(finished))
    if finished > now + 300:  # a clock set back, or a file written to look fresh for days
        return outcome(Status.FAIL, f"the recorded run is in the future ({when}, {-age_h:.1f} h ahead): the clock "
                       "was changed or the state file was written by something else", remedy=remedy,
                       expected="a time in the past", actual=when), f"{when} (in the future)"
    said = {0: "all passed", 1: "problems found", 2: "sdcheck could not run"}.get(exit_code, f"exit {exit_code}")
    summary = f"{when} ({age_h:.1f} h ago): {said}"
    if age_h > max_age_hours:
        return outcome(Status.FAIL, f"sdcheck run last ran {age_h:.0f} h ago ({when}), more than the "
                       f"{max_age_hours:g} h OSSEC's schedule allows", remedy=remedy,
                       expected=f"within {max_age_hours:g} h", actual=f"{age_h:.0f} h ago"), summary
    return outcome(Status.PASS, f"sdcheck run last ran {age_h:.1f} h ago ({said})"), summary
