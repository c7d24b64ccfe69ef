#!/usr/bin/env python3
"""Time `sdcheck run --only iptables` against the naive checksdconfig approach, as whole
processes, in the same run, inside a network namespace holding a SecureDrop ruleset.

Prints medians and the ratio sdcheck / naive for: the SecureDrop app ruleset (38 rules),
and a 10,000-rule ruleset. Both programs run under the same interpreter (--python).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))


def ns_exec(ns: str, argv: list[str], **kw):
    return subprocess.run(["ip", "netns", "exec", ns, *argv], **kw)


def timed(ns: str, argv: list[str]) -> float:
    start = time.perf_counter()
    res = ns_exec(ns, argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
    elapsed = time.perf_counter() - start
    if res.returncode not in (0, 1):
        raise SystemExit(f"{argv} failed: {res.stdout!r} {res.stderr!r}")
    return elapsed


def big_ruleset(base: str, n: int) -> str:
    extra = "\n".join(f"-A INPUT -s 10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}/32 -p tcp -m tcp "
                      f"--dport {1024 + i % 60000} -m comment --comment \"bench {i}\" -j ACCEPT"
                      for i in range(n))
    head, sep, tail = base.partition("-A INPUT ")
    return head + extra + "\n" + sep + tail


def compare(ns: str, label: str, naive: list[str], ours: list[str], rounds: int) -> float:
    a, b = [], []
    for _ in range(3):  # warm caches
        timed(ns, naive), timed(ns, ours)
    for _ in range(rounds):  # interleaved, so drift affects both alike
        a.append(timed(ns, naive))
        b.append(timed(ns, ours))
    ma, mb = statistics.median(a), statistics.median(b)
    print(f"{label:34} naive {ma * 1000:7.1f} ms   sdcheck {mb * 1000:7.1f} ms   ratio {mb / ma:5.2f}x")
    return mb / ma


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sdcheck", required=True, help="the sdcheck console script to time")
    ap.add_argument("--python", help="interpreter for both (default: the one of --sdcheck)")
    ap.add_argument("--rounds", type=int, default=30)
    args = ap.parse_args()
    sdcheck = str(Path(args.sdcheck).resolve())
    python = args.python or str(Path(sdcheck).parent / "python")
    from helpers.securedrop import render  # the tests' renderer of SecureDrop's templates

    ns = f"sdc-bench-{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        ns_exec(ns, ["ip", "link", "set", "lo", "up"], check=True)
        base = render("iptables-app-prod.j2")
        naive = [python, str(HERE / "naive_checksdconfig.py")]
        # the same job as checksdconfig: the default-drop skeleton (and which backend)
        ours = [python, sdcheck, "run", "--profile", "app", "--only", "iptables.default-drop",
                "--only", "iptables.backends"]
        print(f"python: {python}")
        for label, rules, rounds in (("SecureDrop app ruleset (38 rules)", base, args.rounds),
                                     ("10,000 extra INPUT rules", big_ruleset(base, 10_000), 7)):
            ns_exec(ns, ["iptables-nft-restore"], input=rules, text=True, check=True)
            compare(ns, label, naive, ours, rounds)
    finally:
        subprocess.run(["ip", "netns", "del", ns], check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
