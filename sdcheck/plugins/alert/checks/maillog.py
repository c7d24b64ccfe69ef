"""alert.maillog: the latest OSSEC alert deliveries in the mail log succeeded."""

from __future__ import annotations

from sdcheck.check import Check, Option
from sdcheck.host.base import FactError
from sdcheck.model import Finding, Severity
from sdcheck.plugins.alert.base import GPG_REMEDY
from sdcheck.plugins.alert.mail_log import diagnose, epoch_of, journal_text, procmail_failures
from sdcheck.startup import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Iterable


class Maillog(Check):
    id = "alert.maillog"
    title = "The latest OSSEC alert deliveries in the mail log succeeded"
    # what exactly is verified (docs/checks.md, sdcheck explain)
    details = ("(mon) the tail of `mail_log` (bounded, `tail_bytes`): the latest delivery attempt of an alert (queue"
               " ids whose sender starts `ossec@`), classified (timed out, refused, TLS verification, STARTTLS "
               "required, SASL failure, relay denied, sender rejected) with since when it has been failing; "
               "`procmail_log` lines saying an alert failed to encrypt. Only the category, time, relay and DSN are "
               "printed, never addresses or mail content")
    severity = Severity.HIGH
    why = ("The mail log says why alerts stop arriving long before anyone notices the silence: "
           "timeouts, certificate failures, SASL failures, rejected senders, failed encryption.")
    remedy = "See the message for the fix that matches the failure."
    options = {
        "mail_log": Option(str, "/var/log/mail.log"),
        "procmail_log": Option(str, "/var/log/procmail.log"),
        "tail_bytes": Option(int, 4 << 20, help="how much of the end of each log to read"),
        "sender_prefix": Option(str, "ossec@"),
        "recipients": Option(list, [], help="the only addresses alerts may go to (ossec_alert_email, "
                                            "journalist_alert_email)"),
        "relayhost": Option(str, "", help="[smtp_relay]:smtp_relay_port: the only relay alerts may go through"),
        "max_silence_hours": Option((int, float), 0, help="no delivery attempt within this many hours is a "
                                                          "finding (0: not checked)"),
        "journal": Option(str, "auto", help="auto: read Postfix's lines from journald (trusted fields) when it "
                                            "has them; no: only mail_log",
                          check=lambda v: v in ("auto", "no")),
        "postfix_user": Option(str, "postfix"),
    }

    def _tail(self, path: str) -> str | None:
        """The end of a log (bounded), from the first whole line."""
        st = self.ctx.facts.lstat(path)
        if st is None:
            return None
        if st.is_symlink or not st.is_file:
            raise FactError(f"{path} is not a regular file")
        limit = self.opts["tail_bytes"]
        from sdcheck.escape import from_host

        text = from_host(self.ctx.facts.read_tail(path, limit))
        return text.split("\n", 1)[-1] if st.size > limit else text

    def _when(self, path: str) -> tuple[int | None, int]:
        """(year, month) the log was last written: the newest BSD timestamp's year."""
        import time

        st = self.ctx.facts.lstat(path)
        if st is None:
            return None, 12
        written = time.gmtime(st.mtime)
        return written.tm_year, written.tm_mon

    def _journal(self) -> str | None:
        """Postfix's smtp and qmgr lines from journald, those its trusted fields vouch for;
        None when there is no journal or it holds none."""
        import json

        facts, o = self.ctx.facts, self.opts
        if o["journal"] == "no" or facts.which("journalctl") is None:
            return None
        hours = max(float(o["max_silence_hours"] or 0), 48.0)
        res = facts.run(["journalctl", "--no-pager", "-q", "-o", "json", "--since", f"-{int(hours * 60)}min",
                         "-n", "100000", "SYSLOG_IDENTIFIER=postfix/smtp", "SYSLOG_IDENTIFIER=postfix/qmgr",
                         "SYSLOG_IDENTIFIER=postfix/lmtp"], timeout=30)
        if not res.ok:
            return None
        records = []
        for line in res.stdout.decode("utf-8", "replace").splitlines():
            try:
                records.append(json.loads(line))
            except ValueError:
                continue
        postfix_uid = facts.user_id(o["postfix_user"])
        uids = {0} | ({postfix_uid} if postfix_uid is not None else set())
        return journal_text(records, uids) or None

    def run(self) -> Iterable[Finding]:
        o = self.opts
        try:
            journal = self._journal()
            mail = journal if journal is not None else self._tail(o["mail_log"])
            procmail = self._tail(o["procmail_log"])
        except FactError as exc:
            yield self.error(f"the mail log cannot be read: {exc}", resource=o["mail_log"])
            return
        where = "journald" if journal is not None else o["mail_log"]
        if mail is None:
            yield self.error(f"{o['mail_log']} does not exist: Postfix's log is not where the variable "
                             "mail_log says (is rsyslog running?)", resource=o["mail_log"],
                             remedy="Set mail_log to Postfix's log file, or install rsyslog.")
            return
        found = False
        failure = procmail_failures(procmail) if procmail else None
        if failure:
            found = True
            count, latest = failure
            yield self.fail(f"the latest {count} alert(s) could not be encrypted (procmail log, latest at "
                            f"{latest}): admins receive 'Failed to encrypt OSSEC alert' instead",
                            resource=o["procmail_log"], expected="alerts encrypted", actual="failed to encrypt",
                            group="encrypt", severity=Severity.CRITICAL, remedy=GPG_REMEDY)
        when = self._when(o["mail_log"]) if journal is None else (None, 12)
        relayhost = o["relayhost"] if o["relayhost"].rpartition(":")[0].strip("[]") else ""  # no relay set: not judged
        state = diagnose(mail, o["sender_prefix"], *when, recipients={r for r in o["recipients"] if r},
                         relayhost=relayhost)
        for finding in self._strays(state, where):
            found = True
            yield finding
        silent = self._silence(state, where)
        if silent is not None:
            yield silent
            return
        if state is None or state["status"] is None:
            if not found:
                yield self.passed(f"no alert delivery attempt in the last {len(mail) // 1024} KB of "
                                  f"{where}", resource=where)
            return
        if state["kind"] is None:
            if not found:
                yield self.passed(f"the latest alert was delivered at {state['when']} via {state['relay']} "
                                  f"({state['count']} delivered in a row)", resource=o["mail_log"])
            return
        name, fix = state["kind"]
        yield self.fail(f"alerts are not delivered: {name} (latest attempt {state['when']} via {state['relay']}, "
                        f"dsn {state['dsn']}, status {state['status']}); failing since {state['since']} "
                        f"({state['count']} attempt(s))", resource=o["mail_log"], expected="status=sent",
                        actual=name, remedy=fix or "Read the latest postfix/smtp lines of the mail log.",
                        group=name)

    def _strays(self, state, where) -> Iterable[Finding]:
        """Alerts addressed to someone else, or delivered through another relay."""
        seen = set()
        for a in (state or {}).get("strays", []):
            key = (a["to"], a["relay"], a["status"] == "sent")
            if key in seen:
                continue
            seen.add(key)
            wrong_to = self.opts["recipients"] and a["to"] not in self.opts["recipients"]
            what = (f"an alert was addressed to {a['to']}" if wrong_to
                    else f"an alert was delivered through {a['relay']}, not {self.opts['relayhost']}")
            yield self.fail(f"{what} ({a['when']}, status {a['status']}): alerts go only to the admins through "
                            "the configured relay", resource=where, expected=", ".join(self.opts["recipients"])
                            if wrong_to else self.opts["relayhost"], actual=a["to"] if wrong_to else a["relay"],
                            severity=Severity.CRITICAL, group="stray", subject=f"stray {a['to']} {a['relay']}",
                            remedy="Find what sends OSSEC's mail elsewhere: /etc/aliases, .procmailrc, the alarm "
                                   "script, Postfix's maps and relayhost ('sdcheck report --only alert,postfix').")

    def _silence(self, state, where) -> Finding | None:
        """No delivery attempt of an alert within max_silence_hours (OSSEC mails at least daily)."""
        import time

        hours = float(self.opts["max_silence_hours"] or 0)
        if not hours:
            return None
        last = epoch_of(state["when"]) if state and state.get("when") else None
        if last is not None and time.time() - last <= hours * 3600:
            return None
        seen = f"the latest was {state['when']}" if state and state.get("when") else "none in what was read"
        return self.fail(f"no alert delivery attempt to the admins through the relay within {hours:g} h ({seen}): "
                         "OSSEC mails at least daily, so alerts are not leaving this server", resource=where,
                         expected=f"an attempt within {hours:g} h", actual=seen, group="silence",
                         subject="no attempt",
                         remedy="Check that Postfix and OSSEC run ('systemctl status postfix ossec'), that "
                                "/etc/aliases and the ossec user's procmail hand alerts on ('sdcheck report "
                                "--only alert'), and the mail log for errors.")
