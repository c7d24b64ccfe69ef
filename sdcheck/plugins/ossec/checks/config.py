"""ossec.config: the host's ossec.conf holds exactly SecureDrop's shipped settings plus
sdcheck's own <localfile>, compared item by item as OSSEC reads them."""

from __future__ import annotations

from collections import Counter

from sdcheck.check import Check, Option
from sdcheck.host.base import FactError
from sdcheck.model import Finding, Severity
from sdcheck.plugins.ossec.base import OSSEC_DIR, conf_path, read_conf
from sdcheck.plugins.ossec.conf import ConfError, key_of, section_of
from sdcheck.startup import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Iterable

# sections whose change decides whether an alert is raised, mailed, to whom, or run at all
ALERTING = frozenset({"global", "alerts", "email_alerts", "rules", "client", "remote", "active-response",
                      "command", "syslog_output", "database_output"})
MONITORING = frozenset({"syscheck", "rootcheck", "localfile"})


def effect(item: str) -> Severity:
    """How bad a difference in this item is."""
    section = section_of(item)
    if section in ALERTING or (section == "localfile" and "sdcheck" in item):
        return Severity.CRITICAL
    if section in MONITORING:
        return Severity.HIGH
    if section == "ossec_config" or section == "reports":
        return Severity.MEDIUM
    return Severity.CRITICAL  # a top-level element OSSEC ignores, or one it reads that we do not know


def _valid_items(value) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) and v.strip() for v in value)


class Config(Check):
    id = "ossec.config"
    title = "ossec.conf is SecureDrop's, plus sdcheck's own <localfile>"
    # what exactly is verified (docs/checks.md, sdcheck explain)
    details = ("(both) `<ossec_dir>/etc/ossec.conf` is read as OSSEC reads it (every <ossec_config> block "
               "merged; comments ignored) and reduced to items: each setting of a section such as <global>, "
               "<alerts>, <syscheck>, <rules>, and each whole <localfile>, <email_alerts>, <reports> or "
               "<command> block. The items must be exactly `expected` (SecureDrop's "
               "securedrop-ossec-server or -agent package file, smtp_server and server-ip as their postinsts "
               "rewrite them (the agent's from `monitor_ip`), plus "
               "sdcheck's <localfile> from ossec_rules/): a missing, added or changed item is a finding naming "
               "its line. Critical: anything about mail, levels, rules, the server address, active response "
               "and sdcheck's own entry; high: file integrity, rootcheck and log monitoring; medium: reports.")
    severity = Severity.CRITICAL
    why = ("ossec.conf decides what OSSEC watches, which alerts are mailed and to whom. One extra "
           "<email_alerts> block or <smtp_server> sends alerts in plaintext elsewhere; a raised "
           "<email_alert_level> or a removed <localfile> silences them, and the server still looks healthy.")
    remedy = ("Restore the package's file ('apt-get install --reinstall securedrop-ossec-server' or "
              "securedrop-ossec-agent), add sdcheck's <localfile> from ossec_rules/ again, restart OSSEC "
              "('systemctl restart ossec'), and find out who changed it.")
    options = {
        "ossec_dir": OSSEC_DIR,
        "expected": Option(list, [], help="the items of SecureDrop's ossec.conf for this server",
                           check=_valid_items),
    }

    def run(self) -> Iterable[Finding]:
        path = conf_path(self.opts["ossec_dir"])
        if not self.opts["expected"]:
            yield self.error("no expected ossec.conf items in the baseline", resource="baseline/ossec.config")
            return
        try:
            have = read_conf(self.ctx, self.opts["ossec_dir"])
        except FactError as exc:
            yield self.error(f"{path} cannot be read: {exc}", resource=path)
            return
        except ConfError as exc:
            yield self.fail(f"{path} is {exc}: OSSEC refuses to start with it", resource=path,
                            expected="well-formed XML", actual=str(exc), group="conf")
            return
        want, got = Counter(self.opts["expected"]), Counter(item for item, _ in have)
        extra, missing = got - want, want - got
        lines: dict[str, int] = {}
        for item, line in have:
            lines.setdefault(item, line)
        yield from self._report(path, extra, missing, lines, len(have))

    def _report(self, path, extra, missing, lines, count) -> Iterable[Finding]:
        changed = {}
        for item in list(extra):
            key = key_of(item)
            olds = [m for m in missing if key_of(m) == key and m != key]
            news = [e for e in extra if key_of(e) == key and e != key]
            if key != item and len(olds) == 1 and len(news) == 1:
                changed[item] = olds[0]
        found = []
        for item in sorted(extra, key=lambda i: lines.get(i, 0)):
            line = lines.get(item, 0)
            where = f"{path}:{line}"
            sev = max(effect(item), effect(changed[item])) if item in changed else effect(item)
            if item in changed:
                old = changed[item]
                found.append(self.fail(f"{where}: {key_of(item)} is {item.split(' = ', 1)[1]}, SecureDrop ships "
                                       f"{old.split(' = ', 1)[1]}", resource=where, expected=old, actual=item,
                                       severity=sev, group=section_of(item), subject=item))
            else:
                found.append(self.fail(f"{where}: an entry SecureDrop does not ship: {item}", resource=where,
                                       expected="absent", actual=item, severity=sev, group=section_of(item),
                                       subject=item))
        for item in sorted(missing):
            if item in changed.values():
                continue
            found.append(self.fail(f"{path}: SecureDrop's entry is missing: {item}", resource=path,
                                   expected=item, actual="absent", severity=effect(item),
                                   group=section_of(item), subject=item))
        found.sort(key=lambda f: -int(f.severity))
        yield from found or [self.passed(f"{path} holds SecureDrop's {count} "
                                         "settings and sdcheck's entry, nothing else", resource=path)]
