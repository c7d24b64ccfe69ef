"""postfix.tls: Postfix verifies the relay's certificate and refuses weak protocols."""

from __future__ import annotations

from sdcheck.check import Option
from sdcheck.host.base import FactError
from sdcheck.model import Finding, Severity
from sdcheck.plugins.postfix.base import PostfixCheck, show
from sdcheck.plugins.postfix.live import PostfixConfig
from sdcheck.plugins.postfix.parse import allowed_protocols, normalise_fingerprint, words
from sdcheck.startup import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Iterable


class Tls(PostfixCheck):
    id = "postfix.tls"
    title = "Postfix verifies the relay's TLS certificate (secure or fingerprint), strong ciphers, no SSL"
    # what exactly is verified (docs/checks.md, sdcheck explain)
    details = ("(mon) exactly SecureDrop's TLS mode, chosen by the variables as its Ansible template does: "
               "`fingerprint` (with `smtp_relay_fingerprint`; digest and `smtp_tls_fingerprint_cert_match` "
               "compared), `secure` with the override CA file (`smtp_relay_cert_override_file`; the file must exist "
               "and parse as a certificate), or `secure` with the system CA directory. A weaker level (`may`, "
               "`encrypt`, `none`, unset) is critical. `smtp_tls_ciphers = high`; neither `smtp_tls_protocols` nor "
               "`smtp_tls_mandatory_protocols` may allow SSLv2/SSLv3 (Postfix's `!`, list and `>=` forms all "
               "understood); no `smtp_tls_policy_maps` (it can lower the level per destination)")
    severity = Severity.CRITICAL
    why = ("Alert mails and the SASL password cross the network to the relay. Without a verified "
           "TLS session a network attacker can read the password and the alert subjects, or drop "
           "the alerts. SecureDrop chooses one mode: 'secure' with the system CAs, 'secure' with an "
           "override CA file, or 'fingerprint'.")
    options = dict(PostfixCheck.options, **{
        "fingerprint": Option(str, "", help="smtp_relay_fingerprint; set: fingerprint mode"),
        "fingerprint_digest": Option(str, "sha1"),
        "cert_override_file": Option(str, "", help="smtp_relay_cert_override_file; set: secure with this CA"),
        "cert_override_dir": Option(str, "/etc/ssl/certs_local"),
        "cert_dir": Option(str, "/etc/ssl/certs", help="system CA directory for the default mode"),
        "ciphers": Option(str, "high"),
        "forbidden_protocols": Option(list, ["SSLv2", "SSLv3"]),
    })
    ok_message = "TLS to the relay is verified"

    def judge(self, cf: PostfixConfig) -> Iterable[Finding]:
        o = self.opts
        level = cf.get("smtp_tls_security_level")
        if o["fingerprint"]:
            mode, want_level = "fingerprint", "fingerprint"
        else:
            mode, want_level = ("override CA file" if o["cert_override_file"] else "system CAs"), "secure"
        if level != want_level:
            weak = level in ("", "none", "may", "encrypt", "dane", "dane-only")
            yield self.param_fail(
                cf, "smtp_tls_security_level",
                f"is {show(level)}, expected {want_level} (mode: {mode})"
                + ("; the relay's certificate is not verified" if weak else ""),
                want_level, level, severity=Severity.CRITICAL if weak else Severity.HIGH)
        if mode == "fingerprint":
            yield from self.expect(cf, "smtp_tls_fingerprint_digest", o["fingerprint_digest"])
            have = {normalise_fingerprint(w) for w in words(cf.get("smtp_tls_fingerprint_cert_match"))}
            want = normalise_fingerprint(o["fingerprint"])
            if have != {want}:
                yield self.param_fail(cf, "smtp_tls_fingerprint_cert_match",
                                      f"is {show(cf.get('smtp_tls_fingerprint_cert_match'))}, expected "
                                      f"{o['fingerprint']} (smtp_relay_fingerprint)",
                                      o["fingerprint"], cf.get("smtp_tls_fingerprint_cert_match"))
        elif mode == "override CA file":
            path = f"{o['cert_override_dir'].rstrip('/')}/{o['cert_override_file']}"
            yield from self.expect(cf, "smtp_tls_CAfile", path)
            yield from self._ca_file(cf, path)
        else:
            yield from self.expect(cf, "smtp_tls_CApath", o["cert_dir"])
            st = self.ctx.facts.lstat(o["cert_dir"])
            if st is None or not (st.is_dir or st.is_symlink):
                yield self.fail(f"the CA directory {o['cert_dir']} does not exist (install ca-certificates)",
                                resource=o["cert_dir"], expected="a directory of CA certificates",
                                actual="missing", group="ca")
        if cf.get("smtp_tls_ciphers") != o["ciphers"]:
            yield from self.expect(cf, "smtp_tls_ciphers", o["ciphers"], severity=Severity.MEDIUM)
        for name in ("smtp_tls_protocols", "smtp_tls_mandatory_protocols"):
            bad = sorted(allowed_protocols(cf.get(name)) & set(o["forbidden_protocols"]))
            if bad:
                yield self.param_fail(cf, name, f"is {show(cf.get(name))}, which allows {', '.join(bad)}",
                                      " ".join("!" + p for p in o["forbidden_protocols"]), cf.get(name))
        policy = cf.get("smtp_tls_policy_maps")
        if policy:
            yield self.param_fail(cf, "smtp_tls_policy_maps", f"is {show(policy)}: a per-destination "
                                  "policy can lower the TLS level for the relay", "", policy,
                                  severity=Severity.HIGH)

    def _ca_file(self, cf: PostfixConfig, path: str) -> Iterable[Finding]:
        facts = self.ctx.facts
        st = facts.lstat(path)
        if st is None or not st.is_file:
            yield self.fail(f"the override CA file {path} (smtp_relay_cert_override_file) "
                            f"{'does not exist' if st is None else 'is not a regular file'}: Postfix "
                            "cannot verify the relay and every alert fails with 'Server certificate "
                            "not verified'", resource=path, expected="a PEM certificate",
                            actual="missing" if st is None else "not a regular file", group="ca")
            return
        try:
            data = facts.read_bytes(path, 1 << 20)
        except FactError as exc:
            yield self.error(f"the override CA file cannot be read: {exc}", resource=path, group="ca")
            return
        import ssl

        try:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.load_verify_locations(cadata=data.decode("ascii") if b"-----BEGIN" in data else data)
            count = ctx.cert_store_stats().get("x509", 0)
        except (ssl.SSLError, ValueError, UnicodeDecodeError):
            count = 0
        if not count:
            yield self.fail(f"the override CA file {path} holds no certificate that parses",
                            resource=path, expected="a PEM certificate", actual="no certificate", group="ca")
