"""alert.relay (report --online): the SMTP relay answers, offers STARTTLS and AUTH, and its
certificate verifies, probed as the host's own Postfix would reach it."""

from __future__ import annotations

from sdcheck.check import Check, Option
from sdcheck.host.base import FactError
from sdcheck.model import Finding, Severity
from sdcheck.startup import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Iterable


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


class Relay(Check):
    id = "alert.relay"
    title = "The SMTP relay answers, offers STARTTLS and AUTH, and its certificate verifies (online)"
    # what exactly is verified (docs/checks.md, sdcheck explain)
    details = ("(mon, `report --online` only) connects to `[smtp_relay]:smtp_relay_port` **as the postfix user** "
               "(SecureDrop's firewall lets only it out), reads the greeting, requires STARTTLS, verifies the "
               "certificate as Postfix is configured to (system CA directory, override CA file, or fingerprint), "
               "reports protocol and subject/issuer, and requires AUTH after STARTTLS. No credentials are sent. Each"
               " failure names the seeds' fix")
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
        from importlib.resources import files

        facts = self.ctx.facts
        user = None
        # the user commands run as *on the host* (root through --sudo, say), not this process's
        if self.opts["probe_user"] and facts.euid() == 0:
            user = facts.user_id(self.opts["probe_user"])
            if user is None:
                raise FactError(f"the user {self.opts['probe_user']} does not exist (probe_user)")
        # the probe's own source, run by the host's system interpreter: the postfix user may
        # not be able to read sdcheck's installation (stdlib only is needed)
        code = files("sdcheck.plugins.alert").joinpath("smtp_probe.py").read_text(encoding="utf-8")
        python = facts.which("python3")
        if python is None:
            raise FactError("python3 is not installed on the host, and the probe needs it")
        res = facts.run([python, "-I", "-c", code], timeout=float(args["timeout"]) * 3 + 10,
                                 user=user, input=json.dumps(args).encode())
        if not res.ok:
            last = res.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or ["no output"]
            raise FactError(f"exit {res.returncode}: {last[0]}")
        return json.loads(res.stdout)
