"""A Monitor Server built from SecureDrop's shipped files, in each of its three TLS modes:
Postfix (main.cf, master.cf, sasl_passwd, generic, header_checks rendered from its templates),
/etc/aliases, the ossec user's .procmailrc, alarm script and keyring, and its ossec.conf with
sdcheck's <localfile>. Every check on that path passes and 'run' prints only the OK line."""

from __future__ import annotations

import os

import pytest
import yaml
from helpers.monitor import EMAIL, MonitorHost
from helpers.postfix import Site
from helpers.securedrop import ossec_conf


@pytest.mark.parametrize("mode", ["system", "override", "fingerprint"])
def test_securedrop_s_monitor_server_is_clean_in_every_tls_mode(tmp_path, admin_key, mode):
    site = Site(tmp_path / "site", mode)
    host = MonitorHost(tmp_path / "host", *admin_key, postfix=site.dir)
    etc = host.ossec / "etc"
    etc.mkdir()
    (etc / "ossec.conf").write_text(ossec_conf("mon"))
    os.chown(etc / "ossec.conf", 0, host.gid)
    variables = yaml.safe_load(open(site.vars_file()))
    variables.update(ossec_alert_email=EMAIL, ossec_from_address=site.sender,
                     monitor_hostname=site.values["postfix_hostname"])
    skip = ["postfix.service"]  # Postfix is not running here (its own tests start it)
    if mode == "system":
        skip.append("postfix.anchors")  # this machine's CA directory; tests/plugins/postfix/test_anchors.py
    args = ["run", "--only", "postfix", "--only", "alert.route", "--only", "alert.pipeline", "--only", "alert.gpg",
            "--only", "ossec.config"] + [a for s in skip for a in ("--skip", s)]
    res = host.sdcheck(*args, **variables)
    assert res.returncode == 0, res.stdout + res.stderr
    assert res.stdout.startswith("sdcheck: OK: ") and len(res.stdout.splitlines()) == 1, res.stdout
