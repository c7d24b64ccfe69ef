"""Postfix on the Monitor Server: the path OSSEC's alert mails take to the SMTP relay.

The effective configuration is read with Postfix's own ``postconf -c DIR -x`` (defaults,
``$name`` expansion, continuation lines), master.cf with ``postconf -M``/``-P``, and
tables with ``postmap``. Values come from SecureDrop's site variables. The SASL password
is read only to compare it; it is registered with the run's redactor at once and never
put in a finding, not even partly.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Iterable

from sdcheck.check import Check, Context, Option
from sdcheck.host.base import FactError
from sdcheck.model import Finding, Severity
from sdcheck.plugins.postfix.parse import (
    allowed_protocols, main_cf_lines, map_parts, normalise_fingerprint, parse_postconf,
    parse_service_params, parse_services, program_of, secret_parts, split_words, table_refs, words,
)

RERUN = ("Set the value in SecureDrop's site-specific file and re-run 'securedrop-admin install' "
         "from the Admin Workstation (or fix {where} by hand and run 'postfix reload').")
_COMPILED = {"hash": ".db", "btree": ".db", "lmdb": ".lmdb", "cdb": ".cdb", "dbm": ".pag", "sdbm": ".pag"}
_TIMEOUT = 15.0


class PostfixConfig:
    """What postconf says about one configuration directory."""

    def __init__(self, directory: str, params: dict[str, str], lines: dict[str, int]):
        self.directory, self.params, self.lines = directory, params, lines

    def get(self, name: str) -> str:
        return self.params.get(name, "")

    def where(self, name: str) -> str:
        line = self.lines.get(name)
        main = f"{self.directory}/main.cf"
        return f"{main}:{line}" if line else f"{main} (not set: Postfix's default applies)"


def _postconf(ctx: Context, directory: str, *flags: str) -> str:
    return ctx.memo(f"postconf:{directory}:{' '.join(flags)}", lambda: _run_postconf(ctx, directory, flags))


def _run_postconf(ctx: Context, directory: str, flags) -> str:
    res = ctx.facts.run(["postconf", "-c", directory, *flags], timeout=_TIMEOUT)
    if not res.ok:
        # postconf's complaint quotes main.cf lines, which may hold a password: never relay
        # it; say where, in sdcheck's own words
        raise FactError(f"postconf {' '.join(flags)} failed for {directory} (exit {res.returncode}): Postfix "
                        f"cannot read its configuration{_where(res.stderr)}; run 'postconf {' '.join(flags)}' "
                        "on the server to see Postfix's own message")
    return res.stdout.decode("utf-8", "surrogateescape")


def _where(stderr: bytes) -> str:
    """' (main.cf, line 12)' from a Postfix error message, and nothing else of it."""
    import re

    m = re.search(rb"(/[^\s,:]{1,255}), line (\d{1,9})", stderr[-4096:])
    return f" ({m.group(1).decode('utf-8', 'surrogateescape')}, line {int(m.group(2))})" if m else ""


def config(ctx: Context, directory: str) -> PostfixConfig:
    def read() -> PostfixConfig:
        st = ctx.facts.lstat(f"{directory}/main.cf")
        if st is None or not st.is_file:
            raise FactError(f"{directory}/main.cf does not exist or is not a regular file: is Postfix "
                            "installed and configured? (the variable postfix_dir names the directory)")
        params = parse_postconf(_postconf(ctx, directory, "-x"))
        lines = main_cf_lines(ctx.facts.read_text(f"{directory}/main.cf"))
        return PostfixConfig(directory, params, lines)
    return ctx.memo(f"postfix:{directory}", read)


def table_entries(ctx: Context, directory: str, kind: str, path: str) -> list[tuple[str, str]] | int:
    """[(key, value)] of a map, listed by Postfix itself (``postmap -s``), or postmap's exit
    status when it cannot list it. Its output is never shown: it holds passwords."""
    def read():
        res = ctx.facts.run(["postmap", "-c", directory, "-s", f"{kind}:{path}"], timeout=_TIMEOUT)
        if not res.ok:
            return res.returncode
        entries = []
        for raw in res.stdout.decode("utf-8", "surrogateescape").split("\n"):
            if not raw.strip():
                continue
            key, sep, value = raw.partition("\t")
            if not sep:
                key, _sep, value = raw.partition(" ")
            entries.append((key.strip(), value.strip()))
        return entries
    return ctx.memo(f"postmap-s:{directory}:{kind}:{path}", read)


_PASSWORD_MAPS = ("_password_maps", "_passwd_maps")


def secrets(ctx: Context) -> list[str]:
    """Every value a SASL password map of the checked configurations can return (main.cf and
    master.cf ``-o`` overrides; static:, inline:, and the tables they name), learned before
    any check runs so that no output can show one."""
    dirs = {o["config_dir"] for cid, o in ctx.planned_options().items()
            if cid.startswith("postfix.") and o.get("config_dir")}
    found: list[str] = []
    for directory in sorted(dirs):
        try:
            cf = config(ctx, directory)
            values = [(v, cf) for k, v in cf.params.items() if k.endswith(_PASSWORD_MAPS)]
            values += [(v, cf) for _s, _t, k, v in parse_service_params(_postconf(ctx, directory, "-P"))
                       if k.endswith(_PASSWORD_MAPS)]
        except FactError:
            continue  # the checks say why the configuration cannot be read
        for value, cf in values:
            literals, tables = map_parts(value)
            for literal in literals:
                found += secret_parts(literal)
            for kind, path in tables:
                got = table_entries(ctx, directory, kind or cf.get("default_database_type") or "hash", path)
                for _key, result in got if isinstance(got, list) else ():
                    found += secret_parts(result)
    return found


class _PostfixCheck(Check):
    remedy = RERUN
    options = {"config_dir": Option(str, "/etc/postfix", help="Postfix configuration directory")}

    def run(self) -> Iterable[Finding]:
        try:
            cf = config(self.ctx, self.opts["config_dir"])
        except FactError as exc:
            yield self.error(f"the Postfix configuration could not be read: {exc}",
                             resource=self.opts["config_dir"],
                             remedy="Install and configure Postfix on the Monitor Server (re-run "
                                    "'securedrop-admin install'), or set postfix_dir to its directory.")
            return
        found = list(self.judge(cf))
        if not any(f.status.is_problem for f in found):
            found.append(self.passed(self.ok_message, resource=f"{cf.directory}/main.cf"))
        yield from found

    ok_message = "as expected"

    def judge(self, cf: PostfixConfig) -> Iterable[Finding]:
        raise NotImplementedError

    def expect(self, cf: PostfixConfig, name: str, want: str, why: str = "",
               severity: Severity | None = None) -> Iterable[Finding]:
        have = cf.get(name)
        if have != want:
            yield self.param_fail(cf, name, f"is {_show(have)}, expected {_show(want)}" + why,
                                  want, have, severity)

    def param_fail(self, cf: PostfixConfig, name: str, text: str, want, have,
                   severity: Severity | None = None, remedy: str | None = None) -> Finding:
        where = cf.where(name)
        return self.fail(f"{name} {text} ({where})", resource=where, expected=want, actual=_show(have),
                         severity=severity, group=name,
                         remedy=(remedy or self.remedy).replace("{where}", f"{cf.directory}/main.cf"))


def _relay_host(value: str) -> str:
    """The host of a relayhost value: ``[h]:p``, ``h:p``, ``[h]`` or ``h``."""
    value = value.strip()
    if value.startswith("["):
        return value[1:].split("]", 1)[0]
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


def _maps_shown(value: str) -> str:
    """A password map list as it may be shown: the tables it names, never a literal value
    (static:, inline:) that a lookup would return."""
    literals, tables = map_parts(value)
    parts = [f"{t}:{p}" if t else p for t, p in tables]
    if literals:
        parts.append(f"{len(literals)} literal value(s), not shown")
    return ", ".join(parts) or "nothing"


def _show(value: str) -> str:
    return repr(value) if value == "" or value != value.strip() else value


class Relay(_PostfixCheck):
    id = "postfix.relay"
    title = "Postfix relays through [smtp_relay]:smtp_relay_port with SASL authentication"
    severity = Severity.HIGH
    why = ("Alerts reach the admins only through the configured SMTP relay. A wrong host or port "
           "gives 'Connection timed out'; without SASL the relay refuses to relay.")
    options = dict(_PostfixCheck.options, **{
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
            if _relay_host(have) == _relay_host(want):
                hint = " (same host: the port or the [brackets] differ; without brackets Postfix looks up MX records)"
            yield self.param_fail(cf, "relayhost", f"is {_show(have)}, expected {want}{hint}", want, have,
                                  severity=Severity.CRITICAL)
        yield from self.expect(cf, "smtp_sasl_auth_enable", "yes")
        opts = words(cf.get("smtp_sasl_security_options"))
        if "noanonymous" not in opts:
            yield self.param_fail(cf, "smtp_sasl_security_options", f"is {_show(cf.get('smtp_sasl_security_options'))}, "
                                  "which lacks noanonymous", "noanonymous", cf.get("smtp_sasl_security_options"))
        refs = table_refs(cf.get("smtp_sasl_password_maps"))
        path = self.opts["sasl_passwd"]
        if not any(p == path for _t, p in refs):
            shown = _maps_shown(cf.get("smtp_sasl_password_maps"))
            yield self.param_fail(cf, "smtp_sasl_password_maps", f"names {shown}, not {path}",
                                  f"hash:{path}", shown)


class Tls(_PostfixCheck):
    id = "postfix.tls"
    title = "Postfix verifies the relay's TLS certificate (secure or fingerprint), strong ciphers, no SSL"
    severity = Severity.CRITICAL
    why = ("Alert mails and the SASL password cross the network to the relay. Without a verified "
           "TLS session a network attacker can read the password and the alert subjects, or drop "
           "the alerts. SecureDrop chooses one mode: 'secure' with the system CAs, 'secure' with an "
           "override CA file, or 'fingerprint'.")
    options = dict(_PostfixCheck.options, **{
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
                f"is {_show(level)}, expected {want_level} (mode: {mode})"
                + ("; the relay's certificate is not verified" if weak else ""),
                want_level, level, severity=Severity.CRITICAL if weak else Severity.HIGH)
        if mode == "fingerprint":
            yield from self.expect(cf, "smtp_tls_fingerprint_digest", o["fingerprint_digest"])
            have = {normalise_fingerprint(w) for w in words(cf.get("smtp_tls_fingerprint_cert_match"))}
            want = normalise_fingerprint(o["fingerprint"])
            if have != {want}:
                yield self.param_fail(cf, "smtp_tls_fingerprint_cert_match",
                                      f"is {_show(cf.get('smtp_tls_fingerprint_cert_match'))}, expected "
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
                yield self.param_fail(cf, name, f"is {_show(cf.get(name))}, which allows {', '.join(bad)}",
                                      " ".join("!" + p for p in o["forbidden_protocols"]), cf.get(name))
        policy = cf.get("smtp_tls_policy_maps")
        if policy:
            yield self.param_fail(cf, "smtp_tls_policy_maps", f"is {_show(policy)}: a per-destination "
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


GUARDED_PREFIXES = ("smtp_tls_", "smtp_sasl_", "smtp_use_tls", "smtp_enforce_tls", "relayhost",
                    "smtp_header_checks", "smtp_generic_maps")


class Master(_PostfixCheck):
    id = "postfix.master"
    title = "master.cf does not override relay, TLS or SASL settings for the smtp/relay services"
    severity = Severity.HIGH
    why = ("A '-o smtp_tls_security_level=none' on the smtp or relay service in master.cf beats "
           "main.cf, and 'postconf -n' does not show it.")
    remedy = "Remove the '-o' override from {where} and run 'postfix reload'."
    ok_message = "master.cf has no overrides of relay, TLS or SASL settings"

    def judge(self, cf: PostfixConfig) -> Iterable[Finding]:
        services = parse_services(_postconf(self.ctx, cf.directory, "-M"))
        where = f"{cf.directory}/master.cf"
        daemon_dir = cf.get("daemon_directory") or "/usr/lib/postfix/sbin"
        for service, kind, param, value in parse_service_params(_postconf(self.ctx, cf.directory, "-P")):
            # judged by the program it runs ('./smtp' and '/usr/lib/postfix/sbin/smtp' are smtp)
            program, outside = program_of(services.get((service, kind), ""), daemon_dir)
            if program not in ("smtp", "lmtp") and not outside and service not in ("smtp", "relay"):
                continue
            if kind != "unix" or not param.startswith(GUARDED_PREFIXES):
                continue
            shown = "(value not shown: it may hold a password)" if param.endswith(_PASSWORD_MAPS) else _show(value)
            yield self.fail(f"master.cf service {service}/{kind} overrides {param} = {shown} "
                            f"({where})", resource=f"{where}:{service}/{kind}/{param}",
                            expected="no override", actual=f"-o {param}={shown}",
                            remedy=self.remedy.replace("{where}", where), group="overrides")


# headers of an alert mail that reveal the Monitor Server, each of which SecureDrop's
# header_checks strips (a sample of each, as Postfix and OSSEC write them)
HEADER_SAMPLES = [
    "Received: from mon.example (localhost [127.0.0.1]) by mon.example (Postfix) with ESMTP id 4Xyz1",
    "Received: by mon.example (Postfix, from userid 0) id 4Xyz2; Mon, 23 Nov 2026 10:00:00 +0000 (UTC)",
    "X-Originating-IP: [10.20.3.2]",
    "X-Mailer: OSSEC HIDS",
    "Mime-Version: 1.0",
    "MIME-Version: 1.0",
    "User-Agent: OSSEC HIDS",
]


class Local(_PostfixCheck):
    id = "postfix.local"
    title = "Postfix only sends: loopback only, IPv4, no open relay, procmail, header stripping"
    severity = Severity.HIGH
    why = ("The Monitor Server must not accept mail from the network or relay for others; alert "
           "mails go through procmail (GPG encryption) and lose headers that reveal the server.")
    options = dict(_PostfixCheck.options, **{
        "inet_interfaces": Option(list, ["loopback-only"], help="accepted values of inet_interfaces"),
        "inet_protocols": Option(str, "ipv4"),
        "mailbox_command": Option(str, "/usr/bin/procmail"),
        "header_samples": Option(list, HEADER_SAMPLES, help="headers (one line each, no tab) each of which the "
                                 "smtp_header_checks tables must answer IGNORE",
                                 check=lambda v: all(isinstance(h, str) and h and not set(h) & set("\t\n")
                                                     for h in v)),
        "from_address": Option(str, "", help="ossec_from_address; empty: sasl_username@sasl_domain"),
        "sasl_username": Option(str, ""),
        "sasl_domain": Option(str, ""),
        "generic_local_part": Option(str, "ossec"),
    })
    ok_message = "Postfix only sends, through procmail, with headers stripped"

    def judge(self, cf: PostfixConfig) -> Iterable[Finding]:
        o = self.opts
        if cf.get("inet_interfaces") not in o["inet_interfaces"]:
            yield self.param_fail(cf, "inet_interfaces", f"is {_show(cf.get('inet_interfaces'))}: Postfix "
                                  "accepts mail from the network", " or ".join(o["inet_interfaces"]),
                                  cf.get("inet_interfaces"), severity=Severity.HIGH)
        yield from self.expect(cf, "inet_protocols", o["inet_protocols"], severity=Severity.MEDIUM)
        if "reject_unauth_destination" not in words(cf.get("smtpd_recipient_restrictions")):
            yield self.param_fail(cf, "smtpd_recipient_restrictions",
                                  f"is {_show(cf.get('smtpd_recipient_restrictions'))}, which lacks "
                                  "reject_unauth_destination (an open relay)", "reject_unauth_destination",
                                  cf.get("smtpd_recipient_restrictions"))
        yield from self.expect(cf, "mailbox_command", o["mailbox_command"], severity=Severity.MEDIUM)
        yield from self._header_checks(cf)
        yield from self._generic(cf)

    def _header_checks(self, cf: PostfixConfig) -> Iterable[Finding]:
        """Evaluated, not grepped: each sample header is looked up in the smtp_header_checks
        tables, in order, by Postfix itself ('postmap -q'), which reads them as the smtp client
        does (if/endif, continuation lines, the first match winning). Each must be IGNOREd."""
        value = cf.get("smtp_header_checks")
        maps = words(value)
        if not maps:
            yield self.param_fail(cf, "smtp_header_checks", "is not set: alert mails keep the headers that name "
                                  "the Monitor Server and its address", "regexp:/etc/postfix/header_checks", "",
                                  severity=Severity.HIGH)
            return
        # one postmap for every sample: keys on standard input, 'key<TAB>first value found' out for
        # each key any of the maps matches (exit 1 when none does)
        samples = self.opts["header_samples"]
        res = self.ctx.facts.run(["postmap", "-c", cf.directory, "-q", "-", *maps], timeout=_TIMEOUT,
                                 input="".join(h + "\n" for h in samples).encode("utf-8", "surrogateescape"))
        if res.returncode not in (0, 1):
            yield self.error(f"'postmap -q' could not look up headers in {value} (exit {res.returncode})",
                             resource=cf.where("smtp_header_checks"), group="smtp_header_checks")
            return
        answers: dict[str, str] = {}
        for line in res.stdout.decode("utf-8", "surrogateescape").split("\n"):
            key, tab, answer = line.partition("\t")
            if tab:
                answers.setdefault(key, answer.strip())
        kept = []
        for header in samples:
            answer = answers.get(header, "")
            if [w.upper() for w in split_words(answer)[:1]] != ["IGNORE"]:  # actions are case-insensitive
                name = header.split(":", 1)[0]
                kept.append(f"{name} ({'no match' if not answer else 'answer ' + _show(answer[:60])})")
        if kept:
            yield self.param_fail(cf, "smtp_header_checks", f"= {value} does not strip {len(kept)} of "
                                  f"{len(samples)} sample headers: {'; '.join(kept)}; alert "
                                  "mails keep them", "IGNORE for each", f"{len(kept)} kept", severity=Severity.HIGH)

    def _generic(self, cf: PostfixConfig) -> Iterable[Finding]:
        o = self.opts
        sasl_id = f"{o['sasl_username']}@{o['sasl_domain']}" if o["sasl_domain"] else ""
        sender = o["from_address"] or sasl_id
        if not sender:
            return
        refs = [r for r in table_refs(cf.get("smtp_generic_maps")) if r[0]]
        if not refs:
            yield self.param_fail(cf, "smtp_generic_maps", f"is not set, but alerts must be sent from {sender}",
                                  "hash:/etc/postfix/generic", "", severity=Severity.MEDIUM)
            return
        key = f"{o['generic_local_part']}@{cf.get('myhostname')}"
        kind, path = refs[0]
        res = self.ctx.facts.run(["postmap", "-c", cf.directory, "-q", key, f"{kind}:{path}"], timeout=_TIMEOUT)
        got = res.stdout.decode("utf-8", "surrogateescape").strip() if res.ok else ""
        if got != sender:
            yield self.fail(f"the generic table {kind}:{path} maps {key} to {_show(got) if got else 'nothing'}, "
                            f"expected {sender} (ossec_from_address): relays that require a matching sender "
                            "reject the alerts", resource=path, expected=f"{key} {sender}",
                            actual=got or "no entry", group="smtp_generic_maps", severity=Severity.MEDIUM,
                            remedy="Re-run 'securedrop-admin install', or fix the table and run "
                                   f"'postmap {kind}:{path}'.")


class SaslPasswd(_PostfixCheck):
    id = "postfix.sasl-passwd"
    title = "sasl_passwd: root-only, compiled with postmap, one entry keyed by the relayhost"
    severity = Severity.HIGH
    why = ("Postfix looks the password up by the exact relayhost string. A key that differs "
           "(brackets, port), a table not re-compiled after an edit, or a missing .db means "
           "'Authentication failure' and no alerts. The file holds the relay password, so only "
           "root may read it.")
    remedy = ("Edit {where} so it holds one line '[smtp_relay]:port user@domain:password', make it "
              "root-owned with mode 0600, run 'postmap {where}', then 'postfix reload' "
              "(or re-run 'securedrop-admin install').")
    options = dict(_PostfixCheck.options, **{
        "sasl_passwd": Option(str, "/etc/postfix/sasl_passwd"),
        "relayhost": Option(str, required=True),
        "sasl_username": Option(str, ""),
        "sasl_domain": Option(str, ""),
    })
    ok_message = "sasl_passwd is root-only, compiled, and keyed by the relayhost"

    def judge(self, cf: PostfixConfig) -> Iterable[Finding]:
        o = self.opts
        path = o["sasl_passwd"]
        remedy = self.remedy.replace("{where}", path)
        facts = self.ctx.facts
        kind = next((t for t, p in table_refs(cf.get("smtp_sasl_password_maps")) if p == path and t), "")
        kind = kind or cf.get("default_database_type") or "hash"
        st = facts.lstat(path)
        if st is None:
            yield self.fail(f"{path} does not exist", resource=path, expected="the SASL password table",
                            actual="missing", remedy=remedy, group="source")
        elif st.is_symlink or not st.is_file:
            yield self.fail(f"{path} is {'a symlink' if st.is_symlink else 'not a regular file'}; sdcheck "
                            "does not follow it and Postfix should not either", resource=path,
                            expected="a regular file", actual="symlink" if st.is_symlink else "other",
                            remedy=remedy, group="source")
            st = None
        else:
            if st.uid != 0:
                yield self.fail(f"{path} is owned by uid {st.uid}, not root", resource=path,
                                expected="owner root", actual=f"uid {st.uid}", remedy=remedy, group="source")
            if st.mode & 0o077:
                yield self.fail(f"{path} has mode {st.mode:04o}: other users can read the relay password",
                                resource=path, expected="0600 or stricter", actual=f"{st.mode:04o}",
                                remedy=remedy, group="source")
        suffix = _COMPILED.get(kind)
        if suffix is None:
            # texthash and the like: Postfix reads the source itself, there is no compiled file;
            # the entries are judged through postmap all the same
            yield from self._entries(cf, kind, path, remedy)
            return
        compiled = path + suffix
        cst = facts.lstat(compiled)
        if cst is None:
            yield self.fail(f"{compiled} does not exist: 'postmap {kind}:{path}' was not run, so Postfix "
                            "has no password", resource=compiled, expected=f"{kind} table", actual="missing",
                            remedy=remedy, group="compiled")
            return
        if st is not None and cst.mtime < st.mtime:
            yield self.fail(f"{path} was changed after {compiled} was built: run 'postmap {kind}:{path}' "
                            "(Postfix still uses the old entries)", resource=compiled,
                            expected=f"newer than {path}", actual="older", remedy=remedy, group="compiled")
        if cst.mode & 0o077:
            yield self.fail(f"{compiled} has mode {cst.mode:04o}: other users can read the relay password",
                            resource=compiled, expected="0600 or stricter", actual=f"{cst.mode:04o}",
                            remedy=remedy, group="compiled")
        yield from self._entries(cf, kind, path, remedy)

    def _entries(self, cf: PostfixConfig, kind: str, path: str, remedy: str) -> Iterable[Finding]:
        """The table's entries as Postfix lists them. Neither part of an entry is ever put in a
        finding (swapped fields put the password where the user belongs), nor a key other than
        the one expected (a malformed line can put the password there)."""
        o = self.opts
        got = table_entries(self.ctx, cf.directory, kind, path)
        if not isinstance(got, list):
            yield self.error(f"'postmap -s {kind}:{path}' failed (exit {got}); the table could not be listed",
                             resource=path, group="entries")
            return
        for key, value in got:  # already learned before the checks ran; again, to be sure
            self.ctx.add_secret(*secret_parts(value))
        want_key = o["relayhost"]
        match = [value for key, value in got if key == want_key]
        if len(got) != 1:
            yield self.fail(f"{path} holds {len(got)} entries ({len(match)} for {want_key}), expected exactly "
                            f"one, for {want_key}", resource=path, expected=f"1 entry: {want_key}",
                            actual=f"{len(got)} entries", remedy=remedy, group="entries")
        if not match:
            relay = cf.get("relayhost")
            yield self.fail(f"{path} has no entry for {want_key} (relayhost is {relay}; the table's "
                            f"{len(got)} key(s) are not shown, 'postmap -s {kind}:{path}' lists them): Postfix "
                            "finds no password and the relay answers 'Authentication failure' or refuses to "
                            "relay", resource=path, expected=want_key, actual=f"no entry for {want_key}",
                            remedy=remedy, group="key", severity=Severity.CRITICAL)
            return
        user, colon, password = match[0].partition(":")
        if not colon:
            yield self.fail(f"the entry for {want_key} in {path} is not of the form user:password",
                            resource=path, expected="user:password", actual="no ':' in the value",
                            remedy=remedy, group="value")
            return
        want_user = f"{o['sasl_username']}@{o['sasl_domain']}" if o["sasl_domain"] else o["sasl_username"]
        if want_user and user != want_user:
            yield self.fail(f"the entry for {want_key} in {path} authenticates as another user than "
                            f"{want_user} (sasl_username@sasl_domain; the entry is not shown)", resource=path,
                            expected=want_user, actual="another user (not shown)", remedy=remedy, group="value")
        if not password:
            yield self.fail(f"the entry for {want_key} in {path} has an empty password", resource=path,
                            expected="a password", actual="empty", remedy=remedy, group="value")
            return
        known = str(self.ctx.setting("sasl_password", SETTINGS) or "")
        if known:
            import hmac

            if not hmac.compare_digest(known.encode("utf-8", "surrogateescape"),
                                       password.encode("utf-8", "surrogateescape")):
                yield self.fail(f"the password in {path} differs from sasl_password in the vars file "
                                "(neither is shown)", resource=path, expected="the site's sasl_password",
                                actual="a different password", remedy=remedy, group="value")


class Service(Check):
    id = "postfix.service"
    title = "Postfix's own master process runs as root, matches master.pid, and listens only on loopback port 25"
    severity = Severity.HIGH
    why = ("Without a running Postfix no alert leaves the Monitor Server; listening beyond loopback exposes it. "
           "A process merely named 'master' proves nothing: it must be the master program of the "
           "daemon_directory postconf names, run by root, and the pid Postfix recorded in master.pid.")
    remedy = "Start it with 'systemctl enable --now postfix', then check 'ss -ltnp | grep :25'."
    options = {"enabled": Option(bool, True, help="postfix_enable_service (staging may turn it off)"),
               "config_dir": Option(str, "/etc/postfix", help="Postfix configuration directory")}

    def run(self) -> Iterable[Finding]:
        if not self.opts["enabled"]:
            yield self.skip("Postfix is disabled by postfix_enable_service", resource="postfix")
            return
        import posixpath

        facts = self.ctx.facts
        try:
            cf = config(self.ctx, self.opts["config_dir"])
            program = posixpath.normpath(posixpath.join(cf.get("daemon_directory") or "/usr/lib/postfix/sbin",
                                                        "master"))
            procs = facts.processes("master")
        except FactError as exc:
            yield self.error(f"Postfix's service could not be checked: {exc}", resource="postfix")
            return
        real = {pid for pid, exe, ruid, euid in procs if exe == program and ruid == 0 and euid == 0}
        others = [f"pid {pid} runs {exe or 'an unknown program'} as uid {euid}" for pid, exe, _r, euid in procs
                  if pid not in real]
        pid_file = posixpath.join(cf.get("queue_directory") or "/var/spool/postfix", "pid", "master.pid")
        if not real:
            yield self.fail(f"Postfix is not running: no process runs {program} as root, so alerts are not mailed"
                            + (f" (other processes named master: {'; '.join(others[:3])})" if others else ""),
                            resource="postfix", expected=f"{program} as root", actual="not running",
                            severity=Severity.CRITICAL if others else Severity.HIGH)
            return
        try:
            recorded = _strip_pid(facts.read_text(pid_file, 64))
        except FactError as exc:
            recorded, why = None, str(exc)
        else:
            why = f"it holds {recorded!r}" if recorded is not None else "it holds no pid"
        if recorded is None or recorded not in real:
            yield self.fail(f"{pid_file} does not name the running master ({', '.join(map(str, sorted(real)))}): "
                            f"{why}", resource=pid_file, expected=" or ".join(map(str, sorted(real))),
                            actual=str(recorded) if recorded is not None else "no pid", group="pid")
        if others:
            yield self.fail(f"besides Postfix's master, other processes are named master: {'; '.join(others[:3])}",
                            resource="postfix/processes", expected=f"only {program}", actual=f"{len(others)} more",
                            severity=Severity.MEDIUM, group="processes")
        try:
            sockets = facts.listening_sockets()
        except FactError as exc:
            yield self.error(f"the listening sockets could not be read: {exc}", resource="postfix/listen")
            return
        mine = sorted((ip, port) for proto, ip, port, owner in sockets if owner & real and proto == "tcp")
        exposed = [(ip, port) for ip, port in mine if not _loopback(ip) or port != 25]
        if exposed:
            where = ", ".join(f"{ip}:{port}" for ip, port in exposed)
            yield self.fail(f"Postfix listens beyond loopback port 25: {where}", resource="postfix/listen",
                            expected="127.0.0.1:25 only", actual=where,
                            remedy="Set inet_interfaces = loopback-only in /etc/postfix/main.cf, keep master.cf's "
                                   "smtp service on port 25, and run 'systemctl restart postfix'.")
        elif recorded in real and not others:
            yield self.passed(f"Postfix is running ({program}, master pid {', '.join(map(str, sorted(real)))}, as "
                              f"recorded in master.pid), listening on "
                              f"{', '.join(f'{ip}:{port}' for ip, port in mine) or 'no TCP port'}",
                              resource="postfix")


def _strip_pid(text: str) -> int | None:
    text = text.strip(" \t\n")
    return int(text) if text.isdigit() and len(text) < 12 else None


def _loopback(ip: str) -> bool:
    return ip.startswith("127.") or ip in ("::1", "::ffff:127.0.0.1")


# site variables the plugin reads itself
SETTINGS = {
    "sasl_password": Option((str, int, float), "", help="the relay password, a string (compared with "
                            "the sasl_passwd table in constant time; never shown)"),
}

CHECKS = [Relay, Tls, Master, Local, SaslPasswd, Service]  # and postfix.config (whole.py)
