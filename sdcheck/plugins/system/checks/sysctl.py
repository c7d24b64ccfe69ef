"""system.sysctl: the kernel settings SecureDrop's common role sets, as the kernel holds them."""

from __future__ import annotations

from sdcheck.check import Check, Option
from sdcheck.host.base import FactError
from sdcheck.model import Finding, Severity
from sdcheck.startup import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Iterable

# SecureDrop's roles/common defaults: sysctl_flags, then sysctl_flags_ipv6 (with IPv6 disabled
# at boot there is no net.ipv6 at all, which is as good)
FLAGS = {
    "net.ipv4.tcp_max_syn_backlog": "4096", "net.ipv4.tcp_syncookies": "1", "net.ipv4.conf.all.rp_filter": "1",
    "net.ipv4.conf.all.accept_source_route": "0", "net.ipv4.conf.all.accept_redirects": "0",
    "net.ipv4.conf.all.secure_redirects": "0", "net.ipv4.conf.default.rp_filter": "1",
    "net.ipv4.conf.default.accept_source_route": "0", "net.ipv4.conf.default.accept_redirects": "0",
    "net.ipv4.conf.default.secure_redirects": "0", "net.ipv4.icmp_echo_ignore_broadcasts": "1",
    "net.ipv4.ip_forward": "0", "net.ipv4.conf.all.send_redirects": "0", "net.ipv4.conf.default.send_redirects": "0",
    "net.ipv6.conf.all.disable_ipv6": "1", "net.ipv6.conf.default.disable_ipv6": "1",
    "net.ipv6.conf.lo.disable_ipv6": "1",
}


def _valid_flags(value) -> bool:
    return isinstance(value, dict) and all(
        isinstance(k, str) and k.replace(".", "").replace("_", "").replace("-", "").isalnum()
        and ".." not in k and isinstance(v, (str, int)) for k, v in value.items())


class Sysctl(Check):
    id = "system.sysctl"
    title = "The kernel holds the network settings SecureDrop sets (no forwarding, no redirects, syncookies)"
    # what exactly is verified (docs/checks.md, sdcheck explain)
    details = ("(both) each kernel setting of SecureDrop's common role (`sysctl_flags` and `sysctl_flags_ipv6` "
               "in roles/common/defaults, the list its own test_system_hardening checks) has its value, read "
               "from /proc/sys as the kernel holds it now; an IPv6 setting whose file does not exist passes "
               "(IPv6 disabled at boot, as SecureDrop does). Values compare as the kernel prints them, blanks "
               "folded.")
    severity = Severity.HIGH
    why = ("Forwarding turns the server into a router past its firewall's INPUT rules; accepted redirects and "
           "source routes let others steer its traffic; without syncookies a SYN flood takes it off the "
           "network. SecureDrop sets these at install; a change means someone changed the kernel's behaviour.")
    remedy = ("Set the value back ('sysctl -w NAME=VALUE') and find what changed it (files in /etc/sysctl.d "
              "and /etc/sysctl.conf); re-running 'securedrop-admin install' restores SecureDrop's settings.")
    options = {"flags": Option(dict, FLAGS, help="setting name: value (SecureDrop's common role)",
                               check=_valid_flags)}

    def run(self) -> Iterable[Finding]:
        facts, ipv6_off = self.ctx.facts, None
        wrong = []
        for name, want in self.opts["flags"].items():
            path = "/proc/sys/" + name.replace(".", "/")
            if facts.lstat(path) is None:
                if name.startswith("net.ipv6."):
                    if ipv6_off is None:
                        ipv6_off = facts.lstat("/proc/sys/net/ipv6") is None
                    if ipv6_off:
                        continue
                wrong.append(self.fail(f"{name} does not exist in this kernel", resource=name,
                                       expected=str(want), actual="missing", group="sysctl"))
                continue
            try:
                have = " ".join(facts.read_text(path, 4096).split())
            except FactError as exc:
                wrong.append(self.error(f"{name} cannot be read: {exc}", resource=name, group="sysctl"))
                continue
            if have != " ".join(str(want).split()):
                wrong.append(self.fail(f"{name} is {have}, expected {want}", resource=name, expected=str(want),
                                       actual=have, group="sysctl"))
        yield from wrong or [self.passed(f"the kernel holds SecureDrop's {len(self.opts['flags'])} settings",
                                         resource="sysctl")]
