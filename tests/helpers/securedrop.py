"""SecureDrop's templates and site variables for the tests: accounts this test machine has
stand in for the ones SecureDrop's rules name."""

from __future__ import annotations

import grp
import os
import pwd
from pathlib import Path

import jinja2

DATA = Path(__file__).resolve().parent.parent / "data"
SD = DATA / "securedrop"

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
# The bundled baselines' example values of the site variables (their 'site:' lists): a test
# that is not about site variables gives them explicitly, as a site's vars file would
BASELINE_SITE = {"app_ip": "10.20.2.2", "monitor_ip": "10.20.3.2", "dns_server": ["8.8.8.8", "8.8.4.4"],
                 "enable_ssh_over_tor": True, "smtp_relay": "", "sasl_username": "", "sasl_domain": "",
                 "ossec_alert_email": "", "ossec_gpg_fpr": ""}
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


def ossec_conf(role: str) -> str:
    """/var/ossec/etc/ossec.conf as a SecureDrop server has it with sdcheck installed: the
    securedrop-ossec-server (``mon``) or -agent (``app``) package's file, smtp_server (server)
    and server-ip (agent) as their postinsts rewrite them, and sdcheck's <localfile> added
    inside <ossec_config>."""
    root = DATA.parent.parent
    text = (SD / ("ossec-server.conf" if role == "mon" else "ossec-agent.conf")).read_text()
    text = text.replace("<smtp_server>localhost</smtp_server>", "<smtp_server>127.0.0.1</smtp_server>")
    # the agent postinst: the monitor's alias replaced by its address from /etc/hosts
    text = text.replace("<server-hostname>securedrop-monitor-server-alias</server-hostname>",
                        f"<server-ip>{SITE_VARS['monitor_ip']}</server-ip>")
    ours = (root / "ossec_rules" / f"localfile-{role}.xml").read_text().split("-->", 1)[1]
    head, tail = text.rsplit("</ossec_config>", 1)
    return head + ours + "</ossec_config>" + tail


def ossec_local_rules() -> str:
    """/var/ossec/rules/local_rules.xml on SecureDrop's Monitor Server with sdcheck's rules added."""
    root = DATA.parent.parent
    return (SD / "ossec-server-local_rules.xml").read_text() + "\n" + (root / "ossec_rules" / "local_rules.xml").read_text()
