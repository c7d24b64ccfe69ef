"""iptables.boot-rules-v6: SecureDrop's rules_v6 as the file loaded at boot passes; an ACCEPT
policy written into it (the ip6tables firewall after the next reboot) is reported."""

from __future__ import annotations

from helpers import cli
from helpers.securedrop import SD, write_vars


def test_the_ipv6_file(tmp_path):
    path = tmp_path / "rules.v6"
    path.write_text((SD / "iptables_rules_v6").read_text())
    vars_file = write_vars(tmp_path / "vars.yml", iptables_v6_path=str(path))
    res = cli.sdcheck("run", "--profile", "app", "--vars", str(vars_file), "--only", "iptables.boot-rules-v6")
    assert res.returncode == 0, res.stdout
    path.write_text(path.read_text().replace(":INPUT DROP", ":INPUT ACCEPT"))
    res = cli.sdcheck("run", "--profile", "app", "--vars", str(vars_file), "--only", "iptables.boot-rules-v6")
    assert res.returncode == 1 and "policy is ACCEPT" in res.stdout, res.stdout
