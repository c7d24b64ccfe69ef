#!/usr/bin/env python3
"""Time the full ruleset comparison (iptables.ruleset) on a 10,000-rule ruleset against a
10,000-rule baseline, next to the floor the issue names -- `iptables-nft-save` and
`nft -j list ruleset`, one after the other -- interleaved in the same run, inside a network
namespace. Prints medians and the ratios.

The baseline is the ruleset captured with `sdcheck baseline capture iptables`, so the
comparison walks every rule and finds them all equal (the worst case for the diff's
fast path is measured too: one rule changed in the middle).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))

from bench_run import big_ruleset, timed  # noqa: E402


def ns_exec(ns: str, argv: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", "netns", "exec", ns, *argv], **kw)


def medians_ms(ns: str, floor: list[str], ours: list[str], rounds: int) -> tuple[float, float]:
    """Interleaved, so drift affects both alike."""
    a, b = [], []
    timed(["ip", "netns", "exec", ns, *floor]), timed(["ip", "netns", "exec", ns, *ours])
    for _ in range(rounds):
        a.append(timed(["ip", "netns", "exec", ns, *floor]))
        b.append(timed(["ip", "netns", "exec", ns, *ours]))
    return statistics.median(a) * 1000, statistics.median(b) * 1000


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sdcheck", required=True, help="the sdcheck console script to time")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--rules", type=int, default=10_000)
    args = ap.parse_args()
    sdcheck = str(Path(args.sdcheck).resolve())
    from helpers.securedrop import render

    ns = f"sdc-bench-{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        ns_exec(ns, ["ip", "link", "set", "lo", "up"], check=True)
        rules = big_ruleset(render("iptables-app-prod.j2"), args.rules)
        ns_exec(ns, ["iptables-nft-restore"], input=rules, text=True, check=True)
        with tempfile.TemporaryDirectory() as tmp:
            baseline = Path(tmp) / "captured.yml"
            ns_exec(ns, [sdcheck, "baseline", "capture", "iptables", "--output", str(baseline)], check=True)
            ours = [sdcheck, "run", "--baseline", str(baseline), "--only", "iptables.ruleset"]
            res = ns_exec(ns, ours, capture_output=True, text=True)
            assert res.returncode == 0, res.stdout  # equal: the whole ruleset was compared
            floor = ["sh", "-c", "iptables-nft-save >/dev/null && nft -j list ruleset >/dev/null"]
            save, equal = medians_ms(ns, floor, ours, args.rounds)
            ns_exec(ns, ["iptables-nft", "-R", "INPUT", str(args.rules // 2), "-p", "udp", "-j", "ACCEPT"], check=True)
            save2, changed = medians_ms(ns, floor, ours, args.rounds)
        n = args.rules + 40
        print(f"ruleset of {n} rules vs a baseline of {n} rules (nft backend, medians of {args.rounds})")
        print(f"  floor: iptables-nft-save + nft -j list ruleset   {save:7.1f} ms")
        print(f"  sdcheck run, all equal           {equal:7.1f} ms   ratio {equal / save:5.2f}x")
        print(f"  sdcheck run, one rule changed    {changed:7.1f} ms   ratio {changed / save2:5.2f}x  "
              f"(floor {save2:.1f} ms)")
    finally:
        subprocess.run(["ip", "netns", "del", ns], check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
