"""Shared by the ruleset tests (tests/plugins/iptables/): SecureDrop's templates rendered,
and the expected rule groups."""

from __future__ import annotations

import json

from helpers.all import write_vars
from helpers.cli import PREFIX

RULESET = "iptables.ruleset"


VARS = str(write_vars())


VARS_TOR = str(write_vars(enable_ssh_over_tor=True))


TEMPLATE = {"app": "iptables-app-prod.j2", "mon": "iptables-mon-prod.j2"}


def run(ns, profile="app", vars_file=VARS, *extra):
    res = ns.sdcheck("run", "--profile", profile, "--vars", vars_file, "--only", "iptables", "--skip", "iptables.boot-rules", *extra)
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


def rule_lines(text: str) -> list[int]:
    return [i for i, ln in enumerate(text.splitlines()) if ln.startswith("-A ")]


def chain_positions(text: str) -> dict[int, tuple[str, int]]:
    """line index -> (chain, 1-based position in that chain)"""
    seen: dict[str, int] = {}
    out = {}
    for i in rule_lines(text):
        chain = text.splitlines()[i].split()[1]
        seen[chain] = seen.get(chain, 0) + 1
        out[i] = (chain, seen[chain])
    return out


def load_rules(ns, backend, text):
    # replace whatever is loaded (restore flushes the tables it names)
    ns.restore(backend, text)


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


def _expected_chains(profile: str) -> dict:
    import grp
    import pwd

    from helpers.all import SITE_VARS
    from sdcheck.baseline import bundled_path, load_baseline, merge_variables
    from sdcheck.options import resolve_options
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
