"""Shared fixtures: real network namespaces, real iptables, sdcheck run as a process.

Under CI=true a skipped test fails the run, so no real-component test silently drops out.
"""

from __future__ import annotations

import os
import grp
import pwd
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import jinja2
import pytest

DATA = Path(__file__).parent / "data"
SD = DATA / "securedrop"
CI = os.environ.get("CI", "").lower() == "true"
pytest_plugins = ["pytester"]

# Accounts the rules name. A test host has no debian-tor, postfix or ssh group, so
# existing system accounts stand in; the baseline gets their names, the templates their
# ids, and sdcheck has to resolve one to the other.
ACCOUNTS = {"tor_user": "daemon", "app_user": "www-data", "postfix_user": "sys",
            "time_service_user": "bin", "ssh_group": "adm"}
_ID = {k: (grp.getgrnam(v).gr_gid if k == "ssh_group" else pwd.getpwnam(v).pw_uid)
       for k, v in ACCOUNTS.items()}

# test values for the templates' variables
TEMPLATE_VARS = {
    "dns_server": ["8.8.8.8", "8.8.4.4"],
    "mon_ip": "10.20.3.2",
    "app_ip": "10.20.2.2",
    "tor_user_id": _ID["tor_user"],
    "securedrop_user_id": _ID["app_user"],
    "ssh_group_gid": _ID["ssh_group"],
    "time_service_user": _ID["time_service_user"],
    "postfix_user_id": _ID["postfix_user"],
    "default_interface": "eth0",
}

# the same values as sdcheck site variables (SecureDrop's names)
SITE_VARS = dict(ACCOUNTS, app_ip="10.20.2.2", monitor_ip="10.20.3.2", dns_server=["8.8.8.8", "8.8.4.4"],
                 smtp_relay_port=587, enable_ssh_over_tor=False, admin_net_cidr="0.0.0.0/0")


def write_vars(path: Path | None = None, **overrides) -> Path:
    """A vars file (--vars) with SITE_VARS and ``overrides``; a temporary one by default."""
    import tempfile

    import yaml

    if path is None:
        fd, name = tempfile.mkstemp(prefix="sdcheck-vars-", suffix=".yml")
        os.close(fd)
        path = Path(name)
    path.write_text(yaml.safe_dump(dict(SITE_VARS, **overrides)))
    return path


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if CI and rep.skipped and not hasattr(rep, "wasxfail"):
        rep.outcome = "failed"
        reason = rep.longrepr[2] if isinstance(rep.longrepr, tuple) else str(rep.longrepr)
        rep.longrepr = f"skipped under CI=true, which counts as a failure: {reason}"


def render(template: str, **overrides) -> str:
    values = dict(TEMPLATE_VARS, **overrides)
    return jinja2.Template((SD / template).read_text(), undefined=jinja2.StrictUndefined).render(**values) + "\n"


def render_rules_v4(role: str, ssh_over_tor: bool) -> str:
    """SecureDrop's Ansible template (rules_v4), rendered as Ansible would for ``role``
    ("app" or "mon") on a host whose eth0 is 10.99.0.2/24 (see Netns.add_uplink)."""
    import ipaddress

    env = jinja2.Environment(undefined=jinja2.StrictUndefined)
    env.filters["ipaddr"] = lambda ip, net: (
        ip if ipaddress.ip_address(ip) in ipaddress.ip_network(net, strict=False) else False)
    app, mon = TEMPLATE_VARS["app_ip"], TEMPLATE_VARS["mon_ip"]
    values = {
        "enable_ssh_over_tor": ssh_over_tor,
        "group_names": ["securedrop_application_server" if role == "app" else "securedrop_monitor_server"],
        "dns_server": TEMPLATE_VARS["dns_server"],
        "time_service_user": ACCOUNTS["time_service_user"],
        "monitor_hostname": mon, "app_hostname": app, "adjacent_sd_ip": mon if role == "app" else app,
        "smtp_relay_port": 587, "admin_net_cidr": "0.0.0.0/0",
        "ansible_interfaces": ["lo", "eth0"], "inventory_hostname": role, "ssh_ip": "10.99.0.2",
        "hostvars": {role: {"ansible_lo": {"ipv4": {"network": "127.0.0.0", "netmask": "255.0.0.0"}},
                            "ansible_eth0": {"ipv4": {"network": "10.99.0.0", "netmask": "255.255.255.0"}}}},
    }
    text = env.from_string((SD / "rules_v4").read_text()).render(**values) + "\n"
    # the template names accounts this test machine does not have: use the stand-ins
    for option, real, key in (("--uid-owner", "debian-tor", "tor_user"), ("--uid-owner", "postfix", "postfix_user"),
                              ("--gid-owner", "ssh", "ssh_group")):
        text = text.replace(f"{option} {real} ", f"{option} {ACCOUNTS[key]} ")
    return text


PACKAGES_TXT = Path(__file__).parent.parent / "packages.txt"


def declared_programs() -> dict[str, str]:
    """{program or path: Debian package} from packages.txt, the list setup.sh installs."""
    declared = {}
    for line in PACKAGES_TXT.read_text().split("\n"):
        fields = line.split()
        if len(fields) >= 3 and not fields[0].startswith("#"):
            declared.update((prog, fields[1]) for prog in fields[2:] if prog != "-")
    return declared


def installed(program: str) -> bool:
    if program.startswith("/"):
        return os.path.exists(program)
    return shutil.which(program) is not None or os.path.exists(f"/usr/sbin/{program}")


def need(*programs: str, root: bool = True) -> None:
    """Skip (a failure under CI) when a program is not installed; fail at once when
    packages.txt does not name it, since then setup.sh would never install it."""
    declared = declared_programs()
    undeclared = [p for p in programs if p not in declared]
    if undeclared:
        pytest.fail(f"{', '.join(undeclared)}: not listed in packages.txt, so setup.sh does not install it",
                    pytrace=False)
    missing = [p for p in programs if not installed(p)]
    if missing:
        pytest.skip(f"not installed: {', '.join(missing)} (run ./setup.sh test)")
    if root and os.geteuid() != 0:
        pytest.skip("needs root (network namespaces, other users)")


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

    def sh(self, script: str, check: bool = True, input: str | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(self.exec_argv(["sh", "-c", script]), check=check, text=True,
                              capture_output=True, input=input, timeout=60)

    def restore(self, backend: str, rules: str, family: int = 4) -> None:
        cmd = f"{'iptables' if family == 4 else 'ip6tables'}-{backend}-restore"
        res = self.sh(cmd, check=False, input=rules)
        assert res.returncode == 0, f"{cmd} failed: {res.stderr}"

    def sdcheck(self, *args: str, timeout: float = 60, env: dict | None = None) -> subprocess.CompletedProcess:
        full_env = dict(os.environ, **(env or {}))
        return subprocess.run(self.exec_argv([sys.executable, "-m", "sdcheck", *args]), text=True,
                              capture_output=True, timeout=timeout, env=full_env,
                              errors="surrogateescape")

    def delete(self) -> None:
        subprocess.run(["ip", "netns", "del", self.name], check=False)


@pytest.fixture
def netns():
    need("ip", "iptables-nft", "iptables-legacy")
    ns = Netns()
    try:
        yield ns
    finally:
        ns.delete()


@pytest.fixture(params=["nft", "legacy"])
def backend(request):
    return request.param
