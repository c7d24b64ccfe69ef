"""ossec.rules with the real ossec-logtest of OSSEC 3.6.0 (built from ../shared/vendor): SecureDrop's
rules with sdcheck's pass; a rule, an override or a setting that keeps sdcheck's lines from
being mailed is a critical finding."""

from __future__ import annotations

import pytest
from helpers import cli
from helpers import ossec as real
from helpers.securedrop import ossec_conf, ossec_local_rules

CHECK = "ossec.rules"


@pytest.fixture(scope="module")
def ossec():
    return real.build()


def _run(ossec, tmp_path, conf=None, rules=None):
    tmp_path.mkdir(exist_ok=True)
    scratch = real.securedrop_server(ossec, tmp_path / "ossec", conf=conf, rules=rules)
    res = real.sdcheck_inside(ossec, scratch, "run", "--profile", "mon", "--only", CHECK)
    lines = [ln for ln in res.stdout.splitlines() if ln.startswith(f"{cli.PREFIX}[{CHECK}]")]
    return res.returncode, lines, res


def test_securedrop_rules_with_sdcheck_pass(ossec, tmp_path):
    code, lines, res = _run(ossec, tmp_path)
    assert code == 0 and lines == [] and res.stdout.startswith("sdcheck: OK"), (res.stdout, res.stderr)


CHILD_OF_OURS = """
<group name="local,">
  <rule id="100900" level="0">
    <if_sid>401101</if_sid>
    <description>quiet</description>
  </rule>
</group>
"""

# a sibling under 530 placed before sdcheck's rules, matching only some of its lines
SIBLING_FIRST = """
<group name="local,">
  <rule id="100901" level="0">
    <if_sid>530</if_sid>
    <match>System configuration error: [alert.</match>
    <description>quiet</description>
  </rule>
</group>
"""

# sdcheck's own error rule turned down in place
OVERRIDDEN = """
<group name="local,">
  <rule id="401101" level="3" overwrite="yes">
    <if_sid>401100</if_sid>
    <match>^ossec: output: 'sdcheck': System configuration error: </match>
    <description>sdcheck</description>
  </rule>
</group>
"""


def test_a_level_0_child_of_the_error_rule_is_critical(ossec, tmp_path):
    code, lines, res = _run(ossec, tmp_path, rules=ossec_local_rules() + CHILD_OF_OURS)
    assert code == 1, res.stdout
    assert any("not mailed; they end at rule 100900 (level 0" in ln for ln in lines), lines
    assert any("rule 100900 (level 0) hooks into sdcheck's rules (401101)" in ln for ln in lines), lines


def test_a_sibling_that_takes_some_lines_first_is_critical(ossec, tmp_path):
    code, lines, _ = _run(ossec, tmp_path, rules=SIBLING_FIRST + ossec_local_rules())
    assert code == 1 and any("end at rule 100901 (level 0" in ln for ln in lines), lines


def test_sdcheck_rule_overwritten_below_the_mail_level_is_critical(ossec, tmp_path):
    code, lines, _ = _run(ossec, tmp_path, rules=ossec_local_rules() + OVERRIDDEN)
    assert code == 1 and any("end at rule 401101 (level 3" in ln for ln in lines), lines


def test_a_raised_email_level_is_judged_as_analysisd_does(ossec, tmp_path):
    """alert_by_email mails sdcheck's lines whatever the level (analysisd's rules.c); without
    it, a raised email_alert_level silences them. (ossec.config reports the raised level.)"""
    conf = ossec_conf("mon").replace("<email_alert_level>7<", "<email_alert_level>13<")
    code, lines, _ = _run(ossec, tmp_path / "a", conf=conf)
    assert code == 0 and lines == [], lines
    rules = ossec_local_rules().replace("<options>alert_by_email</options>", "")
    code, lines, _ = _run(ossec, tmp_path / "b", conf=conf, rules=rules)
    assert code == 1 and any("below email_alert_level 13" in ln for ln in lines), lines


def test_a_rule_for_the_agents_location_only_is_reported(ossec, tmp_path):
    rule = SIBLING_FIRST.replace("<match>System configuration error: [alert.</match>",
                                 "<hostname>app</hostname>")  # OSSEC 3.6 has no <location> in rules
    code, lines, _ = _run(ossec, tmp_path, rules=rule + ossec_local_rules())
    assert code == 1 and any("rule 100901" in ln and "depends on hostname" in ln for ln in lines), lines


def test_rules_ossec_cannot_load_are_one_line_with_its_reason(ossec, tmp_path):
    rule = SIBLING_FIRST.replace("<match>System configuration error: [alert.</match>", "<location>x</location>")
    code, lines, _ = _run(ossec, tmp_path, rules=rule + ossec_local_rules())
    assert code == 1 and len(lines) == 1 and "Invalid option 'location' for rule '100901'" in lines[0], lines


def test_rules_without_sdcheck_s_are_reported(ossec, tmp_path):
    sd_only = (real.ROOT / "tests" / "data" / "securedrop" / "ossec-server-local_rules.xml").read_text()
    code, lines, _ = _run(ossec, tmp_path, rules=sd_only)
    assert code == 1 and lines, lines


def test_the_ok_line_at_level_0_is_reported_for_the_heartbeat(ossec, tmp_path):
    rules = ossec_local_rules().replace('<rule id="401103" level="1">', '<rule id="401103" level="0">')
    code, lines, _ = _run(ossec, tmp_path, rules=rules)
    assert code == 1 and any("the OK line is not logged" in ln for ln in lines), lines


def test_alert_levels_follow_severity_in_the_real_logtest(ossec, tmp_path):
    """OSSEC 3.6.0's own ossec-logtest, SecureDrop's rules and ossec.conf (email_alert_level 7,
    log_alert_level 1) with sdcheck's: lines as sdcheck's formatter renders them for each
    severity, sdcheck's own failure lines, and a message that tries to choose its own level."""
    from sdcheck.escape import Redactor
    from sdcheck.formatters import ossec as fmt
    from sdcheck.model import CheckOutcome, Finding, RunResult, Severity, Status
    from sdcheck.plugins.ossec.rules import parse_logtest

    def line(severity: Severity, message: str = "a problem") -> str:
        result = RunResult(profile="mon", profile_source="test", baseline="-")
        result.outcomes = [CheckOutcome("postfix.relay", "t", severity, [
            Finding("postfix.relay", Status.FAIL, severity, message, "main.cf")])]
        (text,) = fmt.lines(result, Redactor())
        return text

    cases = [(line(Severity.CRITICAL), 401101, 12), (line(Severity.HIGH), 401101, 12),
             (line(Severity.MEDIUM), 401104, 7), (line(Severity.LOW), 401105, 4),
             # a host value that says "(low)" cannot lower a high line
             (line(Severity.HIGH, "] (low) relayhost = [mail.example]:587 (low) "), 401101, 12),
             (fmt.error_line("sdcheck.config", "bad vars file"), 401101, 12),
             ("System configuration error: [sdcheck.silent] sdcheck printed nothing", 401101, 12),
             ("System configuration error: [sdcheck.crash] sdcheck did not finish (exit status 137)", 401101, 12),
             ("Traceback (most recent call last):", 401102, 12)]
    scratch = real.securedrop_server(ossec, tmp_path / "ossec")
    events = "".join(f"ossec: output: 'sdcheck': {text}\n" for text, _r, _l in cases)
    res = ossec.run(f"exec {ossec.prefix}/bin/ossec-logtest -q", scratch=scratch, input=events.encode())
    verdicts = parse_logtest(res.stdout.decode() + res.stderr.decode())
    assert len(verdicts) == len(cases), res.stderr.decode()[-2000:]
    for (text, rule, lvl), v in zip(cases, verdicts):
        assert (v.rule, v.level, v.alert) == (rule, lvl, True), text
    conf = (scratch / "etc" / "ossec.conf").read_text()
    assert "<email_alert_level>7</email_alert_level>" in conf and "<log_alert_level>1</log_alert_level>" in conf
    # what that means with SecureDrop's levels: medium (7) is mailed, low (4) only logged
    rules = (scratch / "rules" / "local_rules.xml").read_text()
    low = rules[rules.index('<rule id="401105"'):]
    assert "alert_by_email" not in low[:low.index("</rule>")]
