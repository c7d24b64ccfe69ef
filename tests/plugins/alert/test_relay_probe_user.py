"""alert.relay probes the relay *from the checked host*, as its postfix user whenever
commands run as root there: SecureDrop's firewall lets only that user reach the relay.

Set-up as an admin has it: sdcheck started by a non-root user on this machine, reaching the
Monitor Server as a non-root SSH user with --sudo. The host's firewall drops every outgoing
packet except the postfix user's to the relay port. Deciding the probe's user from this
machine's uid (the bug this guards against) probes as root there and times out.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import socket
import subprocess
import threading

import pytest
import yaml
from helpers import cli
from helpers.programs import need
from helpers.sshd import SshHost

RELAY_PORT = 2587


class Greeter:
    """A relay that greets and answers EHLO without offering STARTTLS: reaching it at all
    gives the probe's 'no STARTTLS' verdict, a firewall drop gives 'timed out'."""

    def __init__(self, address: str):
        self.sock = socket.create_server((address, RELAY_PORT))
        self.sock.settimeout(0.5)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(5)
                try:
                    conn.sendall(b"220 relay.test ESMTP\r\n")
                    conn.recv(1024)  # EHLO
                    conn.sendall(b"250-relay.test\r\n250 AUTH PLAIN\r\n")
                    conn.recv(1024)
                except OSError:
                    pass

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=5)
        self.sock.close()


@pytest.fixture
def admin_host(tmp_path):
    need("setpriv", "ssh", "ssh-keygen")
    import tempfile
    from pathlib import Path

    client = Path(tempfile.mkdtemp(prefix="sdcheck-admin-"))  # pytest's tmp_path is root's only
    key = client / "id"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    host = SshHost(tmp_path, key, sudo_user="sdadmin")
    nobody = pwd.getpwnam("nobody")
    # the local admin is not root: sdcheck runs as nobody, with its own key and ssh_config
    cfg = client / "ssh_config"
    cfg.write_text(f"Host *\n  IdentityFile {key}\n  IdentitiesOnly yes\n  StrictHostKeyChecking no\n"
                   "  UserKnownHostsFile /dev/null\n  LogLevel ERROR\n  BatchMode yes\n  ConnectTimeout 5\n")
    for path in (client, key, cfg):
        shutil.chown(path, nobody.pw_uid, nobody.pw_gid)
    relay_address = host.address.rsplit(".", 1)[0] + ".1"  # this side of the veth pair
    postfix_uid = pwd.getpwnam("postfix").pw_uid
    host.ns.restore("nft", "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT DROP [0:0]\n"
                    "-A OUTPUT -o lo -j ACCEPT\n"
                    "-A OUTPUT -m state --state ESTABLISHED,RELATED -j ACCEPT\n"
                    f"-A OUTPUT -p tcp -d {relay_address} --dport {RELAY_PORT} -m owner --uid-owner {postfix_uid} "
                    "-j ACCEPT\nCOMMIT\n")
    vars_file = client / "vars.yml"
    vars_file.write_text(yaml.safe_dump({"smtp_relay": relay_address, "smtp_relay_port": RELAY_PORT}))
    shutil.chown(vars_file, nobody.pw_uid, nobody.pw_gid)
    greeter = Greeter(relay_address)
    try:
        host.wait_as(cfg, nobody.pw_uid, nobody.pw_gid, client)
        yield host, cfg, vars_file, nobody, client
    finally:
        greeter.close()
        host.close()
        shutil.rmtree(client, ignore_errors=True)


def test_probe_runs_as_the_hosts_postfix_user_for_a_non_root_admin_with_sudo(admin_host):
    host, cfg, vars_file, nobody, home = admin_host
    env = dict(os.environ, HOME=str(home))
    # not root here (uid nobody); the one capability to read sdcheck's installation wherever it
    # lies (a clone under /root, mode 0700, on a fresh machine) changes nothing of that
    res = cli.sdcheck("report", "--hosts", host.spec, "--sudo", "--ssh-config", str(cfg), "--profile", "mon", "--vars", str(vars_file), "--only", "alert.relay", "--online", "--format", "json", through=["setpriv", f"--reuid={nobody.pw_uid}", f"--regid={nobody.pw_gid}", "--clear-groups", "--inh-caps=+dac_read_search", "--ambient-caps=+dac_read_search", "--"], timeout=240, env=env, cwd=str(home))
    assert res.returncode in (0, 1), res.stderr
    assert res.stdout, res.stderr
    (section,) = json.loads(res.stdout)["hosts"]
    (finding,) = [f for f in section["findings"] if f["check_id"] == "alert.relay"]
    # the probe got through the host's firewall, so it ran as postfix there
    assert "does not offer STARTTLS" in finding["message"], finding["message"]
    assert "timed out" not in finding["message"]
