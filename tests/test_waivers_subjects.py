"""Waivers name what they excuse, in every plugin (issue: a waiver for a harmless finding must
never cover a worse one that appears later at the same place)."""

from __future__ import annotations

import datetime
import json

import yaml
from helpers.postfix import Site

from sdcheck.model import Finding, Severity, Status
from sdcheck.waivers import Waiver, load_waivers

SOON = datetime.date.today() + datetime.timedelta(days=30)


def _waivers(tmp_path, *items) -> str:
    path = tmp_path / "waivers.yml"
    path.write_text(yaml.safe_dump({"waivers": [dict(item, reason="reviewed", expires=SOON) for item in items]}))
    return str(path)


def _subject(site, parameter: str) -> str:
    data = json.loads(site.sdcheck("report", "--format", "json").stdout)
    (f,) = [f for f in data["findings"] if f["check_id"] == "postfix.config" and f["status"] == "fail"
            and parameter in f["message"]]
    return f["subject"] or f["message"]


def test_a_postfix_waiver_for_a_harmless_line_does_not_cover_always_bcc_written_there_later(tmp_path):
    site = Site(tmp_path)
    main = site.dir / "main.cf"
    base = main.read_text().rstrip("\n") + "\n"
    main.write_text(base + "delay_warning_time = 4h\n")
    subject = _subject(site, "delay_warning_time")
    assert subject == "delay_warning_time = 4h"
    w = _waivers(tmp_path, {"check": "postfix.config", "subject": subject})
    res = site.sdcheck("run", "--waivers", w)
    assert res.returncode == 0 and "1 waived" in res.stdout, res.stdout
    main.write_text(base + "always_bcc = spy@elsewhere.example\n")  # the same line, something worse
    res = site.sdcheck("run", "--waivers", w)
    assert res.returncode == 1 and "always_bcc" in res.stdout, res.stdout


def _finding(check, message, severity=Severity.MEDIUM, subject="", resource="/var/ossec/.gnupg"):
    return Finding(check, Status.FAIL, severity, message, resource=resource, subject=subject)


def test_an_expiry_waiver_does_not_cover_a_missing_key():
    fpr = "0123456789ABCDEF0123456789ABCDEF01234567"
    soon = _finding("alert.gpg", f"the key {fpr} expires on 2027-01-01", subject=f"key {fpr} expires 2027-01-01")
    gone = _finding("alert.gpg", f"the OSSEC keyring has no key {fpr}", Severity.CRITICAL)
    w = Waiver("alert.gpg", None, "new key coming", SOON, 1, rule=soon.subject)
    assert w.matches(soon) and not w.matches(gone)


def test_a_pattern_never_covers_a_critical_finding():
    w = Waiver("alert.route", None, "r", SOON, 1, rule_pattern="*")
    assert w.matches(_finding("alert.route", "harmless", Severity.LOW))
    assert not w.matches(_finding("alert.route", "/etc/procmailrc exists", Severity.CRITICAL))


def test_a_place_alone_is_refused_in_every_plugin(tmp_path):
    from sdcheck.errors import BaselineError
    from sdcheck.registry import load_checks

    checks = load_checks()
    for check in ("postfix.config", "alert.gpg", "store.orphan-files", "ossec.config"):
        path = _waivers(tmp_path, {"check": check, "resource": "*"})
        try:
            load_waivers(path, checks)
        except BaselineError as exc:
            assert "must name what it excuses" in str(exc)
        else:
            raise AssertionError(f"a resource-only waiver for {check} was accepted")
