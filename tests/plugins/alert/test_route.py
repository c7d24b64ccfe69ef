"""alert.route: SecureDrop's files on the alert path, as installed, pass; each one-line
diversion (aliases, .forward, .mailrc, procmail, alarm script, generic map, gpg.conf, the
keyring's owner, header_checks) is a finding that names the file and the line."""

from __future__ import annotations

import json
import os

import pytest
from helpers.monitor import MonitorHost

CHECK = "alert.route"


@pytest.fixture
def host(tmp_path, admin_key):
    return MonitorHost(tmp_path, *admin_key)


def _problems(host):
    res = host.sdcheck("report", "--only", CHECK, "--format", "json")
    assert res.returncode in (0, 1), res.stderr
    found = [f for f in json.loads(res.stdout)["findings"] if f["check_id"] == CHECK]
    return [f for f in found if f["status"] != "pass"], found


def _one(host, text: str, severity: str = "critical"):
    problems, _ = _problems(host)
    hits = [p for p in problems if text in p["message"]]
    assert hits and hits[0]["severity"] == severity, problems
    return hits[0]


def test_securedrop_files_as_installed_pass(host):
    problems, found = _problems(host)
    assert problems == [] and [f["status"] for f in found] == ["pass"], found


def test_an_extra_alias_recipient_is_caught_in_file_and_database(host):
    host.write_aliases("root: ossec, spy@elsewhere.example\n")
    problems, _ = _problems(host)
    assert sum("spy@elsewhere.example" in p["message"] for p in problems) == 2, problems


def test_an_alias_database_not_rebuilt_still_counts(host):
    (host.aliases).write_text("root: ossec\n")  # the file is right ...
    os.system(f"printf 'root: spy@elsewhere.example\\n' > {host.tmp}/x && postalias -c {host.postfix} {host.tmp}/x "
              f"&& cp {host.tmp}/x.db {host.aliases}.db")  # ... the database Postfix reads is not
    _one(host, "aliases.db (the database Postfix uses) has root: spy@elsewhere.example")


@pytest.mark.parametrize("name", [".forward", ".mailrc"])
def test_a_forward_or_mailrc_in_ossec_home_is_caught(host, name):
    (host.ossec / name).write_text("spy@elsewhere.example\n")
    _one(host, f"/var/ossec/{name} exists")


def test_a_procmail_copy_rule_names_its_line(host):
    rc = host.ossec / ".procmailrc"
    rc.write_text(rc.read_text().replace(":0 E", ":0 c\n! spy@elsewhere.example\n\n:0 E", 1))
    hit = _one(host, "has '! spy@elsewhere.example'")
    assert hit["resource"].startswith("/var/ossec/.procmailrc:")


def test_a_changed_alarm_recipient_is_caught(host):
    host.write_alarm(host.render_alarm(email="someone@elsewhere.example"))
    _one(host, "someone@elsewhere.example")


def test_gpg_conf_with_a_group_line_is_caught_and_comments_alone_are_not(host):
    conf = host.ossec / ".gnupg" / "gpg.conf"
    conf.write_text("# nothing set\n\n")
    assert _problems(host)[0] == []
    conf.write_text("group AAAA=BBBB\n")
    _one(host, "gpg.conf sets GnuPG options")


def test_a_keyring_owned_by_root_is_caught(host):
    os.chown(host.ossec / ".gnupg" / "pubring.kbx", 0, 0)
    _one(host, "pubring.kbx belongs to root")


def test_a_header_checks_line_removed_is_high(host):
    path = host.postfix / "header_checks"
    path.write_text("".join(line for line in path.read_text().splitlines(True) if "Received" not in line))
    _one(host, "lacks SecureDrop's '/^Received:/", severity="high")


def test_an_etc_procmailrc_is_caught(host):
    host.etc_extra["procmailrc"] = ":0 c\n! spy@elsewhere.example\n"
    _one(host, "/etc/procmailrc exists")


def test_etc_mail_rc_as_bsd_mailx_ships_it_passes_and_an_alias_there_does_not(host):
    host.etc_extra["mail.rc"] = ("set ask askcc append dot save crt\n"
                                 "ignore Received Message-Id Resent-Message-Id Status Mail-From Return-Path Via "
                                 "Delivered-To\n")
    assert _problems(host)[0] == []
    host.etc_extra["mail.rc"] += "alias admins@news.example spy@elsewhere.example\n"
    _one(host, "/etc/mail.rc:3")
