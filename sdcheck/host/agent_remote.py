"""The program sdcheck sends to a remote host (its standard library only, Python 3.6+).

It runs there as ``python3 -I -S -c BOOTSTRAP``, reading this file's text from its standard
input, then requests, each answered as soon as it is done (several at once):

  request:  b"ID SECONDS CAP CMDLEN INLEN\\n" + command + input
  answer:   b"ID RC OUTLEN ERRLEN\\n" + stdout + stderr

It only runs the shell commands it is sent (sdcheck's read-only fact commands, the same
ones it runs one SSH session each without it), each with its input on a pipe, never on a
command line, under a time limit and a cap on its output (RC 253: more than CAP bytes, 252:
past SECONDS). It writes nothing on the host and exits when its input ends, killing the
commands it started.
"""

import os
import selectors
import signal
import subprocess
import sys
import threading

OVER_CAP, OVER_TIME = 253, 252
_lock = threading.Lock()
_running = set()  # type: set
_slots = threading.BoundedSemaphore(16)


def _send(out, ident, rc, data, err):
    with _lock:
        out.write(b"%d %d %d %d\n" % (ident, rc, len(data), len(err)))
        out.write(data)
        out.write(err)
        out.flush()


def _kill(proc):
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError:
        pass


def _feed(pipe, data):
    try:
        pipe.write(data)
    except OSError:
        pass
    try:
        pipe.close()
    except OSError:
        pass


def _work(out, ident, seconds, cap, command, data):
    import time

    with _slots:
        try:
            proc = subprocess.Popen(command, shell=True, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, start_new_session=True)
        except OSError as exc:  # answered all the same: the caller never waits for nothing
            _send(out, ident, 127, b"", str(exc).encode("utf-8", "replace")[-1000:])
            return
        _running.add(proc)
        deadline = time.monotonic() + seconds
        chunks, err, size, rc = [], b"", 0, None
        sel = selectors.DefaultSelector()
        sel.register(proc.stdout, selectors.EVENT_READ, 1)
        sel.register(proc.stderr, selectors.EVENT_READ, 2)
        threading.Thread(target=_feed, args=(proc.stdin, data), daemon=True).start()
        while sel.get_map() and rc is None:
            left = deadline - time.monotonic()
            if left <= 0:
                rc = OVER_TIME
                break
            for key, _ in sel.select(min(left, 1.0)):
                chunk = os.read(key.fd, 65536)
                if not chunk:
                    sel.unregister(key.fileobj)
                elif key.data == 2:
                    err = (err + chunk)[-65536:]
                else:
                    size += len(chunk)
                    if size > cap:
                        rc = OVER_CAP
                        break
                    chunks.append(chunk)
        sel.close()
        if rc is None:
            try:
                rc = proc.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                rc = OVER_TIME
        if rc in (OVER_CAP, OVER_TIME):
            _kill(proc)
            proc.wait()
            chunks = []
        proc.stdout.close()
        proc.stderr.close()
        _running.discard(proc)
        _send(out, ident, rc, b"".join(chunks), err)


def serve(inp, out):
    _send(out, 0, 0, b"sdcheck-agent 1", b"")
    while True:
        head = inp.readline(200)
        if not head.endswith(b"\n"):
            break
        ident, seconds, cap, clen, ilen = (int(x) for x in head.split())
        command, data = inp.read(clen), inp.read(ilen)
        if len(command) != clen or len(data) != ilen:
            break
        threading.Thread(target=_work, args=(out, ident, seconds, cap, command, data), daemon=True).start()
    for proc in list(_running):
        _kill(proc)


if __name__ == "__sdcheck_agent__":  # only as sent: importing this module runs nothing
    serve(sys.stdin.buffer, sys.stdout.buffer)
