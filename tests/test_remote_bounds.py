"""Remote hosts are reached through one connection each, and nothing a host does can make
sdcheck hang, grow without bound, or stop reporting the other hosts. Real OpenSSH servers in
network namespaces; misbehaving ones are real sshd too, with a ForceCommand or a program of
their own in place of the host's python3."""

from __future__ import annotations

import json
import os
import subprocess
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from helpers import cli
from helpers.all import render, write_vars
from helpers.sshd import SshHost, ssh_client

VARS = str(write_vars())
# a "python3" that speaks the agent's protocol, then answers its first request with a header
# announcing 800 MB and sends them
FLOOD_AGENT = """#!/bin/sh
head -n 1 >/dev/null
printf '0 0 15 0\\nsdcheck-agent 1'
printf '1 0 800000000 0\\n'
exec head -c 800000000 /dev/zero
"""
# one that says hello and then never answers
MUTE_AGENT = """#!/bin/sh
printf '0 0 15 0\\nsdcheck-agent 1'
exec sleep 100000
"""


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    return ssh_client(tmp_path_factory.mktemp("client"))


@pytest.fixture
def hosts(tmp_path, client):
    made = []

    def make(**kw) -> SshHost:
        d = tmp_path / f"h{len(made)}"
        d.mkdir()
        host = SshHost(d, client[0], **kw)
        made.append(host)
        host.load(render("iptables-mon-prod.j2"))
        if "sshd_extra" in kw:  # a login would not end: wait for the port instead
            _wait_port(host.address)
        else:
            host.wait(client[1])
        return host

    yield make
    for host in made:
        host.close()


def _wait_port(address: str) -> None:
    import socket

    for _ in range(100):
        try:
            socket.create_connection((address, 22), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"sshd on {address} did not come up")


def report_rss(cfg, specs, *extra) -> tuple[subprocess.CompletedProcess, int, float]:
    """``report --hosts`` as its own process: the result, its own peak RSS (bytes), seconds."""
    from helpers.rss import run_measured

    argv = [*cli.SDCHECK, "report", "--hosts", ",".join(specs), "--ssh-config", str(cfg), "--profile", "mon",
            "--vars", VARS, "--format", "json", *extra]
    return run_measured(argv, timeout=300)


def by_host(res) -> dict:
    data = json.loads(res.stdout)
    return {h["host"]: h for h in data["hosts"]}


def test_one_connection_per_host_and_the_local_results(hosts, client):
    host = hosts()
    before = host.connections()
    res, _rss, _took = report_rss(client[1], [host.spec])
    assert res.returncode in (0, 1), res.stderr
    assert host.connections() - before <= 3
    remote = by_host(res)[host.spec]
    local = json.loads(host.ns.sdcheck("report", "--profile", "mon", "--vars", VARS, "--format", "json",
                                       timeout=300).stdout)
    assert {c["id"]: c["status"] for c in remote["checks"]} == {c["id"]: c["status"] for c in local["checks"]}
    # the private ControlPath directory is gone, and so is the master connection
    assert not [p for p in os.listdir("/tmp") if p.startswith("sdcheck-ssh-")]


def test_a_host_that_never_answers_is_an_error_and_the_others_are_reported(hosts, client):
    good = hosts()
    mute = hosts(sshd_extra="ForceCommand sleep 100000\n")
    mute_agent = hosts(programs={"/usr/bin/python3": MUTE_AGENT})
    res, _rss, took = report_rss(client[1], [good.spec, mute.spec, mute_agent.spec])
    assert res.returncode == 1
    assert took < 30 + 15 + 30  # the documented deadline (start 30 s, a command its time + 15 s), and margin
    got = by_host(res)
    assert any(c["status"] == "pass" for c in got[good.spec]["checks"])
    for spec in (mute.spec, mute_agent.spec):
        findings = got[spec]["findings"]
        assert findings and all(f["status"] == "error" for f in findings), findings
        assert any("did not answer" in f["message"] or "no answer within" in f["message"] for f in findings)


@pytest.mark.parametrize("how", ["force-command", "agent-frame"])
def test_a_host_that_floods_is_an_error_within_the_memory_limit(hosts, client, how):
    if how == "force-command":
        host = hosts(sshd_extra="ForceCommand head -c 800000000 /dev/zero\n")
    else:
        host = hosts(programs={"/usr/bin/python3": FLOOD_AGENT})
    res, rss, took = report_rss(client[1], [host.spec])
    assert res.returncode == 1, res.stderr
    findings = by_host(res)[host.spec]["findings"]
    assert findings and all(f["status"] == "error" for f in findings)
    text = " ".join(f["message"] for f in findings)
    assert "not an answer" in text or "more than" in text, text
    assert rss < 300 << 20, f"peak RSS {rss >> 20} MiB"
    assert took < 120


@settings(max_examples=40, deadline=None)
@given(st.binary(max_size=600), st.sampled_from([b"", b"1 0 5 0\nhello", b"1 0 999999999999 0\n", b"1 0 -1 0\n"]))
def test_whatever_a_host_answers_is_an_answer_or_an_error(tail, prefix):
    """The agent's reader, fed anything after a valid hello (a real process printing it):
    the call returns what was announced, or raises FactError; it never hangs or holds more
    than the command's cap."""
    import base64
    import shlex

    from sdcheck.host.agent import Agent
    from sdcheck.host.base import FactError

    sent = b"0 0 15 0\nsdcheck-agent 1" + prefix + tail
    script = f"head -c 20 >/dev/null; printf %s {shlex.quote(base64.b64encode(sent).decode())} | base64 -d; sleep 0.3"
    agent = Agent("test-host", f"sh -c {shlex.quote(script)}")
    try:
        try:
            rc, out, err = agent.call("true", 3, 1 << 16, None)
        except FactError as exc:
            assert "test-host" in str(exc)
        else:
            assert prefix == b"1 0 5 0\nhello" and (rc, out, err) == (0, b"hello", b"")
    finally:
        agent.close()
