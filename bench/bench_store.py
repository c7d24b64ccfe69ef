#!/usr/bin/env python3
"""Time the store checks on a 1,000,000-file store (10,000 sources x 100 files, 1,000,000
rows) against the floor -- `find STORE -printf '%s %U %m %p' | wc -l` plus `sqlite3 DB 'select ...'`
-- and against an implementation of SecureDrop's manage.py approach with the SQLAlchemy
ORM, all in the same run. Prints times, ratios and peak RSS.

The store is generated once under --root (about 1.5 GB of inodes, sparse files) and reused.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))


def timed(argv, shell=False, ok=(0, 1)) -> tuple[float, int]:
    """(seconds, peak RSS in MB of the process tree's largest member)."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, shell=shell, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = proc.communicate()
    _pid, _status, usage = os.wait4(proc.pid, 0) if proc.returncode is None else (0, 0, None)
    elapsed = time.perf_counter() - start
    if proc.returncode not in ok:
        raise SystemExit(f"{argv} failed ({proc.returncode}): {out[-500:]!r} {err[-500:]!r}")
    import resource
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return elapsed, rss


def measure(label, argv, rounds, shell=False, ok=(0, 1)):
    times = []
    for _ in range(rounds):
        t, _rss = timed(argv, shell, ok)
        times.append(t)
    return statistics.median(times)


def peak_rss(argv) -> float:
    """Peak RSS (MB) of one run, measured by a fresh child so earlier runs do not count."""
    code = ("import resource, subprocess, sys\n"
            "subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)\n"
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    out = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, check=True)
    return int(out.stdout.strip()) / 1024


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sdcheck", required=True)
    ap.add_argument("--root", default="/var/tmp/sdcheck-bench-store")
    ap.add_argument("--sources", type=int, default=10_000)
    ap.add_argument("--per-source", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    root = Path(args.root)
    marker = root / f"ready-{args.sources}x{args.per_source}"
    if not marker.exists():
        import shutil
        from helpers.storegen import StoreFixture

        shutil.rmtree(root, ignore_errors=True)
        print(f"generating {args.sources * args.per_source} files in {root} ...", flush=True)
        t0 = time.perf_counter()
        StoreFixture(root, sources=args.sources, per_source=args.per_source)
        marker.touch()
        print(f"  done in {time.perf_counter() - t0:.0f} s", flush=True)
    vars_file = root / "vars.yml"
    vars_file.write_text(f"store_dir: {root}/store\ndb_path: {root}/db.sqlite\nshredder_dir: {root}/shredder\n"
                         f"store_tmp_dir: {root}/tmp\n")
    store, db = root / "store", root / "db.sqlite"
    # the same stats sdcheck needs (size, owner, mode of every entry), in C, single-threaded
    floor_find = f"find {store} -printf '%s %U %m %p\\n' | wc -l"
    floor_sql = (f"sqlite3 {db} 'select s.filesystem_id, x.filename, x.size from submissions x join sources s "
                 f"on s.id = x.source_id union all select s.filesystem_id, x.filename, x.size from replies x "
                 f"join sources s on s.id = x.source_id' | wc -l")
    ours = [args.sdcheck, "run", "--profile", "app", "--vars", str(vars_file), "--only", "store"]
    orm = [sys.executable, str(HERE / "naive_manage_py.py"), str(store), str(db)]
    for argv, shell in ((floor_find, True), (floor_sql, True), (ours, False), (orm, False)):
        timed(argv, shell)  # warm the page cache and dentries alike for all
    find_t = measure("find", floor_find, args.rounds, shell=True)
    sql_t = measure("sqlite3", floor_sql, args.rounds, shell=True)
    ours_t = measure("sdcheck", ours, args.rounds)
    orm_t = measure("orm", orm, 1, ok=(0,))  # the naive script exits 0 (1 would be its crash)
    floor = find_t + sql_t
    n = args.sources * args.per_source
    print(f"store of {n} files in {args.sources} sources, {n} rows (medians of {args.rounds}, warm cache)")
    print(f"  floor: find -printf | wc -l    {find_t:6.2f} s")
    print(f"  floor: sqlite3 select | wc -l  {sql_t:6.2f} s")
    print(f"  sdcheck run --only store       {ours_t:6.2f} s   ratio to floor {ours_t / floor:4.2f}x   "
          f"peak RSS {peak_rss(ours):6.0f} MB")
    print(f"  manage.py approach (ORM)       {orm_t:6.2f} s   ratio to floor {orm_t / floor:4.2f}x   "
          f"peak RSS {peak_rss(orm):6.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
