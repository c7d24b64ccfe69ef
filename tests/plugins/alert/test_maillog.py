"""The alert path: real gpg in temporary homes, a real SMTP server (aiosmtpd) on 127.0.0.1
with certificates made by the test, and mail-log diagnosis."""

from __future__ import annotations

from helpers.alert_suite import MAILLOG, findings, sdcheck
from helpers.cli import PREFIX

from sdcheck.plugins.alert.mail_log import diagnose


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
