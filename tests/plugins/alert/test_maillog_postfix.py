"""alert.maillog on mail logs written by a real Postfix: a Postfix master in its own
network and mount namespaces sends an OSSEC-like alert to a test relay (aiosmtpd in the
same namespace) that fails in one way; the log Postfix writes is then diagnosed."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers.certs import make_certs as _certs
from helpers.postfix import Master

from sdcheck.plugins.alert.mail_log import diagnose

HERE = Path(__file__).resolve().parents[2]  # tests/
PORT = 2525


def _relay(netns, mode: str, certs: Path) -> subprocess.Popen:
    cert = "selfsigned" if mode == "untrusted" else "good"
    proc = subprocess.Popen(netns.exec_argv([sys.executable, str(HERE / "helpers" / "relay_server.py"), mode, str(PORT),
                                             str(certs / f"{cert}.crt"), str(certs / f"{cert}.key")]),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline().strip()
    assert line == "ready", proc.stderr.read()
    return proc


# mode -> (TLS level, what diagnose() must call it; None: delivered)
MODES = {
    "ok": ("secure", None),
    "untrusted": ("secure", "TLS verification failed"),
    "nostarttls": ("secure", "STARTTLS required"),
    "sasl-fail": ("secure", "SASL authentication failed"),
    "relay-denied": ("secure", "relay access denied"),
    "sender-rejected": ("secure", "sender rejected"),
    "refused": ("secure", "connection refused"),
    "timeout": ("secure", "timed out"),
}


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("certs")
    _certs(tmp, host="relay.test")
    for p in tmp.iterdir():
        p.chmod(0o644)
    tmp.chmod(0o755)
    return tmp


@pytest.mark.parametrize("mode", sorted(MODES))
def test_real_postfix_log_is_diagnosed(netns, certs, mode, tmp_path):
    level, expected = MODES[mode]
    relay = None
    if mode not in ("refused", "timeout"):
        relay = _relay(netns, mode, certs)
    if mode == "timeout":  # packets to the relay vanish
        netns.sh(f"iptables-nft -A OUTPUT -p tcp --dport {PORT} -j DROP")
    ca = tmp_path / "ca.crt"
    ca.write_bytes((certs / "ca.crt").read_bytes())
    ca.chmod(0o644)
    tmp_path.chmod(0o755)
    extra = (f"relayhost = [relay.test]:{PORT}\n"
             "smtp_host_lookup = native\n"
             "smtp_sasl_auth_enable = yes\nsmtp_sasl_security_options = noanonymous\n"
             "smtp_sasl_password_maps = hash:/etc/postfix/sasl_passwd\n"
             f"smtp_tls_security_level = {level}\nsmtp_tls_CAfile = {ca}\n"
             "smtp_connect_timeout = 3s\n")
    # relay.test -> 127.0.0.1 for Postfix's native lookups (/etc/hosts inside the mount namespace)
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.1 localhost relay.test\n")
    master = Master(netns, "loopback-only", extra_main=extra, hosts_file=hosts)
    try:
        (master.etc / "sasl_passwd").write_text(f"[relay.test]:{PORT} alerts@news.example:secret-pw\n")
        master.exec("postmap /etc/postfix/sasl_passwd")
        master.exec("printf 'Subject: OSSEC Notification\\n\\nalert body\\n' | "
                    "sendmail -f ossec@mon.test alerts@news.example")
        log = master.spool / "maillog"
        deadline = time.monotonic() + 30
        text = ""
        while time.monotonic() < deadline:
            text = log.read_text() if log.exists() else ""
            if "status=" in text:
                break
            time.sleep(0.2)
    finally:
        master.stop()
        if relay is not None:
            relay.kill()
            relay.wait()
    assert "status=" in text, text[-2000:]
    state = diagnose(text)
    assert state is not None, text[-2000:]
    got = state["kind"][0] if state["kind"] else None
    assert got == expected, text[-3000:]
    assert "secret-pw" not in str(state)
