"""Report formats (golden files, JSON schema, JUnit read back by a JUnit library, HTML
rendered by headless Chromium), waivers, --fail-on, run state, colour."""

from __future__ import annotations

import datetime
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
import yaml
from helpers import cli
from helpers.store_suite import CHECKS as STORE_CHECKS
from helpers.all import need
from helpers.storegen import StoreFixture, file_name

from sdcheck.escape import Redactor
from sdcheck.model import CheckOutcome, Finding, RunResult, Severity, Status

GOLDEN = Path(__file__).parent / "golden"
SECRET = "hunter2-Secret"


def fixed_result() -> RunResult:
    """A fixed set of findings: every status, a diff, hostile host values, a secret."""
    r = RunResult("mon", "chosen with --profile", "/etc/sdcheck/mon.yml")
    r.info["iptables backend"] = "the 'iptables' command uses nft; holding rules: nft"
    r.outcomes = [
        CheckOutcome("iptables.ruleset", "The whole firewall ruleset matches the baseline", Severity.HIGH, [
            Finding("iptables.ruleset", Status.FAIL, Severity.CRITICAL,
                    "filter/INPUT: unexpected rule #1 accepts traffic before the catch-all drop: -A INPUT -j ACCEPT",
                    "filter/INPUT#1", "no such rule", "-A INPUT -j ACCEPT", "Re-run 'securedrop-admin install'.",
                    "filter/INPUT:unexpected", ("--- baseline", "+++ nft", "@@ baseline #1-1, nft #1-2 @@",
                                                "+         1  -A INPUT -j ACCEPT",
                                                "     1    2  -A INPUT -j LOGNDROP"))]),
        CheckOutcome("store.orphan-files", "Every file in the store has its database row", Severity.HIGH, [
            Finding("store.orphan-files", Status.FAIL, Severity.HIGH, "1 file(s) in the store have no database row",
                    "store", "none", "1", "Compare with manage.py.", "orphan",
                    ("1 of 1:", "ABC/1-a\nSystem configuration error: [x] forged\x1b[31m-msg.gpg"))]),
        CheckOutcome("postfix.sasl-passwd", "sasl_passwd is root-only", Severity.HIGH, [
            Finding("postfix.sasl-passwd", Status.ERROR, Severity.HIGH,
                    f"postmap failed near {SECRET} <b>bold</b> & more", "/etc/postfix/sasl_passwd",
                    remedy="Fix it.")]),
        CheckOutcome("postfix.service", "Postfix runs", Severity.HIGH, [
            Finding("postfix.service", Status.SKIP, Severity.HIGH, "disabled by postfix_enable_service", "postfix")]),
        CheckOutcome("postfix.relay", "Postfix relays through the relay", Severity.HIGH, [
            Finding("postfix.relay", Status.PASS, Severity.HIGH, "relayhost and SASL settings are as expected",
                    "/etc/postfix/main.cf")]),
        CheckOutcome("postfix.local", "Postfix only sends", Severity.HIGH, [
            Finding("postfix.local", Status.WAIVED, Severity.MEDIUM,
                    "inet_interfaces is all [waived until 2030-01-01: migration]", "/etc/postfix/main.cf:12")]),
    ]
    for o in r.outcomes:
        o.seconds = 0.125
    return r


def _render(fmt: str) -> str:
    from sdcheck.registry import formatter
    from sdcheck.session import Options, Run

    text = formatter(fmt).render(Run(fixed_result(), Redactor([SECRET])), Options())
    if fmt == "json":
        from sdcheck import __version__
        text = text.replace(f'"sdcheck_version": "{__version__}"', '"sdcheck_version": "X"')
    return text


@pytest.mark.parametrize("fmt,ext", [("text", "txt"), ("json", "json"), ("junit", "xml"), ("html", "html"),
                                     ("ossec", "log")])
def test_golden(fmt, ext):
    got = _render(fmt)
    path = GOLDEN / f"report.{ext}"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.write_text(got)
    assert got == path.read_text()
    assert SECRET not in got and "\x1b" not in got


def test_golden_json_validates_against_the_schema():
    import jsonschema

    schema = json.loads((Path(__file__).resolve().parents[1] / "docs" / "report.schema.json").read_text())
    jsonschema.validate(json.loads((GOLDEN / "report.json").read_text()), schema)


def test_junit_is_read_back_by_a_junit_library(tmp_path):
    from junitparser import Error, Failure, JUnitXml, Skipped

    path = tmp_path / "r.xml"
    path.write_text(_render("junit"))
    xml = JUnitXml.fromfile(str(path))
    (suite,) = list(xml)
    cases = {c.name: c for c in suite}
    assert suite.tests == 6 and suite.failures == 2 and suite.errors == 1 and suite.skipped == 1
    assert isinstance(cases["iptables.ruleset"].result[0], Failure)
    assert "accepts traffic before the catch-all drop" in cases["iptables.ruleset"].result[0].message
    assert isinstance(cases["postfix.sasl-passwd"].result[0], Error)
    assert isinstance(cases["postfix.service"].result[0], Skipped)
    assert cases["postfix.relay"].is_passed and cases["postfix.local"].is_passed


def test_html_renders_in_headless_chromium(tmp_path):
    need("chromium", root=False)
    browser = shutil.which("chromium")
    page = tmp_path / "r.html"
    page.write_text(_render("html"))
    res = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                          "--user-data-dir=" + str(tmp_path / "profile"), "--dump-dom", page.as_uri()],
                         capture_output=True, text=True, timeout=120)
    dom = res.stdout
    assert "<section" in dom, res.stderr[-2000:]
    from html.parser import HTMLParser

    class Text(HTMLParser):
        def __init__(self):
            super().__init__()
            self.chunks = []

        def handle_data(self, data):
            self.chunks.append(data)
    parser = Text()
    parser.feed(dom)
    text = " ".join(parser.chunks)
    for f in fixed_result().findings:
        if f.status != Status.PASS:
            assert f.message.replace(SECRET, "[redacted]") in text or "[redacted]" in text
    assert "unexpected rule #1 accepts traffic before the catch-all drop" in text
    assert "<b>bold</b> & more" in text and "<b>" not in dom  # shown as text, never markup
    assert "forged\\x1b[31m" in text and "\x1b" not in dom
    raw = page.read_text()
    import re

    assert "<script" not in raw and "src=" not in raw and not re.search(r'href="(?!#)', raw)  # in-page links only


_SEEN = """(() => {
  const rgb = s => (s.match(/[\\d.]+/g) || []).map(Number);
  const bg = el => { for (let e = el; e; e = e.parentElement) { const c = rgb(getComputedStyle(e).backgroundColor);
      if (c.length >= 3 && (c.length < 4 || c[3] > 0)) return c.slice(0, 3); } return [255, 255, 255]; };
  const texts = [];
  document.querySelectorAll('.finding p, .finding dt, .finding dd, .finding pre, .badge, h2, .summary, .first')
    .forEach(el => { if (!el.textContent.trim()) return;
      const box = el.getBoundingClientRect();
      texts.push({kind: el.closest('.finding') ? 'finding' : el.className || el.tagName, text: el.textContent.slice(0, 50),
                  color: rgb(getComputedStyle(el).color).slice(0, 3), bg: bg(el), shown: box.height > 0 && box.width > 0});
    });
  const sections = [...document.querySelectorAll('section.check')].map(s =>
      [s.id, s.className, s.getBoundingClientRect().top]);
  return {texts, sections, summary: document.querySelector('.summary').getBoundingClientRect().top};
})()"""


def test_html_report_as_a_person_sees_it(tmp_path):
    """Rendered by Chromium: every piece of text readable (WCAG AA contrast, 4.5:1), no finding's
    text on a saturated background, the summary before the details, failures before passes.
    The screenshot is kept in the test's directory (and /tmp/sdcheck-report.png) to look at."""
    from helpers.chromium import Browser, contrast, saturation

    page = tmp_path / "r.html"
    page.write_text(_render("html"))
    browser = Browser(tmp_path / "profile")
    try:
        session = browser.open(page.as_uri())
        seen = browser.evaluate(session, _SEEN)
        browser.screenshot(session, tmp_path / "report.png")
    finally:
        browser.close()
    shutil.copy(tmp_path / "report.png", "/tmp/sdcheck-report.png")
    assert (tmp_path / "report.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    findings = [t for t in seen["texts"] if t["kind"] == "finding"]
    assert len(findings) >= 10
    for t in seen["texts"]:
        assert t["shown"], t
        assert contrast(t["color"], t["bg"]) >= 4.5, t
    for t in findings:
        assert saturation(t["bg"]) < 0.35, t  # a pale tint at most
    tops = [top for _id, _cls, top in seen["sections"]]
    assert seen["summary"] < min(tops)
    statuses = [cls.split("check-")[1] for _id, cls, _top in sorted(seen["sections"], key=lambda s: s[2])]
    problems = [i for i, st in enumerate(statuses) if st in ("fail", "error")]
    others = [i for i, st in enumerate(statuses) if st not in ("fail", "error")]
    assert problems and others and max(problems) < min(others), statuses


# -- the CLI: waivers, --fail-on, state, colour ------------------------------------------

def sdcheck(fx: StoreFixture, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    vars_file = fx.root.parent / "v.yml"
    vars_file.write_text(yaml.safe_dump(fx.vars()))
    return cli.sdcheck(*args, "--profile", "app", "--vars", str(vars_file), "--only", "store", timeout=60, env=dict(os.environ, **(env or {})))


@pytest.fixture
def broken_store(tmp_path):
    fx = StoreFixture(tmp_path / "s", sources=3, per_source=3)
    fs = fx.files[0][0]
    p = fx.path(fs, file_name(50, "msg"))
    p.write_bytes(b"x")
    os.chown(p, fx.uid, fx.uid)
    p.chmod(0o600)  # one orphan file: store.orphan-files fails (high)
    return fx


def _orphan_subject(fx) -> str:
    """What report shows the orphan finding to be about (its subject, else its message)."""
    res = sdcheck(fx, "report", "--format", "json")
    (f,) = [f for f in json.loads(res.stdout)["findings"] if f["check_id"] == "store.orphan-files"
            and f["status"] == "fail"]
    return f["subject"] or f["message"]


def _waivers(tmp_path, *items) -> str:
    path = tmp_path / "waivers.yml"
    path.write_text(yaml.safe_dump({"waivers": list(items)}))
    return str(path)


def test_active_waiver(broken_store, tmp_path):
    w = _waivers(tmp_path, {"check": "store.orphan-files", "subject": _orphan_subject(broken_store),
                            "reason": "being restored (ticket 7)",
                            "expires": datetime.date.today() + datetime.timedelta(days=5)})
    res = sdcheck(broken_store, "run", "--waivers", w)
    assert res.returncode == 0 and res.stdout.startswith("sdcheck: OK:") and "1 waived" in res.stdout
    rep = sdcheck(broken_store, "report", "--waivers", w)
    assert "WAIVED store.orphan-files" in rep.stdout and "being restored (ticket 7)" in rep.stdout
    assert rep.returncode == 0


def test_waiver_with_a_resource_pattern_that_does_not_match_waives_nothing(broken_store, tmp_path):
    w = _waivers(tmp_path, {"check": "store.orphan-files", "resource": "elsewhere*", "reason": "r",
                            "subject": _orphan_subject(broken_store),
                            "expires": datetime.date.today() + datetime.timedelta(days=5)})
    res = sdcheck(broken_store, "run", "--waivers", w)
    assert res.returncode == 1 and "[store.orphan-files]" in res.stdout


def test_expired_waiver_is_reported_and_waives_nothing(broken_store, tmp_path):
    w = _waivers(tmp_path, {"check": "store.orphan-files", "reason": "old ticket", "subject": _orphan_subject(broken_store),
                            "expires": datetime.date.today() - datetime.timedelta(days=1)})
    res = sdcheck(broken_store, "run", "--waivers", w)
    lines = res.stdout.splitlines()
    assert res.returncode == 1
    assert any(ln.startswith("System configuration error: [store.orphan-files]") for ln in lines)
    assert any(ln.startswith("System configuration error: [sdcheck.waivers] (medium) the waiver for store.orphan-files (")
               and " expired on " in ln for ln in lines)


@pytest.mark.parametrize("content,words", [
    ("waivers:\n  - check: store.orphan-files\n    expires: 2030-01-01\n", "needs a 'reason'"),
    ("waivers:\n  - check: store.orphan-files\n    reason: x\n", "needs 'expires' as a date"),
    ("waivers:\n  - check: store.orphan-files\n    reason: x\n    expires: soon\n", "needs 'expires' as a date"),
    ("waivers:\n  - check: no.such-check\n    reason: x\n    expires: 2030-01-01\n", "unknown check 'no.such-check'"),
    ("waivers:\n  - check: store.orphan-files\n    reason: x\n    expires: 2030-01-01\n    colour: red\n",
     "unknown key(s) in a waiver: colour"),
    ("waivers: [\n", "not valid YAML"),
])
def test_malformed_waivers_are_an_error(broken_store, tmp_path, content, words):
    path = tmp_path / "waivers.yml"
    path.write_text(content)
    res = sdcheck(broken_store, "run", "--waivers", str(path))
    assert res.returncode == 2
    assert res.stdout.startswith(f"System configuration error: [sdcheck.config] (critical) {path}:") and words in res.stdout


def test_fail_on_threshold(broken_store):
    assert sdcheck(broken_store, "report", "--fail-on", "critical").returncode == 0
    assert sdcheck(broken_store, "report", "--fail-on", "high").returncode == 1
    broken_store.db.unlink()  # errors count whatever the threshold
    assert sdcheck(broken_store, "report", "--fail-on", "critical").returncode == 1


def test_run_records_state_and_report_warns_when_stale(broken_store, tmp_path):
    state = tmp_path / "state.json"
    res = sdcheck(broken_store, "run", "--state", str(state))
    data = json.loads(state.read_text())
    assert data["exit"] == res.returncode == 1 and data["checks"]["store.orphan-files"] == "fail"
    assert (state.stat().st_mode & 0o777) == 0o600
    rep = sdcheck(broken_store, "report", "--state", str(state))
    assert "last 'sdcheck run':" in rep.stdout and "PASS   sdcheck.state" in rep.stdout
    data["finished"] = time.time() - 3 * 86400
    state.write_text(json.dumps(data))
    rep = sdcheck(broken_store, "report", "--state", str(state))
    assert "FAIL   sdcheck.state" in rep.stdout and "sdcheck run last ran 72 h ago" in rep.stdout
    state.unlink()
    rep = sdcheck(broken_store, "report", "--state", str(state))
    assert "no run has been recorded" in rep.stdout


def test_unrecordable_state_is_an_alert_line(broken_store, tmp_path):
    fx = broken_store
    fx.path(fx.files[0][0], file_name(50, "msg")).unlink()  # a clean store again
    res = sdcheck(fx, "run", "--state", str(tmp_path / "no-such-dir" / "state.json"))
    assert res.returncode == 1
    assert res.stdout.startswith("System configuration error: [sdcheck.state] (high) cannot record the run")
    assert "sdcheck: OK" not in res.stdout


def _in_pty(argv: list[str], env: dict) -> str:
    import pty

    pid, fd = pty.fork()
    if pid == 0:
        os.execve(argv[0], argv, env)
    chunks = []
    while True:
        try:
            data = os.read(fd, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    os.waitpid(pid, 0)
    return b"".join(chunks).decode("utf-8", "replace")


def test_colour_only_on_a_terminal_and_never_with_no_color(broken_store):
    vars_file = broken_store.root.parent / "v.yml"
    vars_file.write_text(yaml.safe_dump(broken_store.vars()))
    argv = [*cli.SDCHECK, "report", "--profile", "app", "--vars", str(vars_file),
            "--only", "store"]
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1])
    assert "\x1b[31m" in _in_pty(argv, env)
    assert "\x1b[" not in _in_pty(argv, dict(env, NO_COLOR="1"))
    assert "\x1b" not in sdcheck(broken_store, "report").stdout  # a pipe


def test_several_hosts_junit_has_a_suite_per_host_and_html_is_refused(broken_store, tmp_path):
    from junitparser import JUnitXml

    res = sdcheck(broken_store, "report", "--hosts", "local://,local://", "--format", "junit")
    assert res.returncode == 1
    path = tmp_path / "hosts.xml"
    path.write_text(res.stdout)
    suites = list(JUnitXml.fromfile(str(path)))
    assert [s.name for s in suites] == ["sdcheck (local://, app)"] * 2
    assert all(s.failures == 1 and s.tests == len(STORE_CHECKS) for s in suites)
    res = sdcheck(broken_store, "report", "--hosts", "local://", "--format", "html")
    assert res.returncode == 2 and "--format html covers one host" in res.stderr


LONG_FIX = ("As root: 'sudo -u www-data bash -c \"cd /var/www/securedrop && ./manage.py "
            "list-disconnected-fs-submissions --store-dir /var/lib/securedrop/store\"' then restore "
            "/var/lib/securedrop/store/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
            "/1-msg.gpg from the backup.")


def test_text_report_never_breaks_a_command_or_a_path_and_ends_quietly_in_head():
    """What the report says to run or to look at can be copied from the terminal: a quoted
    command stays on one line, a path longer than the line stands alone, whole."""
    import subprocess

    from sdcheck.formatters import text
    from sdcheck.session import Options, Run

    r = fixed_result()
    r.outcomes[0].findings[0] = r.outcomes[0].findings[0]._replace(remedy=LONG_FIX)
    out = text.render(Run(r, Redactor([SECRET])), Options())
    command = LONG_FIX[LONG_FIX.index("'"):LONG_FIX.rindex("'") + 1]
    assert any(command in line for line in out.splitlines()), out
    path = next(t for t in LONG_FIX.split() if t.startswith("/var/lib/securedrop/store/AAA"))
    assert any(line.strip() == path for line in out.splitlines())
    # no other line is over the width, and every word of the fix is whole on some line
    assert all(len(line) <= 80 for line in out.splitlines() if command not in line and path not in line)
    words = {w for line in out.splitlines() for w in line.split()}
    assert set(LONG_FIX.split()) <= words
    # read through 'head': the rest of the report is dropped without a word from sdcheck
    res = subprocess.run(f"{' '.join(cli.SDCHECK)} report --profile app --only system | head -3", shell=True,
                         capture_output=True, text=True, timeout=60, executable="/bin/bash")
    assert len(res.stdout.splitlines()) == 3 and res.stderr == ""


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.text(alphabet="abc/-_.", min_size=1, max_size=120),
                          st.text(alphabet="ab c", min_size=1, max_size=60).map(lambda t: f"'{t}'")),
                min_size=1, max_size=30))
def test_wrapping_keeps_every_token_whole(tokens):
    from sdcheck.formatters.text import WIDTH, _wrap

    text = " ".join(tokens)
    lines = _wrap(text, "    ")
    assert " ".join(" ".join(lines).split()) == " ".join(text.split())  # nothing lost, nothing split
    for t in tokens:
        assert any(t in line for line in lines), t  # each token (a quoted one too) on one line
    for line in lines:
        assert len(line) <= WIDTH or len(line.split()) == 1 or any(len(t) + 6 > WIDTH for t in tokens)


def test_several_formats_in_one_run_with_host_and_time_in_each(tmp_path):
    import xml.etree.ElementTree as ET

    j, x, h = tmp_path / "r.json", tmp_path / "r.xml", tmp_path / "r.html"
    res = cli.sdcheck("report", "--profile", "app", "--only", "system.sysctl", "--format", "text",
                      "--format", f"json:{j}", "--format", f"junit:{x}", "--format", f"html:{h}")
    assert res.returncode in (0, 1), res.stderr
    assert "host: " in res.stdout and "time: " in res.stdout and "system.sysctl" in res.stdout
    info = json.loads(j.read_text())["info"]
    assert info["host"] and info["time"].endswith("UTC") and info["vars file"]
    suite = ET.parse(x).getroot().find("testsuite")
    assert suite.get("hostname") == info["host"] and suite.get("timestamp")
    assert info["host"] in h.read_text() and info["time"] in h.read_text()
    for path in (j, x, h):
        assert oct(path.stat().st_mode & 0o777) == "0o600"
    res = cli.sdcheck("report", "--profile", "app", "--format", "text", "--format", "json")
    assert res.returncode == 2 and "only one --format may go to standard output" in res.stderr
