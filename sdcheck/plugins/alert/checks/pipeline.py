"""alert.pipeline: one synthetic alert pushed through the ossec user's real .procmailrc and
alarm script, in a sandbox, must come out as one message to the admin, encrypted to the
admin's key and to nothing else."""

from __future__ import annotations

import os

from sdcheck.check import Check, Option
from sdcheck.host.base import FactError
from sdcheck.model import Finding, Severity
from sdcheck.plugins.alert.base import GPG_REMEDY
from sdcheck.plugins.alert.keys import FPR_RE, parse_colons
from sdcheck.plugins.alert.live import GpgHome, copy_keyring
from sdcheck.plugins.alert.pipeline import CAPTURE, MAILERS, SCRIPT, message, packet_keyids, parse_output
from sdcheck.startup import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Iterable

FAILED_TEXT = "Failed to encrypt OSSEC alert"


class Pipeline(Check):
    id = "alert.pipeline"
    title = "A synthetic alert through the real procmail and alarm script reaches only the admin, encrypted"
    # what exactly is verified (docs/checks.md, sdcheck explain)
    details = ("(mon, as root on the server) One synthetic OSSEC alert to root@localhost, as Postfix's local "
               "delivery hands it over after /etc/aliases, is given to `procmail` run as the ossec user "
               "(`ossec_user`, HOME `ossec_home`), so the host's own .procmailrc, /etc/procmailrc, alarm script, "
               "formail and gpg (with the user's gpg.conf, on a copy of `homedir`) all act on it. It runs in a "
               "private mount, network and process namespace: every mailer program (mail, mailx, sendmail, "
               "postdrop...) is bound to a capture program, /tmp, /var/log, /var/mail and Postfix's spool are "
               "empty tmpfs, there is no network, and its processes end with it: nothing is sent and nothing on "
               "the host changes. Exactly one message must be handed to `mail -s SUBJECT <ossec_alert_email>`, "
               "and its body must be an OpenPGP message encrypted to exactly one key: an encryption (sub)key "
               "of `ossec_gpg_fpr` (`gpg --list-packets`, no secret key needed). A copy, another recipient, "
               "another or an extra encryption key, plaintext, or 'Failed to encrypt OSSEC alert' is critical.")
    severity = Severity.CRITICAL
    why = ("Reading the files on the path is not enough: one line in .procmailrc, gpg.conf, .mailrc or the alarm "
           "script, or a keyring the ossec user cannot read, diverts, copies or breaks every alert while each "
           "file still looks plausible. Running the real thing shows where an alert really goes.")
    remedy = ("Restore SecureDrop's /var/ossec/.procmailrc and /var/ossec/send_encrypted_alarm.sh (re-run "
              "'securedrop-admin install'), remove any gpg.conf or /etc/procmailrc added, make the keyring the "
              "ossec user's ('chown -R ossec:ossec /var/ossec/.gnupg'), and see 'sdcheck report' for the file.")
    options = {
        "email": Option(str, "", help="ossec_alert_email: the admins' address"),
        "fingerprint": Option(str, "", help="ossec_gpg_fpr"),
        "homedir": Option(str, "/var/ossec/.gnupg", help="the ossec user's GnuPG home (its alarm script's --homedir)",
                          check=lambda v: v.startswith("/")),
        "ossec_user": Option(str, "ossec", help="the user OSSEC's mail is delivered to (/etc/aliases: root: ossec)"),
        "ossec_home": Option(str, "/var/ossec", help="that user's home (where its .procmailrc is)",
                             check=lambda v: v.startswith("/")),
        "hostname": Option(str, "mon", help="the Monitor Server's mail name (Postfix's myhostname)"),
    }
    timeout = 120.0

    def run(self) -> Iterable[Finding]:
        o = self.opts
        if not o["email"] or not o["fingerprint"]:
            yield self.error("ossec_alert_email and ossec_gpg_fpr must be set: give SecureDrop's site-specific "
                             "file with --vars", resource="vars/ossec_alert_email")
            return
        if not self.ctx.facts.is_local or self.ctx.facts.euid() != 0:
            yield self.skip("the pipeline is exercised only by 'sdcheck run' or 'report' as root on the Monitor "
                            "Server itself", resource="alert.pipeline")
            return
        if self.ctx.facts.user_id(o["ossec_user"]) is None:
            yield self.fail(f"the user {o['ossec_user']} does not exist: /etc/aliases hands alerts to nobody",
                            resource=f"users/{o['ossec_user']}", expected="present", actual="missing")
            return
        if self.ctx.facts.lstat(o["homedir"]) is None:
            yield self.fail(f"{o['homedir']} does not exist: the alarm script cannot encrypt, and gpg would create "
                            "a keyring there, so the pipeline is not run", resource=o["homedir"],
                            expected="the ossec user's keyring", actual="missing", group="encrypt")
            return
        nonce = os.urandom(8).hex()
        argv = ["unshare", "--mount", "--net", "--pid", "--fork", "--mount-proc", "--kill-child",
                "sh", "-c", SCRIPT, "sdcheck", o["ossec_home"], o["ossec_user"], o["homedir"], CAPTURE, *MAILERS]
        try:
            res = self.ctx.facts.run(argv, timeout=90, input=message(nonce, o["hostname"]))
        except FactError as exc:
            yield self.error(f"the pipeline sandbox could not run: {exc}", resource="alert.pipeline")
            return
        rc, captured, log = parse_output(res.stdout.decode("utf-8", "replace"))
        if rc is None:
            err = res.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or ["no output"]
            yield self.error(f"the pipeline sandbox failed before procmail ran: {err[0][:200]}",
                             resource="alert.pipeline")
            return
        yield from self._judge(rc, captured, log, nonce)

    def _expected_keyids(self) -> tuple[set[str], str]:
        """Key ids of the usable encryption (sub)keys of the fingerprint, from a copy of the
        keyring without its options."""
        want = self.opts["fingerprint"].replace(" ", "").upper()
        with GpgHome(self.ctx.local) as tmp:
            if not copy_keyring(self.ctx.facts, self.opts["homedir"], tmp):
                return set(), want
            res = self.ctx.local.run(["gpg", "--homedir", tmp.path, "--batch", "--no-tty", "--with-colons",
                                      "--fixed-list-mode", "--list-keys"], timeout=20)
        for key in parse_colons(res.stdout.decode("utf-8", "replace")):
            if key.fpr.upper() == want:
                # lower-case 'e': this (sub)key itself encrypts (upper case is the whole key's)
                return {k.fpr.upper()[-16:] for k in [key] + key.subkeys if "e" in k.caps
                        and k.validity not in ("e", "r")}, want
        return set(), want

    def _keyids_of(self, body: str) -> list[str]:
        with GpgHome(self.ctx.local) as tmp:
            path = tmp.write("message.asc", body.encode())
            res = self.ctx.local.run(["gpg", "--homedir", tmp.path, "--batch", "--no-tty", "--list-packets", path],
                                     timeout=20)
        return packet_keyids(res.stdout.decode("utf-8", "replace"))

    def _judge(self, rc, captured, log, nonce) -> Iterable[Finding]:
        o = self.opts
        where = f"{o['ossec_home'].rstrip('/')}/.procmailrc"
        if not captured:
            last = " ".join(log.strip().splitlines()[-1:])[:200]
            yield self.fail(f"a synthetic alert given to {o['ossec_user']}'s procmail (exit {rc}) was handed to no "
                            "mail program: alerts are dropped or leave another way"
                            + (f" (procmail's log ends: {last})" if last else ""), resource=where,
                            expected=f"one message to {o['email']}", actual="none", group="pipeline")
            return
        found = []
        for i, cap in enumerate(captured):
            args = cap.argv[1:]
            shape_ok = (len(args) == 3 and args[0] == "-s" and args[2] == o["email"]
                        and cap.argv[0].rsplit("/", 1)[-1] in ("mail", "mailx", "mail.mailutils"))
            if i > 0 or not shape_ok:
                shown = " ".join(cap.argv)[:300]
                found.append(self.fail(f"the alert was handed to '{shown}'"
                                       + (" as an extra copy" if i > 0 and shape_ok else "")
                                       + f": SecureDrop's alarm script runs only 'mail -s SUBJECT {o['email']}'",
                                       resource=where, expected=f"/usr/bin/mail -s SUBJECT {o['email']}",
                                       actual=shown, group="pipeline", subject=f"recipient {shown}"))
            found.extend(self._body(cap.body, nonce, where))
        yield from found or [self.passed(f"a synthetic alert went only to {o['email']}, encrypted to "
                                         f"{o['fingerprint']} alone", resource=where)]

    def _body(self, body: str, nonce: str, where: str) -> list[Finding]:
        if FAILED_TEXT in body:
            return [self.fail("the alarm script could not encrypt the alert: the admins get 'Failed to encrypt "
                              "OSSEC alert' instead of alerts (gpg cannot use the key as the ossec user: check "
                              "the keyring's owner and modes, gpg.conf, the fingerprint)", resource=where,
                              expected="an OpenPGP message", actual="'Failed to encrypt' fallback",
                              remedy=GPG_REMEDY, group="encrypt", subject="failed to encrypt")]
        if nonce in body or "-----BEGIN PGP MESSAGE-----" not in body:
            return [self.fail("the alert left the alarm script in plaintext", resource=where,
                              expected="an OpenPGP message", actual="plaintext", group="encrypt",
                              subject="plaintext")]
        want, fpr = self._expected_keyids()
        got = self._keyids_of(body)
        if not FPR_RE.match(fpr) or not want:
            return [self.fail(f"the OSSEC keyring has no usable encryption key for {fpr}, yet the alert was "
                              f"encrypted to {', '.join(got) or 'no key'}", resource=self.opts["homedir"],
                              expected=fpr, actual=", ".join(got) or "none", group="encrypt",
                              subject=f"encrypted to {', '.join(sorted(got))}")]
        others = [k for k in got if k not in want]
        if others or len(got) != 1:
            return [self.fail(f"the alert is encrypted to {', '.join(got) or 'no key'}; expected only the "
                              f"encryption key of {fpr} ({', '.join(sorted(want))})"
                              + (f": {', '.join(others)} can read every alert" if others else ""),
                              resource=self.opts["homedir"], expected=", ".join(sorted(want)),
                              actual=", ".join(got) or "none", group="encrypt",
                              subject=f"encrypted to {', '.join(sorted(got))}")]
        return []
