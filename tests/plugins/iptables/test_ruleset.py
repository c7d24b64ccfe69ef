"""iptables.ruleset: the whole ruleset against the app/mon baselines, real iptables in
namespaces, both backends; tamperings; the report diff; baseline capture."""

from __future__ import annotations

import datetime
import json
import re

import pytest
import yaml
from helpers import cli
from helpers.all import ACCOUNTS, render
from helpers.ruleset_suite import (
    PREFIX,
    RULESET,
    TEMPLATE,
    VARS,
    ruleset_lines,
    run,
)


def test_one_run_line_per_chain_and_kind(netns):
    netns.restore_securedrop("nft", render(TEMPLATE["app"]))
    for port in (1001, 1002, 1003):
        netns.sh(f"iptables-nft -I INPUT 2 -p tcp --dport {port} -j ACCEPT")
    netns.sh("iptables-nft -D OUTPUT 1 && iptables-nft -D OUTPUT 1")
    lines = ruleset_lines(run(netns))
    assert len(lines) == 2
    assert any(ln.startswith(f"{PREFIX}[{RULESET}] (") and ") 3 problems: filter/INPUT: unexpected rule" in ln for ln in lines)
    assert any(ln.startswith(f"{PREFIX}[{RULESET}] (")
               and "2 problems: filter/OUTPUT: rule #1 of the baseline is missing" in ln
               for ln in lines)


def test_report_shows_a_diff_with_positions(netns):
    netns.restore_securedrop("nft", render(TEMPLATE["app"]))
    netns.sh("iptables-nft -I INPUT 3 -p tcp --dport 4444 -j ACCEPT && iptables-nft -D OUTPUT 2")
    res = netns.sdcheck("report", "--profile", "app", "--vars", VARS, "--only", RULESET)
    out = res.stdout
    assert res.returncode == 1
    assert "--- baseline" in out and "+++ nft" in out
    assert re.search(r"^ +\+ +3  -A INPUT .*--dport 4444", out, re.M), out
    assert re.search(rf"^ +- +2 +-A OUTPUT -m owner --uid-owner {ACCOUNTS['tor_user']} -j LOGNDROP", out, re.M), out
    # 80 columns, except a diff line, which holds a whole rule (to be copied) and is never wrapped
    assert all(len(line) <= 80 or re.match(r"^ {9}[ +\-@]", line) for line in out.splitlines())


def test_capture_round_trips_and_names_users(netns, backend, tmp_path):
    netns.restore_securedrop(backend, render(TEMPLATE["mon"]))
    netns.sh(f"iptables-{backend} -t nat -A POSTROUTING -o eth0 -j MASQUERADE")
    out = tmp_path / "captured.yml"
    res = netns.sdcheck("baseline", "capture", "iptables", "--profile", "mon", "--output", str(out))
    assert res.returncode == 0, res.stderr
    doc = yaml.safe_load(out.read_text())
    rules = doc["checks"][RULESET]["tables"]["filter"]["chains"]["OUTPUT"]
    assert any(f"--uid-owner {ACCOUNTS['tor_user']}" in r for r in rules)  # uid turned back into a name
    assert "nat" in doc["checks"][RULESET]["tables"]
    res = netns.sdcheck("run", "--baseline", str(out), "--only", RULESET)
    assert res.returncode == 0 and res.stdout.startswith("sdcheck: OK"), res.stdout
    netns.sh(f"iptables-{backend} -D INPUT 3")
    res = netns.sdcheck("run", "--baseline", str(out), "--only", RULESET)
    assert res.returncode == 1 and "filter/INPUT: rule #3 of the baseline is missing" in res.stdout


def test_bad_rule_in_baseline_names_file_and_line(tmp_path):

    bad = tmp_path / "bad.yml"
    bad.write_text("sdcheck_baseline: 1\nprofile: app\nchecks:\n  iptables.ruleset:\n    tables:\n"
                   "      filter:\n        chains:\n          INPUT:\n            - -p tcp -j ACCEPT\n"
                   "            - -p tcp --dport\n")
    res = cli.sdcheck("report", "--baseline", str(bad), timeout=30)
    assert res.returncode == 2
    assert f"{bad}:10: iptables.ruleset: filter/INPUT: cannot parse rule" in res.stderr
    assert "Traceback" not in res.stderr


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


# rules that hand packets, or copies with their contents, to a program or another host: the
# plaintext Tor-to-Apache hop would leave the firewall
COPIERS = {
    "nflog": ["-I INPUT 1 -p tcp --dport 80 -j NFLOG --nflog-group 5"],
    "tee": ["-I OUTPUT 1 -j TEE --gateway 10.99.0.9"],
    "tee in mangle": ["-t mangle -A PREROUTING -j TEE --gateway 10.99.0.9"],
    "jump to a copying chain": ["-N COPY", "-A COPY -j NFLOG", "-I INPUT 1 -p tcp --dport 80 -j COPY"],
}


@pytest.mark.parametrize("backend", ["nft", "legacy"])
@pytest.mark.parametrize("name", sorted(COPIERS))
def test_a_rule_that_copies_traffic_is_critical_and_no_pattern_waives_it(netns, tmp_path, backend, name):
    netns.restore_securedrop(backend, render("iptables-app-prod.j2"))
    for rule in COPIERS[name]:
        netns.sh(f"iptables-{backend} {rule}")
    waivers = tmp_path / "waivers.yml"
    waivers.write_text(yaml.safe_dump({"waivers": [{"check": "iptables.ruleset", "rule_pattern": "*",
                                                    "reason": "everything, ticket 1",
                                                    "expires": datetime.date(2099, 12, 31)}]}))
    for extra in ([], ["--waivers", str(waivers)]):
        res = netns.sdcheck("report", "--profile", "app", "--vars", VARS, "--only", RULESET, "--format", "json",
                            "--fail-on", "critical", *extra)
        assert res.returncode == 1, res.stderr
        copied = [f for f in json.loads(res.stdout)["findings"]
                  if f["status"] == "fail" and "hands packets or copies of them" in f["message"]]
        assert res.returncode == 1 and copied, res.stdout
        assert {f["severity"] for f in copied} == {"critical"} and all(f["widens"] for f in copied)


@pytest.mark.parametrize("backend", ["nft", "legacy"])
def test_a_rule_is_shown_as_iptables_save_prints_it_and_can_be_pasted_into_a_waiver(netns, tmp_path, backend):
    netns.restore_securedrop(backend, render("iptables-app-prod.j2"))
    netns.sh(f"iptables-{backend} -I INPUT 1 -s 10.99.0.7 -p tcp --dport 9100 -m comment "
             "--comment 'monitoring host' -j ACCEPT")
    res = netns.sdcheck("report", "--profile", "app", "--vars", VARS, "--only", RULESET, "--format", "json")
    (finding,) = [f for f in json.loads(res.stdout)["findings"] if f["status"] == "fail"]
    assert '--comment "monitoring host"' in finding["message"] and '"monitoring host"' in finding["actual"]
    assert "-s 10.99.0.7/32 " in finding["message"]  # as the backend's save tool prints it, either backend
    shown = finding["actual"]  # the rule as the report shows it, pasted as an admin would
    waivers = tmp_path / "waivers.yml"
    waivers.write_text(yaml.safe_dump({"waivers": [{"check": RULESET, "rule": shown, "reason": "ticket 7",
                                                    "expires": datetime.date(2099, 12, 31)}]}))
    res = netns.sdcheck("run", "--profile", "app", "--vars", VARS, "--only", RULESET, "--waivers", str(waivers))
    assert res.returncode == 0 and res.stdout.startswith("sdcheck: OK"), res.stdout


def test_a_host_fact_that_cannot_be_known_is_named_not_printed_as_a_placeholder(netns):
    netns.restore_securedrop("nft", render("iptables-app-prod.j2"))
    netns.sh("ip route del default")
    res = netns.sdcheck("run", "--profile", "app", "--vars", VARS, "--only", RULESET)
    assert res.returncode == 1
    assert "${fact:" not in res.stdout, res.stdout
    assert any("host fact default_interface could not be determined" in ln for ln in res.stdout.splitlines())
    assert "<default_interface:unknown>" in netns.sdcheck("report", "--profile", "app", "--vars", VARS,
                                                            "--only", RULESET).stdout


def test_an_account_name_given_another_accounts_uid_is_found(netns, tmp_path):
    """The attack: in /etc/passwd the Tor account gets the web application's uid, and the
    firewall is loaded for that uid. Every rule matches its baseline by name, yet tor's ACCEPT
    rules now let the web application out. Run in a private mount namespace holding the
    changed /etc/passwd."""
    import pwd

    from helpers.securedrop import ACCOUNTS

    app_uid = pwd.getpwnam(ACCOUNTS["app_user"]).pw_uid
    netns.restore_securedrop("nft", render("iptables-app-prod.j2", tor_user_id=app_uid))
    tor = ACCOUNTS["tor_user"]
    lines = []
    for line in open("/etc/passwd", encoding="utf-8").read().splitlines():
        f = line.split(":")
        lines.append(":".join(f[:2] + [str(app_uid)] + f[3:]) if f[0] == tor else line)
    passwd = tmp_path / "passwd"
    passwd.write_text("\n".join(lines) + "\n")
    through = netns.exec_argv(["unshare", "-m", "--propagation", "private", "sh", "-c",
                               'mount --bind "$0" /etc/passwd && exec "$@"', str(passwd)])
    res = cli.sdcheck("run", "--profile", "app", "--vars", VARS, "--only", RULESET, through=through)
    found = [ln for ln in res.stdout.splitlines() if f"the user '{tor}'" in ln]
    assert res.returncode == 1 and found, res.stdout
    assert f"uid {app_uid}, which the user(s) '{ACCOUNTS['app_user']}' also have" in found[0]
    # and as the machine really is, nothing to say
    res = netns.sdcheck("run", "--profile", "app", "--vars", VARS, "--only", RULESET)
    assert f"the user '{tor}'" not in res.stdout
