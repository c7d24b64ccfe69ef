"""The pytest plugin shows what 'run' and 'report' show: every finding redacted, in pytest's
failure text, in its JUnit XML, and in the fixture's result."""

from __future__ import annotations

import subprocess
import sys

from helpers.all import render
from helpers.default_drop_suite import log_chain_from

SECRET = "Pa55:w rd-plugin\u00e9"
SUITE = '''
def test_through_the_fixture(host, sdcheck):
    run = sdcheck(host, only=["iptables.default-drop"])
    messages = [f.message for f in run.findings]
    print("FIXTURE", repr(run), messages)
    assert not run.problems, run
'''


def test_failures_junit_and_fixture_are_redacted(netns, tmp_path):
    netns.restore_securedrop("nft", render("iptables-app-prod.j2"))
    base = log_chain_from(tmp_path, "sasl_password", "")
    varsf = tmp_path / "v.yml"
    varsf.write_text(f"sasl_password: '{SECRET}'\n")
    (tmp_path / "test_suite.py").write_text(SUITE)
    xml = tmp_path / "report.xml"
    res = subprocess.run(netns.exec_argv([
        sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-s", "-rA", "--sdcheck",
        "--sdcheck-baseline", str(base), "--sdcheck-vars", str(varsf), "--sdcheck-only", "iptables.default-drop",
        f"--junitxml={xml}", str(tmp_path / "test_suite.py")]), cwd=tmp_path, capture_output=True, text=True,
        timeout=180)
    out = res.stdout + res.stderr
    assert res.returncode == 1, out  # both tests fail: the chain named by the secret does not exist
    assert "FAILED sdcheck[local://-iptables.default-drop]" in out
    assert "[redacted] chain does not exist" in out  # the finding is there, its secret is not
    assert "FIXTURE <sdcheck Run" in out
    assert SECRET not in out
    junit = xml.read_text(encoding="utf-8")
    assert "[redacted] chain does not exist" in junit
    assert SECRET not in junit and SECRET.replace(":", "&#58;") not in junit


MARKED = '''
import pytest


@pytest.mark.sdcheck
def test_marked_by_hand():
    assert True
'''


def _pytest(netns, tmp_path, *args, ini: str | None = None) -> subprocess.CompletedProcess:
    (tmp_path / "test_marked.py").write_text(MARKED)
    if ini is not None:
        (tmp_path / "pytest.ini").write_text(ini)
    argv = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-v", "-rA", *args, str(tmp_path / "test_marked.py")]
    return subprocess.run(netns.exec_argv(argv) if netns else argv, cwd=tmp_path, capture_output=True,
                          text=True, timeout=180)


def test_strict_markers_node_ids_and_ini_options(netns, tmp_path):
    """The marker is registered (--strict-markers passes); the profile and fail-on come from
    the ini file; each check is a test named sdcheck[<host>-<check id>]; a check whose problems
    are all below fail-on is an xfail, not a failure."""
    ini = "[pytest]\nsdcheck_profile = app\nsdcheck_fail_on = critical\n"
    res = _pytest(netns, tmp_path, "--strict-markers", "--sdcheck", "--sdcheck-only", "system.sysctl", ini=ini)
    out = res.stdout + res.stderr
    assert "INTERNALERROR" not in out and res.returncode == 0, out
    assert "sdcheck[local://-system.sysctl] XFAIL" in out, out  # fresh namespace: high problems, not critical
    assert "test_marked_by_hand PASSED" in out
    # the command line wins over the ini file: every problem fails again
    res = _pytest(netns, tmp_path, "--strict-markers", "--sdcheck", "--sdcheck-only", "system.sysctl",
                  "--sdcheck-fail-on", "low", ini=ini)
    assert res.returncode == 1 and "sdcheck[local://-system.sysctl] FAILED" in res.stdout, res.stdout
    # -m sdcheck selects the checks (and tests marked by hand)
    res = _pytest(netns, tmp_path, "--strict-markers", "--sdcheck", "--sdcheck-only", "system.sysctl", "-m",
                  "sdcheck", ini=ini)
    assert "sdcheck[local://-system.sysctl]" in res.stdout and "2 deselected" not in res.stdout


def test_bad_options_are_usage_errors_not_internal_errors(tmp_path):
    cases = [(["--sdcheck", "--sdcheck-profile", "xyz"], "unknown profile 'xyz'"),
             (["--sdcheck", "--sdcheck-profile", "app", "--sdcheck-fail-on", "severe"], "must be one of"),
             (["--sdcheck", "--sdcheck-profile", "app", "--sdcheck-only", "system.sysclt"],
              "--sdcheck-only system.sysclt matches no check of local://; did you mean system.sysctl?"),
             # this machine is neither server: the profile cannot be detected
             (["--sdcheck"], "give --sdcheck-profile app|mon, or sdcheck_profile in the ini file")]
    for args, said in cases:
        res = _pytest(None, tmp_path, *args)
        out = res.stdout + res.stderr
        assert res.returncode == 4 and "INTERNALERROR" not in out, (args, out)  # pytest's usage error
        assert said in out, (args, out)
    res = _pytest(None, tmp_path, "--sdcheck", ini="[pytest]\nsdcheck_profile = nope\n")
    assert res.returncode == 4 and "unknown profile 'nope'" in res.stderr + res.stdout
