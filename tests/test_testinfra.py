"""Remote hosts through testinfra: a real OpenSSH server on its own address, inside a
network namespace whose firewall the test loads, reached through a veth pair. The same
check outcomes locally and over SSH; an unreachable host; two hosts in parallel; the
pytest plugin."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from helpers import cli
from helpers.all import render, write_vars
from helpers.sshd import SshHost, ssh_client

VARS = str(write_vars())
@pytest.fixture(scope="module")
def client(tmp_path_factory):
    return ssh_client(tmp_path_factory.mktemp("client"))


@pytest.fixture
def ssh_host(tmp_path, client):
    key, cfg = client
    host = SshHost(tmp_path, key)
    host.load(render("iptables-app-prod.j2"))
    host.wait(cfg)
    yield host
    host.close()


def remote_report(cfg, *specs, extra=()) -> dict:
    res = cli.sdcheck("report", "--hosts", ",".join(specs), "--ssh-config", str(cfg), "--profile", "app", "--vars", VARS, "--only", "iptables", "--skip", "iptables.boot-rules", "--format", "json", *extra, timeout=300)
    assert res.returncode in (0, 1), res.stderr
    return json.loads(res.stdout)


def local_report(host: SshHost) -> dict:
    res = host.ns.sdcheck("report", "--profile", "app", "--vars", VARS, "--only", "iptables", "--skip", "iptables.boot-rules", "--format", "json")
    return json.loads(res.stdout)


def _outcomes(report: dict) -> set:
    return {(f["check_id"], f["status"], f["message"], f["resource"]) for f in report["findings"]}


@pytest.mark.parametrize("tamper", [None, "iptables-nft -I INPUT 1 -p tcp --dport 4444 -j ACCEPT"])
def test_same_outcomes_locally_and_over_ssh(ssh_host, client, tamper):
    _key, cfg = client
    if tamper:
        ssh_host.ns.sh(tamper)
    remote = remote_report(cfg, ssh_host.spec)
    (section,) = remote["hosts"]
    local = local_report(ssh_host)
    assert section["host"] == ssh_host.spec
    assert _outcomes(section) == _outcomes(local)
    statuses = {c["id"]: c["status"] for c in section["checks"]}
    if tamper:
        assert statuses["iptables.ruleset"] == "fail"
    else:
        assert set(statuses.values()) == {"pass"}


def test_unreachable_host_is_an_error_finding(client, tmp_path):
    _key, cfg = client
    report = remote_report(cfg, "ssh://root@10.254.254.254")
    (section,) = report["hosts"]
    (finding,) = section["findings"]
    assert finding["check_id"] == "sdcheck.host" and finding["status"] == "error"
    assert "could not be checked" in finding["message"]


def test_two_hosts_in_parallel(two_hosts, client):
    a, b = two_hosts
    _key, cfg = client
    start = time.monotonic()
    report = remote_report(cfg, a.spec, b.spec)
    took = time.monotonic() - start
    by_host = {h["host"]: {c["id"]: c["status"] for c in h["checks"]} for h in report["hosts"]}
    assert set(by_host[a.spec].values()) == {"pass"}
    assert by_host[b.spec]["iptables.default-drop"] == "fail" and by_host[b.spec]["iptables.ruleset"] == "fail"
    assert took < 120


def test_pytest_plugin_one_test_per_check(ssh_host, client, pytester):
    _key, cfg = client
    pytester.makepyfile(test_own="""
        def test_own_assertion(host, sdcheck):
            result = sdcheck(host, only=["iptables.default-drop"])
            assert [o.status.value for o in result.outcomes] == ["pass"]
    """)
    args = ["--sdcheck", "--hosts", ssh_host.spec, "--ssh-config", str(cfg),
            "--sdcheck-profile", "app", "--sdcheck-vars", VARS, "--sdcheck-only", "iptables", "--sdcheck-skip", "iptables.boot-rules", "-v"]
    result = pytester.runpytest_subprocess(*args)
    n = len(_iptables_checks())
    result.assert_outcomes(passed=n + 1)  # one test per sdcheck check + the suite's own test
    # pytest shows a node id relative to where it was started (pytester: not the rootdir)
    assert any(f"sdcheck[{ssh_host.spec.replace('//', '/')}-iptables.ruleset] PASSED" in ln.replace("//", "/")
               for ln in result.outlines)
    ssh_host.ns.sh("iptables-nft -I INPUT 1 -j ACCEPT")
    result = pytester.runpytest_subprocess(*args)
    result.assert_outcomes(passed=n, failed=1)  # the ruleset check; default-drop looks at tails only
    text = "\n".join(result.outlines)
    assert "iptables.ruleset [high] FAIL" in text and "unexpected rule #1 accepts traffic" in text


def _inventory(path: Path, cfg: Path, hosts: dict[str, str]) -> Path:
    """An Ansible inventory (YAML) with the hosts in one group, as SecureDrop admins keep."""
    import yaml

    ssh_args = f"-F {cfg}"
    path.write_text(yaml.safe_dump({"all": {"children": {"securedrop": {"hosts": {
        name: {"ansible_host": address, "ansible_user": "root", "ansible_ssh_common_args": ssh_args}
        for name, address in hosts.items()}}}}}))
    return path


@pytest.fixture
def two_hosts(tmp_path, client):
    key, cfg = client
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = SshHost(tmp_path / "a", key)
    b = SshHost(tmp_path / "b", key)
    try:
        for h in (a, b):
            h.load(render("iptables-app-prod.j2"))
        b.ns.sh("iptables-nft -P FORWARD ACCEPT")  # one tampered host
        a.wait(cfg)
        b.wait(cfg)
        yield a, b
    finally:
        a.close()
        b.close()


def _by_host(report: dict) -> dict[str, set]:
    return {h["host"]: _outcomes(h) for h in report["hosts"]}


def test_ansible_inventory_group_gives_what_ssh_gives(two_hosts, client, tmp_path):
    a, b = two_hosts
    _key, cfg = client
    inv = _inventory(tmp_path / "inventory.yml", cfg, {"app1": a.address, "app2": b.address})
    over_ansible = _by_host(remote_report(cfg, "ansible://securedrop", extra=("--ansible-inventory", str(inv))))
    over_ssh = _by_host(remote_report(cfg, a.spec, b.spec))
    assert set(over_ansible) == {"ansible://app1", "ansible://app2"}
    assert over_ansible["ansible://app1"] == over_ssh[a.spec]
    assert over_ansible["ansible://app2"] == over_ssh[b.spec]
    # and the tampered host is found over both
    assert any(f[0] == "iptables.ruleset" and f[1] == "fail" for f in over_ansible["ansible://app2"])
    assert not any(f[1] in ("fail", "error") for f in over_ansible["ansible://app1"])


def test_ansible_unreachable_inventory_host_leaves_the_others_reported(ssh_host, client, tmp_path):
    _key, cfg = client
    inv = _inventory(tmp_path / "inventory.yml", cfg, {"app": ssh_host.address, "gone": "10.254.254.254"})
    report = remote_report(cfg, "ansible://all", extra=("--ansible-inventory", str(inv)))
    by_host = {h["host"]: h for h in report["hosts"]}
    assert set(by_host) == {"ansible://app", "ansible://gone"}
    (gone,) = by_host["ansible://gone"]["findings"]
    assert gone["check_id"] == "sdcheck.host" and gone["status"] == "error"
    assert {c["status"] for c in by_host["ansible://app"]["checks"]} == {"pass"}


def test_ansible_without_inventory_host_is_a_usage_error(client, tmp_path):
    _key, cfg = client
    inv = _inventory(tmp_path / "inventory.yml", cfg, {"app": "10.254.254.253"})
    res = cli.sdcheck("report", "--hosts", "ansible://nosuchgroup", "--ansible-inventory", str(inv), "--profile", "app", timeout=120)
    assert res.returncode == 2
    assert "matches no host in the Ansible inventory" in res.stderr + res.stdout


def test_pytest_plugin_over_an_ansible_inventory(ssh_host, client, pytester, tmp_path):
    _key, cfg = client
    inv = _inventory(tmp_path / "inventory.yml", cfg, {"app": ssh_host.address})
    result = pytester.runpytest_subprocess("--sdcheck", "--hosts", "ansible://securedrop", "--ansible-inventory",
                                           str(inv), "--ssh-config", str(cfg), "--sdcheck-profile", "app",
                                           "--sdcheck-vars", VARS, "--sdcheck-only", "iptables", "--sdcheck-skip", "iptables.boot-rules", "-v")
    result.assert_outcomes(passed=len(_iptables_checks()))
    assert any("sdcheck[ansible:/app-iptables.ruleset] PASSED" in ln.replace("//", "/") for ln in result.outlines)


def _iptables_checks() -> list[str]:
    """The checks '--sdcheck-only iptables --sdcheck-skip iptables.boot-rules' selects in the app
    profile (the boot files are this machine's, not the test host's), as sdcheck lists them."""
    res = cli.sdcheck("list", "--profile", "app", timeout=60)
    ids = [ln.split()[0] for ln in res.stdout.splitlines()
           if ln.startswith("iptables.") and not ln.startswith("iptables.boot-rules")]
    assert "iptables.ruleset-v6" in ids, res.stdout
    return ids
