"""system.listeners in a network namespace of its own: SecureDrop's listeners (sshd on 22,
ossec-remoted on udp 1514 on the Monitor Server, services on 127.0.0.1) pass; an extra
listener off the loopback is named; a UDP client socket is not a listener."""

from __future__ import annotations

import subprocess
import sys

import pytest
from helpers import cli

CHECK = "system.listeners"
SERVE = ("import socket, sys, time\n"
         "socks = []\n"
         "for spec in sys.argv[1:]:\n"
         "    proto, addr, port = spec.split(':')\n"
         "    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM if proto == 'tcp' else socket.SOCK_DGRAM)\n"
         "    s.bind((addr, int(port)))\n"
         "    if proto == 'tcp': s.listen()\n"
         "    if proto == 'udpc': s.connect(('10.99.0.1', 123))\n"
         "    socks.append(s)\n"
         "print('ready', flush=True)\n"
         "time.sleep(60)\n")


def _with_listeners(netns, *specs):
    proc = subprocess.Popen(netns.exec_argv([sys.executable, "-c", SERVE, *specs]), stdout=subprocess.PIPE)
    assert proc.stdout.readline().strip() == b"ready"
    return proc


def _lines(netns, profile):
    res = netns.sdcheck("run", "--profile", profile, "--only", CHECK)
    return res.returncode, [ln for ln in res.stdout.splitlines() if ln.startswith(f"{cli.PREFIX}[{CHECK}]")]


@pytest.mark.parametrize("profile,specs", [
    ("app", ["tcp:0.0.0.0:22", "tcp:127.0.0.1:80", "tcp:127.0.0.1:8080", "tcp:127.0.0.1:9050", "udpc:0.0.0.0:0"]),
    ("mon", ["tcp:0.0.0.0:22", "udp:0.0.0.0:1514", "tcp:127.0.0.1:25", "udpc:0.0.0.0:0"]),
])
def test_securedrop_s_listeners_pass(netns, profile, specs):
    proc = _with_listeners(netns, *specs)
    try:
        code, lines = _lines(netns, profile)
        assert code == 0 and lines == [], lines
    finally:
        proc.kill()
        proc.wait()


@pytest.mark.parametrize("profile,spec,shown", [
    ("app", "tcp:0.0.0.0:4444", "tcp 0.0.0.0:4444 is listening"),
    ("app", "udp:0.0.0.0:1514", "udp 0.0.0.0:1514 is listening"),  # remoted's port is the Monitor Server's only
    ("mon", "tcp:0.0.0.0:1515", "tcp 0.0.0.0:1515 is listening"),  # ossec-authd left running
])
def test_an_extra_listener_is_named(netns, profile, spec, shown):
    proc = _with_listeners(netns, "tcp:0.0.0.0:22", spec)
    try:
        code, lines = _lines(netns, profile)
        assert code == 1 and len(lines) == 1 and shown in lines[0], lines
    finally:
        proc.kill()
        proc.wait()
