"""alert.maillog: the latest OSSEC alert deliveries, as Postfix logged them."""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Iterable

import re

from sdcheck.check import Check, Option
from sdcheck.host.base import FactError
from sdcheck.model import Finding, Severity
from sdcheck.plugins.alert.gpg import AlertGpg

# -- alert.maillog --------------------------------------------------------------------------

# Postfix's own wording of each failure, as its smtp client logs it (status=deferred/bounced)
MAIL_FAILURES = (
    ("timed out", re.compile(r"Connection timed out|conversation with .* timed out|lost connection", re.I),
     "Check that the host name and port are correct in the relayhost line of /etc/postfix/main.cf."),
    ("connection refused", re.compile(r"Connection refused", re.I),
     "Check smtp_relay_port in site-specific and the relayhost line of /etc/postfix/main.cf."),
    ("TLS verification failed", re.compile(r"certificate verif|Server certificate not (verified|trusted)|"
                                           r"Untrusted TLS|certificate verification failed|fingerprint", re.I),
     "Check that the relay certificate is valid; consider smtp_relay_cert_override_file (Troubleshooting SMTP TLS)."),
    ("STARTTLS required", re.compile(r"TLS is required, but (was not offered|our TLS engine|unavailable)|"
                                     r"Must issue a STARTTLS command first", re.I),
     "Use a relay port that offers STARTTLS (typically 587)."),
    ("SASL authentication failed", re.compile(r"SASL authentication failed|Authentication (failed|failure|"
                                              r"credentials invalid)|Username and Password not accepted|"
                                              r"5\.7\.8", re.I),
     "Edit /etc/postfix/sasl_passwd so username, domain and password are right, run 'postmap "
     "/etc/postfix/sasl_passwd', then 'service postfix reload'."),
    ("relay access denied", re.compile(r"Relay access denied|relaying denied|5\.7\.1 .*relay", re.I),
     "The relay refuses to relay for this account: check sasl_username/sasl_domain and that SASL is used."),
    ("sender rejected", re.compile(r"Sender address rejected|sender.*(not owned|mismatch|rejected)", re.I),
     "Set ossec_from_address in site-specific to the full address the relay account may send as, "
     "then re-run 'securedrop-admin install'."),
)
_SMTP_LINE = re.compile(r"postfix(?:/[\w-]+)*/smtp\[\d+\]: (?P<qid>[0-9A-Za-z]+): to=<[^>]*>,(?P<rest>.*"
                        r"status=(?P<status>sent|deferred|bounced|expired)(?P<why>.*))$")
_QMGR_FROM = re.compile(r"postfix(?:/[\w-]+)*/qmgr\[\d+\]: (?P<qid>[0-9A-Za-z]+): from=<(?P<from>[^>]*)>")
_RELAY = re.compile(r"relay=(?P<relay>[^,\s]+)")
_DSN = re.compile(r"dsn=(?P<dsn>[\d.]+)")
_ISO = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)")
_BSD = re.compile(r"^([A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d)")


def _stamp(line: str) -> str:
    m = _ISO.match(line) or _BSD.match(line)
    return m.group(1).replace("T", " ") if m else "an unknown time"


def classify(why: str) -> tuple[str, str] | None:
    for name, pattern, fix in MAIL_FAILURES:
        if pattern.search(why):
            return name, fix
    return None


def diagnose(text: str, sender_prefix: str = "ossec@") -> dict | None:
    """The latest delivery attempt of an OSSEC alert in a mail.log excerpt, and since when
    the current state holds. None when no attempt is in the excerpt."""
    senders: dict[str, str] = {}
    attempts = []
    for line in text.splitlines():
        if "/qmgr[" in line:
            m = _QMGR_FROM.search(line)
            if m:
                senders[m.group("qid")] = m.group("from")
            continue
        if "/smtp[" not in line:
            continue
        m = _SMTP_LINE.search(line)
        if not m:
            continue
        sender = senders.get(m.group("qid"))
        if sender is not None and not sender.startswith(sender_prefix):
            continue  # not an OSSEC alert
        relay = _RELAY.search(m.group("rest"))
        dsn = _DSN.search(m.group("rest"))
        status = m.group("status")
        kind = None if status == "sent" else (classify(m.group("why")) or ("other failure", ""))
        attempts.append({"when": _stamp(line), "status": status, "relay": relay.group("relay") if relay else "?",
                         "dsn": dsn.group("dsn") if dsn else "?", "kind": kind})
    if not attempts:
        return None
    last = attempts[-1]
    since = last["when"]
    count = 0
    for a in reversed(attempts):
        same = (a["kind"] or ("sent",))[0] == (last["kind"] or ("sent",))[0]
        if not same:
            break
        since = a["when"]
        count += 1
    return dict(last, since=since, count=count, total=len(attempts))


class AlertMaillog(Check):
    id = "alert.maillog"
    title = "The latest OSSEC alert deliveries in the mail log succeeded"
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
        if procmail:
            failed = [ln for ln in procmail.splitlines() if "failed to encrypt" in ln.lower()]
            if failed:
                found = True
                yield self.fail(f"{len(failed)} alert(s) could not be encrypted (procmail log, latest at "
                                f"{_stamp(failed[-1])}): admins receive 'Failed to encrypt OSSEC alert' instead",
                                resource=o["procmail_log"], expected="alerts encrypted", actual="failed to encrypt",
                                group="encrypt", severity=Severity.CRITICAL, remedy=AlertGpg.remedy)
        state = diagnose(mail, o["sender_prefix"])
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
