"""Shared by the firewall tests (tests/plugins/iptables/): running sdcheck in a namespace
holding SecureDrop's rules, on both backends."""

from __future__ import annotations

import re
import subprocess
import sys

from helpers.all import SD, render, write_vars
from helpers.cli import PREFIX

VARS = str(write_vars())




LINE_RE = re.compile(r"^System configuration error: \[[a-z][a-z0-9]*(\.[a-z0-9-]+)+\] \S")


def lines_of(res) -> list[str]:
    out = res.stdout.splitlines()
    for line in out:
        assert len(line.encode("utf-8", "surrogateescape")) <= 1024
        assert line.startswith(PREFIX) or line.startswith("sdcheck: OK: "), line
        if line.startswith(PREFIX):
            assert LINE_RE.match(line), line
    return out


def run(ns, profile="app", *extra):
    res = ns.sdcheck("run", "--profile", profile, "--vars", VARS, "--only", "iptables", "--skip", "iptables.boot-rules", *extra)
    return res, lines_of(res)


def problems(lines, check_id):
    return [ln for ln in lines if ln.startswith(f"{PREFIX}[{check_id}]")]


def tampered(ns, backend, *commands, check_id="iptables.default-drop"):
    """Load SecureDrop's app ruleset, run each tampering command (``{ipt}`` is the
    backend's iptables), then `sdcheck run`: (process, that check's lines, all lines)."""
    ns.restore_securedrop(backend, render("iptables-app-prod.j2"))
    for command in commands:
        ns.sh(command.format(ipt=f"iptables-{backend}"))
    res, lines = run(ns)
    return res, problems(lines, check_id), lines


V6_DROP_ALL = (SD / "iptables_rules_v6").read_text()


LEGACY_CORPUS = [
    "-A OUTPUT -f -m owner --uid-owner 33 -j DROP",  # the fragment flag (the attack)
    "-A INPUT ! -f -p tcp -j DROP",
    "-A INPUT ! -s 10.0.0.0/8 ! -d 192.0.2.1/32 -j ACCEPT",
    "-A FORWARD -i eth+ ! -o lo -p udp ! --dport 53 -j DROP",
    "-A INPUT -p tcp ! --tcp-flags SYN,RST SYN -j DROP",
    "-A INPUT -p icmp --icmp-type 8 -j ACCEPT",
    "-A INPUT -m state ! --state INVALID -j ACCEPT",
    "-A INPUT -m conntrack --ctstate NEW,ESTABLISHED -j ACCEPT",
    "-A INPUT -p tcp -m multiport --dports 80,443,8000:8080 -j ACCEPT",
    "-A INPUT -m limit --limit 3/min --limit-burst 7 -j LOG --log-prefix \"x: \" --log-level 5",
    "-A INPUT -m iprange --src-range 10.0.0.1-10.0.0.9 -j REJECT --reject-with icmp-host-prohibited",
    "-A INPUT -m mark --mark 0x1/0xff -j MARK --set-xmark 0x2/0xff",
    "-A INPUT -m addrtype --dst-type LOCAL -j RETURN",
    "-A INPUT -m comment --comment \"with 'quotes' and spaces\" -g SIDE",
    "-A INPUT -j NFQUEUE --queue-num 7 --queue-bypass",
    "-A OUTPUT -m owner ! --uid-owner 0 --gid-owner 4 -j DROP",
    "-A OUTPUT -p tcp -m tcp --sport 1024:65535 -m length --length 0:1500 -j ACCEPT",
    "-A SIDE -m recent --name bad --set -j RETURN",
]


def both_legacy_readers(netns, rules: str | list[str]) -> tuple[dict, dict]:
    """{chain: [policy, rule...]} as python-iptables and as iptables-legacy-save read
    ``rules`` (a ruleset, or rule lines for the filter table) loaded into legacy tables."""
    import json
    netns.sh("iptables-legacy -F; iptables-legacy -X")
    if isinstance(rules, list):
        rules = ("*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:SIDE - [0:0]\n" +
                 "\n".join(rules) + "\nCOMMIT\n")
    netns.restore("legacy", rules)
    script = (
        "import json\n"
        "from sdcheck.host.local import LocalFacts\n"
        "from sdcheck.plugins.iptables.live import read_snapshot\n"
        "out = {}\n"
        "for iptc in (True, False):\n"
        "    s = read_snapshot(LocalFacts(), 4, use_iptc=iptc)\n"
        "    t = s.tables['legacy']['filter']\n"
        "    out[s.readers['legacy']] = {c: [c2.policy] + [repr(r.key) + repr(r.comment) for r in c2.rules]\n"
        "                                for c, c2 in t.chains.items()}\n"
        "print(json.dumps(out))\n"
    )
    res = subprocess.run(netns.exec_argv([sys.executable, "-c", script]), capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    got = json.loads(res.stdout)
    assert set(got) == {"python-iptables", "iptables-legacy-save"}
    return got["python-iptables"], got["iptables-legacy-save"]


def log_chain_from(tmp_path, variable: str, default: str):
    """A baseline whose iptables.default-drop takes its log chain from ``variable`` (default
    ``default``): a value that reaches a finding's message."""
    path = tmp_path / "b.yml"
    path.write_text(f"sdcheck_baseline: 1\nprofile: app\nvars:\n  {variable}: {default!r}\n"
                    f"checks:\n  iptables.default-drop:\n    log_chain: ${{{variable}}}\n")
    return path
