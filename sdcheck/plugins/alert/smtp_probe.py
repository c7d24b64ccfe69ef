"""Probe an SMTP relay the way Postfix will use it: greeting, EHLO, STARTTLS, certificate
verification (CA directory, CA file, or certificate fingerprint), AUTH offered after TLS.

Run as a module in a child process (``python -I -m sdcheck.plugins.alert.smtp_probe``), so sdcheck can
run it as the postfix user: SecureDrop's firewall lets only that user reach the relay.
Arguments arrive as JSON on stdin; the result leaves as JSON on stdout. No credentials are
sent: AUTH is only looked for, never attempted.
"""

from __future__ import annotations

import json
import sys


def probe(a: dict) -> dict:
    import hashlib
    import smtplib
    import socket
    import ssl

    out: dict = {"stage": "connect", "ok": False}
    smtp = smtplib.SMTP(timeout=a["timeout"])
    try:
        try:
            code, _msg = smtp.connect(a["host"], a["port"])
        except socket.gaierror as exc:
            return dict(out, error="resolve", detail=str(exc))
        except (socket.timeout, TimeoutError):
            return dict(out, error="timeout")
        except ConnectionRefusedError:
            return dict(out, error="refused")
        except OSError as exc:
            return dict(out, error="connect", detail=exc.strerror or str(exc))
        # what STARTTLS verifies the certificate against (smtplib sets it in __init__ only)
        smtp._host = a["host"]  # type: ignore[attr-defined]  # smtplib's undeclared attribute
        out["stage"] = "greeting"
        if code != 220:
            return dict(out, error="greeting", detail=str(code))
        out["stage"] = "ehlo"
        smtp.ehlo(a.get("helo") or "sdcheck.invalid")
        if not smtp.has_extn("starttls"):
            return dict(out, error="no-starttls")
        out["stage"] = "tls"
        if a["mode"] == "fingerprint":
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        elif a.get("cadata"):
            ctx = ssl.create_default_context(cadata=a["cadata"])
        else:
            ctx = ssl.create_default_context(capath=a.get("capath") or None)
        try:
            smtp.starttls(context=ctx)
        except ssl.SSLCertVerificationError as exc:
            return dict(out, error="verify", detail=exc.verify_message or str(exc))
        except ssl.SSLError as exc:
            return dict(out, error="tls", detail=exc.reason or str(exc))
        sock = smtp.sock
        if not isinstance(sock, ssl.SSLSocket):  # starttls() returned without a TLS session
            return dict(out, error="tls", detail="no TLS session after STARTTLS")
        out["protocol"] = sock.version()
        der = sock.getpeercert(binary_form=True) or b""
        if a["mode"] == "fingerprint":
            got = hashlib.new(a.get("digest") or "sha1", der).hexdigest().upper()
            out["fingerprint"] = ":".join(got[i:i + 2] for i in range(0, len(got), 2))
            if got != a["fingerprint"].replace(":", "").upper():
                return dict(out, error="fingerprint")
        else:
            cert = sock.getpeercert() or {}
            out["subject"] = ", ".join("=".join(p) for rdn in cert.get("subject", ()) for p in rdn)
            out["issuer"] = ", ".join("=".join(p) for rdn in cert.get("issuer", ()) for p in rdn)
            out["not_after"] = cert.get("notAfter", "")
        out["stage"] = "auth"
        smtp.ehlo(a.get("helo") or "sdcheck.invalid")
        auth = smtp.esmtp_features.get("auth")
        if auth is None:
            return dict(out, error="no-auth")
        out["auth"] = auth.strip()
        out["ok"] = True
        return out
    except (socket.timeout, TimeoutError):
        return dict(out, error="timeout")
    except (smtplib.SMTPException, OSError) as exc:
        return dict(out, error="smtp", detail=str(exc))
    finally:
        try:
            smtp.close()
        except Exception:  # noqa: BLE001, S110 - closing a broken connection
            pass


if __name__ == "__main__":
    sys.stdout.write(json.dumps(probe(json.loads(sys.stdin.read()))))
