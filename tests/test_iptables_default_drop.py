"""iptables default-drop and backend checks against real iptables in namespaces, both backends."""

from __future__ import annotations

import re
import sys
import subprocess
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers.all import SD, render, write_vars

VARS = str(write_vars())

PREFIX = "System configuration error: "
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
    res = ns.sdcheck("run", "--profile", profile, "--vars", VARS, "--only", "iptables", *extra)
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


@pytest.mark.parametrize("profile,template", [("app", "iptables-app-prod.j2"), ("mon", "iptables-mon-prod.j2")])
def test_securedrop_ruleset_passes(netns, backend, profile, template):
    netns.restore_securedrop(backend, render(template))
    res, lines = run(netns, profile)
    assert res.returncode == 0, res.stdout + res.stderr
    assert len(lines) == 1 and "error" not in lines[0].lower()
    assert res.stderr == ""


def test_flushed_is_not_configured(netns, backend):
    if backend == "legacy":  # an existing but empty legacy table, as after 'iptables-legacy -F'
        netns.restore("legacy", "*filter\n:INPUT ACCEPT\n:FORWARD ACCEPT\n:OUTPUT ACCEPT\nCOMMIT\n")
    res, lines = run(netns)
    assert res.returncode == 1
    got = problems(lines, "iptables.default-drop")
    assert len(got) == 1 and "have not been configured" in got[0]


def test_logndrop_renamed(netns, backend):
    res, got, _lines = tampered(netns, backend, "{ipt} -E LOGNDROP LOGX")
    assert res.returncode == 1
    text = "\n".join(got)
    assert "LOGNDROP chain does not exist; user chains present: LOGX" in text
    assert "INPUT chain does not end with an unconditional jump to LOGNDROP" in text
    assert "-j LOGX" in text


@pytest.mark.parametrize("chain", ["INPUT", "FORWARD", "OUTPUT"])
def test_policy_accept(netns, backend, chain):
    res, got, _lines = tampered(netns, backend, f"{{ipt}} -P {chain} ACCEPT")
    assert res.returncode == 1
    assert got == [f"{PREFIX}[iptables.default-drop] the {chain} chain's policy is ACCEPT, expected DROP "
                   f"({backend} backend)"]


def test_accept_after_final_jump(netns, backend):
    res, got, _lines = tampered(netns, backend, "{ipt} -A INPUT -p tcp --dport 4444 -j ACCEPT")
    assert res.returncode == 1 and len(got) == 1
    assert "INPUT chain's catch-all jump to LOGNDROP is rule #" in got[0]
    assert "1 rule(s) follow it" in got[0] and "--dport 4444 -j ACCEPT" in got[0]


def test_accept_in_logndrop_before_drop(netns, backend):
    res, got, _lines = tampered(netns, backend, "{ipt} -I LOGNDROP 4 -j ACCEPT")
    assert res.returncode == 1
    assert any("unexpected rule #4 in the LOGNDROP chain: -A LOGNDROP -j ACCEPT" in g for g in got)


def test_log_rules_removed(netns, backend):
    res, got, _lines = tampered(netns, backend, *["{ipt} -D LOGNDROP 1"] * 3)
    assert res.returncode == 1
    # three findings about one chain: one summarised line
    assert len(got) == 1 and got[0].count("is missing") == 3, got
    for proto in ("tcp", "udp", "icmp"):
        assert f"rate-limited LOG rule for {proto} is missing" in got[0]


def test_log_rule_without_limit(netns, backend):
    res, got, _lines = tampered(netns, backend, "{ipt} -R LOGNDROP 2 -p udp -j LOG")
    assert res.returncode == 1 and len(got) == 1
    assert "rate-limited LOG rule for udp is not rate-limited" in got[0]


def test_rules_in_both_backends(netns):
    netns.restore_securedrop("nft", render("iptables-app-prod.j2"))
    netns.restore("legacy", render("iptables-app-prod.j2"))  # IPv4 only in legacy
    res, lines = run(netns)
    assert res.returncode == 1
    got = problems(lines, "iptables.backends")
    assert len(got) == 1 and "both the nft and the legacy backend" in got[0]
    assert "nft: 38 rules, legacy: 38 rules" in got[0]
    # each backend's ruleset is still judged (both are correct here)
    assert problems(lines, "iptables.default-drop") == []


def test_stray_legacy_rules_are_judged(netns):
    """An nft host with an ACCEPT-everything legacy table: the kernel applies both."""
    netns.restore_securedrop("nft", render("iptables-app-prod.j2"))
    netns.restore("legacy", "*filter\n:INPUT ACCEPT\n:FORWARD ACCEPT\n:OUTPUT ACCEPT\n-A INPUT -j ACCEPT\nCOMMIT\n")
    res, lines = run(netns)
    assert res.returncode == 1
    got = problems(lines, "iptables.default-drop")
    assert any("(legacy backend)" in g and "INPUT chain's policy is ACCEPT" in g for g in got), got


def test_reading_nft_creates_no_legacy_table(netns):
    """python-iptables must not be opened on an nft host: it would create a legacy table."""
    netns.restore_securedrop("nft", render("iptables-app-prod.j2"))
    before = netns.sh("cat /proc/net/ip_tables_names 2>/dev/null || true").stdout
    res, _lines = run(netns)
    after = netns.sh("cat /proc/net/ip_tables_names 2>/dev/null || true").stdout
    assert res.returncode == 0
    assert before.split() == after.split() == []
    assert "legacy tables present" not in netns.sh("iptables-nft -S 2>&1").stdout


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
        res = netns.sdcheck("run", "--profile", "app", "--only", "iptables",
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


def test_lock_free_after_release(netns, tmp_path):
    netns.restore_securedrop("legacy", render("iptables-app-prod.j2"))
    lock = tmp_path / "xtables.lock"
    lock.touch()
    subprocess.run(["flock", "-x", str(lock), "true"], check=True)
    res, lines = run(netns, "app", "--var", f"xtables_lock={lock}")
    assert res.returncode == 0, lines


def test_python_iptables_and_legacy_save_agree(netns):
    """The two legacy readers yield the same canonical rules (SecureDrop app and mon rulesets)."""
    for template in ("iptables-app-prod.j2", "iptables-mon-prod.j2"):
        a, b = _both_legacy_readers(netns, render(template))
        assert a == b
        assert sum(len(v) - 1 for v in b.values()) >= 30


def test_variables_reach_the_check(netns, tmp_path):
    """A baseline option taken from a variable, overridden by a vars file, then by --var."""
    netns.restore_securedrop("nft", render("iptables-app-prod.j2"))
    base = tmp_path / "b.yml"
    base.write_text("sdcheck_baseline: 1\nprofile: app\nvars:\n  chain: LOGNDROP\n"
                    "checks:\n  iptables.default-drop:\n    log_chain: ${chain}\n")
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
    schema = json.loads((Path(__file__).resolve().parents[1] / "docs" / "report.schema.json").read_text())
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
    res = netns.sdcheck("report", "--profile", "app", "--vars", VARS, "--only", "iptables")
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
    base = tmp_path / "b.yml"
    base.write_text("sdcheck_baseline: 1\nprofile: app\nvars:\n  sasl_password: default-Secret-1\n"
                    "checks:\n  iptables.default-drop:\n    log_chain: ${sasl_password}\n")
    varsf = tmp_path / "v.yml"
    varsf.write_text(f"sasl_password: '{secret}'\n")
    for extra, value in (([], "default-Secret-1"), (["--vars", str(varsf)], secret),
                         (["--var", "sasl_password=cli-Secret-2"], "cli-Secret-2")):
        for args in (["run"], ["report"], ["report", "--format", "json"]):
            res = netns.sdcheck(*args, "--baseline", str(base), *extra)
            assert res.returncode == 1
            assert "[redacted] chain does not exist" in res.stdout
            assert value not in res.stdout + res.stderr


V6_DROP_ALL = (SD / "iptables_rules_v6").read_text()


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


def _both_legacy_readers(netns, rules: str | list[str]) -> tuple[dict, dict]:
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


def test_both_legacy_readers_agree_on_a_corpus_of_modules_and_flags(netns):
    """python-iptables and iptables-legacy-save give the same canonical rule for every match,
    target and flag in the corpus: a field one reader cannot see is a bug."""
    a, b = _both_legacy_readers(netns, LEGACY_CORPUS)
    assert sum(len(v) - 1 for v in b.values()) == len(LEGACY_CORPUS)
    assert a == b
    assert "'f'" in b["OUTPUT"][1]  # the fragment flag is part of the canonical rule


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from(LEGACY_CORPUS), min_size=1, max_size=10))
def test_both_legacy_readers_agree_on_random_rulesets(netns, rules):
    a, b = _both_legacy_readers(netns, rules)
    assert a == b and sum(len(v) - 1 for v in b.values()) == len(rules)
