"""The alert path: real gpg in temporary homes, a real SMTP server (aiosmtpd) on 127.0.0.1
with certificates made by the test, and mail-log diagnosis."""

from __future__ import annotations

import hashlib
import json
import shutil
import ssl
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml

from helpers.certs import make_certs
from helpers.all import need
from sdcheck.plugins.alert.maillog import diagnose

PREFIX = "System configuration error: "


def sdcheck(tmp: Path, *args: str, **variables) -> subprocess.CompletedProcess:
    vars_file = tmp / "vars.yml"
    vars_file.write_text(yaml.safe_dump(variables))
    return subprocess.run([sys.executable, "-m", "sdcheck", *args, "--profile", "mon", "--vars", str(vars_file),
                           "--only", "alert"], capture_output=True, text=True, timeout=120)


def findings(res, check_id: str) -> list[dict]:
    return [f for f in json.loads(res.stdout)["findings"] if f["check_id"] == check_id]


# -- alert.gpg: real gpg ------------------------------------------------------------------

class GpgHome:
    """A GnuPG home with short path (gpg's sockets live there)."""

    def __init__(self):
        need("gpg", "gpgconf", root=False)
        self.path = Path(tempfile.mkdtemp(prefix="sdg-", dir="/tmp"))
        self.path.chmod(0o700)

    def gpg(self, *args: str, faked: str | None = None) -> str:
        argv = ["gpg", "--homedir", str(self.path), "--batch", "--pinentry-mode", "loopback", "--passphrase", ""]
        if faked:
            argv += ["--faked-system-time", faked]
        res = subprocess.run(argv + list(args), capture_output=True, text=True, timeout=60)
        assert res.returncode == 0, res.stderr
        return res.stdout

    def new_key(self, uid: str, expire: str = "1y", encrypt: bool = True, faked: str | None = None) -> str:
        self.gpg("--quick-gen-key", uid, "ed25519", "sign", expire, faked=faked)
        fpr = [ln.split(":")[9] for ln in self.gpg("--with-colons", "--list-keys", uid).splitlines()
               if ln.startswith("fpr:")][0]
        if encrypt:
            self.gpg("--quick-add-key", fpr, "cv25519", "encr", expire, faked=faked)
        return fpr

    def snapshot(self) -> dict:
        return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in self.path.iterdir() if p.is_file()}

    def close(self):
        subprocess.run(["gpgconf", "--homedir", str(self.path), "--kill", "all"], capture_output=True)
        shutil.rmtree(self.path, ignore_errors=True)


@pytest.fixture
def home():
    h = GpgHome()
    yield h
    h.close()


def gpg_report(tmp_path, home, fpr, **extra):
    res = sdcheck(tmp_path, "report", "--format", "json", ossec_gpg_fpr=fpr, ossec_gnupg_home=str(home.path),
                  **extra)
    return findings(res, "alert.gpg")


def test_valid_key_passes_and_the_keyring_is_not_written(tmp_path, home):
    fpr = home.new_key("OSSEC <ossec@news.example>")
    before = home.snapshot()
    got = gpg_report(tmp_path, home, fpr)
    assert [f["status"] for f in got] == ["pass"] and "is valid and encrypts" in got[0]["message"], got
    assert home.snapshot() == before


def test_keyring_of_a_testinfra_host_is_judged_from_a_local_copy(tmp_path, home):
    fpr = home.new_key("OSSEC <ossec@news.example>")
    res = sdcheck(tmp_path, "report", "--format", "json", "--hosts", "local://", ossec_gpg_fpr=fpr,
                  ossec_gnupg_home=str(home.path))
    (section,) = json.loads(res.stdout)["hosts"]
    got = [f for f in section["findings"] if f["check_id"] == "alert.gpg"]
    assert [f["status"] for f in got] == ["pass"], got


def test_wrong_fingerprint(tmp_path, home):
    fpr = home.new_key("OSSEC <ossec@news.example>")
    other = "0" * 40
    got = gpg_report(tmp_path, home, other)
    assert got[0]["status"] == "fail" and f"has no key {other}; it holds: {fpr}" in got[0]["message"]


def test_fingerprint_with_spaces_or_lower_case(tmp_path, home):
    fpr = home.new_key("OSSEC <ossec@news.example>")
    spaced = " ".join(fpr[i:i + 4] for i in range(0, 40, 4)).lower()
    got = gpg_report(tmp_path, home, spaced)
    fmt = [f for f in got if f["resource"] == "vars/ossec_gpg_fpr"]
    assert fmt and f"written as SecureDrop expects it: {fpr}" in fmt[0]["message"]


def test_expired_key(tmp_path, home):
    fpr = home.new_key("Old <old@news.example>", expire="1d", faked="20200101T000000")
    got = gpg_report(tmp_path, home, fpr)
    assert got[0]["status"] == "fail" and "expired on 2020-01-0" in got[0]["message"], got


def test_sign_only_key(tmp_path, home):
    fpr = home.new_key("Sign <sign@news.example>", encrypt=False)
    got = gpg_report(tmp_path, home, fpr)
    assert got[0]["status"] == "fail" and "no valid encryption (sub)key" in got[0]["message"]


def test_key_expiring_soon(tmp_path, home):
    fpr = home.new_key("Soon <soon@news.example>", expire="10d")
    got = gpg_report(tmp_path, home, fpr)
    soon = [f for f in got if f["status"] == "fail"]
    assert soon and "within 30 days" in soon[0]["message"] and soon[0]["severity"] == "medium"


def test_exported_key_file_must_match(tmp_path, home):
    fpr = home.new_key("OSSEC <ossec@news.example>")
    other = home.new_key("Other <other@news.example>")
    key_file = tmp_path / "ossec.pub"
    key_file.write_text(home.gpg("--armor", "--export", other))
    got = gpg_report(tmp_path, home, fpr, ossec_alert_gpg_public_key=str(key_file))
    bad = [f for f in got if f["resource"] == str(key_file)]
    assert bad and f"holds {other}, not {fpr}" in bad[0]["message"]
    key_file.write_text(home.gpg("--armor", "--export", fpr))
    assert [f["status"] for f in gpg_report(tmp_path, home, fpr, ossec_alert_gpg_public_key=str(key_file))] == ["pass"]


def test_missing_keyring(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    res = sdcheck(tmp_path, "report", "--format", "json", ossec_gpg_fpr="A" * 40, ossec_gnupg_home=str(empty))
    got = findings(res, "alert.gpg")
    assert got[0]["status"] == "fail" and "no public keyring" in got[0]["message"]


# -- alert.relay: a real SMTP server on 127.0.0.1 -------------------------------------------

class Relay:
    """aiosmtpd on 127.0.0.1: STARTTLS with the given certificate, AUTH only after TLS."""

    def __init__(self, tmp: Path, cert: str | None):
        from aiosmtpd.controller import Controller
        from aiosmtpd.smtp import AuthResult

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                return "250 OK"

        def authenticator(server, session, envelope, mechanism, auth_data):
            return AuthResult(success=False)

        kwargs = {}
        if cert:
            ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ctx.load_cert_chain(tmp / f"{cert}.crt", tmp / f"{cert}.key")
            kwargs = dict(tls_context=ctx, require_starttls=True, authenticator=authenticator,
                          auth_require_tls=True)
        import socket

        with socket.socket() as s:  # a free port (aiosmtpd's start-up probe needs a real one)
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port, server_hostname="localhost",
                                     **kwargs)
        self.controller.start()

    def stop(self):
        self.controller.stop()


@pytest.fixture(scope="module")
def certs():
    tmp = Path(tempfile.mkdtemp(prefix="sdcheck-certs-"))
    make_certs(tmp)
    yield tmp
    shutil.rmtree(tmp, ignore_errors=True)


def _fingerprint(path: Path) -> str:
    der = ssl.PEM_cert_to_DER_cert(path.read_text())
    h = hashlib.sha1(der).hexdigest().upper()  # noqa: S324 - Postfix's fingerprint digest here
    return ":".join(h[i:i + 2] for i in range(0, 40, 2))


def relay_report(tmp_path, certs, port, **tls):
    variables = dict(smtp_relay="localhost", smtp_relay_port=port, smtp_relay_cert_override_dir=str(certs))
    variables.update(tls)
    res = sdcheck(tmp_path, "report", "--online", "--format", "json", **variables)
    (finding,) = findings(res, "alert.relay")
    return finding


@pytest.mark.parametrize("cert,tls,status,words", [
    ("good", {"smtp_relay_cert_override_file": "ca.crt"}, "pass", "certificate verified with the CA file"),
    ("selfsigned", {}, "fail", "Server certificate not verified"),
    ("wrongname", {"smtp_relay_cert_override_file": "ca.crt"}, "fail", "Server certificate not verified"),
    ("expired", {"smtp_relay_cert_override_file": "ca.crt"}, "fail", "Server certificate not verified"),
    ("selfsigned", {"smtp_relay_fingerprint": "FP"}, "pass", "fingerprint"),
    ("selfsigned", {"smtp_relay_fingerprint": "00:" * 19 + "00"}, "fail", "does not match smtp_relay_fingerprint"),
    (None, {}, "fail", "does not offer STARTTLS"),
])
def test_relay_probe(tmp_path, certs, cert, tls, status, words):
    relay = Relay(certs, cert)
    try:
        if tls.get("smtp_relay_fingerprint") == "FP":
            tls = {"smtp_relay_fingerprint": _fingerprint(certs / f"{cert}.crt")}
        finding = relay_report(tmp_path, certs, relay.port, **tls)
    finally:
        relay.stop()
    assert finding["status"] == status and words in finding["message"], finding
    if status == "pass":
        assert "STARTTLS and AUTH" in finding["message"] and "TLSv1." in finding["message"]


def test_relay_wrong_name_and_expired_say_why(tmp_path, certs):
    for cert, why in (("wrongname", "Hostname mismatch"), ("expired", "expired")):
        relay = Relay(certs, cert)
        try:
            finding = relay_report(tmp_path, certs, relay.port, smtp_relay_cert_override_file="ca.crt")
        finally:
            relay.stop()
        assert why in finding["message"], finding


def test_relay_closed_port(tmp_path, certs):
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    finding = relay_report(tmp_path, certs, port)
    assert finding["status"] == "fail" and "connection refused" in finding["message"]


def test_relay_probe_is_online_only(tmp_path):
    res = sdcheck(tmp_path, "run", smtp_relay="localhost")
    assert "[alert.relay]" not in res.stdout
    rep = sdcheck(tmp_path, "report", "--format", "json", smtp_relay="localhost")
    assert findings(rep, "alert.relay")[0]["status"] == "skip"


# -- alert.maillog -----------------------------------------------------------------------

MAILLOG = Path(__file__).parent / "data" / "maillog"


@pytest.mark.parametrize("fixture,kind", [
    ("timeout.log", "timed out"), ("refused.log", "connection refused"), ("tls-verify.log", "TLS verification failed"),
    ("sasl.log", "SASL authentication failed"), ("starttls.log", "STARTTLS required"),
    ("relay-denied.log", "relay access denied"), ("sender.log", "sender rejected"),
])
def test_maillog_failures_are_classified(fixture, kind):
    state = diagnose((MAILLOG / fixture).read_text())
    assert state["kind"][0] == kind and state["status"] in ("deferred", "bounced")


def test_maillog_latest_state_and_since(tmp_path):
    text = (MAILLOG / "recovered-then-sasl.log").read_text()
    state = diagnose(text)
    assert state["kind"][0] == "SASL authentication failed"
    assert state["count"] == 2 and state["since"].endswith("09:00:01") and state["when"].endswith("10:00:01")
    res = sdcheck(tmp_path, "run", mail_log=str(MAILLOG / "recovered-then-sasl.log"),
                  procmail_log=str(tmp_path / "none"))
    (line,) = [ln for ln in res.stdout.splitlines() if "[alert.maillog]" in ln]
    assert "SASL authentication failed" in line and "failing since" in line
    assert "alerts@news.example" not in line and "secret" not in line.lower()


def test_maillog_success_and_non_ossec_mail_ignored(tmp_path):
    state = diagnose((MAILLOG / "sent.log").read_text())
    assert state["kind"] is None and state["status"] == "sent"


def test_procmail_failed_to_encrypt(tmp_path):
    res = sdcheck(tmp_path, "report", "--format", "json", mail_log=str(MAILLOG / "sent.log"),
                  procmail_log=str(MAILLOG / "procmail-failed.log"))
    got = [f for f in findings(res, "alert.maillog") if f["status"] == "fail"]
    assert got and "could not be encrypted" in got[0]["message"] and got[0]["severity"] == "critical"


def test_maillog_read_is_bounded(tmp_path):
    big = tmp_path / "mail.log"
    filler = "Nov 22 08:00:00 mon postfix/pickup[1]: filler line\n" * 200_000
    big.write_text(filler + (MAILLOG / "sasl.log").read_text())
    res = sdcheck(tmp_path, "report", "--format", "json", mail_log=str(big), procmail_log=str(tmp_path / "none"))
    got = findings(res, "alert.maillog")
    assert got[0]["status"] == "fail" and "SASL" in got[0]["message"]


def test_missing_mail_log_is_an_error(tmp_path):
    res = sdcheck(tmp_path, "run", mail_log=str(tmp_path / "nope.log"))
    assert any(ln.startswith(f"{PREFIX}[alert.maillog]") and "does not exist" in ln for ln in res.stdout.splitlines())
