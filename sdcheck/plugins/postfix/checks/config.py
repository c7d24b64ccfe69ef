"""postfix.config: the whole Postfix configuration against the baseline, as Postfix reads it.

main.cf: every parameter ``postconf -n`` reports (what main.cf sets, read by Postfix itself)
against SecureDrop's template rendered with the site's variables; nothing may be added,
changed or left out but the parameters on the baseline's reviewed list of harmless local
ones. master.cf: every service ``postconf -M`` reports (its ``-o`` overrides included)
against Debian's master.cf, each judged by the program it runs. Severity follows effect:
anything that routes, trusts, encrypts, or can divert, copy, discard or downgrade mail is
critical.
"""

from __future__ import annotations

from sdcheck.baseline import item_lines, line_of
from sdcheck.check import Option
from sdcheck.model import Finding, Severity
from sdcheck.plugins.postfix.base import PostfixCheck, show
from sdcheck.plugins.postfix.live import PASSWORD_MAPS, PostfixConfig, postconf
from sdcheck.plugins.postfix.parse import parse_postconf, parse_services_full, program_of, value_words
from sdcheck.startup import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Iterable

# a parameter whose name holds one of these routes, trusts, encrypts, or can divert, copy,
# discard or downgrade mail; any change to it is critical (others are high)
CRITICAL_WORDS = (
    "relay", "transport", "content_filter", "bcc", "_checks", "milter", "mailbox", "home_mailbox",
    "forward_path", "alias", "canonical", "generic", "virtual", "masquerade", "luser", "mydestination",
    "myhostname", "mydomain", "myorigin", "inet_interfaces", "inet_protocols", "mynetworks", "restrictions",
    "tls", "sasl", "cafile", "capath", "fingerprint", "cipher", "protocol", "defer", "hold", "discard",
    "soft_bounce", "lifetime", "dns", "host_lookup", "destination", "recipient", "sender", "smtp_",
    "lmtp_", "local_", "allow_mail_to", "command", "config_director", "import_environment", "daemon_directory",
    "queue_directory", "proxy", "maillog", "syslog", "notify_classes", "always_add", "message_size",
    "delay", "error_", "bounce", "fallback", "override",
)
# delivery and routing programs of master.cf: a change to a service running one is critical
DELIVERY_PROGRAMS = {"smtp", "lmtp", "local", "virtual", "pipe", "discard", "error", "spawn", "cleanup",
                     "qmgr", "trivial-rewrite", "bounce", "oqmgr", "smtpd", "pickup", "postdrop", "sendmail"}
TLS_MODES = ("fingerprint", "override", "system")


def effect(name: str) -> Severity:
    lowered = name.lower()
    return Severity.CRITICAL if any(w in lowered for w in CRITICAL_WORDS) else Severity.HIGH


def _assignments(items: list, what: str, fail) -> dict[str, tuple[str, int]]:
    """``name = value`` strings -> {name: (value, baseline line)}."""
    out: dict[str, tuple[str, int]] = {}
    for text, line in zip(items, item_lines(items)):
        name, sep, value = str(text).partition("=")
        name = name.strip()
        if not sep or not name or not name.replace("_", "").isalnum():
            fail(f"{what}: each item is 'name = value', got {text!r}", line)
        if name in out:
            fail(f"{what}: {name} is set twice", line)
        out[name] = (value.strip(), line or 0)
    return out


class Config(PostfixCheck):
    id = "postfix.config"
    title = "The whole Postfix configuration is SecureDrop's: every main.cf parameter and master.cf service"
    # what exactly is verified (docs/checks.md, sdcheck explain)
    details = ("(mon) the whole configuration: every parameter `postconf -n` reports against SecureDrop's main.cf "
               "template rendered with the site's variables, and every master.cf service `postconf -M` reports "
               "(fields, command, `-o` overrides) against Debian's master.cf. An added, changed or missing parameter"
               " is a finding with its `file:line`; severity follows effect (anything routing, trusting, encrypting,"
               " or able to divert, copy, discard or downgrade mail is critical, the rest high). A service is judged"
               " by the program it runs (`./smtp` is the smtp client; a program outside `daemon_directory` is named "
               "as such). A configuration Postfix refuses is an ERROR. Password map values are never shown")
    severity = Severity.CRITICAL
    why = ("Spot checks of a few parameters miss what decides delivery: 'default_transport = discard', "
           "'always_bcc = spy@...', a transport map to another host, 'mailbox_command_maps' skipping "
           "procmail (which encrypts the alerts), a weaker 'smtp_tls_mandatory_ciphers'. Every parameter "
           "Postfix reads from main.cf, and every master.cf service with its overrides, is compared with "
           "SecureDrop's configuration rendered from the site's variables. Only parameters on the "
           "baseline's reviewed list of harmless local ones may differ.")
    remedy = ("Restore SecureDrop's Postfix configuration: re-run 'securedrop-admin install' from the Admin "
              "Workstation (or fix {where} by hand and run 'postfix reload'). A parameter a site needs "
              "belongs in the baseline's 'local_parameters' with its reason (see README).")
    options = dict(PostfixCheck.options, **{
        "main": Option(list, required=True, help="main.cf as SecureDrop's template writes it: 'name = value' items"),
        "main_by_tls_mode": Option(dict, required=True, help="fingerprint/override/system: the TLS lines of "
                                   "each mode"),
        "main_with_sender": Option(list, [], help="lines present when alerts have a sender address"),
        "fingerprint": Option(str, "", help="smtp_relay_fingerprint; set: fingerprint mode"),
        "cert_override_file": Option(str, "", help="smtp_relay_cert_override_file; set: override mode"),
        "from_address": Option(str, "", help="ossec_from_address"),
        "sasl_domain": Option(str, "", help="sasl_domain (sasl_username@sasl_domain is the default sender)"),
        "local_parameters": Option(dict, {}, help="the reviewed harmless site-specific parameters: name -> reason"),
        "site_local_parameters": Option(dict, {}, help="a site's own additions (the variable "
                                        "postfix_local_parameters): name -> reason; none whose effect is critical"),
        "master": Option(list, required=True, help="master.cf services as 'postconf -M' prints them"),
    })
    ok_message = "main.cf and master.cf are exactly SecureDrop's"

    @classmethod
    def prepare_options(cls, resolved: dict, raw: dict, fail) -> None:
        modes = resolved["main_by_tls_mode"]
        if set(modes) != set(TLS_MODES):
            fail(f"main_by_tls_mode needs exactly {', '.join(TLS_MODES)}", line_of(raw, "main_by_tls_mode"))
        main = _assignments(resolved["main"], "main", fail)
        resolved["_main_by_mode"] = {}
        for mode in TLS_MODES:
            if not isinstance(modes[mode], list):
                fail(f"main_by_tls_mode.{mode} must be a list", line_of(raw, "main_by_tls_mode"))
            extra = _assignments(modes[mode], f"main_by_tls_mode.{mode}", fail)
            resolved["_main_by_mode"][mode] = extra
            for name in set(extra) & set(main):
                fail(f"{name} is in both main and main_by_tls_mode.{mode}", extra[name][1])
        resolved["_main"] = main
        resolved["_sender"] = _assignments(resolved["main_with_sender"], "main_with_sender", fail)
        for key in ("local_parameters", "site_local_parameters"):
            for name, reason in resolved[key].items():
                where = line_of(resolved[key], name, line_of(raw, key))
                if not isinstance(reason, str) or not reason.strip():
                    fail(f"{key}: {name} needs its reason (why it may differ from site to site)", where)
                if key == "site_local_parameters" and effect(str(name)) == Severity.CRITICAL:
                    fail(f"postfix_local_parameters: {name} can route, protect or drop mail, so a vars file "
                         "cannot exempt it; change the postfix.config baseline itself (see README)", where)
        services = {}
        for text, line in zip(resolved["master"], item_lines(resolved["master"])):
            fields = str(text).split()
            if len(fields) < 8:
                fail(f"master: a service is 'name type private unpriv chroot wakeup maxproc command [args]', "
                     f"got {text!r}", line)
            services[(fields[0], fields[1])] = fields
        resolved["_master"] = services

    def expected_main(self) -> dict[str, tuple[str, int]]:
        o = self.opts
        mode = "fingerprint" if o["fingerprint"] else "override" if o["cert_override_file"] else "system"
        want = dict(o["_main"], **o["_main_by_mode"][mode])
        if o["from_address"] or o["sasl_domain"]:
            want.update(o["_sender"])
        return want

    def judge(self, cf: PostfixConfig) -> Iterable[Finding]:
        live = parse_postconf(postconf(self.ctx, cf.directory, "-n"))
        if "config_directory" not in cf.lines and live.get("config_directory") == cf.directory:
            del live["config_directory"]  # 'postconf -c DIR' reports the directory it was given
        want = self.expected_main()
        local = {**self.opts["local_parameters"], **self.opts["site_local_parameters"]}
        for name in sorted(set(live) | set(want)):
            if name in local:
                continue
            have = live.get(name)
            exp = want.get(name, (None, 0))[0]
            if have is not None and exp is not None and value_words(have) == value_words(exp):
                continue
            sev = effect(name)
            secret = name.endswith(PASSWORD_MAPS)
            shown = "(not shown: it may hold a password)" if secret and have else show(have or "")
            if have is None:
                text = f"is not set (Postfix's default applies), expected {show(exp or '')}"
            elif exp is None:
                text = f"= {shown} is set, and SecureDrop's configuration does not set it"
            else:
                text = f"is {shown}, expected {show(exp)}"
            yield self.param_fail(cf, name, text, exp if exp is not None else "not set",
                                  "not set" if have is None else shown, severity=sev)
        yield from self._master(cf)

    # -- master.cf --------------------------------------------------------------------
    def _master(self, cf: PostfixConfig) -> Iterable[Finding]:
        live = parse_services_full(postconf(self.ctx, cf.directory, "-M"))
        want = self.opts["_master"]
        daemon_dir = cf.get("daemon_directory") or "/usr/lib/postfix/sbin"
        where = f"{cf.directory}/master.cf"
        remedy = self.remedy.replace("{where}", where)
        for key in sorted(set(live) | set(want)):
            have, exp = live.get(key), want.get(key)
            service = "/".join(key)
            if have is not None and exp is not None and have == exp:
                continue
            if have is None:
                program = exp[7]
                yield self.fail(f"master.cf service {service} (running {program}) is missing ({where})",
                                resource=f"{where}:{service}", expected=" ".join(_masked(exp)),
                                actual="no such service",
                                severity=Severity.CRITICAL if program in DELIVERY_PROGRAMS else Severity.HIGH,
                                group="master.cf", remedy=remedy, subject=f"master.cf {service} missing")
                continue
            program, outside = program_of(have[7], daemon_dir)
            runs = f"runs {program}" if not outside else f"runs {have[7]}, outside daemon_directory {daemon_dir}"
            args, exp_args = _masked(have[8:]), _masked(exp[8:]) if exp else []
            overrides = [a for a in _options(args) if a not in _options(exp_args)]
            sev = Severity.CRITICAL if (outside or program in DELIVERY_PROGRAMS or overrides) else Severity.HIGH
            if exp is None:
                text = f"master.cf has a service {service} that Debian's does not: it {runs}"
            else:
                parts = []
                if have[7] != exp[7]:
                    parts.append(f"it {runs} instead of {exp[7]}")
                if have[2:7] != exp[2:7]:
                    parts.append(f"its settings are {' '.join(have[2:7])}, not {' '.join(exp[2:7])}")
                if have[8:] != exp[8:]:
                    parts.append(f"its arguments are {' '.join(args) or 'none'}, not {' '.join(exp_args) or 'none'}")
                text = f"master.cf service {service} differs from Debian's: " + "; ".join(parts)
            if overrides:
                text += f" (overrides: {' '.join(overrides)})"
            yield self.fail(text + f" ({where})", resource=f"{where}:{service}",
                            expected=" ".join(_masked(exp)) if exp else "no such service",
                            actual=" ".join(_masked(have)),
                            severity=sev, group="master.cf", remedy=remedy,
                            subject=f"master.cf {service}: {' '.join(_masked(have))}")


def _masked(args: list[str]) -> list[str]:
    """Arguments as they may be shown: the value of a password map override never is."""
    out = []
    for arg in args:
        inner = arg[1:-1] if arg.startswith("{") and arg.endswith("}") else arg
        name, eq, _value = inner.partition("=")
        name = name.strip(" \t{")
        if eq and name.endswith(PASSWORD_MAPS):
            arg = f"{name}=(not shown: it may hold a password)"
        out.append(arg)
    return out


def _options(args: list[str]) -> list[str]:
    """'-o name=value' arguments as single items, whatever the spacing postconf printed."""
    out, i = [], 0
    while i < len(args):
        if args[i] == "-o" and i + 1 < len(args):
            out.append(f"-o {args[i + 1]}")
            i += 2
        else:
            if args[i].startswith("-o"):
                out.append(f"-o {args[i][2:]}")
            i += 1
    return out
