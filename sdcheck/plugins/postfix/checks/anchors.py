"""postfix.anchors: the certificates Postfix trusts for the relay are exactly the site's (override
CA file) or exactly what the ca-certificates package provides (system CA directory)."""

from __future__ import annotations

import base64
import hashlib
import re

from sdcheck.check import Check, Option
from sdcheck.host.base import FactError
from sdcheck.model import Finding, Severity
from sdcheck.startup import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Iterable

# what OpenSSL loads from a CA file: every certificate block, trusted or not
_PEM = re.compile(r"-----BEGIN ((?:TRUSTED |X509 )?CERTIFICATE)-----\s*(.*?)-----END \1-----", re.S)
# what OpenSSL reads from a CA directory (CApath): <subject hash>.<n>; .r<n> are CRLs
_HASHED = re.compile(r"^[0-9a-f]{8}\.[0-9]+$")
PACKAGE_PREFIX = "usr/share/ca-certificates/"


def pem_fingerprints(text: str) -> list[str]:
    """SHA-256 fingerprints (upper-case hex) of the certificates in a PEM file, in order."""
    out = []
    for _, body in _PEM.findall(text):
        try:
            der = base64.b64decode("".join(body.split()), validate=True)
        except ValueError:
            out.append("unreadable")
            continue
        out.append(hashlib.sha256(der).hexdigest().upper())
    return out


def enabled_certs(conf: str) -> set[str]:
    """Paths under /usr/share/ca-certificates that /etc/ca-certificates.conf enables."""
    return {line.strip() for line in conf.splitlines()
            if line.strip() and not line.lstrip().startswith(("#", "!"))}


def package_md5(md5sums: str) -> dict[str, str]:
    out = {}
    for line in md5sums.splitlines():
        digest, _, path = line.partition("  ")
        if path.startswith(PACKAGE_PREFIX):
            out[path[len(PACKAGE_PREFIX):]] = digest.lower()
    return out


class Anchors(Check):
    id = "postfix.anchors"
    title = "Postfix trusts exactly the site's CA certificates, or exactly the ca-certificates package's"
    # what exactly is verified (docs/checks.md, sdcheck explain)
    details = ("(mon) In the override mode (`smtp_relay_cert_override_file`), the file in "
               "`smtp_relay_cert_override_dir` holds exactly the certificates whose SHA-256 fingerprints "
               "`smtp_relay_cert_override_sha256` lists, or, when that is empty, exactly one certificate; it is "
               "root's and writable by nobody else. In the system mode, every entry OpenSSL reads from the CA "
               "directory (`<hash>.<n>`) must resolve to a certificate of the ca-certificates package under "
               "/usr/share/ca-certificates that /etc/ca-certificates.conf enables, with the content the package "
               "installed (its md5sums). An added anchor (a local CA, c_rehash of another file, an edited "
               "certificate) is critical. The fingerprint mode trusts no anchor and is not judged here.")
    severity = Severity.CRITICAL
    why = ("Postfix accepts the relay if any trusted anchor vouches for it. One added CA lets whoever holds its "
           "key pose as the relay: the SASL password and every alert go to them, and the alerts can be dropped.")
    remedy = ("Remove the added certificate and its hash link (for a local CA: delete it from "
              "/usr/local/share/ca-certificates and run 'update-ca-certificates --fresh'); restore the override "
              "file from the admin workstation ('securedrop-admin install').")
    options = {
        "fingerprint": Option(str, "", help="smtp_relay_fingerprint; set: fingerprint mode (no anchors)"),
        "cert_override_file": Option(str, ""),
        "cert_override_dir": Option(str, "/etc/ssl/certs_local"),
        "override_sha256": Option(list, [], help="SHA-256 fingerprints of the certificates the override file holds"),
        "cert_dir": Option(str, "/etc/ssl/certs"),
        "ca_conf": Option(str, "/etc/ca-certificates.conf"),
        "ca_share": Option(str, "/usr/share/ca-certificates"),
        "md5sums": Option(str, "/var/lib/dpkg/info/ca-certificates.md5sums"),
    }
    timeout = 60.0

    def run(self) -> Iterable[Finding]:
        o = self.opts
        try:
            if o["fingerprint"]:
                yield self.passed("fingerprint mode: the relay's certificate is pinned, no CA is trusted",
                                  resource="smtp_tls_fingerprint_cert_match")
            elif o["cert_override_file"]:
                yield from self._override()
            else:
                yield from self._system()
        except FactError as exc:
            yield self.error(str(exc), resource=o["cert_dir"])

    def _override(self) -> Iterable[Finding]:
        o, facts = self.opts, self.ctx.facts
        path = f"{o['cert_override_dir'].rstrip('/')}/{o['cert_override_file']}"
        st = facts.lstat(path)
        if st is None or not st.is_file:  # postfix.tls reports the missing file: one finding, not two
            yield self.skip(f"{path} is not a regular file: no anchor to judge (postfix.tls reports it)",
                            resource=path)
            return
        found: list[Finding] = []
        have = pem_fingerprints(facts.read_text(path, 4 << 20))
        want = [w.replace(":", "").upper() for w in o["override_sha256"] if w]
        if want:
            extra = [f for f in have if f not in want]
            missing = [f for f in want if f not in have]
            if extra or missing:
                found.append(self.fail(f"{path} holds {len(have)} certificate(s)"
                                + (f"; not the site's: {', '.join(extra)}" if extra else "")
                                + (f"; missing: {', '.join(missing)}" if missing else ""), resource=path,
                                expected=", ".join(want), actual=", ".join(have), group="override",
                                subject=f"{path}: {', '.join(extra + missing)}"))
        elif len(have) != 1:
            found.append(self.fail(f"{path} holds {len(have)} certificates ({', '.join(have) or 'none'}); SecureDrop's "
                            "override file is the one CA certificate of the relay (list the expected ones in "
                            "smtp_relay_cert_override_sha256)", resource=path, expected="1 certificate",
                            actual=str(len(have)), group="override", subject=f"{path}: {len(have)} certificates"))
        if st.uid != 0 or st.mode & 0o022:
            found.append(self.fail(f"{path} can be rewritten by someone other than root (owner uid {st.uid}, mode "
                            f"{st.mode & 0o7777:04o})", resource=path, expected="root, not group/other writable",
                            actual=f"uid {st.uid} {st.mode & 0o7777:04o}", severity=Severity.HIGH, group="override"))
        yield from found or [self.passed(f"{path} holds {len(have)} certificate(s): {', '.join(have)}",
                                         resource=path)]

    def _system(self) -> Iterable[Finding]:
        o, facts = self.opts, self.ctx.facts
        cert_dir, share = o["cert_dir"].rstrip("/"), o["ca_share"].rstrip("/")
        enabled = enabled_certs(facts.read_text(o["ca_conf"], 1 << 20))
        md5 = package_md5(facts.read_text(o["md5sums"], 1 << 20))
        ((_, _, entries, error),) = list(facts.list_dirs([cert_dir]))
        if error is not None or entries is None:
            yield self.fail(f"{cert_dir} cannot be read ({error}): Postfix trusts no CA and alerts are not sent",
                            resource=cert_dir, expected="the system CA directory", actual="unreadable",
                            group="system")
            return
        bad = []
        names = [name for name, *_ in sorted(entries) if _HASHED.match(name)]
        count = len(names)
        targets = facts.realpaths([f"{cert_dir}/{name}" for name in names])
        rels = {t: t[len(share) + 1:] if t.startswith(share + "/") else None for t in targets.values()}
        contents = facts.read_many(sorted({t for t, rel in rels.items() if rel in enabled}), 1 << 20)
        for name in names:
            target = targets[f"{cert_dir}/{name}"]
            rel = rels[target]
            why = None
            if rel is None:
                why = f"resolves to {target}, which the ca-certificates package did not install"
            elif rel not in enabled:
                why = f"resolves to {target}, which /etc/ca-certificates.conf does not enable"
            elif md5.get(rel) != hashlib.md5(contents.get(target) or b"", usedforsecurity=False).hexdigest():
                why = f"resolves to {target}, whose content is not what the package installed"
            if why:
                bad.append(self.fail(f"{cert_dir}/{name} {why}: an added trust anchor for the relay's certificate",
                                     resource=f"{cert_dir}/{name}", expected="a ca-certificates certificate",
                                     actual=target, group="system", subject=f"anchor {name} {target}"))
        yield from bad or [self.passed(f"the {count} anchors OpenSSL reads from {cert_dir} are the ca-certificates "
                                       "package's", resource=cert_dir)]
