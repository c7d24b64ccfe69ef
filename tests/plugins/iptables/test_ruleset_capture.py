"""iptables.ruleset: the whole ruleset against the app/mon baselines, real iptables in
namespaces, both backends; tamperings; the report diff; baseline capture."""

from __future__ import annotations

import json
import shlex

import pytest
import yaml
from helpers.all import render, render_rules_v4, write_vars
from helpers.iptables import groups as _groups
from helpers.ruleset_suite import (
    EXPECTED,
    TAMPERS,
    TEMPLATE,
    VARS,
    VARS_TOR,
    chain_positions,
    load_rules,
    rule_lines,
    fails,
    report,
    ruleset_lines,
    run,
)
from hypothesis import given, settings
from hypothesis import strategies as st


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


def test_every_single_rule_deleted_is_detected(netns, backend):
    base = render(TEMPLATE["app"])
    lines = base.splitlines()
    positions = chain_positions(base)
    assert len(positions) > 30
    for index, (chain, pos) in positions.items():
        load_rules(netns, backend, "\n".join(lines[:index] + lines[index + 1:]) + "\n")
        data = report(netns)
        missing = [f for f in fails(data) if f["resource"] == f"filter/{chain}#{pos}"]
        assert missing and "of the baseline is missing" in missing[0]["message"], (chain, pos, fails(data))
        assert len(ruleset_lines(run(netns))) >= 1


def test_adjacent_rules_swapped_are_detected(netns, backend):
    base = render(TEMPLATE["mon"])
    lines = base.splitlines()
    idx = rule_lines(base)
    swaps = 0
    for a, b in zip(idx, idx[1:]):
        ta, tb = lines[a], lines[b]
        if ta.split()[1] != tb.split()[1] or ta.rsplit("-j", 1)[1] == tb.rsplit("-j", 1)[1]:
            continue
        swapped = list(lines)
        swapped[a], swapped[b] = tb, ta
        load_rules(netns, backend, "\n".join(swapped) + "\n")
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
    idx = rule_lines(base)
    first = lines[idx[0]]  # INPUT #1 moved to the end of INPUT, before the LOGNDROP jump
    last_input = max(i for i in idx if lines[i].split()[1] == "INPUT")
    moved = lines[:idx[0]] + lines[idx[0] + 1:last_input] + [first] + lines[last_input:]
    netns.restore("nft", "\n".join(moved) + "\n")
    data = report(netns)
    got = [f for f in fails(data) if "out of order" in f["message"]]
    assert got and "the baseline has it at #1" in got[0]["message"]
    assert got[0]["expected"] == "#1" and got[0]["actual"] != "#1"


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


@pytest.mark.parametrize("comment", ["${app_user}", "${fact:default_interface}", "$${x}", "${", "a}${b",
                                     "x\\ny \"q\" 'z' #c: $"])
def test_capture_round_trips_whatever_the_comments_hold(netns, tmp_path, comment):
    netns.restore_securedrop("nft", render(TEMPLATE["app"]))
    netns.sh(f"iptables-nft -I INPUT 1 -p tcp --dport 5 -m comment --comment {shlex.quote(comment)} -j DROP")
    out = tmp_path / "captured.yml"
    res = netns.sdcheck("baseline", "capture", "iptables", "--profile", "app", "--output", str(out))
    assert res.returncode == 0, res.stderr
    res = netns.sdcheck("run", "--baseline", str(out), "--var", "app_user=root", "--only", "iptables.ruleset")
    assert res.returncode == 0 and res.stdout.startswith("sdcheck: OK"), res.stdout
    res = netns.sdcheck("report", "--baseline", str(out), "--format", "json", "--verbose", "--only",
                        "iptables.ruleset")
    assert json.loads(res.stdout)["summary"]["fail"] == 0


def test_a_capture_is_an_overlay_that_keeps_every_check_of_the_profile(netns, tmp_path):
    """A captured baseline extends the profile and replaces only the ruleset: run with it,
    every check of the profile still runs (it used to replace the profile: 1 check of 15)."""
    from helpers import cli

    netns.restore_securedrop("nft", render(TEMPLATE["app"]))
    out = tmp_path / "captured.yml"
    res = netns.sdcheck("baseline", "capture", "iptables", "--profile", "app", "--output", str(out))
    assert res.returncode == 0, res.stderr
    doc = yaml.safe_load(out.read_text())
    assert doc["extends"] == "app" and list(doc["checks"]) == ["iptables.ruleset"]
    profile_ids = {ln.split()[0] for ln in cli.sdcheck("list", "--profile", "app").stdout.splitlines()}
    res = netns.sdcheck("report", "--baseline", str(out), "--vars", VARS, "--format", "json", timeout=180)
    data = json.loads(res.stdout)
    ran = {c["id"] for c in data["checks"]}
    assert profile_ids <= ran, profile_ids - ran
    assert {c["id"]: c["status"] for c in data["checks"]}["iptables.ruleset"] == "pass"
    # the effective baseline says where each check's options come from
    res = netns.sdcheck("baseline", "render", "--baseline", str(out), "--vars", VARS)
    assert res.returncode == 0, res.stderr
    text = res.stdout
    assert f"  iptables.ruleset:  # {out}:" in text
    assert "baselines/app.yml:" in text.split("  iptables.boot-rules:", 1)[1].splitlines()[0]
    assert f"  monitor_ip: \"10.20.3.2\"  # vars file {VARS}" in text
    # without the profile, a capture on a host that is not a SecureDrop server says how to choose
    res = netns.sdcheck("baseline", "capture", "iptables", "--output", str(tmp_path / "x.yml"))
    assert res.returncode == 2 and "pass --profile app or --profile mon (the capture extends that profile)" in res.stderr


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(["app", "mon"]), st.randoms(use_true_random=False))
def test_respelled_ruleset_gives_no_difference(profile, rnd):
    import shlex

    from sdcheck.plugins.iptables.diff import diff_rules
    from sdcheck.plugins.iptables.save_parser import parse_save

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
