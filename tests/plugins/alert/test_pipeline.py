"""alert.pipeline: SecureDrop's .procmailrc and alarm script, with the admin's key imported as
SecureDrop imports it, pass; a gpg.conf group, a procmail copy rule, a changed recipient and a
keyring the ossec user cannot read are each caught by running the real thing."""

from __future__ import annotations

import json

import pytest
from helpers.alert_suite import GpgHome
from helpers.monitor import EMAIL, MonitorHost

CHECK = "alert.pipeline"


@pytest.fixture(scope="module")
def keys():
    home = GpgHome()
    admin = home.new_key("Admins <admins@news.example>")
    other = home.new_key("Someone Else <else@elsewhere.example>")
    yield home, admin, other
    home.close()


def _export(home, fpr) -> bytes:
    return home.gpg("--armor", "--export", fpr).encode()


def _findings(host):
    res = host.sdcheck("report", "--only", CHECK, "--format", "json")
    assert res.returncode in (0, 1), res.stderr
    return [f for f in json.loads(res.stdout)["findings"] if f["check_id"] == CHECK]


def _problems(host):
    return [f for f in _findings(host) if f["status"] != "pass"]


def test_securedrop_files_as_shipped_pass(tmp_path, keys):
    home, admin, _ = keys
    host = MonitorHost(tmp_path, admin, _export(home, admin))
    found = _findings(host)
    assert [f["status"] for f in found] == ["pass"], found
    assert EMAIL in found[0]["message"]


def test_a_gpg_conf_group_is_caught(tmp_path, keys):
    home, admin, other = keys
    host = MonitorHost(tmp_path, admin, _export(home, admin) + _export(home, other))
    conf = host.ossec / ".gnupg" / "gpg.conf"
    conf.write_text(f"group {admin}={other}\n")
    import os
    os.chown(conf, host.uid, host.gid)
    (problem,) = _problems(host)
    assert problem["severity"] == "critical" and "can read every alert" in problem["message"], problem
    keyid = problem["message"].split("encrypted to ", 1)[1].split(";", 1)[0]
    assert keyid in home.gpg("--with-colons", "--list-keys", other)  # the other key's encryption subkey


def test_a_procmail_copy_rule_is_caught(tmp_path, keys):
    home, admin, _ = keys
    host = MonitorHost(tmp_path, admin, _export(home, admin))
    rc = host.ossec / ".procmailrc"
    rc.write_text(rc.read_text().replace(":0 E", ":0 c\n! spy@elsewhere.example\n\n:0", 1))
    problems = _problems(host)
    assert any("spy@elsewhere.example" in p["message"] for p in problems), problems


def test_a_changed_recipient_in_the_alarm_script_is_caught(tmp_path, keys):
    home, admin, _ = keys
    host = MonitorHost(tmp_path, admin, _export(home, admin))
    host.write_alarm(host.render_alarm(email="someone@elsewhere.example"))
    (problem,) = _problems(host)
    assert "someone@elsewhere.example" in problem["message"] and problem["severity"] == "critical", problem


def test_a_keyring_the_ossec_user_cannot_read_is_caught(tmp_path, keys):
    home, admin, _ = keys
    host = MonitorHost(tmp_path, admin, _export(home, admin), keyring_owner="root")
    (problem,) = _problems(host)
    assert "Failed to encrypt" in problem["message"], problem


def test_plaintext_is_caught(tmp_path, keys):
    home, admin, _ = keys
    host = MonitorHost(tmp_path, admin, _export(home, admin))
    host.write_alarm(host.render_alarm().replace(
        '/usr/bin/gpg $compression --homedir /var/ossec/.gnupg --trust-model always -ear "$gpg_fpr")"', 'cat)"'))
    problems = _problems(host)
    assert any("plaintext" in p["message"] for p in problems), problems


def test_nothing_on_the_host_changes(tmp_path, keys):
    home, admin, _ = keys
    host = MonitorHost(tmp_path, admin, _export(home, admin))
    before = sorted((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in host.ossec.rglob("*"))
    assert _findings(host)
    after = sorted((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in host.ossec.rglob("*"))
    assert before == after


def test_an_etc_procmailrc_copy_rule_is_caught(tmp_path, keys):
    """procmail reads /etc/procmailrc before the user's own: the run shows the copy it makes."""
    home, admin, _ = keys
    host = MonitorHost(tmp_path, admin, _export(home, admin))
    host.etc_extra["procmailrc"] = ":0 c\n! spy@elsewhere.example\n"
    problems = _problems(host)
    assert any("spy@elsewhere.example" in p["message"] for p in problems), problems


def test_a_recipe_that_writes_into_the_home_changes_nothing(tmp_path, keys):
    """Even where the ossec user may write its home, the sandbox holds it read-only: a recipe
    delivering a copy to a file there writes nothing on the host."""
    home, admin, _ = keys
    host = MonitorHost(tmp_path, admin, _export(home, admin))
    host.ossec.chmod(0o770)  # writable by the ossec group
    rc = host.ossec / ".procmailrc"
    rc.write_text(rc.read_text().replace(":0 E", ":0 c\n/var/ossec/copy.mbox\n\n:0 E", 1))
    before = sorted(p.name for p in host.ossec.iterdir())
    assert _findings(host)
    assert sorted(p.name for p in host.ossec.iterdir()) == before and not (host.ossec / "copy.mbox").exists()
