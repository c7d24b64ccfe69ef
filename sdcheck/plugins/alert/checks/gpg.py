"""alert.gpg: OSSEC's GPG key is the configured fingerprint, valid, and able to encrypt."""

from __future__ import annotations

import re
import time

from sdcheck.check import Check, Option
from sdcheck.host.base import FactError
from sdcheck.model import Finding, Severity
from sdcheck.plugins.alert.base import GPG_REMEDY
from sdcheck.plugins.alert.keys import DAY, FPR_RE, day, parse_colons
from sdcheck.plugins.alert.live import GpgHome, copy_keyring
from sdcheck.startup import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Iterable


class Gpg(Check):
    id = "alert.gpg"
    title = "OSSEC's GPG key: the configured fingerprint, valid, able to encrypt"
    # what exactly is verified (docs/checks.md, sdcheck explain)
    details = ("(mon) `ossec_gpg_fpr` is 40 upper-case hex digits; the OSSEC user's keyring (`ossec_gnupg_home`, "
               "read from a temporary copy: the real one is never written) holds that key, not revoked or expired, "
               "with a valid encryption (sub)key; a test encryption succeeds; expiry within 30 days is a medium "
               "finding; an exported key file (`ossec_alert_gpg_public_key`, absolute path), where present, has the "
               "same fingerprint")
    severity = Severity.CRITICAL
    why = ("OSSEC encrypts every alert to this key. A wrong fingerprint, an expired or revoked key "
           "or one without an encryption subkey means the admins get 'Failed to encrypt OSSEC alert' "
           "instead of alerts.")
    remedy = GPG_REMEDY
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
        with GpgHome(self.ctx.local) as tmp:
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

    def _copy_keyring(self, tmp) -> bool:
        return copy_keyring(self.ctx.facts, self.opts["homedir"], tmp)

    def _gpg(self, tmp, *args: str, timeout: float = 20.0):
        # gpg runs where the temporary copy is (this machine), whatever host the keyring came from
        return self.ctx.local.run(["gpg", "--homedir", tmp.path, "--batch", "--no-tty", "--no-auto-key-locate",
                                   "--no-auto-key-retrieve", *args], timeout=timeout)

    def _judge(self, tmp, want: str) -> Iterable[Finding]:
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
            yield self.fail(f"the key {want} expired on {day(key.expires)}", resource=home,
                            expected="a valid key", actual=f"expired {day(key.expires)}", group="key")
            return
        usable = [k for k in [key] + key.subkeys if "e" in k.caps.lower() and k.validity not in ("e", "r")
                  and not (k.expires and k.expires < now)]
        if not usable:
            yield self.fail(f"the key {want} has no valid encryption (sub)key: OSSEC cannot encrypt to it",
                            resource=home, expected="an encryption subkey", actual="none usable", group="key")
            return
        soon = min((k.expires for k in [key] + usable if k.expires), default=0)
        if soon and soon < now + self.opts["warn_days"] * DAY:
            yield self.fail(f"the key {want} (or its encryption subkey) expires on {day(soon)}, within "
                            f"{self.opts['warn_days']} days", resource=home, expected="valid beyond 30 days",
                            actual=f"expires {day(soon)}", severity=Severity.MEDIUM, group="expiry",
                            subject=f"key {want} expires {day(soon)}",
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
                              + (f" (expires {day(soon)})" if soon else " (no expiry)"), resource=home)

    def _key_file(self, want: str) -> Iterable[Finding]:
        path = self.opts["key_file"]
        if not path or not path.startswith("/"):
            return
        st = self.ctx.facts.lstat(path)
        if st is None:
            return
        with GpgHome(self.ctx.local) as tmp2:
            copy = tmp2.write("key.asc", self.ctx.facts.read_bytes(path, 4 << 20))
            res = self._gpg(tmp2, "--with-colons", "--import-options", "show-only", "--import", copy)
            fprs = [k.fpr.upper() for k in parse_colons(res.stdout.decode("utf-8", "replace"))]
        if want not in fprs:
            yield self.fail(f"the exported key file {path} holds {', '.join(fprs) or 'no key'}, not {want}",
                            resource=path, expected=want, actual=", ".join(fprs) or "no key", group="key-file")
