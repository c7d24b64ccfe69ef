"""Postfix's mail log read strictly: only Postfix's own syslog lines count, and the latest
delivery state of OSSEC's alerts is decided from them. Pure: text in, verdicts out."""

from __future__ import annotations

import re

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


_MONTHS = {m: i for i, m in enumerate(("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct",
                                          "Nov", "Dec"), 1)}


_STATUSES = ("sent", "deferred", "bounced", "expired")


def classify(why: str) -> tuple[str, str] | None:
    """Postfix's reason for a failed delivery -> (what failed, the fix)."""
    for name, pattern, fix in MAIL_FAILURES:
        if pattern.search(why):
            return name, fix
    return None


def _digits(text: str, n: int) -> bool:
    return len(text) == n and text.isdigit()


def parse_syslog(line: str):
    """``(stamp, month, service, pid, message)`` of a Postfix log line, strictly
    ``<timestamp> <host> postfix[-instance][/path]/<service>[<pid>]: <message>`` with an RFC 3339
    or a BSD ("Nov 22 08:00:01") timestamp; None for anything else. Linear in the line."""
    if len(line) > 1 and line[:4].isdigit() and line[4:5] == "-":  # RFC 3339
        stamp, _, rest = line.partition(" ")
        date, tee, clock = stamp.partition("T")
        y, m, d = (date.split("-") + ["", "", ""])[:3]
        if not (tee and _digits(y, 4) and _digits(m, 2) and _digits(d, 2) and _digits(clock[:2], 2)
                and clock[2:3] == ":" and _digits(clock[3:5], 2) and clock[5:6] == ":" and _digits(clock[6:8], 2)):
            return None
        when, month = f"{date} {clock[:8]}", int(m)
    else:  # BSD: "Nov 22 08:00:01 host ..."
        bsd_month = _MONTHS.get(line[:3])
        day, clock = line[4:6], line[7:15]
        if (bsd_month is None or line[3:4] != " " or not day.strip().isdigit() or line[6:7] != " "
                or not (_digits(clock[:2], 2) and clock[2] == ":" and _digits(clock[3:5], 2) and clock[5] == ":"
                        and _digits(clock[6:8], 2)) or line[15:16] != " "):
            return None
        when, rest, month = line[:15], line[16:], bsd_month
    _host, _, rest = rest.partition(" ")
    tag, sep, message = rest.partition(": ")
    name, bracket, pid = tag.partition("[")
    if not (sep and bracket and pid.endswith("]") and pid[:-1].isdigit() and "/" in name):
        return None
    program, _, service = name.rpartition("/")
    if not program.split("/")[0].startswith("postfix") or not service:
        return None
    return when, month, service, int(pid[:-1]), message


def _queue_id(message: str) -> tuple[str, str] | None:
    qid, sep, rest = message.partition(": ")
    return (qid, rest) if sep and qid.isalnum() else None


def _field(text: str, name: str) -> str | None:
    """The value of the first ``name=`` field of a comma-separated Postfix record."""
    for item in text.split(", "):
        if item.startswith(name + "="):
            return item[len(name) + 1:]
    return None


def _with_years(stamps: list[tuple[str, int | None]], last_year: int, last_month: int = 12) -> list[str]:
    """BSD timestamps carry no year: walking back from the log's modification time (year
    and month), each step back past January goes one year earlier."""
    out: list[str] = []
    year, later = last_year, last_month
    for when, month in reversed(stamps):
        if month is None or when[:4].isdigit():  # RFC 3339 has its own year
            out.append(when)
            continue
        if later is not None and month > later:
            year -= 1
        later = month
        out.append(f"{year} {when}")
    return out[::-1]


def relay_matches(relay_field: str, relayhost: str) -> bool:
    """Whether a log's ``relay=host[ip]:port`` is the configured ``[host]:port`` (or ``host:port``)."""
    want_host, _, want_port = relayhost.strip().rpartition(":")
    want_host = want_host.strip("[]").lower()
    host, _, rest = relay_field.partition("[")
    port = rest.rpartition(":")[2] if "]:" in rest else ""
    return bool(want_host) and host.lower() == want_host and (not want_port or port == want_port)


def diagnose(text: str, sender_prefix: str = "ossec@", last_year: int | None = None,
             last_month: int = 12, recipients: set[str] | None = None, relayhost: str = "") -> dict | None:
    """The latest delivery attempt of an OSSEC alert in a mail.log excerpt, and since when
    the current state holds. None when no attempt is in the excerpt. Only a delivery whose
    queue id also has Postfix's qmgr line naming OSSEC's sender counts, so a forged line
    cannot turn a failure into a success. With ``recipients`` and ``relayhost``, an attempt
    to another address or a delivery through another relay is not an alert delivered: it is
    listed in ``strays`` instead (None is returned only when there are neither)."""
    import time

    senders: dict[str, str] = {}
    raw: list = []
    strays: list = []
    for line in text.split("\n"):
        parsed = parse_syslog(line)
        if parsed is None:
            continue
        when, month, service, _pid, message = parsed
        q = _queue_id(message)
        if q is None:
            continue
        qid, rest = q
        if service == "qmgr" and rest.startswith("from=<"):
            senders[qid] = rest[6:].partition(">")[0]
            continue
        if service not in ("smtp", "lmtp") or not rest.startswith("to=<"):
            continue
        sender = senders.get(qid)
        if sender is None or not sender.startswith(sender_prefix):
            continue  # not an OSSEC alert, or no queue manager line for it
        at = rest.find(", status=")  # the first: a relay's reply after it may hold "status=" too
        if at < 0:
            continue
        status, _, why = rest[at + 9:].partition(" ")
        if status not in _STATUSES:
            continue
        kind = None if status == "sent" else (classify(why) or ("other failure", ""))
        to = rest[4:].partition(">")[0]
        relay = (_field(rest, "relay") or "?").split(",")[0]
        attempt = {"status": status, "relay": relay, "dsn": _field(rest, "dsn") or "?", "kind": kind, "to": to}
        if (recipients and to not in recipients) or (relayhost and status == "sent"
                                                      and not relay_matches(relay, relayhost)):
            strays.append(((when, month), attempt))
            continue
        raw.append(((when, month), attempt))
    if last_year is None:
        now = time.gmtime()
        last_year, last_month = now.tm_year, now.tm_mon
    stray_list = [dict(a, when=w) for w, a in zip(_with_years([r[0] for r in strays], last_year, last_month),
                                                  (r[1] for r in strays))]
    if not raw:
        return {"kind": None, "status": None, "strays": stray_list, "when": None} if stray_list else None
    for (stamp, attempt) in zip(_with_years([r[0] for r in raw], last_year, last_month), (r[1] for r in raw)):
        attempt["when"] = stamp
    attempts = [r[1] for r in raw]
    last = attempts[-1]
    since = last["when"]
    count = 0
    for a in reversed(attempts):
        same = (a["kind"] or ("sent",))[0] == (last["kind"] or ("sent",))[0]
        if not same:
            break
        since = a["when"]
        count += 1
    return dict(last, since=since, count=count, total=len(attempts), strays=stray_list)


def epoch_of(when: str) -> float | None:
    """Seconds since the epoch of a ``diagnose`` time (``2026 Nov 22 08:00:01`` or
    ``2026-11-22 08:00:01``, both this host's local time); None when unreadable."""
    import time

    for fmt in ("%Y %b %d %H:%M:%S", "%Y-%m-%d %H:%M:%S"):
        try:
            return time.mktime(time.strptime(" ".join(when.split()), fmt))
        except ValueError:
            continue
    return None


def procmail_failures(text: str) -> tuple[int, str] | None:
    """(how many alerts in a row failed to encrypt, when the latest did) from procmail's log,
    counting back from its newest entry: an old failure that later alerts went through after
    is history, not a problem. None when the newest entry is not a failure."""
    entries: list[list[str]] = []
    for line in text.split("\n"):
        if line.startswith("From "):
            entries.append([line])
        elif entries:
            entries[-1].append(line)
    failed, latest = 0, ""
    for entry in reversed(entries):
        if not any("failed to encrypt" in ln.lower() for ln in entry):
            break
        failed += 1
        latest = latest or " ".join(entry[0].split()[-5:])
    return (failed, latest) if failed else None


# Postfix's processes whose log lines count, by their kernel-given command name (journald's _COMM)
POSTFIX_COMMS = frozenset({"smtp", "qmgr", "lmtp"})


def journal_text(records, postfix_uids: set[int], host: str = "mon") -> str:
    """Journal records (``journalctl -o json``, one dict each) turned into Postfix log lines,
    keeping only those journald itself vouches for: a process named smtp, qmgr or lmtp
    (``_COMM``) running as Postfix's user or root (``_UID``). A line any local user sends to
    syslog ('logger -t postfix/smtp') has its own _COMM and _UID, and is left out."""
    import time

    out = []
    for rec in records:
        if not isinstance(rec, dict):
            continue
        comm, uid, ident = rec.get("_COMM"), rec.get("_UID"), rec.get("SYSLOG_IDENTIFIER")
        msg, pid, usec = rec.get("MESSAGE"), rec.get("_PID"), rec.get("__REALTIME_TIMESTAMP")
        if not isinstance(comm, str) or comm not in POSTFIX_COMMS or not isinstance(ident, str) \
                or ident.rpartition("/")[2] != comm:
            continue
        if not (isinstance(uid, str) and uid.isdigit() and int(uid) in postfix_uids):
            continue
        if not (isinstance(msg, str) and isinstance(pid, str) and pid.isdigit() and isinstance(usec, str)
                and usec.isdigit()) or "\n" in msg:
            continue
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(int(usec) / 1e6))
        out.append(f"{stamp} {host} {ident}[{pid}]: {msg}")
    return "\n".join(out)
