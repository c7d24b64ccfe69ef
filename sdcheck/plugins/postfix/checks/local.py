"""postfix.local: Postfix listens on loopback only, relays for nobody, strips the headers
that reveal the server, and maps the sender as SecureDrop does."""

from __future__ import annotations

from sdcheck.check import Option
from sdcheck.model import Finding, Severity
from sdcheck.plugins.postfix.base import PostfixCheck, show
from sdcheck.plugins.postfix.live import TIMEOUT, PostfixConfig, table_entries
from sdcheck.plugins.postfix.parse import split_words, table_refs, words
from sdcheck.startup import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Iterable


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


class Local(PostfixCheck):
    id = "postfix.local"
    title = "Postfix only sends: loopback only, IPv4, no open relay, procmail, header stripping"
    # what exactly is verified (docs/checks.md, sdcheck explain)
    details = ("(mon) `inet_interfaces = loopback-only`, `inet_protocols = ipv4`, `reject_unauth_destination`, "
               "`mailbox_command = /usr/bin/procmail`; header stripping is evaluated, not grepped: sample "
               "`Received:`, `X-Originating-IP:`, `X-Mailer:`, `Mime-Version:` and `User-Agent:` headers are looked "
               "up with `postmap -q` in the `smtp_header_checks` tables, in order, as the smtp client does "
               "(if/endif, continuation lines, first match wins), and each must come back `IGNORE`; with a sender "
               "address (`ossec_from_address`, else `sasl_username@sasl_domain`), `smtp_generic_maps` maps "
               "`ossec@<myhostname>` to it (checked with `postmap -q`), and the table holds no other entry "
               "(listed with `postmap -s`; smtp_generic_maps rewrites recipients too, so another entry is critical)")
    severity = Severity.HIGH
    why = ("The Monitor Server must not accept mail from the network or relay for others; alert "
           "mails go through procmail (GPG encryption) and lose headers that reveal the server.")
    options = dict(PostfixCheck.options, **{
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
            yield self.param_fail(cf, "inet_interfaces", f"is {show(cf.get('inet_interfaces'))}: Postfix "
                                  "accepts mail from the network", " or ".join(o["inet_interfaces"]),
                                  cf.get("inet_interfaces"), severity=Severity.HIGH)
        yield from self.expect(cf, "inet_protocols", o["inet_protocols"], severity=Severity.MEDIUM)
        if "reject_unauth_destination" not in words(cf.get("smtpd_recipient_restrictions")):
            yield self.param_fail(cf, "smtpd_recipient_restrictions",
                                  f"is {show(cf.get('smtpd_recipient_restrictions'))}, which lacks "
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
        res = self.ctx.facts.run(["postmap", "-c", cf.directory, "-q", "-", *maps], timeout=TIMEOUT,
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
                kept.append(f"{name} ({'no match' if not answer else 'answer ' + show(answer[:60])})")
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
        res = self.ctx.facts.run(["postmap", "-c", cf.directory, "-q", key, f"{kind}:{path}"], timeout=TIMEOUT)
        got = res.stdout.decode("utf-8", "surrogateescape").strip() if res.ok else ""
        if got != sender:
            yield self.fail(f"the generic table {kind}:{path} maps {key} to {show(got) if got else 'nothing'}, "
                            f"expected {sender} (ossec_from_address): relays that require a matching sender "
                            "reject the alerts", resource=path, expected=f"{key} {sender}",
                            actual=got or "no entry", group="smtp_generic_maps", severity=Severity.MEDIUM,
                            remedy="Re-run 'securedrop-admin install', or fix the table and run "
                                   f"'postmap {kind}:{path}'.")
        yield from self._generic_entries(kind, path, key, sender, cf)

    def _generic_entries(self, kind: str, path: str, key: str, sender: str, cf: PostfixConfig) -> Iterable[Finding]:
        """Every entry of the generic table, as Postfix lists it: smtp_generic_maps rewrites
        recipients too, so any entry but SecureDrop's sender can send alerts elsewhere."""
        entries = table_entries(self.ctx, cf.directory, kind, path)
        if isinstance(entries, int):
            return  # postfix.maps reports a table Postfix cannot list
        for got_key, value in entries:
            if got_key == key and value == sender:
                continue
            yield self.fail(f"the generic table {kind}:{path} rewrites {got_key} to {value}: smtp_generic_maps "
                            "applies to recipients too, so an entry other than SecureDrop's sender can send alerts "
                            "elsewhere", resource=path, expected=f"only {key} {sender}", actual=f"{got_key} {value}",
                            group="generic entries", severity=Severity.CRITICAL, subject=f"generic {got_key}",
                            remedy="Remove the entry, run 'postmap' on the table, and find out who added it.")
