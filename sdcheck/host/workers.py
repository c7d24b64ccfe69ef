"""Worker processes on this machine for work that needs more than one core (a large store).

Plain subprocesses of this interpreter, not multiprocessing (which would re-run the caller's
__main__): arguments as JSON on stdin, the result pickled on stdout, killed if they overrun.
"""

from __future__ import annotations

import os
import subprocess

from sdcheck.host.base import FactError

WORKER_TIMEOUT = 600.0
MAX_WORKERS = 4


def parallelism() -> int:
    """The cores this process may use, at most MAX_WORKERS."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return max(1, min(MAX_WORKERS, cores))

def map_parallel(target: str, shares: list) -> list:
    """Worker processes of this interpreter (plain subprocesses, not multiprocessing,
    which would re-run the caller's __main__), killed if they overrun."""
    import json
    import pickle
    import sys

    package_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    code = (f"import sys; sys.path.insert(0, {package_root!r}); "
            "from sdcheck.host.workers import worker_main; worker_main()")
    procs = []
    try:
        for share in shares:
            proc = subprocess.Popen([sys.executable, "-I", "-c", code], stdin=subprocess.PIPE,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, close_fds=True)
            procs.append(proc)
            # arguments first, to every worker, so they all run at once
            assert proc.stdin is not None  # stdin=PIPE
            proc.stdin.write(json.dumps([target, share]).encode())
            proc.stdin.close()
            proc.stdin = None  # communicate() below only reads
        results = []
        for proc in procs:
            out, err = proc.communicate(timeout=WORKER_TIMEOUT)
            if proc.returncode != 0:
                last = err.decode("utf-8", "replace").strip().splitlines()[-1:] or ["no output"]
                raise FactError(f"a worker process failed (exit {proc.returncode}): {last[0]}")
            ok, value = pickle.loads(out)  # noqa: S301 - our own child process, same code and user
            if not ok:
                raise value
            results.append(value)
        return results
    except subprocess.TimeoutExpired:
        raise FactError(f"worker processes did not finish within {WORKER_TIMEOUT:g} s") from None
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def worker_main() -> None:
    """A worker process: ``[target, share]`` as JSON on stdin, ``(ok, result)`` pickled on
    stdout; an exception of sdcheck's (FactError and the like) travels back as the result."""
    import importlib
    import json
    import pickle
    import sys

    from sdcheck.host.local import LocalFacts

    target, share = json.loads(sys.stdin.read())
    module, _, name = target.partition(":")
    try:
        result = (True, getattr(importlib.import_module(module), name)(LocalFacts(), share))
    except Exception as exc:  # noqa: BLE001 - sent back to the parent, raised there
        result = (False, exc)
    sys.stdout.buffer.write(pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL))
