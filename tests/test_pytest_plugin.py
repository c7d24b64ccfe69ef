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
    assert "sdcheck[local://]::iptables.default-drop FAILED" in out or "FAILED" in out
    assert "[redacted] chain does not exist" in out  # the finding is there, its secret is not
    assert "FIXTURE <sdcheck Run" in out
    assert SECRET not in out
    junit = xml.read_text(encoding="utf-8")
    assert "[redacted] chain does not exist" in junit
    assert SECRET not in junit and SECRET.replace(":", "&#58;") not in junit
