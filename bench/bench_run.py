#!/usr/bin/env python3
"""Whole `sdcheck run`s against their floor, and the firewall checks against checksdconfig.

1. Whole runs, one per profile, each on a host of its own (a network namespace):
   - app: SecureDrop's app firewall (rules_v4 and rules_v6, nft) and a 10,000-file store
     with its database;
   - mon: SecureDrop's mon firewall, Postfix on SecureDrop's main.cf template with postmap'd
     tables, a GnuPG keyring holding the alert key, a mail log and a procmail log.
   The floor is what the run cannot avoid: a bare interpreter start, then exactly the
   commands the run starts (recorded from one run with SDCHECK_TRACE_COMMANDS, replayed
   one after another with the same arguments and standard input), and the reads it makes
   in-process, done by the fastest tools: `find -printf '%s %U %m %p'` over the store and
   `sqlite3` selecting its rows (app), `cat` of the keyring and the logs (mon).
2. The checks that do checksdconfig.py's job (`--only iptables.default-drop --only
   iptables.backends`) against a script doing what checksdconfig.py does, on SecureDrop's
   app ruleset and on 10,000 extra rules.

Each pair is timed interleaved, as whole processes started with `ip netns exec`; medians
and the ratios are printed.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))


class Host:
    """A network namespace holding a SecureDrop server's firewall."""

    def __init__(self, role: str):
        from helpers.securedrop import SD, render_rules_v4

        self.name = f"sdc-bench-{uuid.uuid4().hex[:8]}"
        subprocess.run(["ip", "netns", "add", self.name], check=True)
        # as SecureDrop's common role leaves a server: its kernel settings, IPv6 off
        from sdcheck.plugins.system.checks.sysctl import FLAGS

        self.sh(" && ".join(f"sysctl -q -w {name}={value}" for name, value in FLAGS.items()))
        self.sh("ip link set lo up && ip link add eth0 type veth peer name eth0p && "
                "ip addr add 10.99.0.2/24 dev eth0 && ip link set eth0 up && ip route add default via 10.99.0.1")
        self.restore("iptables-nft-restore", render_rules_v4(role, False))
        self.restore("ip6tables-nft-restore", (SD / "iptables_rules_v6").read_text())

    def argv(self, argv: list[str]) -> list[str]:
        return ["ip", "netns", "exec", self.name, *GUARD, *argv]

    def sh(self, script: str, **kw) -> subprocess.CompletedProcess:
        return subprocess.run(self.argv(["sh", "-c", script]), check=True, capture_output=True, text=True,
                              timeout=120, **kw)

    def restore(self, command: str, rules: str) -> None:
        self.sh(command, input=rules)

    def delete(self) -> None:
        subprocess.run(["ip", "netns", "del", self.name], check=False)


# A run that hangs is stopped with SIGABRT, so that Python prints every thread's stack
# (PYTHONFAULTHANDLER) before the benchmark stops; both sides of a comparison get the wrapper.
GUARD = ["timeout", "-s", "ABRT", "120"]
ENV = dict(os.environ, PYTHONFAULTHANDLER="1")


def timed(argv: list[str], env: dict | None = None) -> float:
    start = time.perf_counter()
    res = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300, env=env or ENV)
    elapsed = time.perf_counter() - start
    if res.returncode not in (0, 1):
        raise SystemExit(f"{argv} failed ({res.returncode}): {res.stdout[-800:]!r} {res.stderr[-800:]!r}")
    return elapsed


def compare(label: str, floor: list[str], ours: list[str], rounds: int, names=("floor", "sdcheck")) -> float:
    a, b = [], []
    for _ in range(3):  # warm caches alike
        timed(floor), timed(ours)
    for _ in range(rounds):  # interleaved, so drift affects both alike
        a.append(timed(floor))
        b.append(timed(ours))
    ma, mb = statistics.median(a), statistics.median(b)
    print(f"  {label:38} {names[0]} {ma * 1000:7.1f} ms   {names[1]} {mb * 1000:7.1f} ms   "
          f"ratio {mb / ma:5.2f}x", flush=True)
    return mb / ma


# -- whole runs --------------------------------------------------------------------------

def app_host(work: Path):
    from helpers.securedrop import write_vars
    from helpers.storegen import StoreFixture

    host = Host("app")
    store = StoreFixture(work / "app", sources=100, per_source=100)  # 10,000 files and rows
    vars_file = write_vars(work / "app-vars.yml", **store.vars())
    sql = ("select s.filesystem_id, x.filename, x.size from submissions x join sources s on s.id = x.source_id "
           "union all select s.filesystem_id, x.filename, x.size from replies x join sources s on "
           "s.id = x.source_id")
    reads = [f"find {store.store} {store.shredder} {store.tmp} -printf '%s %U %m %p\\n' | wc -l >/dev/null",
             f"sqlite3 -readonly {store.db} {shlex.quote(sql)} | wc -l >/dev/null"]
    return host, vars_file, reads


def mon_host(work: Path):
    from helpers.postfix import Site
    from helpers.securedrop import SITE_VARS

    host = Host("mon")
    site = Site(work / "mon")
    gnupg = work / "gnupg"
    gnupg.mkdir(mode=0o700)
    gpg = ["gpg", "--homedir", str(gnupg), "--batch", "--pinentry-mode", "loopback", "--passphrase", ""]
    subprocess.run([*gpg, "--quick-gen-key", "ossec@mon.test", "ed25519", "sign", "1y"], check=True,
                   capture_output=True)
    listing = subprocess.run([*gpg, "--with-colons", "--list-keys"], check=True, capture_output=True, text=True)
    fpr = next(line.split(":")[9] for line in listing.stdout.splitlines() if line.startswith("fpr:"))
    subprocess.run([*gpg, "--quick-add-key", fpr, "cv25519", "encr", "1y"], check=True, capture_output=True)
    subprocess.run(["gpgconf", "--homedir", str(gnupg), "--kill", "all"], capture_output=True)
    sender = f"ossec@{site.values['postfix_hostname']}"
    mail_log, procmail_log = work / "mail.log", work / "procmail.log"
    lines = []
    for i in range(200):  # 200 alerts delivered, one an hour
        q = f"{0xA000 + i:X}2012B"
        stamp = f"Nov 22 {i % 24:02d}:{i % 60:02d}:0{i % 10}"
        lines.append(f"{stamp} mon postfix/qmgr[1200]: {q}: from=<{sender}>, size=1834, nrcpt=1 (queue active)")
        lines.append(f"{stamp} mon postfix/smtp[2109]: {q}: to=<alerts@news.example>, relay=smtp.example"
                     f"[192.0.2.1]:587, delay=1.2, delays=0.01/0/1.2/0, dsn=2.0.0, status=sent (250 2.0.0 OK)")
    mail_log.write_text("\n".join(lines) + "\n")
    procmail_log.write_text("")
    vars_file = site.vars_file(**SITE_VARS, ossec_gpg_fpr=fpr, ossec_gnupg_home=str(gnupg),
                               ossec_alert_email="alerts@news.example",  # every site variable set
                               mail_log=str(mail_log), procmail_log=str(procmail_log))
    reads = [f"cat {gnupg}/pubring.kbx {gnupg}/trustdb.gpg {mail_log} {procmail_log} >/dev/null"]
    return host, Path(vars_file), reads


def trace_commands(host: Host, ours: list[str], trace: Path) -> list[dict]:
    trace.unlink(missing_ok=True)
    res = subprocess.run(host.argv(ours), capture_output=True, text=True, timeout=300,
                         env=dict(os.environ, SDCHECK_TRACE_COMMANDS=str(trace)))
    out = res.stdout.strip().splitlines()
    if res.returncode != 0:  # the floor is about a clean host: say so when it is not
        print(f"  note: the run found problems (exit {res.returncode}): {out[:3]}", flush=True)
    return [json.loads(line) for line in trace.read_text().splitlines()] if trace.exists() else []


def floor_script(work: Path, label: str, python: str, commands: list[dict], reads: list[str]) -> Path:
    """A shell script doing what the run cannot avoid, one thing after another."""
    lines = ["#!/bin/sh", f"{python} -c pass"]
    for i, cmd in enumerate(commands):
        redirect = "</dev/null"
        if cmd["input"] is not None:
            data = work / f"{label}-stdin-{i}"
            data.write_bytes(cmd["input"].encode("latin-1"))
            redirect = f"<{data}"
        lines.append(f"{shlex.join(cmd['argv'])} {redirect} >/dev/null 2>&1")
    lines += reads
    script = work / f"{label}-floor.sh"
    script.write_text("\n".join(lines) + "\n")
    script.chmod(0o755)
    return script


def _ids(sdcheck_argv: list[str]) -> list[str]:
    out = subprocess.run([*sdcheck_argv, "list"], capture_output=True, text=True, timeout=60).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def whole_runs(python: str, sdcheck: str, rounds: int, against: list[str] | None = None,
               same_checks: bool = False) -> None:
    work = Path(tempfile.mkdtemp(prefix="sdcheck-bench-"))
    work.chmod(0o755)
    hosts = []
    try:
        print("whole 'sdcheck run' against its floor (interpreter start + the same commands + its reads):")
        for label, make in (("app", app_host), ("mon", mon_host)):
            host, vars_file, reads = make(work)
            hosts.append(host)
            ours = [python, sdcheck, "run", "--profile", label, "--vars", str(vars_file)]
            commands = trace_commands(host, ours, work / f"{label}.trace")
            names = sorted({Path(c["argv"][0]).name for c in commands})
            print(f"  {label}: {len(commands)} commands ({', '.join(names)})", flush=True)
            script = floor_script(work, label, python, commands, reads)
            compare(f"{label} profile, whole run", host.argv([str(script)]), host.argv(ours), rounds)
            if against:
                theirs = [*against, "run", "--profile", label, "--vars", str(vars_file)]
                mine, what = ours, "whole run"
                if same_checks:  # the same work on both sides: only the checks the other version has
                    mine = ours + [a for cid in _ids(against) for a in ("--only", cid)]
                    what = "the checks both versions have"
                compare(f"{label} profile, {what}, before/after", host.argv(theirs), host.argv(mine), rounds,
                        names=("before", "after"))
    finally:
        for host in hosts:
            host.delete()
        shutil.rmtree(work, ignore_errors=True)


# -- checksdconfig's job ---------------------------------------------------------------------

def big_ruleset(base: str, n: int) -> str:
    extra = "\n".join(f"-A INPUT -s 10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}/32 -p tcp -m tcp "
                      f"--dport {1024 + i % 60000} -m comment --comment \"bench {i}\" -j ACCEPT"
                      for i in range(n))
    head, sep, tail = base.partition("-A INPUT ")
    return head + extra + "\n" + sep + tail


def checksdconfig_job(python: str, sdcheck: str, rounds: int) -> None:
    from helpers.securedrop import render

    host = Host("app")
    try:
        print("the checks doing checksdconfig.py's job, against a script doing what it does:")
        naive = [python, str(HERE / "naive_checksdconfig.py")]
        ours = [python, sdcheck, "run", "--profile", "app", "--only", "iptables.default-drop",
                "--only", "iptables.backends"]
        base = render("iptables-app-prod.j2")
        for label, rules, n in (("SecureDrop app ruleset (38 rules)", base, rounds),
                                ("10,000 extra INPUT rules", big_ruleset(base, 10_000), max(5, rounds // 4))):
            host.restore("iptables-nft-restore", rules)
            compare(label, host.argv(naive), host.argv(ours), n, names=("naive", "sdcheck"))
    finally:
        host.delete()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sdcheck", required=True, help="the sdcheck console script to time")
    ap.add_argument("--python", help="interpreter for all (default: the one of --sdcheck)")
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--only", choices=("whole", "checksdconfig", "list"), action="append")
    ap.add_argument("--against", metavar="SDCHECK", help="another sdcheck console script (a previous release's "
                    "install) to time interleaved with --sdcheck: before/after figures from one run")
    ap.add_argument("--same-checks", action="store_true", help="with --against: run only the checks the other "
                    "version has, so both do the same work (a change's own cost, new checks aside)")
    args = ap.parse_args()
    sdcheck = str(Path(args.sdcheck).resolve())
    python = args.python or str(Path(sdcheck).parent / "python")
    print(f"python: {python}")
    only = set(args.only or ("whole", "checksdconfig", "list"))
    against = None
    if args.against:
        other = str(Path(args.against).resolve())
        against = [str(Path(other).parent / "python"), other]
    if "list" in only:
        print("start-up:")
        compare("'sdcheck list' (target: 40 ms)", [*GUARD, python, "-c", "pass"], [*GUARD, python, sdcheck, "list"],
                args.rounds * 2, names=("python -c pass", "sdcheck list"))
        if against:
            compare("'sdcheck list', before/after", [*GUARD, *against, "list"], [*GUARD, python, sdcheck, "list"],
                    args.rounds * 2, names=("before", "after"))
    if "whole" in only:
        whole_runs(python, sdcheck, args.rounds, against, args.same_checks)
    if "checksdconfig" in only:
        checksdconfig_job(python, sdcheck, args.rounds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
