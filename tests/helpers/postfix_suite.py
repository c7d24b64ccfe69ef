"""Shared by the postfix plugin's tests (tests/plugins/postfix/): breakages of SecureDrop's
Postfix configuration, each with the check that must report it and the words it must use."""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

from hypothesis import strategies as st

from helpers.cli import PREFIX
from helpers.postfix import PASSWORD, PORT, RELAY, Site


def lines_of(lines: list[str], check_id: str) -> list[str]:
    return [ln for ln in lines if ln.startswith(f"{PREFIX}[{check_id}]")]


def _relay_port(site):
    site.main_cf(f"relayhost = [{RELAY}]:25")


def _relay_brackets(site):
    site.main_cf(f"relayhost = {RELAY}:{PORT}")


def break_key(site):
    site.write_sasl(f"{RELAY}:{PORT} {site.sender}:{site.password}")


def break_mode_0644(site):
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
    "sasl key differs": ("system", break_key, "postfix.sasl-passwd", "has no entry for [smtp.gmail.com]:587"),
    "sasl_passwd 0644": ("system", break_mode_0644, "postfix.sasl-passwd", "has mode 0644"),
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


def every_output(site: Site) -> str:
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


def breakage_is_detected(tmp_path, name):
    """One breakage of SecureDrop's configuration: its check reports it, with these words."""
    mode, change, check_id, words = BREAKAGES[name]
    site = Site(tmp_path, mode)
    change(site)
    code, lines = site.run()
    got = lines_of(lines, check_id)
    assert code == 1 and got, lines
    assert any(words in ln for ln in got), got
    assert all(PASSWORD not in ln for ln in lines)
