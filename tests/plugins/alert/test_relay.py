"""The alert path: real gpg in temporary homes, a real SMTP server (aiosmtpd) on 127.0.0.1
with certificates made by the test, and mail-log diagnosis."""

from __future__ import annotations

from helpers.alert_suite import findings, sdcheck


def test_relay_probe_is_online_only(tmp_path):
    res = sdcheck(tmp_path, "run", smtp_relay="localhost")
    assert "[alert.relay]" not in res.stdout
    rep = sdcheck(tmp_path, "report", "--format", "json", smtp_relay="localhost")
    assert findings(rep, "alert.relay")[0]["status"] == "skip"
