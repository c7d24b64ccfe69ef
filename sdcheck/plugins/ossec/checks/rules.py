"""ossec.rules: the host's own ossec-logtest mails an sdcheck problem line and logs, without
mailing, the OK line; no other rule hooks into sdcheck's."""

from __future__ import annotations

from sdcheck.check import Check, Option
from sdcheck.host.base import FactError
from sdcheck.model import Finding, Severity
from sdcheck.plugins.ossec.base import OSSEC_DIR, conf_path, conf_value, read_conf
from sdcheck.plugins.ossec.conf import ConfError
from sdcheck.plugins.ossec.rules import parse_logtest, scan_rules
from sdcheck.startup import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Iterable

OURS = range(401100, 401200)
SD_GROUPS = {"sdcheck", "sdcheck_error", "sdcheck_ok"}
# lines sdcheck or its <localfile> command can print that are not a check's finding
CRASH_LINES = ["Traceback (most recent call last):", "Killed",
               "/usr/bin/env: 'python3': No such file or directory"]
OWN_IDS = ["sdcheck.crash", "sdcheck.silent", "sdcheck.hang", "sdcheck.usage", "sdcheck.internal"]
OK_LINE = "sdcheck: OK: all checks passed (profile mon; a sample line of ossec.rules)"


class Rules(Check):
    id = "ossec.rules"
    title = "OSSEC mails every sdcheck problem line and logs the OK line (the host's own ossec-logtest)"
    # what exactly is verified (docs/checks.md, sdcheck explain)
    details = ("(mon) The host's `<ossec_dir>/bin/ossec-logtest` evaluates, with the host's own rules and "
               "decoders, one sample problem line for every check id sdcheck has (`System configuration error: "
               "[<id>] (<severity>) ...`, at each of the four severities, as the <localfile> alias `sdcheck` "
               "delivers it), sdcheck's own crash, silence and hang lines, raw crash output and the OK line. "
               "Each critical, high and medium problem line must end in an alert at or above "
               "`<email_alert_level>` (or with alert_by_email) and without no_email_alert, a low one in a "
               "logged alert; the OK line "
               "must not be mailed and must be logged (the heartbeat reads it). Then every rule file "
               "ossec.conf includes is scanned: a rule outside sdcheck's block 401100-401199 that is a child "
               "of one of its rules, requires its groups or names 'sdcheck' is critical; a child of rule 530 "
               "with a condition on the location, host or time is high, because logtest always reads as "
               "'stdin' and cannot show what it does to the agent's events.")
    severity = Severity.CRITICAL
    why = ("sdcheck's findings reach the admins only as OSSEC alerts. One level-0 child rule, an overriding "
           "rule or a decoder change silences every sdcheck line while sdcheck itself keeps reporting.")
    remedy = ("Restore SecureDrop's local_rules.xml and local_decoder.xml with sdcheck's rules from "
              "ossec_rules/local_rules.xml, remove the rule named, restart OSSEC, and find out who added it.")
    options = {
        "ossec_dir": OSSEC_DIR,
        "alias": Option(str, "sdcheck", help="the <alias> of sdcheck's <localfile>",
                        check=lambda v: v.replace("_", "").replace("-", "").isalnum()),
    }
    timeout = 120.0

    def _samples(self) -> list[tuple[str, str]]:
        """(event, what OSSEC must do with it): "mail" a problem line of critical, high or
        medium severity, sdcheck's own lines and crash output; "log" a low one (logged, and
        mailing it is not a fault); "ok" the OK line (logged, never mailed)."""
        from sdcheck.registry import load_checks

        lines = []
        for cid in sorted(load_checks()):
            for sev in ("critical", "high", "medium", "low"):
                lines.append((f"System configuration error: [{cid}] ({sev}) a sample line of ossec.rules",
                              "log" if sev == "low" else "mail"))
        lines += [(f"System configuration error: [{cid}] (critical) a sample line of ossec.rules", "mail")
                  for cid in OWN_IDS]
        lines += [(line, "mail") for line in CRASH_LINES] + [(OK_LINE, "ok")]
        return [(f"ossec: output: '{self.opts['alias']}': {text}", want) for text, want in lines]

    def run(self) -> Iterable[Finding]:
        base = self.opts["ossec_dir"].rstrip("/")
        try:
            conf = read_conf(self.ctx, base)
        except (FactError, ConfError) as exc:
            yield self.error(f"{conf_path(base)} cannot be read: {exc}", resource=conf_path(base))
            return
        rules, where = self._rules(base, conf)
        samples = self._samples()
        logtest = f"{base}/bin/ossec-logtest"
        try:
            res = self.ctx.facts.run([logtest, "-q"], timeout=90,
                                     input="".join(s + "\n" for s, _ in samples).encode())
        except FactError as exc:
            yield self.error(f"{logtest} cannot run: {exc}", resource=logtest)
            return
        verdicts = parse_logtest(res.stdout.decode("utf-8", "replace") + res.stderr.decode("utf-8", "replace"))
        if res.returncode != 0 or len(verdicts) != len(samples):
            said = [ln.split(": ", 1)[-1] for ln in res.stderr.decode("utf-8", "replace").splitlines()
                    if "ERROR" in ln or "Invalid" in ln][:1]
            yield self.fail(f"{logtest} failed (exit {res.returncode}, {len(verdicts)} of {len(samples)} "
                            "lines evaluated): OSSEC cannot load its rules or decoders"
                            + (f"; it says: {said[0][:200]}" if said else ""), resource=logtest,
                            expected="every line evaluated", actual=f"exit {res.returncode}", group="logtest")
            return
        found = list(self._judge(conf, samples, verdicts, rules, where))
        found += list(self._hooks(rules, where))
        yield from found or [self.passed(f"ossec-logtest mails all {sum(w == 'mail' for _s, w in samples)} sdcheck "
                                         "problem lines of critical, high and medium severity, logs the low ones "
                                         "and the OK line; no other rule hooks into sdcheck's",
                                         resource=logtest)]

    def _rules(self, base, conf):
        """Rules by id (the last definition wins, as with overwrite) and where each is."""
        rules, where = {}, {}
        names = [item.split(" = ", 1)[1] for item, _ in conf if item.startswith("rules/include = ")]
        for name in names:
            if "/" in name or name.startswith("."):
                continue
            path = f"{base}/rules/{name}"
            try:
                text = self.ctx.facts.read_text(path, 4 << 20)
            except FactError:
                continue  # logtest reports a rule file it cannot load
            for rule in scan_rules(text):
                rules.setdefault(rule.id, []).append(rule)
                where[(rule.id, len(rules[rule.id]) - 1)] = f"{path}:{rule.line}"
        return rules, where

    def _judge(self, conf, samples, verdicts, rules, where) -> Iterable[Finding]:
        email_level = int(conf_value(conf, "alerts/email_alert_level", "7") or 7)
        log_level = int(conf_value(conf, "alerts/log_alert_level", "1") or 1)
        notify = conf_value(conf, "global/email_notification", "no") == "yes"
        silenced: dict[str, list[str]] = {}
        unlogged: dict[str, list[str]] = {}
        for (line, want), v in zip(samples, verdicts):
            defs = rules.get(v.rule or -1, [])
            opts = defs[-1].options if defs else set()
            at = where.get((v.rule, len(defs) - 1), "an unknown file") if defs else "no rule file"
            mailed = (notify and v.alert and (v.level or 0) >= 1 and "no_email_alert" not in opts
                      and ((v.level or 0) >= email_level or "alert_by_email" in opts))
            logged = v.alert and (v.level or 0) >= log_level and "no_log" not in opts
            text = line.split("': ", 1)[1]
            problem = want != "ok"
            if want == "log" and not logged:
                how = (f"rule {v.rule} (level {v.level}, {at})" if v.rule is not None else "no rule")
                unlogged.setdefault(how, []).append(text)
            elif want == "mail" and not mailed:
                how = (f"rule {v.rule} (level {v.level}, {at})" if v.rule is not None else "no rule")
                silenced.setdefault(how, []).append(text)
            elif not problem and mailed:
                yield self.fail(f"the OK line is mailed: rule {v.rule} (level {v.level}, {at}) sends every quiet "
                                "day's OK as an alert", resource=at, expected=f"below level {email_level}, not "
                                "mailed", actual=f"level {v.level}", severity=Severity.LOW, group="ok")
            elif not problem and (not v.alert or (v.level or 0) < log_level or "no_log" in opts):
                yield self.fail(f"the OK line is not logged (rule {v.rule}, level {v.level}, {at}): the "
                                "heartbeat cannot see that sdcheck ran; install ossec_rules/local_rules.xml "
                                "of this sdcheck", resource=at, expected=f"level {log_level} or more, logged",
                                actual=f"level {v.level}", severity=Severity.MEDIUM, group="ok")
        if not notify:
            yield self.fail("ossec.conf has no <email_notification>yes: OSSEC mails no alert at all",
                            resource="global/email_notification", expected="yes", actual="no", group="mail")
        for how, lines in sorted(unlogged.items()):
            yield self.fail(f"{len(lines)} low sdcheck problem lines are not even logged; they end at {how} "
                            f"(e.g. {lines[0]!r})", resource=how, expected=f"logged, level {log_level} or more",
                            actual=how, group="unlogged", subject=f"{how} (low lines)")
        for how, lines in sorted(silenced.items()):
            yield self.fail(f"{len(lines)} of {len(samples) - 1} sdcheck problem lines are not mailed; they end at "
                            f"{how}, below email_alert_level {email_level} or not mailed (e.g. {lines[0]!r})",
                            resource=how, expected=f"level {email_level} or more, mailed",
                            actual=how, group="silenced", subject=how)

    def _hooks(self, rules, where) -> Iterable[Finding]:
        for rid, defs in sorted(rules.items()):
            for i, rule in enumerate(defs):
                at = where[(rid, i)]
                if rid in OURS:
                    continue
                hooked = ([p for p in rule.parents if p in OURS] or [g for g in rule.groups if g in SD_GROUPS]
                          or (["'sdcheck'"] if rule.mentions else []))
                if hooked:
                    yield self.fail(f"{at}: rule {rid} (level {rule.level}) hooks into sdcheck's rules "
                                    f"({', '.join(map(str, hooked))}): it can take sdcheck's lines away from the "
                                    "rules that mail them", resource=at, expected="no such rule",
                                    actual=f"rule {rid}", group="hook", subject=f"rule {rid}")
                elif 530 in rule.parents and rule.conditions:
                    yield self.fail(f"{at}: rule {rid} (level {rule.level}), a child of 530, depends on "
                                    f"{', '.join(rule.conditions)}: ossec-logtest cannot show what it does to "
                                    "the agent's sdcheck lines", resource=at, expected="no such rule",
                                    actual=f"rule {rid}", severity=Severity.HIGH, group="hook",
                                    subject=f"rule {rid}")
