"""alert.maillog judged by who and where: a delivery counts only to the admins through the
configured relay; no attempt within the window is a finding; journald's trusted fields decide
which lines are Postfix's."""

from __future__ import annotations

import json
import time

from helpers.alert_suite import findings, sdcheck
from hypothesis import given, settings
from hypothesis import strategies as st

from sdcheck.plugins.alert.mail_log import diagnose, journal_text

ADMIN, RELAY = "admins@news.example", "smtp.relay.example"


def _attempt(ago_hours: float, to: str = ADMIN, relay: str = f"{RELAY}[192.0.2.1]:587", status: str = "sent",
             q: str = "1A2B3C") -> str:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(time.time() - ago_hours * 3600))
    return (f"{stamp} mon postfix/qmgr[1200]: {q}: from=<ossec@mon.news.example>, size=1834, nrcpt=1 (queue active)\n"
            f"{stamp} mon postfix/smtp[2001]: {q}: to=<{to}>, relay={relay}, delay=1, delays=0/0/0.5/0.5, "
            f"dsn=2.0.0, status={status} (250 2.0.0 OK)\n")


def _report(tmp_path, log: str, **extra):
    path = tmp_path / "mail.log"
    path.write_text(log)
    res = sdcheck(tmp_path, "report", "--format", "json", mail_log=str(path), procmail_log=str(tmp_path / "none"),
                  ossec_alert_email=ADMIN, smtp_relay=RELAY, mail_max_silence_hours=26, **extra)
    return [f for f in findings(res, "alert.maillog") if f["status"] != "pass"]


def test_a_recent_delivery_to_the_admins_through_the_relay_passes(tmp_path):
    assert _report(tmp_path, _attempt(2)) == []


def test_an_alert_to_another_address_is_critical_even_when_sent(tmp_path):
    problems = _report(tmp_path, _attempt(3) + _attempt(1, to="spy@elsewhere.example", q="2B3C4D"))
    assert any("addressed to spy@elsewhere.example" in p["message"] and p["severity"] == "critical"
               for p in problems), problems


def test_a_delivery_through_another_relay_does_not_count(tmp_path):
    problems = _report(tmp_path, _attempt(1, relay="mx.elsewhere.example[198.51.100.7]:25"))
    assert any("delivered through mx.elsewhere.example" in p["message"] for p in problems), problems
    assert any("no alert delivery attempt" in p["message"] for p in problems), problems  # not a delivery


def test_no_attempt_within_the_window_is_a_finding(tmp_path):
    problems = _report(tmp_path, _attempt(30))
    assert len(problems) == 1 and "within 26 h" in problems[0]["message"], problems


def test_a_flood_that_pushes_the_last_attempt_out_is_a_finding_not_a_pass(tmp_path):
    flood = "2026-11-22T08:00:00 mon postfix/pickup[1]: filler\n" * 200_000
    problems = _report(tmp_path, _attempt(1) + flood)
    assert problems and "no alert delivery attempt" in problems[0]["message"], problems


def _record(comm="smtp", uid="107", ident=None, msg="1A2B3C: to=<a@b>, relay=r[1.2.3.4]:587, dsn=2.0.0, "
            "status=sent (250 OK)", pid="2001", usec=None):
    return {"_COMM": comm, "_UID": uid, "SYSLOG_IDENTIFIER": ident or f"postfix/{comm}", "MESSAGE": msg,
            "_PID": pid, "__REALTIME_TIMESTAMP": usec or str(int(time.time() * 1e6))}


def test_journal_lines_count_only_from_postfix_processes_as_postfix():
    qmgr = _record("qmgr", msg="1A2B3C: from=<ossec@mon>, size=1, nrcpt=1 (queue active)")
    real = journal_text([qmgr, _record()], {107})
    assert diagnose(real)["status"] == "sent"
    forged = [_record("logger", ident="postfix/qmgr", msg=qmgr["MESSAGE"]),
              _record("logger", ident="postfix/smtp"), _record(uid="1000"), _record(uid="1000", comm="qmgr",
                                                                                   msg=qmgr["MESSAGE"])]
    assert journal_text(forged, {107}) == ""
    failing = dict(_record(), MESSAGE=_record()["MESSAGE"].replace("status=sent (250 OK)",
                                                                   "status=deferred (Connection timed out)"))
    assert diagnose(journal_text([qmgr, failing] + forged, {107}))["status"] == "deferred"


@settings(max_examples=200, deadline=None)
@given(st.lists(st.dictionaries(st.sampled_from(["_COMM", "_UID", "SYSLOG_IDENTIFIER", "MESSAGE", "_PID",
                                                 "__REALTIME_TIMESTAMP"]),
                                st.one_of(st.text(max_size=30), st.integers(), st.none(), st.lists(st.integers())),
                                max_size=6), max_size=10))
def test_journal_records_of_any_shape_never_fail_and_never_split_lines(records):
    text = journal_text(records + [json.loads(json.dumps(_record()))], {107})
    assert text.count("\n") <= len(records)
    for line in text.splitlines():
        assert " postfix/" in line
