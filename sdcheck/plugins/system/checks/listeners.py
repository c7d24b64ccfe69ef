"""system.listeners: nothing listens outside the loopback but what SecureDrop runs there."""

from __future__ import annotations

import ipaddress

from sdcheck.check import Check, Option
from sdcheck.host.base import FactError
from sdcheck.model import Finding, Severity
from sdcheck.startup import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Iterable


def _valid(value) -> bool:
    return isinstance(value, list) and all(
        isinstance(v, str) and v.partition("/")[0] in ("tcp", "udp") and v.partition("/")[2].isdigit()
        for v in value)


def loopback(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address.split("%")[0])
    except ValueError:
        return False
    mapped = getattr(ip, "ipv4_mapped", None)
    return ip.is_loopback or bool(mapped and mapped.is_loopback)


class Listeners(Check):
    id = "system.listeners"
    title = "Nothing listens outside the loopback but the services SecureDrop exposes"
    # what exactly is verified (docs/checks.md, sdcheck explain)
    details = ("(both) every listening socket (TCP in LISTEN, UDP bound and not connected), in the network "
               "namespace sdcheck runs in, whose address is not a loopback one must be in `allowed` as "
               "`proto/port`: SecureDrop's test_listening_ports expects sshd on tcp/22 and, on the Monitor "
               "Server, ossec-remoted on udp/1514, and ossec-authd's tcp/1515 closed; udp/68 (a DHCP client) is "
               "allowed too. Apache, Tor and the rest listen on 127.0.0.1 and are not judged.")
    severity = Severity.HIGH
    why = ("A service listening on the network is one firewall mistake away from the Internet or the "
           "adjacent server. SecureDrop exposes only SSH and, on the Monitor Server, OSSEC's agent port; "
           "anything else listening outside the loopback was started or reconfigured by someone.")
    remedy = ("Find the program ('ss -ltnup'), stop it or make it listen on 127.0.0.1, and find out why it "
              "was started.")
    options = {"allowed": Option(list, ["tcp/22", "udp/68"], help="proto/port that may listen off the loopback",
                                 check=_valid)}

    def run(self) -> Iterable[Finding]:
        try:
            sockets = self.ctx.facts.listening_sockets()
        except FactError as exc:
            yield self.error(str(exc), resource="sockets")
            return
        allowed = set(self.opts["allowed"])
        found = []
        for proto, address, port, pids in sorted(sockets):
            if loopback(address) or f"{proto}/{port}" in allowed:
                continue
            who = f" (pid {', '.join(map(str, sorted(pids)))})" if pids else ""
            found.append(self.fail(f"{proto} {address}:{port} is listening{who}, outside the loopback: SecureDrop "
                                   f"exposes only {', '.join(sorted(allowed))}", resource=f"{proto}/{port}",
                                   expected="not listening off the loopback", actual=f"{address}:{port}",
                                   group="listener", subject=f"listener {proto}/{port} on {address}"))
        yield from found or [self.passed(f"only {', '.join(sorted(allowed))} listen outside the loopback",
                                         resource="sockets")]
