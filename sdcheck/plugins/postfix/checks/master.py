"""postfix.master: no master.cf service overrides the relay's TLS or SASL settings."""

from __future__ import annotations

from sdcheck.model import Finding, Severity
from sdcheck.plugins.postfix.base import PostfixCheck, show
from sdcheck.plugins.postfix.live import PASSWORD_MAPS, PostfixConfig, postconf
from sdcheck.plugins.postfix.parse import parse_service_params, parse_services, program_of
from sdcheck.startup import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Iterable


GUARDED_PREFIXES = ("smtp_tls_", "smtp_sasl_", "smtp_use_tls", "smtp_enforce_tls", "relayhost",
                    "smtp_header_checks", "smtp_generic_maps")


class Master(PostfixCheck):
    id = "postfix.master"
    title = "master.cf does not override relay, TLS or SASL settings for the smtp/relay services"
    # what exactly is verified (docs/checks.md, sdcheck explain)
    details = ("(mon) no `-o` override in master.cf of relay, TLS, SASL, header or generic-map settings on a service"
               " that runs `smtp` (they beat main.cf and `postconf -n` hides them)")
    severity = Severity.HIGH
    why = ("A '-o smtp_tls_security_level=none' on the smtp or relay service in master.cf beats "
           "main.cf, and 'postconf -n' does not show it.")
    remedy = "Remove the '-o' override from {where} and run 'postfix reload'."
    ok_message = "master.cf has no overrides of relay, TLS or SASL settings"

    def judge(self, cf: PostfixConfig) -> Iterable[Finding]:
        services = parse_services(postconf(self.ctx, cf.directory, "-M"))
        where = f"{cf.directory}/master.cf"
        daemon_dir = cf.get("daemon_directory") or "/usr/lib/postfix/sbin"
        for service, kind, param, value in parse_service_params(postconf(self.ctx, cf.directory, "-P")):
            # judged by the program it runs ('./smtp' and '/usr/lib/postfix/sbin/smtp' are smtp)
            program, outside = program_of(services.get((service, kind), ""), daemon_dir)
            if program not in ("smtp", "lmtp") and not outside and service not in ("smtp", "relay"):
                continue
            if kind != "unix" or not param.startswith(GUARDED_PREFIXES):
                continue
            shown = "(value not shown: it may hold a password)" if param.endswith(PASSWORD_MAPS) else show(value)
            yield self.fail(f"master.cf service {service}/{kind} overrides {param} = {shown} "
                            f"({where})", resource=f"{where}:{service}/{kind}/{param}",
                            expected="no override", actual=f"-o {param}={shown}",
                            remedy=self.remedy.replace("{where}", where), group="overrides")
