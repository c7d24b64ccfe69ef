"""ossec.heartbeat and the <localfile> against a running OSSEC 3.6.0 (analysisd, logcollector,
maild; built from ../shared/vendor) in namespaces of its own: sdcheck's OK lines from the server
and the agent keep the heartbeat quiet; a host that has not reported is named; sdcheck printing
nothing becomes a mailed alert."""

from __future__ import annotations

import os
import re
import shlex
import time

import pytest
from helpers import cli
from helpers import ossec as real

CHECK = "ossec.heartbeat"
AGENT_KEY = "0" * 64  # a test agent's key (client.keys), never printed by sdcheck


@pytest.fixture(scope="module")
def ossec():
    return real.build()


def _archive_yesterday(ossec, scratch):
    """Yesterday's alerts, archived as ossec-monitord does at midnight: a server running for
    days, past the grace of a fresh install. Its one alert is 30 hours old and not sdcheck's."""
    when = time.time() - 30 * 3600
    day = time.localtime(time.time() - 86400)
    path = (scratch / "logs" / "alerts" / str(day.tm_year) / time.strftime("%b", day)
            / f"ossec-alerts-{day.tm_mday:02d}.log")
    path.parent.mkdir(parents=True, exist_ok=True)
    uid, gid = ossec.ids("ossec")  # analysisd (as ossec) adds today's file to this tree
    for d in (path.parent.parent, path.parent):
        os.chown(d, uid, gid)
    path.write_text(f"** Alert {int(when)}.1: - syslog,\n{time.strftime('%Y %b %d %H:%M:%S', time.localtime(when))} "
                    "mon->/var/log/syslog\nRule: 1002 (level 2) -> 'Unknown problem somewhere in the system.'\n"
                    "an old line\n\n")


def _server(ossec, tmp_path, output: str | None, archive: bool = True):
    """A running Monitor Server; ``output``: what its sdcheck prints (None: no sdcheck <localfile>)."""
    stub = tmp_path / "sdcheck-stub"
    stub.write_text("#!/bin/sh\n" + "".join(f"echo {shlex.quote(line)}\n" for line in (output or "").splitlines())
                    + "exit 0\n")
    stub.chmod(0o755)
    conf = real.running_conf(str(stub))
    if output is None:
        conf = re.sub(r"<localfile>.*?</localfile>", "", conf, flags=re.S)
    scratch = real.securedrop_server(ossec, tmp_path / "ossec", conf=conf)
    (scratch / "etc" / "client.keys").write_text(f"001 app 10.20.2.2 {AGENT_KEY}\n")
    if archive:
        _archive_yesterday(ossec, scratch)
    running = real.Running(ossec, scratch, tmp_path / "mail")
    running.start("ossec-analysisd", "ossec-maild", "ossec-logcollector")
    return running, scratch / "logs" / "alerts" / "alerts.log"


def _agent_says(running, alerts, location: str, line: str) -> None:
    """An agent's sdcheck line arriving from ``location``, once analysisd has logged it."""
    running.inject(location, f"ossec: output: 'sdcheck': {line}")
    running.wait_for(alerts, location)


def _heartbeat(running):
    cmd = " ".join(shlex.quote(a) for a in [*cli.SDCHECK, "run", "--profile", "mon", "--only", CHECK,
                                             "--var", f"ossec_dir={running.ossec.prefix}"])
    res = running.sh(f"cd {shlex.quote(str(real.ROOT))}\n{cmd} || true", timeout=120)
    out = res.stdout.decode()
    return [ln for ln in out.splitlines() if ln.startswith(f"{cli.PREFIX}[{CHECK}]")], out


def test_heartbeat_names_the_agent_that_has_not_reported_and_is_quiet_once_both_have(ossec, tmp_path):
    running, alerts = _server(ossec, tmp_path, "sdcheck: OK: 30 checks passed (profile mon)")
    try:
        log = running.wait_for(alerts, "Rule: 401103 (level 1)")
        assert "->sdcheck" in log
        lines, out = _heartbeat(running)
        assert len(lines) == 1 and "from the agent app within 26 h" in lines[0], out
        assert AGENT_KEY not in out
        _agent_says(running, alerts, "(app) 10.20.2.2->sdcheck", "sdcheck: OK: 40 checks passed")
        lines, out = _heartbeat(running)
        assert lines == [] and out.startswith("sdcheck: OK"), out
        assert running.mails() == []  # the OK lines are logged, never mailed
    finally:
        running.stop()


def test_the_server_itself_not_reporting_is_named(ossec, tmp_path):
    running, alerts = _server(ossec, tmp_path, None)
    try:
        _agent_says(running, alerts, "(app) 10.20.2.2->sdcheck", "sdcheck: OK: 40 checks passed")
        lines, out = _heartbeat(running)
        assert len(lines) == 1 and "from this Monitor Server within 26 h" in lines[0], out
    finally:
        running.stop()


def test_a_fresh_install_is_within_its_grace(ossec, tmp_path):
    running, alerts = _server(ossec, tmp_path, None, archive=False)
    try:
        _agent_says(running, alerts, "(app) 10.20.2.2->sdcheck", "sdcheck: OK: 40 checks passed")
        lines, out = _heartbeat(running)
        assert lines == [] and "1 skip" in out, out
    finally:
        running.stop()


def test_a_forged_location_does_not_count(ossec, tmp_path):
    """An agent's event naming another location (its own log file that says '->sdcheck' in
    the text) is not a sign of life."""
    running, alerts = _server(ossec, tmp_path, "sdcheck: OK: 30 checks passed (profile mon)")
    try:
        running.wait_for(alerts, "Rule: 401103 (level 1)")
        _agent_says(running, alerts, "(app) 10.20.2.2->/var/log/syslog", "sdcheck: OK: forged")
        lines, out = _heartbeat(running)
        assert len(lines) == 1 and "the agent app" in lines[0], out
    finally:
        running.stop()


def test_silent_sdcheck_is_a_mailed_alert(ossec, tmp_path):
    running, alerts = _server(ossec, tmp_path, "")
    try:
        log = running.wait_for(alerts, "[sdcheck.silent] sdcheck printed nothing")
        assert "Rule: 401101 (level 12)" in log
        mail = None
        for _ in range(300):
            mails = running.mails()
            if mails:
                mail = mails[0]
                break
            running._time.sleep(0.2)
        assert mail is not None, "ossec-maild sent nothing within 60 s"
        assert "X-Envelope-To: root@localhost" in mail and "sdcheck.silent" in mail
    finally:
        running.stop()
