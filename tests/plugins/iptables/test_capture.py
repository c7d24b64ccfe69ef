"""``sdcheck baseline capture iptables``: refusals are usage errors (exit 2) in one line."""

from __future__ import annotations

from helpers.all import render


def test_both_backends_loaded_is_a_usage_error_saying_how_to_choose(netns, tmp_path):
    netns.restore("nft", render("iptables-app-prod.j2"))
    netns.restore("legacy", "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -p tcp --dport 22 -j ACCEPT\nCOMMIT\n")
    out = tmp_path / "captured.yml"
    res = netns.sdcheck("baseline", "capture", "iptables", "--profile", "app", "--output", str(out))
    assert res.returncode == 2, res.stdout + res.stderr
    assert "Traceback" not in res.stderr and res.stdout == ""
    (line,) = res.stderr.splitlines()
    assert line.startswith("sdcheck: error: rules are loaded in both the nft and the legacy backend")
    assert "--backend" in line
    assert not out.exists()
    res = netns.sdcheck("baseline", "capture", "iptables", "--profile", "app", "--backend", "legacy", "--output",
                        str(out))
    assert res.returncode == 0, res.stderr
    assert "--dport 22 -j ACCEPT" in out.read_text()
