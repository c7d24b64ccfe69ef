"""The alert path itself (Monitor Server): the OSSEC GPG key, the SMTP relay's TLS (online
only), and what Postfix's mail log says about recent alert deliveries.

These automate the troubleshooting in SecureDrop's admin documentation: "Failed to encrypt
OSSEC alert", "Connection timed out", "Server certificate not verified", "Authentication
failure", "Sender address rejected".
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Iterable

import re
import time

from sdcheck.check import Check, Option
from sdcheck.host.base import FactError
from sdcheck.host.local import LocalFacts
from sdcheck.model import Finding, Severity

FPR_RE = re.compile(r"^[0-9A-F]{40}$")
DAY = 86400


# -- alert.gpg ---------------------------------------------------------------------------

class GpgKey:
    __slots__ = ("fpr", "validity", "expires", "caps", "subkeys", "uids")

    def __init__(self, fpr="", validity="", expires=0, caps=""):
        self.fpr, self.validity, self.expires, self.caps = fpr, validity, expires, caps
        self.subkeys: list[GpgKey] = []
        self.uids: list[str] = []


def parse_colons(text: str) -> list[GpgKey]:
    """``gpg --with-colons --fixed-list-mode --list-keys`` -> primary keys with subkeys."""
    keys: list[GpgKey] = []
    last: GpgKey | None = None
    for line in text.splitlines():
        f = line.split(":")
        if len(f) < 12:
            if f and f[0] == "fpr" and last is not None and len(f) > 9:
                last.fpr = f[9]
            continue
        kind = f[0]
        if kind in ("pub", "sub"):
            key = GpgKey("", f[1], int(f[6]) if f[6].isdigit() else 0, f[11])
            if kind == "pub":
                keys.append(key)
            elif keys:
                keys[-1].subkeys.append(key)
            last = key
        elif kind == "fpr" and last is not None:
            last.fpr = f[9]
        elif kind == "uid" and keys:
            keys[-1].uids.append(f[9])
    return keys


class AlertGpg(Check):
    id = "alert.gpg"
    title = "OSSEC's GPG key: the configured fingerprint, valid, able to encrypt"
    severity = Severity.CRITICAL
    why = ("OSSEC encrypts every alert to this key. A wrong fingerprint, an expired or revoked key "
           "or one without an encryption subkey means the admins get 'Failed to encrypt OSSEC alert' "
           "instead of alerts.")
    remedy = ("Export the admins' current public key ('gpg --export -a FINGERPRINT > ossec.pub'), "
              "set ossec_alert_gpg_public_key and ossec_gpg_fpr (40 hex digits, no spaces) in "
              "site-specific, and re-run 'securedrop-admin install'.")
    options = {
        "fingerprint": Option(str, "", help="ossec_gpg_fpr"),
        "homedir": Option(str, "/var/ossec/.gnupg", help="the OSSEC user's GnuPG home"),
        "key_file": Option(str, "", help="the exported public key on the server, if kept"),
        "warn_days": Option(int, 30, help="a key expiring within this many days is a finding"),
    }

    def run(self) -> Iterable[Finding]:
        want = self.opts["fingerprint"]
        if not want:
            yield self.error("ossec_gpg_fpr is not set: give SecureDrop's site-specific file with --vars",
                             resource="vars/ossec_gpg_fpr")
            return
        if not FPR_RE.match(want):
            fixed = re.sub(r"\s", "", want).upper()
            hint = f"; written as SecureDrop expects it: {fixed}" if FPR_RE.match(fixed) else ""
            yield self.fail(f"ossec_gpg_fpr {want!r} is not 40 upper-case hexadecimal digits without "
                            f"spaces{hint}", resource="vars/ossec_gpg_fpr", expected="40 hex digits",
                            actual=want, group="fingerprint")
            want = fixed
        with _GpgHome() as tmp:
            try:
                copied = self._copy_keyring(tmp)
            except FactError as exc:
                yield self.error(f"the OSSEC keyring cannot be read: {exc}", resource=self.opts["homedir"])
                return
            if not copied:
                yield self.fail(f"no public keyring in {self.opts['homedir']}: OSSEC cannot encrypt alerts",
                                resource=self.opts["homedir"], expected=f"key {want}", actual="no keyring")
                return
            yield from self._judge(tmp, want)

    def _copy_keyring(self, tmp: str) -> bool:
        """The keyring files, copied into our own temporary home: gpg may write (trustdb,
        locks, random_seed) and must never do so in the real one."""
        import os

        found = False
        for name in ("pubring.kbx", "pubring.gpg", "trustdb.gpg"):
            path = os.path.join(self.opts["homedir"], name)
            st = self.ctx.facts.lstat(path)
            if st is None or not st.is_file:
                continue
            data = self.ctx.facts.read_bytes(path, 64 << 20)
            fd = os.open(os.path.join(tmp, name), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            found |= name != "trustdb.gpg"
        return found

    def _gpg(self, tmp: str, *args: str, timeout: float = 20.0):
        # gpg runs where the temporary copy is (here), whatever host the keyring came from
        return _LOCAL.run(["gpg", "--homedir", tmp, "--batch", "--no-tty", "--no-auto-key-locate",
                           "--no-auto-key-retrieve", *args], timeout=timeout)

    def _judge(self, tmp: str, want: str) -> Iterable[Finding]:
        res = self._gpg(tmp, "--with-colons", "--fixed-list-mode", "--list-keys")
        keys = parse_colons(res.stdout.decode("utf-8", "replace"))
        home = self.opts["homedir"]
        key = next((k for k in keys if k.fpr.upper() == want), None)
        if key is None:
            have = ", ".join(k.fpr for k in keys) or "none"
            yield self.fail(f"the OSSEC keyring ({home}) has no key {want}; it holds: {have}",
                            resource=home, expected=want, actual=have, group="key")
            return
        now = time.time()
        if key.validity == "r":
            yield self.fail(f"the key {want} is revoked", resource=home, expected="a valid key", actual="revoked",
                            group="key")
            return
        if key.validity == "e" or (key.expires and key.expires < now):
            yield self.fail(f"the key {want} expired on {_day(key.expires)}", resource=home,
                            expected="a valid key", actual=f"expired {_day(key.expires)}", group="key")
            return
        usable = [k for k in [key] + key.subkeys if "e" in k.caps.lower() and k.validity not in ("e", "r")
                  and not (k.expires and k.expires < now)]
        if not usable:
            yield self.fail(f"the key {want} has no valid encryption (sub)key: OSSEC cannot encrypt to it",
                            resource=home, expected="an encryption subkey", actual="none usable", group="key")
            return
        soon = min((k.expires for k in [key] + usable if k.expires), default=0)
        if soon and soon < now + self.opts["warn_days"] * DAY:
            yield self.fail(f"the key {want} (or its encryption subkey) expires on {_day(soon)}, within "
                            f"{self.opts['warn_days']} days", resource=home, expected="valid beyond 30 days",
                            actual=f"expires {_day(soon)}", severity=Severity.MEDIUM, group="expiry",
                            remedy="Extend the key's expiry (gpg --quick-set-expire), export it again and "
                                   "re-run 'securedrop-admin install'.")
        enc = self._gpg(tmp, "--trust-model", "always", "--armor", "--encrypt", "--recipient", want,
                        "--output", "/dev/null", "/dev/null")
        failed = False
        if not enc.ok:
            failed = True
            yield self.fail(f"a test encryption to {want} failed (gpg exit {enc.returncode}): OSSEC would send "
                            "'Failed to encrypt OSSEC alert'", resource=home, expected="encryption works",
                            actual="gpg failed", group="encrypt")
        for finding in self._key_file(want):
            failed = True
            yield finding
        if not failed:
            yield self.passed(f"key {want} is valid and encrypts"
                              + (f" (expires {_day(soon)})" if soon else " (no expiry)"), resource=home)

    def _key_file(self, want: str) -> Iterable[Finding]:
        path = self.opts["key_file"]
        if not path or not path.startswith("/"):
            return
        st = self.ctx.facts.lstat(path)
        if st is None:
            return
        import os

        with _GpgHome() as tmp2:
            copy = os.path.join(tmp2, "key.asc")
            with open(copy, "wb") as fh:
                fh.write(self.ctx.facts.read_bytes(path, 4 << 20))
            res = self._gpg(tmp2, "--with-colons", "--import-options", "show-only", "--import", copy)
            fprs = [k.fpr.upper() for k in parse_colons(res.stdout.decode("utf-8", "replace"))]
        if want not in fprs:
            yield self.fail(f"the exported key file {path} holds {', '.join(fprs) or 'no key'}, not {want}",
                            resource=path, expected=want, actual=", ".join(fprs) or "no key", group="key-file")


_LOCAL = LocalFacts()  # gpg always runs here, on the temporary copy


class _GpgHome:
    """A temporary GnuPG home on this machine, removed (and its gpg-agent stopped) on exit."""

    def __enter__(self) -> str:
        import tempfile

        self._dir = tempfile.TemporaryDirectory(prefix="sdcheck-gpg-")
        return self._dir.name

    def __exit__(self, *exc) -> None:
        if _LOCAL.which("gpgconf"):
            _LOCAL.run(["gpgconf", "--homedir", self._dir.name, "--kill", "all"], timeout=10)
        self._dir.cleanup()




def _day(epoch: float) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(epoch)) if epoch else "never"


# -- alert.relay (online) ------------------------------------------------------------------

_RELAY_PROBLEMS = {
    # probe error -> (what it means, the seeds' fix)
    "resolve": ("the relay's host name does not resolve",
                "Check smtp_relay (the relayhost in /etc/postfix/main.cf) and the server's DNS."),
    "timeout": ("connection timed out",
                "Check that the host name and port are correct in the relayhost line of "
                "/etc/postfix/main.cf (smtp_relay, smtp_relay_port) and that the firewall lets the "
                "postfix user reach that port."),
    "refused": ("connection refused", "Check smtp_relay_port: the relay does not listen on that port."),
    "connect": ("the connection failed", "Check smtp_relay and smtp_relay_port, and the network path."),
    "greeting": ("the relay did not greet with 220", "Check that smtp_relay_port is the relay's SMTP submission port."),
    "no-starttls": ("the relay does not offer STARTTLS, which SecureDrop's Postfix requires",
                    "Use a relay port that supports STARTTLS (typically 587)."),
    "verify": ("Server certificate not verified",
               "Check that the relay certificate is valid; if the relay uses a private CA, set "
               "smtp_relay_cert_override_file in site-specific (see 'Troubleshooting SMTP TLS')."),
    "tls": ("the TLS handshake failed", "Check the relay's TLS support (TLS 1.2 or later)."),
    "fingerprint": ("the relay certificate's fingerprint does not match smtp_relay_fingerprint",
                    "If the relay's certificate changed, update smtp_relay_fingerprint in site-specific "
                    "(see 'Configuring fingerprint verification') and re-run 'securedrop-admin install'."),
    "no-auth": ("the relay does not offer AUTH after STARTTLS, so SASL authentication cannot happen",
                "Use the relay's authenticated submission port, or ask its operator to enable AUTH."),
    "smtp": ("the SMTP conversation failed", "Try 'openssl s_client -starttls smtp -connect host:port' as "
             "the postfix user to see what the relay answers."),
}


class AlertRelay(Check):
    id = "alert.relay"
    title = "The SMTP relay answers, offers STARTTLS and AUTH, and its certificate verifies (online)"
    severity = Severity.HIGH
    why = ("Connects to the relay as Postfix would (as the postfix user, whom the firewall lets out) "
           "and verifies its certificate the way Postfix is configured to. Only with --online.")
    remedy = "See the message: each failure names the matching fix from SecureDrop's troubleshooting guide."
    options = {
        "relay": Option(str, ""), "port": Option(int, 587),
        "fingerprint": Option(str, ""), "fingerprint_digest": Option(str, "sha1"),
        "cert_override_file": Option(str, ""), "cert_override_dir": Option(str, "/etc/ssl/certs_local"),
        "cert_dir": Option(str, "/etc/ssl/certs"),
        "probe_user": Option(str, "postfix", help="connect as this user (the firewall only lets it out)"),
        "timeout": Option((int, float), 10),
    }

    def run(self) -> Iterable[Finding]:
        o = self.opts
        if not getattr(self.ctx, "online", False):
            yield self.skip("online check, not run: use 'sdcheck report --online'", resource="relay")
            return
        if not o["relay"]:
            yield self.error("smtp_relay is not set: give SecureDrop's site-specific file with --vars",
                             resource="vars/smtp_relay")
            return
        args = {"host": o["relay"], "port": o["port"], "timeout": float(o["timeout"]),
                "fingerprint": o["fingerprint"], "digest": o["fingerprint_digest"]}
        if o["fingerprint"]:
            args["mode"], mode = "fingerprint", "fingerprint"
        elif o["cert_override_file"]:
            path = f"{o['cert_override_dir'].rstrip('/')}/{o['cert_override_file']}"
            try:
                args["cadata"] = self.ctx.facts.read_text(path, 1 << 20)
            except FactError as exc:
                yield self.error(f"the override CA file cannot be read: {exc}", resource=path)
                return
            args["mode"], mode = "cafile", f"CA file {path}"
        else:
            args["mode"], args["capath"], mode = "capath", o["cert_dir"], f"CA directory {o['cert_dir']}"
        where = f"{o['relay']}:{o['port']}"
        try:
            result = self._probe(args)
        except FactError as exc:
            yield self.error(f"the relay probe could not run: {exc}", resource=where)
            return
        if result.get("ok"):
            seen = ", ".join(f"{k} {result[k]}" for k in ("protocol", "subject", "issuer", "fingerprint")
                             if result.get(k))
            yield self.passed(f"{where} offers STARTTLS and AUTH ({result.get('auth')}); certificate verified "
                              f"with the {mode}; {seen}", resource=where)
            return
        error = result.get("error", "smtp")
        what, fix = _RELAY_PROBLEMS.get(error, _RELAY_PROBLEMS["smtp"])
        detail = f" ({result['detail']})" if result.get("detail") else ""
        if error == "fingerprint":
            detail = f" (the relay presents {result.get('fingerprint')}, expected {o['fingerprint']})"
        yield self.fail(f"{where}: {what}{detail}", resource=where, expected="STARTTLS, a verified certificate, AUTH",
                        actual=what, remedy=fix, group=error)

    def _probe(self, args: dict) -> dict:
        import json
        import os
        import sys

        user = None
        if os.geteuid() == 0 and self.opts["probe_user"]:
            user = self.ctx.facts.user_id(self.opts["probe_user"])
            if user is None:
                raise FactError(f"the user {self.opts['probe_user']} does not exist (probe_user)")
        from sdcheck.plugins.alert import smtp_probe

        # the probe's own source, run by the system interpreter: the postfix user may not be
        # able to read sdcheck's installation or a private interpreter (stdlib only is needed)
        with open(smtp_probe.__file__, encoding="utf-8") as fh:
            code = fh.read()
        python = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
        res = self.ctx.facts.run([python, "-I", "-c", code], timeout=float(args["timeout"]) * 3 + 10,
                                 user=user, input=json.dumps(args).encode())
        if not res.ok:
            last = res.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or ["no output"]
            raise FactError(f"exit {res.returncode}: {last[0][:200]}")
        return json.loads(res.stdout)


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


CHECKS = [AlertGpg, AlertRelay, AlertMaillog]
