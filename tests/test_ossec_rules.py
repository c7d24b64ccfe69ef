"""The shipped OSSEC rules, read as XML and evaluated with OSSEC's regex dialect, against
lines that sdcheck really prints."""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from helpers import cli
from helpers.ossec_engine import evaluate, event_for, load_rules
from hypothesis import given, settings
from hypothesis import strategies as st

from sdcheck.escape import Redactor
from sdcheck.formatters import ossec
from sdcheck.model import CheckOutcome, Finding, RunResult, Severity, Status

ROOT = Path(__file__).resolve().parents[1]
RULES = load_rules(ROOT / "ossec_rules" / "local_rules.xml")
SECUREDROP_IDS = [(100001, 110030), (199996, 300001), (400001, 400901)]
ALLOWED = {"if_sid", "match", "regex", "description", "options", "group"}


def level(line: str) -> int:
    rule = evaluate(RULES, event_for(line))
    assert rule is not None
    return rule["level"]


def test_rule_ids_are_in_our_block_and_do_not_collide():
    ids = [r["id"] for r in RULES]
    assert len(ids) == len(set(ids))
    for rid in ids:
        assert 401100 <= rid <= 401199
        assert not any(lo <= rid <= hi for lo, hi in SECUREDROP_IDS)


def test_rules_are_well_formed():
    known = {530} | {r["id"] for r in RULES}
    for r in RULES:
        assert r["if_sid"] and set(r["if_sid"]) <= known
        assert set(r["elements"]) <= ALLOWED, r["elements"]
        assert r["description"]
        if r["level"] >= 12:
            assert r["options"] == "alert_by_email"


def test_localfile_snippets():
    for profile in ("app", "mon"):
        el = ET.fromstring((ROOT / "ossec_rules" / f"localfile-{profile}.xml").read_text().split("-->", 1)[1])
        assert el.findtext("log_format") == "command"
        assert el.findtext("alias") == "sdcheck"
        assert el.findtext("frequency") == "90000"
        command = el.findtext("command")
        assert f"/opt/sdcheck/bin/sdcheck run --profile {profile} --state /var/lib/sdcheck/state.json " in command
        assert " 2>/dev/stdout;" in command  # OSSEC reads standard output only


def _lines_of_real_run(args: list[str]) -> list[str]:
    res = cli.sdcheck(*args, timeout=60)
    return res.stdout.splitlines()


def test_real_error_lines_alert_at_level_12(tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text("sdcheck_baseline: 1\nprofile: app\nchecks:\n  iptables.default-drop:\n    nope: 1\n")
    samples = (_lines_of_real_run(["run", "--bogus"])
               + _lines_of_real_run(["run", "--baseline", str(bad)]))
    assert len(samples) == 2
    for line in samples:
        assert line.startswith("System configuration error: ")
        assert level(line) == 12
        assert evaluate(RULES, event_for(line))["id"] in (401101, 401102)


def test_success_line_raises_nothing():
    result = RunResult("app", "test", "x")
    result.outcomes = [CheckOutcome("iptables.default-drop", "t", Severity.HIGH,
                                    [Finding("iptables.default-drop", Status.PASS, Severity.HIGH, "ok")])]
    (line,) = ossec.lines(result, Redactor())
    assert "error" not in line.lower()
    assert level(line) == 1  # logged for the heartbeat, below SecureDrop's email_alert_level (7)
    assert evaluate(RULES, event_for(line))["options"] is None


def test_unexpected_output_alerts():
    for line in ("Traceback (most recent call last):", "  File \"x\", line 1", "Killed",
                 "/usr/bin/env: 'python3': No such file or directory", "sdcheck: OK"):
        assert level(line) == 12, line


def test_other_commands_are_not_ours():
    assert evaluate(RULES, event_for("System configuration error: x", alias="other"))["id"] == 530


messages = st.text(min_size=0, max_size=300)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(messages, st.sampled_from(["a", "b", "c"]), st.sampled_from(list(Status))),
                min_size=1, max_size=30))
def test_every_rendered_problem_line_alerts(items):
    result = RunResult("app", "test", "x")
    findings = [Finding("iptables.default-drop", status, Severity.HIGH, msg, resource=res)
                for msg, res, status in items]
    result.outcomes = [CheckOutcome("iptables.default-drop", "t", Severity.HIGH, findings)]
    lines = ossec.lines(result, Redactor())
    problem = any(f.status.is_problem for f in findings)
    for line in lines:
        assert "\n" not in line and "\r" not in line
        assert len(line.encode("utf-8", "surrogatepass")) <= ossec.MAX_LINE_BYTES
        assert level(line) == (12 if problem else 1)
    assert (len(lines) <= 3) if problem else len(lines) == 1


# -- the <localfile> command, run as written, fails closed ------------------------------------

def _command(profile: str) -> str:
    el = ET.fromstring((ROOT / "ossec_rules" / f"localfile-{profile}.xml").read_text().split("-->", 1)[1])
    return el.findtext("command")


def _as_ossec_runs_it(command: str, program: str) -> list[str]:
    """The command through /bin/sh as OSSEC's command monitor runs it (popen: standard
    output only), with sdcheck's path replaced by ``program``."""
    assert command.count("/opt/sdcheck/bin/sdcheck ") == 1
    res = subprocess.run(["/bin/sh", "-c", command.replace("/opt/sdcheck/bin/sdcheck ", program + " ")],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, timeout=60)
    return [ln for ln in res.stdout.split("\n") if ln]


def _fake(tmp_path, body: str) -> str:
    path = tmp_path / "sdcheck"
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(0o755)
    return str(path)


@pytest.mark.parametrize("profile", ["app", "mon"])
@pytest.mark.parametrize("case,body", [
    ("missing", None),
    ("killed", "kill -9 $$"),
    ("crash on stderr", "echo 'Traceback (most recent call last):' >&2; exit 3"),
    ("silent exit 1", "exit 1"),
    ("silent exit 0", "exit 0"),
    ("silent exit 2", "exec >&-; exit 2"),
])
def test_the_command_alerts_when_sdcheck_cannot_run(tmp_path, profile, case, body):
    program = str(tmp_path / "no-such-sdcheck") if body is None else _fake(tmp_path, body)
    lines = _as_ossec_runs_it(_command(profile), program)
    assert lines, f"{case}: OSSEC would see nothing"
    assert max(level(ln) for ln in lines) == 12, lines
    if case.startswith("silent"):
        assert lines == ["System configuration error: [sdcheck.silent] sdcheck printed nothing; run sdcheck "
                         "report on the server"]
    elif case != "crash on stderr":
        assert any(ln.startswith("System configuration error: [sdcheck.crash]") for ln in lines)


@pytest.mark.parametrize("profile", ["app", "mon"])
def test_the_command_stays_quiet_when_all_is_well(tmp_path, profile):
    program = _fake(tmp_path, "echo 'sdcheck: OK: 5 checks passed (profile app)'; exit 0")
    lines = _as_ossec_runs_it(_command(profile), program)
    assert lines == ["sdcheck: OK: 5 checks passed (profile app)"]
    assert level(lines[0]) == 1


def test_rule_descriptions_fit_a_mail_subject():
    for rule in RULES:
        assert len(rule["description"]) < 80, rule["description"]


def test_run_never_prints_an_empty_line():
    for args in (["run", "--profile", "app", "--only", "store"], ["run", "--profile", "nosuch"]):
        out = cli.sdcheck(*args, timeout=60).stdout
        assert out.endswith("\n") and "" not in out[:-1].split("\n"), repr(out)


def test_a_check_stuck_holding_the_gil_still_gives_ossec_a_line():
    """A regex with catastrophic backtracking (C code, GIL held) stands in for any such hang:
    no Python timer can interrupt it; the watchdog process ends the run with an alert line."""
    code = ("import re, sys\n"
            "from sdcheck.plugins.iptables.checks import backends as checks\n"
            "def stuck(self):\n"
            "    re.match(r'(x+x+)+y', 'x' * 64)\n"
            "    yield from ()\n"
            "checks.Backends.run = stuck\n"
            "from sdcheck.cli import main\n"
            "sys.exit(main(['run', '--profile', 'app', '--only', 'iptables.backends']))\n")
    start = __import__("time").monotonic()
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=90,
                         env=dict(__import__("os").environ, SDCHECK_DEADLINE="5"))
    took = __import__("time").monotonic() - start
    assert took < 60
    (line,) = res.stdout.splitlines()
    assert line.startswith("System configuration error: [sdcheck.hang] (critical) sdcheck did not finish within 5 s")
    assert level(line) == 12
