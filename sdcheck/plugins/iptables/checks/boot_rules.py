"""iptables.boot-rules: the IPv4 rules file loaded at boot, compared with the baseline as the
live ruleset is: it is the firewall after the next reboot."""

from __future__ import annotations

from sdcheck.check import Option
from sdcheck.host.base import FactError
from sdcheck.model import Finding, Severity
from sdcheck.plugins.iptables.base import bind_to_host, name_resolver
from sdcheck.plugins.iptables.checks.ruleset import Ruleset
from sdcheck.plugins.iptables.save_parser import parse_save
from sdcheck.startup import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import ClassVar, Iterable


class BootRules(Ruleset):
    id = "iptables.boot-rules"
    reads: ClassVar[tuple] = ()  # a file, not the live dumps the plugin prefetches
    title = "The IPv4 rules file loaded at boot matches the baseline, rule by rule (the firewall after a reboot)"
    # what exactly is verified (docs/checks.md, sdcheck explain)
    details = ("(both) `path` (SecureDrop's `iptables_v4_path`, /etc/iptables/rules.v4, which its "
               "restrict-direct-access role writes and the system loads at boot; production servers load new rules "
               "only by rebooting) is read as iptables-restore reads it and compared with the baseline exactly as "
               "`iptables.ruleset` compares the live ruleset: every rule, its position, the policies, chains and "
               "other tables. Any difference is critical (a comment-only one stays low), and a missing or empty "
               "file is critical: it is what the kernel will enforce after the next reboot.")
    severity = Severity.CRITICAL
    why = ("SecureDrop reboots its servers nightly, and the firewall then comes from this file. A rule added to the "
           "file passes every check of the live firewall today and is enforced tomorrow.")
    remedy = ("Restore the rules file (re-run 'securedrop-admin install', which writes it from SecureDrop's "
              "template), and find out who changed it.")
    source_word = "at the next boot"
    options = dict(Ruleset.options, path=Option(str, "/etc/iptables/rules.v4", help="the rules file loaded at boot",
                                                check=lambda v: v.startswith("/")))

    def run(self) -> Iterable[Finding]:
        path = self.opts["path"]
        self.cmd = "iptables" if self.opts["family"] == 4 else "ip6tables"
        expected, problems = bind_to_host(self, self.opts["_expected"])
        yield from problems
        st = self.ctx.facts.lstat(path)
        if st is None or not st.is_file:
            yield self.fail(f"{path} {'is not a regular file' if st else 'does not exist'}: after the next reboot "
                            "no firewall is loaded", resource=path, expected="SecureDrop's rules",
                            actual="missing", group="boot", widens=True)
            return
        try:
            tables = parse_save(self.ctx.facts.read_text(path, 4 << 20), name_resolver(self.ctx))
        except (FactError, ValueError) as exc:
            yield self.fail(f"{path} cannot be read as iptables-restore reads it: {exc}", resource=path,
                            expected="SecureDrop's rules", actual="unreadable", group="boot", widens=True)
            return
        found = []
        for f in self._compare(expected, tables, path, False):
            keep_low = f.severity <= Severity.LOW
            found.append(f if keep_low else f._replace(severity=Severity.CRITICAL))
        yield from found or [self.passed(f"{path} matches the baseline (the firewall after the next reboot)",
                                         resource=path)]
