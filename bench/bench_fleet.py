#!/usr/bin/env python3
"""``report --hosts`` across a fleet, against its floor and against a local run.

N real OpenSSH servers (N = 1, 4, 16), each in a network namespace of its own holding
SecureDrop's mon firewall (the rest of the Monitor Server's state is this machine's files,
the same for every host). For each N, interleaved, ``--rounds`` times:

- sdcheck: ``report --profile mon --hosts <all N> --format json``: wall time, and the peak
  resident size of its process (wait4);
- the floor: for every host at once, one SSH connection (no multiplexing, a fresh key
  exchange) running, one after another, exactly the commands the same report ran on one
  host (recorded with SDCHECK_TRACE_COMMANDS), their output discarded.

Then one host's remote report against the same report run locally in that host's namespace
(the issue's "remote at most 3x local"), and 16 hosts against one ("at most 2x").
Medians and ratios are printed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))


def timed(argv: list[str], **kw) -> tuple[float, int, subprocess.CompletedProcess]:
    start = time.monotonic()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)
    out, err = proc.stdout.read(), proc.stderr.read()
    _pid, status, usage = os.wait4(proc.pid, 0)
    res = subprocess.CompletedProcess(argv, os.waitstatus_to_exitcode(status), out, err)
    return time.monotonic() - start, usage.ru_maxrss * 1024, res


def floor_once(cfg: Path, specs: list[str], script: str) -> float:
    """Every host at once: one fresh connection each, running ``script``."""
    start = time.monotonic()
    threads = []
    for spec in specs:
        argv = ["ssh", "-F", str(cfg), "-o", "ControlPath=none", spec.split("://", 1)[1], "sh -s"]
        t = threading.Thread(target=subprocess.run, args=(argv,),
                             kwargs={"input": script.encode(), "stdout": subprocess.DEVNULL,
                                     "stderr": subprocess.DEVNULL, "timeout": 600})
        t.start()
        threads.append(t)
    for t in threads:
        t.join()
    return time.monotonic() - start


def main() -> int:
    from helpers.all import render, write_vars
    from helpers.sshd import SshHost, ssh_client

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="1,4,16")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--sdcheck", default=str(Path(sys.executable).with_name("sdcheck")))
    ap.add_argument("--only", action="append", default=[], help="passed to report (repeatable)")
    args = ap.parse_args()
    sizes = [int(n) for n in args.sizes.split(",")]

    tmp = Path(tempfile.mkdtemp(prefix="sdcheck-fleet-"))
    key, cfg = ssh_client(tmp)
    # every site variable set (SecureDrop's test site-specific values): no check is held back
    vars_file = str(write_vars(smtp_relay="smtp.gmail.com", sasl_username="usernameok", sasl_domain="gnu.com",
                               ossec_alert_email="la@foo.com",
                               ossec_gpg_fpr="E99FFE83DF73E72FB6B264ED992D23B392F9E4F2"))
    hosts: list[SshHost] = []
    try:
        for i in range(max(sizes)):
            d = tmp / f"h{i}"
            d.mkdir()
            host = SshHost(d, key)
            hosts.append(host)
            host.load(render("iptables-mon-prod.j2"))
            host.wait(cfg)
        report = [args.sdcheck, "report", "--profile", "mon", "--vars", vars_file, "--format", "json",
                  *(f"--only={o}" for o in args.only)]

        # the commands one host's report needs, replayed as the floor's script
        trace = tmp / "trace.jsonl"
        subprocess.run([*report, "--hosts", hosts[0].spec, "--ssh-config", str(cfg)], capture_output=True,
                       env=dict(os.environ, SDCHECK_TRACE_COMMANDS=str(trace)), check=False)
        # the commands run on the host (a few run here, on copies: gpg on the keyring's copy)
        commands = [c for c in map(json.loads, trace.read_text().splitlines()) if "shell" in c]
        script = "".join(f"( {c['shell']} ) </dev/null >/dev/null 2>&1\n" for c in commands)
        print(f"one host's report runs {len(commands)} commands on it")

        rows = []
        for n in sizes:
            specs = [h.spec for h in hosts[:n]]
            ours, floor, rss = [], [], []
            for _ in range(args.rounds):
                took, peak, res = timed([*report, "--hosts", ",".join(specs), "--ssh-config", str(cfg)])
                assert res.returncode in (0, 1), res.stderr[-500:]
                ours.append(took)
                rss.append(peak)
                floor.append(floor_once(cfg, specs, script))
            rows.append((n, statistics.median(ours), statistics.median(floor), max(rss)))
        local = [timed(hosts[0].ns.exec_argv(report))[0] for _ in range(args.rounds)]
    finally:
        for host in hosts:
            host.close()

    print(f"\n{'hosts':>5}  {'sdcheck':>9}  {'floor':>9}  {'ratio':>6}  {'peak RSS':>9}")
    for n, ours_s, floor_s, peak in rows:
        print(f"{n:>5}  {ours_s:8.2f}s  {floor_s:8.2f}s  {ours_s / floor_s:5.2f}x  {peak / (1 << 20):6.0f} MiB")
    one = rows[0][1]
    print(f"\none host remote {one:.2f}s, the same report local {statistics.median(local):.2f}s: "
          f"{one / statistics.median(local):.2f}x (target: at most 3x)")
    if len(rows) > 1:
        print(f"{rows[-1][0]} hosts {rows[-1][1]:.2f}s against one {one:.2f}s: {rows[-1][1] / one:.2f}x "
              "(target: at most 2x)")
    print("floor: one fresh SSH connection per host running the recorded commands one after another")
    return 0


if __name__ == "__main__":
    sys.exit(main())
