"""postfix.relay: Postfix relays through the site's relay with SASL authentication."""

from __future__ import annotations

from sdcheck.check import Option
from sdcheck.model import Finding, Severity
from sdcheck.plugins.postfix.base import PostfixCheck, show
from sdcheck.plugins.postfix.live import PostfixConfig
from sdcheck.plugins.postfix.parse import map_parts, table_refs, words
from sdcheck.startup import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Iterable


def relay_host(value: str) -> str:
    """The host of a relayhost value: ``[h]:p``, ``h:p``, ``[h]`` or ``h``."""
    value = value.strip()
    if value.startswith("["):
        return value[1:].split("]", 1)[0]
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


def maps_shown(value: str) -> str:
    """A password map list as it may be shown: the tables it names, never a literal value
    (static:, inline:) that a lookup would return."""
    literals, tables = map_parts(value)
    parts = [f"{t}:{p}" if t else p for t, p in tables]
    if literals:
        parts.append(f"{len(literals)} literal value(s), not shown")
    return ", ".join(parts) or "nothing"


class Relay(PostfixCheck):
    id = "postfix.relay"
    title = "Postfix relays through [smtp_relay]:smtp_relay_port with SASL authentication"
    # what exactly is verified (docs/checks.md, sdcheck explain)
    details = ("(mon) `relayhost` is exactly `[smtp_relay]:smtp_relay_port` (a bracket or port difference is named "
               "as such); SASL on, `noanonymous`, `smtp_sasl_password_maps` names the sasl_passwd table")
    severity = Severity.HIGH
    why = ("Alerts reach the admins only through the configured SMTP relay. A wrong host or port "
           "gives 'Connection timed out'; without SASL the relay refuses to relay.")
    options = dict(PostfixCheck.options, **{
        "relayhost": Option(str, required=True, help="exactly what relayhost must be"),
        "sasl_passwd": Option(str, "/etc/postfix/sasl_passwd", help="the SASL password table's source file"),
    })
    ok_message = "relayhost and SASL settings are as expected"

    def judge(self, cf: PostfixConfig) -> Iterable[Finding]:
        want = self.opts["relayhost"]
        if want.startswith("[]") or want.startswith("[:"):
            yield self.error("the variable smtp_relay is not set: give SecureDrop's site-specific file "
                             "with --vars (or put it in /etc/sdcheck/vars.yml)", resource="vars/smtp_relay")
            return
        have = cf.get("relayhost")
        if have != want:
            hint = ""
            if relay_host(have) == relay_host(want):
                hint = " (same host: the port or the [brackets] differ; without brackets Postfix looks up MX records)"
            yield self.param_fail(cf, "relayhost", f"is {show(have)}, expected {want}{hint}", want, have,
                                  severity=Severity.CRITICAL)
        yield from self.expect(cf, "smtp_sasl_auth_enable", "yes")
        opts = words(cf.get("smtp_sasl_security_options"))
        if "noanonymous" not in opts:
            yield self.param_fail(cf, "smtp_sasl_security_options", f"is {show(cf.get('smtp_sasl_security_options'))}, "
                                  "which lacks noanonymous", "noanonymous", cf.get("smtp_sasl_security_options"))
        refs = table_refs(cf.get("smtp_sasl_password_maps"))
        path = self.opts["sasl_passwd"]
        if not any(p == path for _t, p in refs):
            shown = maps_shown(cf.get("smtp_sasl_password_maps"))
            yield self.param_fail(cf, "smtp_sasl_password_maps", f"names {shown}, not {path}",
                                  f"hash:{path}", shown)
