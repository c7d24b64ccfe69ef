"""iptables default-drop and backend checks against real iptables in namespaces, both backends."""

from __future__ import annotations

import pytest
from helpers.all import render
from helpers.default_drop_suite import V6_DROP_ALL, problems, run


def test_ipv6(netns, backend):
    netns.restore(backend, render("iptables-app-prod.j2"))  # IPv4 only
    res, lines = run(netns)  # only ::1 on lo: nothing to protect yet, but the ruleset is not SecureDrop's
    assert problems(lines, "iptables.ipv6") == []
    v6 = problems(lines, "iptables.ruleset-v6")
    assert res.returncode == 1 and len(v6) == 1 and "the ip6tables firewall is not configured" in v6[0], lines
    netns.sh("ip link add v0 type veth peer name v1 && ip link set v0 up && ip link set v1 up"
             " && ip addr add 2001:db8::5/64 dev v0 nodad")
    res, lines = run(netns)
    got = problems(lines, "iptables.ipv6")
    assert res.returncode == 1 and len(got) == 1
    assert "IPv6 is in use (" in got[0] and "2001:db8::5%v0" in got[0]
    assert "3 problems" in got[0] and "the INPUT policy is ACCEPT, expected DROP" in got[0]
    netns.restore(backend, V6_DROP_ALL, family=6)
    res, lines = run(netns)
    assert res.returncode == 0 and problems(lines, "iptables.ipv6") == [], lines
    netns.sh(f"ip6tables-{backend} -A INPUT -p tcp --dport 22 -j ACCEPT")
    res, lines = run(netns)
    got = problems(lines, "iptables.ipv6")
    assert res.returncode == 1 and len(got) == 1 and "rule #1 of INPUT can let traffic through" in got[0]
    v6 = problems(lines, "iptables.ruleset-v6")
    assert len(v6) == 1 and "unexpected rule #1 accepts traffic" in v6[0], lines


@pytest.mark.parametrize("rules", [
    # the attack: nobody listens on the queue, so with --queue-bypass everything passes
    ["-I INPUT 1 -j NFQUEUE --queue-num 7 --queue-bypass", "-I OUTPUT 1 -j NFQUEUE --queue-num 7 --queue-bypass"],
    ["-I INPUT 1 -j NFQUEUE --queue-num 3"],  # whatever listens on the queue decides
    ["-N OPEN", "-A OPEN -j ACCEPT", "-I INPUT 1 -p tcp --dport 22 -j OPEN"],  # a jump to a chain that accepts
    ["-N SIDE", "-A SIDE -j ACCEPT", "-I OUTPUT 1 -g SIDE"],  # a goto
])
def test_ipv6_every_verdict_that_can_let_traffic_through(netns, backend, rules):
    netns.restore_securedrop(backend, render("iptables-app-prod.j2"))
    netns.sh("ip link add v0 type veth peer name v1 && ip link set v0 up && ip link set v1 up"
             " && ip addr add 2001:db8::5/64 dev v0 nodad")
    for rule in rules:
        netns.sh(f"ip6tables-{backend} {rule}")
    res, lines = run(netns)
    got = problems(lines, "iptables.ipv6")
    assert res.returncode == 1 and got and "can let traffic through" in got[0], lines


def test_ipv6_jumps_to_chains_that_only_drop_are_safe(netns, backend):
    netns.restore_securedrop(backend, render("iptables-app-prod.j2"))
    netns.sh("ip link add v0 type veth peer name v1 && ip link set v0 up && ip link set v1 up"
             " && ip addr add 2001:db8::5/64 dev v0 nodad")
    for rule in ("-N BIN", "-A BIN -j LOG", "-A BIN -j DROP", "-I INPUT 1 -j BIN"):
        netns.sh(f"ip6tables-{backend} {rule}")
    res, lines = run(netns)
    assert problems(lines, "iptables.ipv6") == [], lines
