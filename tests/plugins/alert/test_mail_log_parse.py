"""The mail log read strictly: only Postfix's own lines, the first status=, deliveries tied to
OSSEC's sender by the queue manager's line, years kept, linear time on hostile input."""

from __future__ import annotations

import time

from helpers import cli
from hypothesis import given, settings
from hypothesis import strategies as st

from sdcheck.plugins.alert.mail_log import diagnose, parse_syslog, procmail_failures

QMGR = "Nov 22 09:00:00 mon postfix/qmgr[1200]: {q}: from=<{sender}>, size=1834, nrcpt=1 (queue active)"
SMTP = ("Nov 22 09:00:01 mon postfix/smtp[2109]: {q}: to=<alerts@news.example>, relay=smtp.example[192.0.2.1]:587, "
        "delay=1.2, delays=0.01/0/1.2/0, dsn={dsn}, status={status} ({why})")
FAILING = (QMGR.format(q="09AA22012B", sender="ossec@mon.news.example") + "\n" +
           SMTP.format(q="09AA22012B", dsn="4.7.8", status="deferred",
                       why="SASL authentication failed; server said: 535 5.7.8 Username and Password not accepted"))


def test_a_forged_logger_line_without_a_queue_manager_line_does_not_count():
    forged = SMTP.format(q="FORGED1", dsn="2.0.0", status="sent", why="250 OK")
    state = diagnose(FAILING + "\n" + forged)
    assert state["status"] == "deferred" and state["kind"][0] == "SASL authentication failed"


def test_a_reply_holding_status_sent_does_not_turn_a_failure_into_a_success():
    line = SMTP.format(q="09AA22012B", dsn="4.7.8", status="deferred",
                       why="SASL authentication failed; server said: 535 status=sent, dsn=2.0.0")
    state = diagnose(QMGR.format(q="09AA22012B", sender="ossec@mon.news.example") + "\n" + line)
    assert state["status"] == "deferred"


def test_another_senders_mail_and_lines_of_other_programs_do_not_count():
    other = QMGR.format(q="AAAA1", sender="root@mon.news.example") + "\n" + \
        SMTP.format(q="AAAA1", dsn="2.0.0", status="sent", why="250 OK")
    fake = "Nov 22 09:00:02 mon notpostfix/smtp[1]: 09AA22012B: to=<a@b>, dsn=2.0.0, status=sent (250 OK)"
    state = diagnose(FAILING + "\n" + other + "\n" + fake)
    assert state["status"] == "deferred" and state["total"] == 1


def test_lines_are_split_on_newlines_only():
    joined = FAILING.replace("\n", "\v")  # one line for Postfix and syslog: the qmgr line hides the smtp one
    assert diagnose(joined) is None


def test_timestamps_keep_the_year_and_rfc3339_is_read():
    december = FAILING.replace("Nov 22", "Dec 31")
    january = (QMGR.format(q="B1", sender="ossec@m") + "\n" + SMTP.format(q="B1", dsn="2.0.0", status="sent",
                                                                           why="250 OK")).replace("Nov 22", "Jan  2")
    state = diagnose(december + "\n" + january, last_year=2027)
    assert state["when"].startswith("2027 Jan  2") and state["status"] == "sent"
    both = diagnose(december + "\n" + december.replace("09AA22012B", "C2"), last_year=2027, last_month=1)
    assert both["since"].startswith("2026 Dec 31")  # written in January: December was last year
    iso = FAILING.replace("Nov 22 09:00:00", "2026-11-22T09:00:00.123456+00:00").replace(
        "Nov 22 09:00:01", "2026-11-22T09:00:01.5+00:00")
    assert diagnose(iso)["when"] == "2026-11-22 09:00:01"


def test_an_old_encryption_failure_is_superseded_by_later_alerts():
    failed = ("From ossec@mon.news.example  Sun Nov 22 09:00:01 2026\n Subject: Failed to encrypt OSSEC alert. "
              "Investigate.\n  Folder: /usr/sbin/sendmail -t\t1834\n")
    good = "From ossec@mon.news.example  Sun Nov 22 10:00:01 2026\n Subject: OSSEC Notification\n  Folder: x\t1\n"
    assert procmail_failures(failed + good * 50) is None
    assert procmail_failures(good + failed + failed) == (2, "Sun Nov 22 09:00:01 2026")


@settings(max_examples=200)
@given(st.text(max_size=300))
def test_parse_syslog_never_fails(line):
    parsed = parse_syslog(line)
    assert parsed is None or parsed[2] and parsed[3] >= 0


def test_pathological_lines_take_linear_time():
    """A 4 MiB line of repeated fields, and 4 MiB of almost-lines: well within the bound."""
    huge = "Nov 22 09:00:01 mon postfix/smtp[1]: Q1: to=<a@b>, " + "status=sent, " * 320_000
    many = ("Nov 22 09:00:01 mon postfix/smtp[1]: Q1: " + "x" * 60 + "\n") * 40_000
    for text in (huge, many, "status=" * 600_000):
        start = time.monotonic()
        diagnose(text)
        assert time.monotonic() - start < 10


def test_a_4_mib_one_line_mail_log_ends_the_run_within_90_seconds(tmp_path):
    log = tmp_path / "mail.log"
    log.write_text("Nov 22 09:00:01 mon postfix/smtp[1]: Q1: to=<a@b>, " + "relay=x, status=sent " * 200_000 + "\n")
    start = time.monotonic()
    res = cli.sdcheck("run", "--profile", "mon", "--only", "alert.maillog", "--var", f"mail_log={log}", "--var", f"procmail_log={tmp_path}/none", timeout=90)
    assert time.monotonic() - start < 90
    assert res.stdout.strip()  # a line for OSSEC, whatever it says
