"""iptables.ruleset: the whole ruleset against the app/mon baselines, real iptables in
namespaces, both backends; tamperings; the report diff; baseline capture."""

from __future__ import annotations

import json
import re
import shlex

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers.all import ACCOUNTS, need, render, render_rules_v4, write_vars
from helpers.iptables import groups as _groups

PREFIX = "System configuration error: "
RULESET = "iptables.ruleset"
VARS = str(write_vars())
VARS_TOR = str(write_vars(enable_ssh_over_tor=True))
TEMPLATE = {"app": "iptables-app-prod.j2", "mon": "iptables-mon-prod.j2"}


def run(ns, profile="app", vars_file=VARS, *extra):
    res = ns.sdcheck("run", "--profile", profile, "--vars", vars_file, "--only", "iptables", *extra)
    assert res.stderr == ""
    for line in res.stdout.splitlines():
        assert line.startswith((PREFIX, "sdcheck: OK: ")) and len(line.encode()) <= 1024, line
    return res


def ruleset_lines(res) -> list[str]:
    return [ln for ln in res.stdout.splitlines() if ln.startswith(f"{PREFIX}[{RULESET}]")]


def report(ns, profile="app", vars_file=VARS, *extra) -> dict:
    res = ns.sdcheck("report", "--profile", profile, "--vars", vars_file, "--only", RULESET,
                     "--format", "json", *extra)
    assert res.returncode in (0, 1), res.stderr
    return json.loads(res.stdout)


def fails(data: dict) -> list[dict]:
    return [f for f in data["findings"] if f["status"] == "fail"]


# -- SecureDrop's own rulesets pass ------------------------------------------------------

@pytest.mark.parametrize("profile", ["app", "mon"])
def test_testinfra_ruleset_passes(netns, backend, profile):
    netns.restore_securedrop(backend, render(TEMPLATE[profile]))
    res = run(netns, profile)
    assert res.returncode == 0, res.stdout
    from sdcheck.registry import load_checks

    selected = [c for c in load_checks() if c.startswith("iptables")]
    assert "iptables.ruleset-v6" in selected  # the IPv6 ruleset is compared too
    assert res.stdout.startswith(f"sdcheck: OK: {len(selected)} checks passed")


@pytest.mark.parametrize("profile", ["app", "mon"])
@pytest.mark.parametrize("ssh_over_tor", [True, False], ids=["ssh-over-tor", "direct-ssh"])
def test_ansible_rules_v4_spelling_passes(netns, backend, profile, ssh_over_tor):
    """The Ansible template's spelling: options in another order, names for uids, no /32,
    --match, -p all, -s 0.0.0.0/0, --log-level 4."""
    netns.restore_securedrop(backend, render_rules_v4(profile, ssh_over_tor))
    res = run(netns, profile, VARS_TOR if ssh_over_tor else VARS)
    assert res.returncode == 0, res.stdout


def test_variant_mismatch_is_detected(netns):
    """Direct-SSH rules on a host whose variables say SSH goes over Tor."""
    netns.restore_securedrop("nft", render_rules_v4("app", False))
    data = report(netns, "app", VARS_TOR)
    kinds = {f["resource"].split("#")[0] for f in fails(data)}
    assert "filter/INPUT" in kinds and "filter/OUTPUT" in kinds
    assert any("--dport 22" in f["message"] and "unexpected rule" in f["message"] for f in fails(data))


# -- tamperings --------------------------------------------------------------------------

def _rule_lines(text: str) -> list[int]:
    return [i for i, ln in enumerate(text.splitlines()) if ln.startswith("-A ")]


def _chain_positions(text: str) -> dict[int, tuple[str, int]]:
    """line index -> (chain, 1-based position in that chain)"""
    seen: dict[str, int] = {}
    out = {}
    for i in _rule_lines(text):
        chain = text.splitlines()[i].split()[1]
        seen[chain] = seen.get(chain, 0) + 1
        out[i] = (chain, seen[chain])
    return out


def _load(ns, backend, text):
    # replace whatever is loaded (restore flushes the tables it names)
    ns.restore(backend, text)


def test_every_single_rule_deleted_is_detected(netns, backend):
    base = render(TEMPLATE["app"])
    lines = base.splitlines()
    positions = _chain_positions(base)
    assert len(positions) > 30
    for index, (chain, pos) in positions.items():
        _load(netns, backend, "\n".join(lines[:index] + lines[index + 1:]) + "\n")
        data = report(netns)
        missing = [f for f in fails(data) if f["resource"] == f"filter/{chain}#{pos}"]
        assert missing and "of the baseline is missing" in missing[0]["message"], (chain, pos, fails(data))
        assert len(ruleset_lines(run(netns))) >= 1


def test_adjacent_rules_swapped_are_detected(netns, backend):
    base = render(TEMPLATE["mon"])
    lines = base.splitlines()
    idx = _rule_lines(base)
    swaps = 0
    for a, b in zip(idx, idx[1:]):
        ta, tb = lines[a], lines[b]
        if ta.split()[1] != tb.split()[1] or ta.rsplit("-j", 1)[1] == tb.rsplit("-j", 1)[1]:
            continue
        swapped = list(lines)
        swapped[a], swapped[b] = tb, ta
        _load(netns, backend, "\n".join(swapped) + "\n")
        res = run(netns, "mon")
        assert res.returncode == 1 and ruleset_lines(res), (ta, tb)
        assert "out of order" in " ".join(ruleset_lines(res))
        swaps += 1
    assert swaps >= 4


@pytest.mark.parametrize("chain", ["INPUT", "FORWARD", "OUTPUT"])
def test_each_policy_accept_is_detected(netns, backend, chain):
    netns.restore_securedrop(backend, render(TEMPLATE["app"]))
    netns.sh(f"iptables-{backend} -P {chain} ACCEPT")
    data = report(netns)
    got = [f for f in fails(data) if f["resource"] == f"filter/{chain}:policy"]
    assert got and got[0]["severity"] == "critical" and (got[0]["expected"], got[0]["actual"]) == ("DROP", "ACCEPT")


TAMPERS = {
    "accept-all-first": ("{ipt} -I INPUT 1 -j ACCEPT", "filter/INPUT#1", "critical", "accepts traffic before"),
    "port-before-drop": ("{ipt} -I INPUT 17 -p tcp --dport 8443 -j ACCEPT", "filter/INPUT#17", "high",
                         "accepts traffic before"),
    "port-changed": ("{ipt} -R INPUT 2 -i lo -p tcp --dport 81 -m state --state NEW,RELATED,ESTABLISHED "
                     "-m comment --comment 'Allow tor connection from local loopback to connect to source int' "
                     "-j ACCEPT", "filter/INPUT#2", "high", "differs from the baseline"),
    "uid-changed": ("{ipt} -R OUTPUT 1 -p tcp -m owner --uid-owner 12345 -m state --state NEW,RELATED,ESTABLISHED "
                    "-m comment --comment 'Allow tor outbound' -j ACCEPT", "filter/OUTPUT#1", "high",
                    "differs from the baseline"),
    "source-changed": ("{ipt} -R INPUT 5 -s 9.9.9.9/32 -p tcp -m tcp --sport 53 -m state --state "
                       "RELATED,ESTABLISHED -m comment --comment 'tcp/udp dns' -j ACCEPT", "filter/INPUT#5",
                       "high", "differs from the baseline"),
    "nat-rule": ("{ipt} -t nat -A PREROUTING -p tcp --dport 80 -j REDIRECT --to-ports 8080", "nat", "high",
                 "the nat table holds 1 rule"),
    "extra-chain": ("{ipt} -N EXTRA && {ipt} -A EXTRA -j ACCEPT", "filter/EXTRA", "medium", "unexpected chain"),
    "comment-only": ("{ipt} -R INPUT 1 -p tcp -m state --state RELATED,ESTABLISHED -m comment --comment other "
                     "-j ACCEPT", "filter/INPUT#1", "low", "comment differs"),
}


@pytest.mark.parametrize("name", sorted(TAMPERS))
def test_tampering_is_detected(netns, backend, name):
    command, resource, severity, words = TAMPERS[name]
    netns.restore_securedrop(backend, render(TEMPLATE["app"]))
    netns.sh(command.format(ipt=f"iptables-{backend}"))
    data = report(netns)
    got = [f for f in fails(data) if f["resource"] == resource]
    assert len(got) == 1, fails(data)
    assert got[0]["severity"] == severity and words in got[0]["message"], got[0]
    res = run(netns)
    assert res.returncode == 1 and any(words in ln for ln in ruleset_lines(res))


def test_moved_rule_names_both_positions(netns):
    base = render(TEMPLATE["app"])
    lines = base.splitlines()
    idx = _rule_lines(base)
    first = lines[idx[0]]  # INPUT #1 moved to the end of INPUT, before the LOGNDROP jump
    last_input = max(i for i in idx if lines[i].split()[1] == "INPUT")
    moved = lines[:idx[0]] + lines[idx[0] + 1:last_input] + [first] + lines[last_input:]
    netns.restore("nft", "\n".join(moved) + "\n")
    data = report(netns)
    got = [f for f in fails(data) if "out of order" in f["message"]]
    assert got and "the baseline has it at #1" in got[0]["message"]
    assert got[0]["expected"] == "#1" and got[0]["actual"] != "#1"


def test_one_run_line_per_chain_and_kind(netns):
    netns.restore_securedrop("nft", render(TEMPLATE["app"]))
    for port in (1001, 1002, 1003):
        netns.sh(f"iptables-nft -I INPUT 2 -p tcp --dport {port} -j ACCEPT")
    netns.sh("iptables-nft -D OUTPUT 1 && iptables-nft -D OUTPUT 1")
    lines = ruleset_lines(run(netns))
    assert len(lines) == 2
    assert any(ln.startswith(f"{PREFIX}[{RULESET}] 3 problems: filter/INPUT: unexpected rule") for ln in lines)
    assert any(ln.startswith(f"{PREFIX}[{RULESET}] 2 problems: filter/OUTPUT: rule #1 of the baseline is missing")
               for ln in lines)


# -- names, facts, report, capture -----------------------------------------------------

def test_unknown_user_is_a_clear_finding(netns, tmp_path):
    netns.restore_securedrop("nft", render(TEMPLATE["app"]))
    vars_file = str(write_vars(tmp_path / "v.yml", tor_user="no-such-user"))
    data = report(netns, "app", vars_file)
    got = [f for f in fails(data) if f["resource"] == "users/no-such-user"]
    assert got and "no such user exists" in got[0]["message"] and "tor_user" in got[0]["message"]


def test_default_interface_is_a_host_fact(netns, tmp_path):
    """ssh_interface defaults to the interface of the default route; a variable overrides it."""
    netns.sh("ip link set eth0 name ens3")  # the default route moves with the renamed link
    netns.restore_securedrop("nft", render(TEMPLATE["mon"], default_interface="ens3"))
    no_iface = {k: v for k, v in yaml.safe_load(open(VARS)).items()}
    plain = tmp_path / "plain.yml"
    plain.write_text(yaml.safe_dump(no_iface))
    assert run(netns, "mon", str(plain)).returncode == 0
    wrong = str(write_vars(tmp_path / "w.yml", ssh_interface="eth7"))
    data = report(netns, "mon", wrong)
    assert any("-i eth7" in (f["expected"] or "") for f in fails(data))
    netns.sh("ip route del default")
    data = report(netns, "mon", str(plain))
    assert any(f["resource"] == "facts/default_interface" for f in fails(data))


def test_report_shows_a_diff_with_positions(netns):
    netns.restore_securedrop("nft", render(TEMPLATE["app"]))
    netns.sh("iptables-nft -I INPUT 3 -p tcp --dport 4444 -j ACCEPT && iptables-nft -D OUTPUT 2")
    res = netns.sdcheck("report", "--profile", "app", "--vars", VARS, "--only", RULESET)
    out = res.stdout
    assert res.returncode == 1
    assert "--- baseline" in out and "+++ nft" in out
    assert re.search(r"^ +\+ +3  -A INPUT .*--dport 4444", out, re.M), out
    assert re.search(rf"^ +- +2 +-A OUTPUT -m owner --uid-owner {ACCOUNTS['tor_user']} -j LOGNDROP", out, re.M), out
    assert all(len(line) <= 80 for line in out.splitlines())


def test_capture_round_trips_and_names_users(netns, backend, tmp_path):
    netns.restore_securedrop(backend, render(TEMPLATE["mon"]))
    netns.sh(f"iptables-{backend} -t nat -A POSTROUTING -o eth0 -j MASQUERADE")
    out = tmp_path / "captured.yml"
    res = netns.sdcheck("baseline", "capture", "iptables", "--output", str(out))
    assert res.returncode == 0, res.stderr
    doc = yaml.safe_load(out.read_text())
    rules = doc["checks"][RULESET]["tables"]["filter"]["chains"]["OUTPUT"]
    assert any(f"--uid-owner {ACCOUNTS['tor_user']}" in r for r in rules)  # uid turned back into a name
    assert "nat" in doc["checks"][RULESET]["tables"]
    res = netns.sdcheck("run", "--baseline", str(out))
    assert res.returncode == 0 and res.stdout.startswith("sdcheck: OK"), res.stdout
    netns.sh(f"iptables-{backend} -D INPUT 3")
    res = netns.sdcheck("run", "--baseline", str(out))
    assert res.returncode == 1 and "filter/INPUT: rule #3 of the baseline is missing" in res.stdout


@pytest.mark.parametrize("comment", ["${app_user}", "${fact:default_interface}", "$${x}", "${", "a}${b",
                                     "x\\ny \"q\" 'z' #c: $"])
def test_capture_round_trips_whatever_the_comments_hold(netns, tmp_path, comment):
    netns.restore_securedrop("nft", render(TEMPLATE["app"]))
    netns.sh(f"iptables-nft -I INPUT 1 -p tcp --dport 5 -m comment --comment {shlex.quote(comment)} -j DROP")
    out = tmp_path / "captured.yml"
    res = netns.sdcheck("baseline", "capture", "iptables", "--output", str(out))
    assert res.returncode == 0, res.stderr
    res = netns.sdcheck("run", "--baseline", str(out), "--var", "app_user=root")
    assert res.returncode == 0 and res.stdout.startswith("sdcheck: OK"), res.stdout
    res = netns.sdcheck("report", "--baseline", str(out), "--format", "json", "--verbose")
    assert json.loads(res.stdout)["summary"]["fail"] == 0


def test_bad_rule_in_baseline_names_file_and_line(tmp_path):
    import subprocess
    import sys

    bad = tmp_path / "bad.yml"
    bad.write_text("sdcheck_baseline: 1\nprofile: app\nchecks:\n  iptables.ruleset:\n    tables:\n"
                   "      filter:\n        chains:\n          INPUT:\n            - -p tcp -j ACCEPT\n"
                   "            - -p tcp --dport\n")
    res = subprocess.run([sys.executable, "-m", "sdcheck", "report", "--baseline", str(bad)],
                         capture_output=True, text=True, timeout=30)
    assert res.returncode == 2
    assert f"{bad}:10: iptables.ruleset: filter/INPUT: cannot parse rule" in res.stderr
    assert "Traceback" not in res.stderr


# -- property: equivalent spellings of the whole ruleset never produce a finding ----------

def _expected_chains(profile: str) -> dict:
    import grp
    import pwd

    from helpers.all import SITE_VARS
    from sdcheck.baseline import bundled_path, load_baseline, merge_variables, resolve_options
    from sdcheck.plugins.iptables.rules import rebind, resolve_owner
    from sdcheck.registry import load_checks

    baseline = load_baseline(bundled_path(profile))
    variables = merge_variables(baseline, dict(SITE_VARS, ssh_interface="eth0"), [])
    table = resolve_options(baseline, load_checks(), variables)[RULESET]["_expected"]["filter"]

    def resolve(kind, name):
        return str(pwd.getpwnam(name).pw_uid if kind == "user" else grp.getgrnam(name).gr_gid)

    def bind(_m, option, value):
        return resolve_owner(option, value, resolve) if option in ("uid-owner", "gid-owner") else value
    return {c: [rebind(r, bind) for r in rules] for c, rules in table.chains.items()}


EXPECTED = {p: _expected_chains(p) for p in ("app", "mon")}


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(["app", "mon"]), st.randoms(use_true_random=False))
def test_respelled_ruleset_gives_no_difference(profile, rnd):
    import shlex

    from sdcheck.plugins.iptables.save_parser import parse_save
    from sdcheck.plugins.iptables.diff import diff_rules

    out = []
    for line in render(TEMPLATE[profile]).splitlines():
        if line.startswith("-A "):
            chain, groups = _groups(line)
            proto = [g for g in groups if g[0] == "-p"]
            others = [g for g in groups if g[0] != "-p"]
            rnd.shuffle(others)
            tokens = [t for g in proto + others for t in g]
            if rnd.random() < 0.5:
                tokens = [t[:-3] if t.endswith("/32") else "--match" if t == "-m" else t for t in tokens]
            line = f"-A {chain} " + " ".join(shlex.quote(t) for t in tokens)
        out.append(line)
    live = parse_save("\n".join(out) + "\n")["filter"]
    for chain, rules in EXPECTED[profile].items():
        assert diff_rules(rules, live.chains[chain].rules) == [], chain


# -- native nftables tables beside iptables' ----------------------------------------------

def test_native_nft_table_is_a_finding(netns, tmp_path):
    need("nft")
    netns.restore_securedrop("nft", render(TEMPLATE["app"]))
    res = run(netns)
    assert res.returncode == 0, res.stdout
    netns.sh("nft add table inet sneaky && nft add chain inet sneaky input "
             "'{ type filter hook input priority -10; policy accept; }' && "
             "nft add rule inet sneaky input tcp dport 4444 accept")
    res = run(netns)
    (line,) = [ln for ln in res.stdout.splitlines() if "[iptables.nft-native]" in ln]
    assert "native nftables table inet sneaky: 1 chain(s), hooked into input, 1 rule(s)" in line
    res = netns.sdcheck("run", "--profile", "app", "--vars", VARS, "--only", "iptables",
                        "--var", "nft_allowed_tables=['inet sneaky']")
    assert res.returncode == 0 and "[iptables.nft-native]" not in res.stdout, res.stdout


@pytest.mark.parametrize("tamper,want", [
    # an unconditional ACCEPT replacing a rule (the issue: rated high, so --fail-on critical passed)
    ("iptables-nft -R OUTPUT 2 -j ACCEPT", "critical"),
    # a jump to a chain that accepts, before the catch-all drop
    ("iptables-nft -N OPEN && iptables-nft -A OPEN -j ACCEPT && iptables-nft -I INPUT 1 -j OPEN", "critical"),
    # NFQUEUE with bypass
    ("iptables-nft -I INPUT 1 -j NFQUEUE --queue-num 7 --queue-bypass", "critical"),
    # a conditional accept: high
    ("iptables-nft -I INPUT 1 -p tcp --dport 4444 -j ACCEPT", "high"),
])
def test_severity_follows_the_effect(netns, tamper, want):
    netns.restore_securedrop("nft", render(TEMPLATE["app"]))
    netns.sh(tamper)
    res = netns.sdcheck("report", "--profile", "app", "--vars", VARS, "--only", RULESET, "--format", "json")
    data = json.loads(res.stdout)
    worst = max((f["severity"] for f in data["findings"] if f["status"] == "fail"),
                key=["low", "medium", "high", "critical"].index)
    assert worst == want, [(f["severity"], f["message"]) for f in data["findings"]]
    res = netns.sdcheck("run", "--profile", "app", "--vars", VARS, "--only", RULESET, "--fail-on", "critical")
    assert res.returncode == (1 if want == "critical" else 0), res.stdout


def test_a_missing_firewall_is_one_finding(netns, backend):
    res = netns.sdcheck("report", "--profile", "app", "--vars", VARS, "--only", RULESET, "--format", "json")
    fails = [f for f in json.loads(res.stdout)["findings"] if f["status"] == "fail" and f["check_id"] == RULESET]
    assert len(fails) == 1 and fails[0]["severity"] == "critical", [f["message"] for f in fails]
    assert "is not configured" in fails[0]["message"]


@pytest.mark.parametrize("oddity", [
    # a comment holding more than 64 newlines
    "iptables-nft -A OUTPUT -p udp --dport 9 -m comment --comment \"$(printf 'n\\n%.0s' $(seq 100))\" -j DROP",
    # a chain whose name holds a double quote, with a rule in it
    "iptables-nft -N 'a\"b' && iptables-nft -A 'a\"b' -p tcp --dport 7 -j DROP",
])
def test_nothing_masks_the_rest(netns, oddity):
    """An odd rule, comment or chain name is a finding about itself; an ACCEPT-all added at
    the same time is still found, critical."""
    netns.restore_securedrop("nft", render(TEMPLATE["app"]))
    netns.sh(oddity)
    netns.sh("iptables-nft -I INPUT 1 -j ACCEPT")
    res = netns.sdcheck("report", "--profile", "app", "--vars", VARS, "--only", RULESET, "--format", "json")
    fails = [f for f in json.loads(res.stdout)["findings"] if f["check_id"] == RULESET]
    assert not any(f["status"] == "error" for f in fails), [f["message"] for f in fails]
    accept = [f for f in fails if "unexpected rule #1 accepts traffic" in f["message"]]
    assert accept and accept[0]["severity"] == "critical", [f["message"] for f in fails]
    assert len(fails) >= 2  # the oddity is reported too


# -- IPv6: SecureDrop's rules_v6 compared as strictly as IPv4 ------------------------------

@pytest.mark.parametrize("profile", ["app", "mon"])
@pytest.mark.parametrize("tamper,words,severity", [
    # the attack: nothing listens on the queue, so with --queue-bypass everything passes
    ("-I INPUT 1 -j NFQUEUE --queue-num 7 --queue-bypass", "unexpected rule #1 accepts traffic", "critical"),
    ("-I OUTPUT 1 -p tcp --dport 443 -j ACCEPT", "unexpected rule #1 accepts traffic", "high"),
    ("-P OUTPUT ACCEPT", "OUTPUT: the policy is ACCEPT, expected DROP", "critical"),
    ("-N SIDE && ip6tables-{backend} -A SIDE -j ACCEPT", "unexpected chain", "medium"),
    ("-t mangle -A PREROUTING -j MARK --set-mark 1", "the mangle table holds 1 rule(s)", "high"),
])
def test_ipv6_ruleset_is_compared_rule_by_rule(netns, backend, profile, tamper, words, severity):
    netns.restore_securedrop(backend, render(TEMPLATE[profile]))
    res = run(netns, profile)
    assert res.returncode == 0, res.stdout
    netns.sh(f"ip6tables-{backend} " + tamper.format(backend=backend))
    res = run(netns, profile)
    got = [ln for ln in res.stdout.splitlines() if ln.startswith(PREFIX + "[iptables.ruleset-v6]")]
    assert res.returncode == 1 and got and words in got[0], res.stdout
    data = json.loads(netns.sdcheck("report", "--profile", profile, "--vars", VARS, "--only",
                                    "iptables.ruleset-v6", "--format", "json").stdout)
    fails = [f for f in data["findings"] if f["status"] == "fail"]
    worst = max((f["severity"] for f in fails), key=["low", "medium", "high", "critical"].index)
    assert worst == severity, fails


def test_ipv6_ruleset_not_loaded_is_one_critical_finding(netns, backend):
    netns.restore(backend, render(TEMPLATE["app"]))  # IPv4 only
    data = json.loads(netns.sdcheck("report", "--profile", "app", "--vars", VARS, "--only",
                                    "iptables.ruleset-v6", "--format", "json").stdout)
    fails = [f for f in data["findings"] if f["status"] == "fail"]
    assert len(fails) == 1 and fails[0]["severity"] == "critical", fails
    assert "the ip6tables firewall is not configured" in fails[0]["message"]
    assert "DROP policies (FORWARD, INPUT, OUTPUT)" in fails[0]["message"]
