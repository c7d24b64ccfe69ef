"""system.ipv6-addresses, in network namespaces of our own."""

from __future__ import annotations

from helpers import cli

CHECK = "system.ipv6-addresses"


def _run(netns):
    return netns.sdcheck("run", "--profile", "app", "--only", CHECK)


def test_ipv6_disabled_as_securedrop_does_passes(netns):
    netns.sh("sysctl -q -w net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 "
             "net.ipv6.conf.lo.disable_ipv6=1 net.ipv6.conf.eth0.disable_ipv6=1")
    res = _run(netns)
    assert res.returncode == 0 and res.stdout.startswith("sdcheck: OK"), res.stdout


def test_an_address_is_reported_with_its_interface(netns):
    netns.sh("sysctl -q -w net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 "
             "net.ipv6.conf.lo.disable_ipv6=1 && sysctl -q -w net.ipv6.conf.eth0.disable_ipv6=0 && "
             "ip -6 addr add fd00::2/64 dev eth0 nodad")
    res = _run(netns)
    (line,) = [ln for ln in res.stdout.splitlines() if ln.startswith(f"{cli.PREFIX}[{CHECK}]")]
    assert res.returncode == 1 and "on eth0" in line and "fd00::2%eth0" in line, res.stdout


def test_the_loopback_address_counts_too(netns):
    """SecureDrop's own test requires 'ip -6 addr' to print nothing: ::1 included."""
    res = _run(netns)  # a fresh namespace: lo up with ::1
    assert res.returncode == 1 and "::1%lo" in res.stdout, res.stdout
