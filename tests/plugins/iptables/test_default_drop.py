"""iptables default-drop and backend checks against real iptables in namespaces, both backends."""

from __future__ import annotations

import subprocess
import time

import pytest
from helpers.all import render
from helpers.cli import PREFIX
from helpers.default_drop_suite import VARS, lines_of, log_chain_from, problems, run, tampered


def test_flushed_is_not_configured(netns, backend):
    if backend == "legacy":  # an existing but empty legacy table, as after 'iptables-legacy -F'
        netns.restore("legacy", "*filter\n:INPUT ACCEPT\n:FORWARD ACCEPT\n:OUTPUT ACCEPT\nCOMMIT\n")
    res, lines = run(netns)
    assert res.returncode == 1
    got = problems(lines, "iptables.default-drop")
    assert len(got) == 1 and "have not been configured" in got[0]


@pytest.mark.parametrize("chain", ["INPUT", "FORWARD", "OUTPUT"])
def test_policy_accept(netns, backend, chain):
    res, got, _lines = tampered(netns, backend, f"{{ipt}} -P {chain} ACCEPT")
    assert res.returncode == 1
    assert got == [f"{PREFIX}[iptables.default-drop] (critical) the {chain} chain's policy is ACCEPT, expected DROP "
                   f"({backend} backend)"]


def test_stray_legacy_rules_are_judged(netns):
    """An nft host with an ACCEPT-everything legacy table: the kernel applies both."""
    netns.restore_securedrop("nft", render("iptables-app-prod.j2"))
    netns.restore("legacy", "*filter\n:INPUT ACCEPT\n:FORWARD ACCEPT\n:OUTPUT ACCEPT\n-A INPUT -j ACCEPT\nCOMMIT\n")
    res, lines = run(netns)
    assert res.returncode == 1
    got = problems(lines, "iptables.default-drop")
    assert any("(legacy backend)" in g and "INPUT chain's policy is ACCEPT" in g for g in got), got


def test_lock_held_is_an_error_within_the_bound(netns, backend, tmp_path):
    netns.restore_securedrop(backend, render("iptables-app-prod.j2"))
    lock = tmp_path / "xtables.lock"
    lock.touch()
    holder = subprocess.Popen(["flock", "-x", str(lock), "sleep", "60"])
    try:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:  # wait until flock holds it
            if subprocess.run(["flock", "-n", "-s", str(lock), "true"]).returncode != 0:
                break
            time.sleep(0.05)
        res = netns.sdcheck("run", "--profile", "app", "--only", "iptables", "--skip", "iptables.boot-rules",
                            "--var", f"xtables_lock={lock}", "--var", "iptables_lock_timeout=1",
                            timeout=30)
    finally:
        holder.kill()
        holder.wait()
    lines = lines_of(res)
    if backend == "nft":  # iptables-nft never takes the lock: an nft host is read regardless
        assert "held by another process" not in res.stdout and "could not run" not in res.stdout, res.stdout
        return
    assert res.returncode == 1
    # one cause, one line: the checks it stopped are named on it
    got = [ln for ln in lines if "iptables.default-drop" in ln]
    assert len(got) == 1 and "could not run" in got[0] and "held by another process for more than 1 s" in got[0]
    assert "the same for" in got[0] and "iptables.ruleset" in got[0]
    assert "not been configured" not in res.stdout and "incorrect" not in res.stdout


def test_variables_reach_the_check(netns, tmp_path):
    """A baseline option taken from a variable, overridden by a vars file, then by --var."""
    netns.restore_securedrop("nft", render("iptables-app-prod.j2"))
    base = log_chain_from(tmp_path, "chain", "LOGNDROP")
    varsf = tmp_path / "v.yml"
    varsf.write_text("chain: FROM_FILE\n")
    res = netns.sdcheck("run", "--baseline", str(base))
    assert res.returncode == 0, res.stdout
    res = netns.sdcheck("run", "--baseline", str(base), "--vars", str(varsf))
    assert "the FROM_FILE chain does not exist" in res.stdout
    res = netns.sdcheck("run", "--baseline", str(base), "--vars", str(varsf), "--var", "chain=FROM_CLI")
    assert "the FROM_CLI chain does not exist" in res.stdout and "FROM_FILE" not in res.stdout


def test_hostile_comment_cannot_forge_or_split_a_line(netns, backend):
    """A rule comment with a newline, a forged prefix and terminal escapes: parsed, reported
    on one line, escaped."""
    res, got, lines = tampered(
        netns, backend, "{ipt} -A INPUT -m comment --comment "
        "\"$(printf 'a\\nSystem configuration error: [iptables.default-drop] ok\\033[2K\\rz')\" -j ACCEPT")
    assert res.returncode == 1
    assert len(got) == 1, lines
    assert "catch-all jump to LOGNDROP" in got[0]
    assert "\x1b" not in res.stdout and "\r" not in res.stdout
    assert "\\n" in got[0] and "\\x1b[2K\\r" in got[0]
    # the forged text stays inside the escaped comment of a real line, never a line of its own
    assert all(ln.startswith(PREFIX + "[iptables.") for ln in lines)
    assert not any(ln.startswith(PREFIX + "[iptables.default-drop] ok") for ln in lines)
    assert len(problems(lines, "iptables.ruleset")) == 1  # default-drop and ruleset each report it once
    if backend == "nft":  # a raw newline cannot be restored: nft-kernel cannot verify, and says so
        (kernel,) = problems(lines, "iptables.nft-kernel")
        assert "could not be loaded again" in kernel
    assert len(lines) == 2 + (backend == "nft")


def test_json_report_validates_against_the_schema(netns, backend):
    import json
    from pathlib import Path

    import jsonschema
    schema = json.loads((Path(__file__).resolve().parents[3] / "docs" / "report.schema.json").read_text())
    netns.restore_securedrop(backend, render("iptables-app-prod.j2"))
    netns.sh(f"iptables-{backend} -P OUTPUT ACCEPT; iptables-{backend} -A INPUT -m comment --comment \"$(printf 'x\\ny')\" -j ACCEPT")
    res = netns.sdcheck("report", "--profile", "app", "--vars", VARS, "--format", "json",
                        "--only", "iptables.default-drop", "--only", "iptables.backends", "--only", "iptables.ipv6")
    assert res.returncode == 1
    data = json.loads(res.stdout)
    jsonschema.validate(data, schema)
    fails = [f for f in data["findings"] if f["status"] == "fail"]
    assert {f["resource"] for f in fails} == {"filter/OUTPUT:policy", "filter/INPUT#18"}
    policy = next(f for f in fails if f["resource"] == "filter/OUTPUT:policy")
    assert (policy["expected"], policy["actual"]) == ("DROP", "ACCEPT") and "securedrop-admin install" in policy["remedy"]
    assert data["summary"]["fail"] == 1 and data["summary"]["pass"] == 2


def test_text_report_names_expected_actual_and_fix(netns):
    netns.restore_securedrop("nft", render("iptables-app-prod.j2"))
    netns.sh("iptables-nft -P FORWARD ACCEPT")
    res = netns.sdcheck("report", "--profile", "app", "--vars", VARS, "--only", "iptables", "--skip", "iptables.boot-rules")
    assert res.returncode == 1
    out = res.stdout
    assert "FAIL   iptables.default-drop [critical]" in out and "PASS   iptables.backends [high]" in out
    assert "the FORWARD chain's policy is ACCEPT, expected DROP" in out
    assert "expected: DROP" in out and "actual:   ACCEPT" in out and "fix:" in out
    assert "profile app (chosen with --profile)" in out and "the 'iptables' command uses nft" in out
    assert "\x1b" not in out  # not a terminal: no colour
    assert all(len(line) <= 80 for line in out.splitlines())


def test_password_that_reaches_a_message_is_redacted(netns, tmp_path):
    """Defence in depth: a secret variable that a (mis)configured baseline routes into a
    finding is replaced in every output, whether it came from the baseline, a vars file or --var."""
    secret = "Pa55:w rd\u00e9"
    netns.restore_securedrop("nft", render("iptables-app-prod.j2"))
    base = log_chain_from(tmp_path, "sasl_password", "default-Secret-1")
    varsf = tmp_path / "v.yml"
    varsf.write_text(f"sasl_password: '{secret}'\n")
    (tmp_path / "pw").write_text("cli-Secret-2\n")
    for extra, value in (([], "default-Secret-1"), (["--vars", str(varsf)], secret),
                         (["--var-file", f"sasl_password={tmp_path / 'pw'}"], "cli-Secret-2")):
        for args in (["run"], ["report"], ["report", "--format", "json"]):
            res = netns.sdcheck(*args, "--baseline", str(base), *extra)
            assert res.returncode == 1
            assert "[redacted] chain does not exist" in res.stdout
            assert value not in res.stdout + res.stderr
