"""The alert path: real gpg in temporary homes, a real SMTP server (aiosmtpd) on 127.0.0.1
with certificates made by the test, and mail-log diagnosis."""

from __future__ import annotations

import pytest
from helpers.alert_suite import (
    MAILLOG,
    Relay,
    cert_fingerprint,
    gpg_report,
    relay_report,
)

from sdcheck.plugins.alert.mail_log import diagnose


def test_valid_key_passes_and_the_keyring_is_not_written(tmp_path, home):
    fpr = home.new_key("OSSEC <ossec@news.example>")
    before = home.snapshot()
    got = gpg_report(tmp_path, home, fpr)
    assert [f["status"] for f in got] == ["pass"] and "is valid and encrypts" in got[0]["message"], got
    assert home.snapshot() == before


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
            tls = {"smtp_relay_fingerprint": cert_fingerprint(certs / f"{cert}.crt")}
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


@pytest.mark.parametrize("fixture,kind", [
    ("timeout.log", "timed out"), ("refused.log", "connection refused"), ("tls-verify.log", "TLS verification failed"),
    ("sasl.log", "SASL authentication failed"), ("starttls.log", "STARTTLS required"),
    ("relay-denied.log", "relay access denied"), ("sender.log", "sender rejected"),
])
def test_maillog_failures_are_classified(fixture, kind):
    state = diagnose((MAILLOG / fixture).read_text())
    assert state["kind"][0] == kind and state["status"] in ("deferred", "bounced")


def test_maillog_success_and_non_ossec_mail_ignored(tmp_path):
    state = diagnose((MAILLOG / "sent.log").read_text())
    assert state["kind"] is None and state["status"] == "sent"
