"""ossec.config: SecureDrop's package ossec.conf plus sdcheck's <localfile> is clean; every way
of diverting, silencing or widening alerts through ossec.conf is a finding naming its line."""

from __future__ import annotations

import json

import pytest
from helpers import cli
from helpers.securedrop import ossec_conf
from hypothesis import given, settings
from hypothesis import strategies as st

from sdcheck.plugins.ossec.conf import ConfError, items

CHECK = "ossec.config"


def _install(tmp_path, role: str, text: str | None = None):
    (tmp_path / "etc").mkdir(exist_ok=True)
    (tmp_path / "etc" / "ossec.conf").write_text(text if text is not None else ossec_conf(role))
    return tmp_path


def _run(ossec_dir, role="mon", fmt=None):
    args = ["run", "--profile", role, "--only", CHECK, "--var", f"ossec_dir={ossec_dir}", "--var", "monitor_ip=10.20.3.2"]
    if fmt:
        args = ["report", "--profile", role, "--only", CHECK, "--var", f"ossec_dir={ossec_dir}", "--var",
                "monitor_ip=10.20.3.2", "--format", fmt]
    res = cli.sdcheck(*args)
    return res.returncode, [ln for ln in res.stdout.splitlines() if ln.startswith(f"{cli.PREFIX}[{CHECK}]")], res


@pytest.mark.parametrize("role", ["mon", "app"])
def test_securedrop_package_file_with_sdcheck_is_clean(tmp_path, role):
    code, lines, res = _run(_install(tmp_path, role), role)
    assert code == 0 and lines == [] and res.stdout.startswith("sdcheck: OK"), res.stdout


def test_comments_and_layout_do_not_count(tmp_path):
    text = ossec_conf("mon").replace("<global>", "<!-- <email_to>x@example.org</email_to> -->\n  <global>\n\n")
    text = text.replace("<email_alert_level>7</email_alert_level>", "<email_alert_level>\n  7\n</email_alert_level>")
    code, lines, _ = _run(_install(tmp_path, "mon", text))
    assert code == 0 and lines == []


SERVER_ATTACKS = {
    "sendmail as the smtp server": (("<smtp_server>127.0.0.1</smtp_server>",
                                     "<smtp_server>/usr/sbin/sendmail -t</smtp_server>"),
                                    "global/smtp_server is /usr/sbin/sendmail -t, SecureDrop ships 127.0.0.1"),
    "raised email level": (("<email_alert_level>7</email_alert_level>", "<email_alert_level>13</email_alert_level>"),
                           "alerts/email_alert_level is 13, SecureDrop ships 7"),
    "another recipient": (("<email_to>root@localhost</email_to>\n    <smtp_server>",
                           "<email_to>someone@example.org</email_to>\n    <smtp_server>"),
                          "global/email_to is someone@example.org"),
    "an extra email_alerts block": (("<!-- rules global entry -->",
                                     "<email_alerts><email_to>leak@example.org</email_to><level>1</level>"
                                     "</email_alerts>"),
                                    "an entry SecureDrop does not ship: email_alerts: email_to=leak@example.org"),
    "sdcheck's alias renamed": (("<alias>sdcheck</alias>", "<alias>sdcheck2</alias>"), "alias=sdcheck2"),
    "a second ossec_config block": (("</ossec_config>", "</ossec_config>\n<ossec_config><global>"
                                     "<email_to>x@example.org</email_to></global></ossec_config>"),
                                    "an entry SecureDrop does not ship: global/email_to = x@example.org"),
    "a rules file dropped": (("<include>local_rules.xml</include>", ""),
                             "SecureDrop's entry is missing: rules/include = local_rules.xml"),
    "a separator smuggled into a value": (("<command>df -h</command>\n  </localfile>",
                                           "<command>df -h; log_format=command</command>\n  </localfile>"),
                                          "localfile"),
}


@pytest.mark.parametrize("case", sorted(SERVER_ATTACKS))
def test_each_attack_on_the_server_file_is_critical(tmp_path, case):
    (old, new), expect = SERVER_ATTACKS[case]
    text = ossec_conf("mon")
    assert old in text
    code, lines, _ = _run(_install(tmp_path, "mon", text.replace(old, new, 1)))
    assert code == 1 and lines and any(expect in ln for ln in lines), lines
    _, _, res = _run(tmp_path, fmt="json")
    problems = [f for f in json.loads(res.stdout)["findings"] if f["status"] != "pass"]
    worst = "high" if case.startswith("a separator") else "critical"  # a monitoring entry, not the mail
    assert problems and max(problems, key=lambda f: ["low", "medium", "high", "critical"].index(f["severity"]))[
        "severity"] == worst, problems


def test_a_finding_names_the_file_and_line(tmp_path):
    text = ossec_conf("mon").replace("<email_alert_level>7<", "<email_alert_level>9<")
    line = text[: text.index("<email_alert_level>9")].count("\n") + 1
    _, lines, _ = _run(_install(tmp_path, "mon", text))
    assert any(f"{tmp_path}/etc/ossec.conf:{line}:" in ln for ln in lines), lines


def test_the_agent_file_pointed_elsewhere_is_reported(tmp_path):
    text = ossec_conf("app").replace("<server-ip>10.20.3.2</server-ip>", "<server-ip>192.0.2.9</server-ip>")
    assert "192.0.2.9" in text
    code, lines, _ = _run(_install(tmp_path, "app", text), "app")
    assert code == 1 and any("client/server-ip is 192.0.2.9, SecureDrop ships 10.20.3.2" in ln for ln in lines), lines


def test_a_broken_file_is_one_line_naming_where(tmp_path):
    code, lines, _ = _run(_install(tmp_path, "mon", ossec_conf("mon") + "<ossec_config><global>"))
    assert code == 1 and len(lines) == 1 and "not well-formed XML at line" in lines[0], lines


def test_a_missing_file_is_an_error_line(tmp_path):
    code, lines, _ = _run(tmp_path)
    assert code == 1 and len(lines) == 1 and "cannot be read" in lines[0], lines


names = st.text(alphabet="abcdefgh_", min_size=1, max_size=6)
values = st.text(min_size=0, max_size=20).filter(lambda v: "\x00" not in v)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(names, names, values), min_size=1, max_size=6),
       st.lists(st.tuples(names, names, values), min_size=1, max_size=6))
def test_different_files_never_reduce_to_the_same_items(a, b):
    """Two configurations are equal as items only when OSSEC would read the same settings."""
    from xml.sax.saxutils import escape

    def render(entries):
        return "<ossec_config>" + "".join(f"<localfile><{k}>{escape(v)}</{k}><{k2}>x</{k2}></localfile>"
                                          for k, k2, v in entries) + "</ossec_config>"

    def meaning(entries):
        return sorted(tuple(sorted([(k, " ".join(v.split())), (k2, "x")])) for k, k2, v in entries)

    try:
        ia, ib = items(render(a)), items(render(b))
    except ConfError:
        return
    assert (sorted(i for i, _ in ia) == sorted(i for i, _ in ib)) == (meaning(a) == meaning(b))
