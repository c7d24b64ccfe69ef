"""system.sysctl, in network namespaces of our own (net.* settings are per namespace): with
SecureDrop's common-role values it passes; each value changed is a finding."""

from __future__ import annotations

import pytest

from helpers import cli
from sdcheck.plugins.system.checks.sysctl import FLAGS

CHECK = "system.sysctl"


def securedrop_sysctls(netns) -> None:
    """What SecureDrop's common role sets (roles/common/defaults: sysctl_flags and _ipv6)."""
    netns.sh(" && ".join(f"sysctl -q -w {name}={value}" for name, value in FLAGS.items()))


def _lines(netns):
    res = netns.sdcheck("run", "--profile", "app", "--only", CHECK)
    return res.returncode, [ln for ln in res.stdout.splitlines() if ln.startswith(f"{cli.PREFIX}[{CHECK}]")]


def test_securedrop_settings_pass(netns):
    securedrop_sysctls(netns)
    code, lines = _lines(netns)
    assert code == 0 and lines == [], lines


def test_a_fresh_namespace_with_kernel_defaults_is_reported(netns):
    code, lines = _lines(netns)
    assert code == 1 and lines and "accept_redirects is 1, expected 0" in lines[0], lines


@pytest.mark.parametrize("name,value", [("net.ipv4.ip_forward", "1"), ("net.ipv4.conf.all.accept_redirects", "1"),
                                        ("net.ipv4.tcp_syncookies", "0"), ("net.ipv6.conf.all.disable_ipv6", "0")])
def test_each_changed_setting_is_named(netns, name, value):
    securedrop_sysctls(netns)
    netns.sh(f"sysctl -q -w {name}={value}")
    code, lines = _lines(netns)
    assert code == 1 and len(lines) == 1 and f"{name} is {value}, expected {FLAGS[name]}" in lines[0], lines
