"""Postfix checks against real Postfix tools (postconf, postmap from Debian's postfix) on
configurations rendered from SecureDrop's templates into temporary directories."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers.postfix import PASSWORD, PORT, RELAY, Master, Site
from helpers.all import need

PREFIX = "System configuration error: "
def lines_of(lines: list[str], check_id: str) -> list[str]:
    return [ln for ln in lines if ln.startswith(f"{PREFIX}[{check_id}]")]


# -- SecureDrop's configuration passes, in each TLS mode -----------------------------------

@pytest.mark.parametrize("mode", ["system", "override", "fingerprint"])
def test_reference_configuration_passes(tmp_path, mode):
    site = Site(tmp_path, mode)
    code, lines = site.run()
    assert code == 0, lines
    res = subprocess.run([sys.executable, "-m", "sdcheck", "list", "--profile", "mon"], capture_output=True,
                         text=True, timeout=60)
    n = sum(1 for ln in res.stdout.splitlines() if ln.startswith("postfix."))
    assert n >= 7  # postfix.config among them
    assert lines == [f"sdcheck: OK: {n - 1} checks passed, 1 skip (profile mon)"]  # the service is off


def test_service_disabled_is_a_skip_and_enabled_without_postfix_fails(tmp_path):
    site = Site(tmp_path)
    data = site.report()
    service = next(c for c in data["checks"] if c["id"] == "postfix.service")
    assert service["status"] == "skip"
    code, lines = site.run(postfix_enable_service=True)
    # no Postfix master runs on the test machine
    assert code == 1 and lines_of(lines, "postfix.service") == [
        f"{PREFIX}[postfix.service] Postfix is not running: no process runs /usr/lib/postfix/sbin/master as root, "
        "so alerts are not mailed"]


# -- each way of breaking it is detected, by the right check ----------------------------

def _relay_port(site):
    site.main_cf(f"relayhost = [{RELAY}]:25")


def _relay_brackets(site):
    site.main_cf(f"relayhost = {RELAY}:{PORT}")


def _key_differs(site):
    site.write_sasl(f"{RELAY}:{PORT} {site.sender}:{site.password}")


def _mode_0644(site):
    os.chmod(site.dir / "sasl_passwd", 0o644)


def _source_newer(site):
    later = time.time() + 60
    os.utime(site.dir / "sasl_passwd", (later, later))


def _db_missing(site):
    (site.dir / "sasl_passwd.db").unlink()


def _level_may(site):
    site.main_cf("smtp_tls_security_level = may")


def _sslv3(site):
    site.main_cf("smtp_tls_mandatory_protocols = SSLv3 TLSv1.2")


def _fingerprint_mismatch(site):
    site.main_cf("smtp_tls_fingerprint_cert_match = 00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33")


def _ca_missing(site):
    (Path(site.values["smtp_relay_cert_override_dir"]) / "relay-ca.crt").unlink()


def _ca_garbage(site):
    (Path(site.values["smtp_relay_cert_override_dir"]) / "relay-ca.crt").write_text("not a certificate\n")


def _inet_all(site):
    site.main_cf("inet_interfaces = all")


def _header_line_missing(site):
    path = site.dir / "header_checks"
    path.write_text("".join(ln + "\n" for ln in path.read_text().splitlines() if "Received" not in ln))


def _master_override(site):
    path = site.dir / "master.cf"
    text = re.sub(r"^(relay\s+unix.*\n)", r"\1  -o smtp_tls_security_level=none\n", path.read_text(), flags=re.M)
    path.write_text(text)


def _wrong_user(site):
    site.write_sasl(f"[{RELAY}]:{PORT} someone@else.example:{site.password}")


def _two_entries(site):
    site.write_sasl(f"[{RELAY}]:{PORT} {site.sender}:{site.password}\n[other.example]:25 x:y")


def _password_differs(site):
    site.write_sasl(f"[{RELAY}]:{PORT} {site.sender}:another-password")


def _generic_wrong(site):
    (site.dir / "generic").write_text("ossec@mon.news.example someone@else.example\n")
    site.postmap("generic")


def _policy_maps(site):
    site.main_cf(f"smtp_tls_policy_maps = hash:{site.dir}/tls_policy")


def _no_noanonymous(site):
    site.main_cf("smtp_sasl_security_options =")


BREAKAGES = {
    # name: (mode, change, check id, words in its run line)
    "relayhost port": ("system", _relay_port, "postfix.relay", "relayhost is [smtp.gmail.com]:25, expected [smtp.gmail.com]:587 (same host"),
    "relayhost brackets": ("system", _relay_brackets, "postfix.relay", "the port or the [brackets] differ"),
    "sasl key differs": ("system", _key_differs, "postfix.sasl-passwd", "has no entry for [smtp.gmail.com]:587"),
    "sasl_passwd 0644": ("system", _mode_0644, "postfix.sasl-passwd", "has mode 0644"),
    "source newer than db": ("system", _source_newer, "postfix.sasl-passwd", "was changed after"),
    "db missing": ("system", _db_missing, "postfix.sasl-passwd", "sasl_passwd.db does not exist"),
    "tls may": ("system", _level_may, "postfix.tls", "smtp_tls_security_level is may, expected secure"),
    "sslv3 allowed": ("system", _sslv3, "postfix.tls", "which allows SSLv3"),
    "fingerprint mismatch": ("fingerprint", _fingerprint_mismatch, "postfix.tls", "smtp_tls_fingerprint_cert_match is"),
    "override CA missing": ("override", _ca_missing, "postfix.tls", "relay-ca.crt (smtp_relay_cert_override_file) does not exist"),
    "override CA garbage": ("override", _ca_garbage, "postfix.tls", "holds no certificate that parses"),
    "inet_interfaces all": ("system", _inet_all, "postfix.local", "inet_interfaces is all"),
    "header_checks line missing": ("system", _header_line_missing, "postfix.local", "does not strip 2 of 7 sample headers: Received (no match); Received (no match)"),
    "master.cf override": ("system", _master_override, "postfix.master", "service relay/unix overrides smtp_tls_security_level = none"),
    "sasl user wrong": ("system", _wrong_user, "postfix.sasl-passwd", "authenticates as another user than"),
    "two entries": ("system", _two_entries, "postfix.sasl-passwd", "holds 2 entries"),
    "password differs": ("system", _password_differs, "postfix.sasl-passwd", "differs from sasl_password in the vars file"),
    "generic map wrong": ("system", _generic_wrong, "postfix.local", "maps ossec@mon.news.example to someone@else.example"),
    "tls policy maps": ("system", _policy_maps, "postfix.tls", "can lower the TLS level"),
    "noanonymous missing": ("system", _no_noanonymous, "postfix.relay", "lacks noanonymous"),
}


@pytest.mark.parametrize("name", sorted(BREAKAGES))
def test_breakage_is_detected(tmp_path, name):
    mode, change, check_id, words = BREAKAGES[name]
    site = Site(tmp_path, mode)
    change(site)
    code, lines = site.run()
    got = lines_of(lines, check_id)
    assert code == 1 and got, lines
    assert any(words in ln for ln in got), got
    assert all(PASSWORD not in ln for ln in lines)


def test_findings_point_at_main_cf_lines(tmp_path):
    site = Site(tmp_path)
    site.main_cf("smtp_tls_security_level = none")
    n = len((site.dir / "main.cf").read_text().splitlines())
    data = site.report()
    tls = [f for f in data["findings"] if f["check_id"] == "postfix.tls" and f["status"] == "fail"]
    assert tls[0]["resource"] == f"{site.dir}/main.cf:{n}"
    assert tls[0]["severity"] == "critical" and "not verified" in tls[0]["message"]


def test_missing_configuration_is_an_error_not_a_pass(tmp_path):
    site = Site(tmp_path)
    shutil.rmtree(site.dir)
    code, lines = site.run()
    assert code == 1 and len(lines) == 1  # one cause, one line naming every check it stopped
    assert lines[0].startswith(f"{PREFIX}[postfix.relay] ")
    assert "does not exist or is not a regular file" in lines[0]
    assert all(f"postfix.{c}" in lines[0] for c in ("tls", "master", "local", "sasl-passwd"))


def test_unset_relay_is_an_error(tmp_path):
    site = Site(tmp_path)
    code, lines = site.run(smtp_relay="")
    assert code == 1 and any("the variable smtp_relay is not set" in ln for ln in lines_of(lines, "postfix.relay"))


# -- the password is never printed ------------------------------------------------------

def _all_outputs(site: Site) -> str:
    out = []
    for args in (["run"], ["report"], ["report", "--format", "json"], ["report", "--verbose"]):
        res = site.sdcheck(*args)
        out += [res.stdout, res.stderr]
        if "json" in args:
            out.append(json.dumps(json.loads(res.stdout), ensure_ascii=False))
    return "\n".join(out)


passwords = st.one_of(
    st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp")), min_size=6, max_size=24)
    .filter(lambda p: p.strip() == p and "\\" not in p),
    st.sampled_from(["587", "alerts@news.example", "secure", "hash", "smtp.gmail.com", "a:b:c d", "yes",
                     "postfix", "[smtp.gmail.com]:587", "mon.news.example"]),
)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(password=passwords, state=st.sampled_from(["passing", "failing", "broken"]))
def test_password_never_in_any_output(tmp_path_factory, password, state):
    def outputs(pw: str) -> str:
        root = tmp_path_factory.mktemp("pw")
        site = Site(root, "system", password=pw)
        if state == "failing":
            _key_differs(site)
            _mode_0644(site)
        elif state == "broken":
            (site.dir / "sasl_passwd.db").write_bytes(b"\0garbage" * 64)
        return _all_outputs(site).replace(str(root), "ROOT")

    text = outputs(password)
    if password in text:
        # only where sdcheck's own fixed text holds the same word ('waived', 'postfix', '587'):
        # the same configuration with a neutral password of that length shows it as often
        neutral = outputs("q" * len(password))
        assert text.count(password) <= neutral.count(password), password


# -- the service: a real Postfix master in namespaces of its own ------------------------

@pytest.mark.parametrize("interfaces,ok", [("loopback-only", True), ("all", False)])
def test_service_with_a_real_postfix(tmp_path, netns, interfaces, ok):
    need("unshare", "ss")
    site = Site(tmp_path / "site")
    master = Master(netns, interfaces)
    try:
        # in the master's own mount namespace: its /etc/postfix and spool (master.pid) are there
        vars_file = site.vars_file(postfix_enable_service=True, postfix_dir="/etc/postfix")
        res = subprocess.run(["nsenter", "-t", str(master.pid), "-m", "-n", sys.executable, "-m", "sdcheck", "report",
                              "--profile", "mon", "--vars", vars_file, "--only", "postfix.service", "--format",
                              "json"], capture_output=True, text=True, timeout=60)
        data = json.loads(res.stdout)
        (finding,) = data["findings"]
        if ok:
            assert finding["status"] == "pass" and "127.0.0.1:25" in finding["message"], finding
            assert str(master.pid) in finding["message"]
        else:
            assert finding["status"] == "fail" and "0.0.0.0:25" in finding["message"], finding
    finally:
        master.stop()
