"""alert.maillog: the latest OSSEC alert deliveries in the mail log succeeded."""

from __future__ import annotations

from sdcheck.check import Check, Option
from sdcheck.host.base import FactError
from sdcheck.model import Finding, Severity
from sdcheck.plugins.alert.base import GPG_REMEDY
from sdcheck.plugins.alert.mail_log import diagnose, procmail_failures
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

    def run(self) -> Iterable[Finding]:
        o = self.opts
        try:
            mail = self._tail(o["mail_log"])
            procmail = self._tail(o["procmail_log"])
        except FactError as exc:
            yield self.error(f"the mail log cannot be read: {exc}", resource=o["mail_log"])
            return
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
        state = diagnose(mail, o["sender_prefix"], *self._when(o["mail_log"]))
        if state is None:
            if not found:
                yield self.passed(f"no alert delivery attempt in the last {len(mail) // 1024} KB of "
                                  f"{o['mail_log']}", resource=o["mail_log"])
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
