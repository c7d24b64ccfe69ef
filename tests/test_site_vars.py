"""Site variables: a server checked without the site's values gets one plain finding naming
them, not rule-by-rule differences from the baseline's examples; 'sdcheck vars init' starts
a vars file from what the server says; a bad value names the vars file and its line."""

from __future__ import annotations

import shlex

from helpers import cli
from helpers.all import render_rules_v4, write_vars
from helpers.monitor import EMAIL, MonitorHost


def test_a_healthy_server_without_a_vars_file_gets_one_plain_finding(netns, tmp_path):
    netns.restore_securedrop("nft", render_rules_v4("app", False))
    res = netns.sdcheck("run", "--profile", "app", "--only", "iptables", "--skip", "iptables.boot-rules")
    lines = res.stdout.splitlines()
    assert res.returncode == 1 and len(lines) == 1, lines
    (line,) = lines
    assert line.startswith(f"{cli.PREFIX}[sdcheck.vars] (high) site variables not set: ")
    for name in ("monitor_ip", "dns_server", "enable_ssh_over_tor"):
        assert name in line
    # this machine's /etc/sdcheck/vars.yml, if any (setup.sh install writes one, all commented out)
    assert "iptables.ruleset" in line and ("no vars file was read" in line or "does not set them" in line), line
    # the report says which vars file it read, and that the ruleset check did not run
    res = netns.sdcheck("report", "--profile", "app", "--only", "iptables", "--skip", "iptables.boot-rules",
                        "--format", "json")
    import json

    data = json.loads(res.stdout)
    assert data["info"]["vars file"].startswith("none") or data["info"]["vars file"] == "/etc/sdcheck/vars.yml"
    assert {c["id"]: c["status"] for c in data["checks"]}["iptables.ruleset"] == "skip"
    # with the site's values: the same server passes
    varsf = write_vars(tmp_path / "site.yml")
    res = netns.sdcheck("run", "--profile", "app", "--vars", str(varsf), "--only", "iptables", "--skip",
                        "iptables.boot-rules")
    assert res.returncode == 0 and res.stdout.startswith("sdcheck: OK"), res.stdout
    res = netns.sdcheck("report", "--profile", "app", "--vars", str(varsf), "--only", "iptables.ruleset",
                        "--format", "json")
    assert json.loads(res.stdout)["info"]["vars file"] == str(varsf)


def test_a_bad_value_names_the_vars_file_and_its_line(tmp_path):
    varsf = tmp_path / "site.yml"
    varsf.write_text("app_ip: 10.20.2.2\nmonitor_ip: 10.20.3.2\nstore_workers: many\n")
    res = cli.sdcheck("run", "--profile", "app", "--vars", str(varsf), "--only", "store")
    assert res.returncode == 2
    assert f"{varsf}:3" in res.stdout and "app.yml" not in res.stdout, res.stdout


def test_vars_init_reads_what_the_server_says_and_marks_it(tmp_path, admin_key):
    host = MonitorHost(tmp_path, *admin_key)
    cmd = " ".join(shlex.quote(a) for a in [*cli.SDCHECK, "vars", "init", "--profile", "mon"])
    res = host.sh(f"exec {cmd}")
    assert res.returncode == 0, res.stderr
    out = res.stdout
    assert f'ossec_alert_email: "{EMAIL}"  # read from /var/ossec/send_encrypted_alarm.sh: check it' in out
    assert f'ossec_gpg_fpr: "{host.fingerprint}"' in out
    assert '# smtp_relay: ""  # the example' in out or "smtp_relay: " in out
    import yaml

    values = yaml.safe_load(out)  # valid YAML: the read values active, the examples commented out
    assert values["ossec_alert_email"] == EMAIL and "app_ip" not in values
