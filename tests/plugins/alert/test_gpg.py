"""The alert path: real gpg in temporary homes, a real SMTP server (aiosmtpd) on 127.0.0.1
with certificates made by the test, and mail-log diagnosis."""

from __future__ import annotations

import json

from helpers.alert_suite import findings, sdcheck


def test_keyring_of_a_testinfra_host_is_judged_from_a_local_copy(tmp_path, home):
    fpr = home.new_key("OSSEC <ossec@news.example>")
    res = sdcheck(tmp_path, "report", "--format", "json", "--hosts", "local://", ossec_gpg_fpr=fpr,
                  ossec_gnupg_home=str(home.path))
    (section,) = json.loads(res.stdout)["hosts"]
    got = [f for f in section["findings"] if f["check_id"] == "alert.gpg"]
    assert [f["status"] for f in got] == ["pass"], got


def test_missing_keyring(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    res = sdcheck(tmp_path, "report", "--format", "json", ossec_gpg_fpr="A" * 40, ossec_gnupg_home=str(empty))
    got = findings(res, "alert.gpg")
    assert got[0]["status"] == "fail" and "no public keyring" in got[0]["message"]
