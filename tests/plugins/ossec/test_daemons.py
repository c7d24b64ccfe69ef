"""ossec.daemons against OSSEC 3.6.0's real daemons running in namespaces of their own: the
server's daemons as OSSEC's users pass; one stopped, an agent not heard from, or a readable
client.keys is reported."""

from __future__ import annotations

import os
import shlex
import time

import pytest
from helpers import cli
from helpers import ossec as real
from helpers.securedrop import write_vars

CHECK = "ossec.daemons"
# syscheckd (a full scan of /etc, /usr/bin ... of this machine) and remoted are left out here
DAEMONS = {"ossec-analysisd": "ossec", "ossec-maild": "ossecm", "ossec-logcollector": "root",
           "ossec-monitord": "ossec"}
KEY = "1" * 64


@pytest.fixture(scope="module")
def ossec():
    return real.build()


def _server(ossec, tmp_path):
    scratch = real.securedrop_server(ossec, tmp_path / "ossec", conf=real.running_conf("/bin/true"))
    keys = scratch / "etc" / "client.keys"
    keys.write_text(f"001 app 10.20.2.2 {KEY}\n")
    os.chown(keys, 0, ossec.ids("ossec")[1])
    keys.chmod(0o640)
    return scratch, real.Running(ossec, scratch, tmp_path / "mail")


def _check(running, tmp_path, daemons=DAEMONS):
    vars_file = write_vars(tmp_path / "vars.yml", ossec_daemons=daemons)
    cmd = " ".join(shlex.quote(a) for a in [*cli.SDCHECK, "run", "--profile", "mon", "--only", CHECK, "--vars",
                                             str(vars_file), "--var", f"ossec_dir={running.ossec.prefix}"])
    out = running.sh(f"cd {shlex.quote(str(real.ROOT))}\n{cmd} || true", timeout=120).stdout.decode()
    assert KEY not in out
    return [ln for ln in out.splitlines() if ln.startswith(f"{cli.PREFIX}[{CHECK}]")], out


def _heard_from_agent(ossec, scratch):
    info = scratch / "queue" / "agent-info" / "app-10.20.2.2"  # what ossec-remoted keeps fresh
    info.write_text("Linux app\n")
    os.chown(info, *ossec.ids("ossecr"))
    os.utime(info, (time.time(), time.time()))


def test_running_daemons_and_a_connected_agent_pass(ossec, tmp_path):
    scratch, running = _server(ossec, tmp_path)
    try:
        running.start(*DAEMONS)
        _heard_from_agent(ossec, scratch)
        lines, out = _check(running, tmp_path)
        assert lines == [] and out.startswith("sdcheck: OK"), out
    finally:
        running.stop()


def test_a_stopped_daemon_a_silent_agent_and_open_keys_are_reported(ossec, tmp_path):
    scratch, running = _server(ossec, tmp_path)
    try:
        running.start("ossec-analysisd", "ossec-logcollector", "ossec-monitord")  # no maild
        (scratch / "etc" / "client.keys").chmod(0o644)
        lines, out = _check(running, tmp_path)
        assert any("OSSEC's ossec-maild is not running" in ln for ln in lines), out
        assert any("the OSSEC agent app is not connected" in ln for ln in lines), out
        assert any("client.keys is a regular file of root:ossec, mode 0644" in ln for ln in lines), out
    finally:
        running.stop()


def test_a_daemon_under_another_user_is_reported(ossec, tmp_path):
    scratch, running = _server(ossec, tmp_path)
    try:
        running.start(*DAEMONS)
        _heard_from_agent(ossec, scratch)
        lines, out = _check(running, tmp_path, dict(DAEMONS, **{"ossec-monitord": "ossecr"}))
        assert len(lines) == 1 and "ossec-monitord" in lines[0] and "runs as ossec, not ossecr" in lines[0], out
    finally:
        running.stop()


@pytest.mark.parametrize("mode,group,reported", [(0o644, "root", False), (0o640, "root", False),
                                                 (0o666, "root", True), (0o644, "daemon", True)])
def test_the_agent_s_client_keys_as_securedrop_leaves_it(tmp_path, mode, group, reported):
    """On the Application Server, SecureDrop deletes client.keys and agent-auth writes it anew
    under root's umask: 0644, group root. That passes; writable by others, or another group's,
    does not."""
    import grp

    (tmp_path / "etc").mkdir()
    keys = tmp_path / "etc" / "client.keys"
    keys.write_text(f"001 app 10.20.2.2 {KEY}\n")
    os.chown(keys, 0, grp.getgrnam(group).gr_gid)
    keys.chmod(mode)
    res = cli.sdcheck("run", "--profile", "app", "--only", CHECK, "--var", f"ossec_dir={tmp_path}")
    lines = [ln for ln in res.stdout.splitlines() if "client.keys" in ln]
    assert bool(lines) == reported, res.stdout
    assert KEY not in res.stdout
