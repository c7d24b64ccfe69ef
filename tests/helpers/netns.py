"""Network namespaces of our own, so the machine's firewall is never touched."""

from __future__ import annotations

import os
import subprocess
import uuid

from helpers import cli


class Netns:
    """A network namespace of our own: the machine's firewall is never touched."""

    def __init__(self):
        self.name = f"sdc-{uuid.uuid4().hex[:10]}"
        subprocess.run(["ip", "netns", "add", self.name], check=True)
        # lo up: postfix and others stall a second without an active interface
        self.sh("ip link set lo up")
        self.add_uplink()

    def add_uplink(self, name: str = "eth0") -> None:
        """An interface with the default route, as a server has (its peer stays here)."""
        self.sh(f"ip link add {name} type veth peer name {name}p && ip addr add 10.99.0.2/24 dev {name} "
                f"&& ip link set {name} up && ip route add default via 10.99.0.1")

    def exec_argv(self, argv: list[str]) -> list[str]:
        return ["ip", "netns", "exec", self.name, *argv]

    def sh(self, script: str, check: bool = True,
           input: str | None = None) -> subprocess.CompletedProcess:  # noqa: A002 - subprocess's name
        return subprocess.run(self.exec_argv(["sh", "-c", script]), check=check, text=True,
                              capture_output=True, input=input, timeout=60)

    def restore(self, backend: str, rules: str, family: int = 4) -> None:
        cmd = f"{'iptables' if family == 4 else 'ip6tables'}-{backend}-restore"
        res = self.sh(cmd, check=False, input=rules)
        assert res.returncode == 0, f"{cmd} failed: {res.stderr}"

    def restore_securedrop(self, backend: str, rules_v4: str) -> None:
        """A SecureDrop server's firewall: the given IPv4 rules and SecureDrop's rules_v6."""
        from helpers.securedrop import SD

        self.restore(backend, rules_v4)
        self.restore(backend, (SD / "iptables_rules_v6").read_text(), family=6)

    def sdcheck(self, *args: str, timeout: float = 60, env: dict | None = None) -> subprocess.CompletedProcess:
        full_env = dict(os.environ, **(env or {}))
        return cli.sdcheck(*args, through=self.exec_argv([]), timeout=timeout, env=full_env,
                           errors="surrogateescape")

    def delete(self) -> None:
        subprocess.run(["ip", "netns", "del", self.name], check=False)
