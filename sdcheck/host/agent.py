"""This side of the remote agent (``agent_remote.py``): one process reaching the host (the
``ssh`` testinfra would run, with ``python3`` as its command) carries every fact command of
the run, several at once, so a command costs a process start on the host, not an SSH session.

Everything the host sends is bounded before it is held: a header line of at most 200 bytes,
then exactly the lengths it names, and only when they fit the cap of the request they answer
(an answer to no pending request is read and dropped, within the largest cap). A host that
breaks the protocol, floods, or stops answering loses its connection: every pending and
later command is a ``FactError`` naming the host. The process is started here, in a session
of its own, and only its group is ever signalled.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from pathlib import Path

from sdcheck.escape import escape
from sdcheck.host.base import FactError

#: The command line on the host: no secret, no environment (-I), no site (-S).
BOOT = ("import sys;b=sys.stdin.buffer;n=int(b.readline(20));"
        "exec(compile(b.read(n),'sdcheck-agent','exec'),{'__name__':'__sdcheck_agent__'})")
#: Seconds to connect and start the agent.
START_SECONDS = 30
#: The largest answer any request may get (the store's rows), and stderr's.
MAX_ANSWER = 128 << 20
ERR_KEEP = 64 << 10
HELLO = b"sdcheck-agent 1"


class NoPython(FactError):
    """The host has no python3: commands go one SSH session each."""


class _Slot:
    def __init__(self, cap: int):
        self.cap, self.done = cap, threading.Event()
        self.answer: tuple[int, bytes, bytes] | None = None


class Agent:
    def __init__(self, name: str, shell_command: str):
        self.name = name
        self.proc = subprocess.Popen(shell_command, shell=True, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, start_new_session=True, close_fds=True)
        self.write_lock, self.lock = threading.Lock(), threading.Lock()
        self.pending: dict[int, _Slot] = {0: _Slot(len(HELLO))}
        self.next_id = 1
        self.broken: str | None = None
        self.err = bytearray()
        threading.Thread(target=self._errors, daemon=True, name=f"agent-err:{name}").start()
        threading.Thread(target=self._answers, daemon=True, name=f"agent:{name}").start()
        src = Path(__file__).with_name("agent_remote.py").read_bytes()
        hello = self.pending[0]
        try:
            self._write(b"%d\n" % len(src) + src)
        except FactError:
            pass  # the reader says why
        if not hello.done.wait(START_SECONDS):
            self._break(f"no answer within {START_SECONDS} s")
        if hello.answer is None or hello.answer[1] != HELLO:
            try:
                rc = self.proc.wait(2)
            except subprocess.TimeoutExpired:
                rc = None
            self.close()
            last = self.err.decode("utf-8", "replace").strip().splitlines()
            detail = escape(last[-1][:200]) if last else (self.broken or "it stopped")
            if rc == 127 and "python3" in (last[-1] if last else ""):
                raise NoPython(f"{escape(name)} has no python3")
            raise FactError(f"{escape(name)} could not be reached: {detail}")

    # -- reading ------------------------------------------------------------------------------
    def _errors(self) -> None:
        assert self.proc.stderr is not None
        fd = self.proc.stderr.fileno()
        while chunk := os.read(fd, 1 << 16):
            self.err += chunk
            del self.err[:-ERR_KEEP]

    def _answers(self) -> None:
        stream = self.proc.stdout
        assert stream is not None
        try:
            while True:
                head = stream.readline(200)
                if not head:
                    self._break("the connection ended")
                    return
                fields = head.split()
                if not head.endswith(b"\n") or len(fields) != 4 or not all(f.isdigit() for f in fields):
                    self._break("it sent something that is not an answer")
                    return
                ident, rc, out_len, err_len = (int(f) for f in fields)
                with self.lock:
                    slot = self.pending.pop(ident, None)
                cap = slot.cap if slot is not None else MAX_ANSWER
                problem = None
                if out_len > cap or err_len > ERR_KEEP:
                    problem = f"it sent more than {cap / (1 << 20):g} MiB for one command"
                else:
                    data, err = stream.read(out_len), stream.read(err_len)
                    if len(data) != out_len or len(err) != err_len:
                        problem = "the connection ended in the middle of an answer"
                if problem is not None:
                    self._break(problem)
                    if slot is not None:
                        slot.done.set()  # taken from pending above: told here
                    return
                if slot is not None:
                    slot.answer = (rc, data, err)
                    slot.done.set()
        except (OSError, ValueError):
            self._break("the connection failed")

    def _break(self, why: str) -> None:
        with self.lock:
            if self.broken is None:
                self.broken = why
            pending, self.pending = list(self.pending.values()), {}
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)  # the group of the process started here
        except OSError:
            pass
        for slot in pending:
            slot.done.set()

    # -- asking -------------------------------------------------------------------------------
    def _write(self, data: bytes) -> None:
        stdin = self.proc.stdin
        assert stdin is not None
        try:
            with self.write_lock:
                stdin.write(data)
                stdin.flush()
        except (OSError, ValueError):
            self._break("the connection failed")
            raise FactError(f"{escape(self.name)}: the connection failed") from None

    def call(self, command: str, seconds: float, cap: int, stdin: bytes | None) -> tuple[int, bytes, bytes]:
        slot = _Slot(cap)
        with self.lock:
            if self.broken is not None:
                raise FactError(f"{escape(self.name)}: {self.broken}")
            ident, self.next_id = self.next_id, self.next_id + 1
            self.pending[ident] = slot
        cmd, data = command.encode("utf-8", "surrogateescape"), stdin or b""
        deadline = time.monotonic() + seconds
        self._write(b"%d %d %d %d %d\n" % (ident, int(seconds) + 1, cap, len(cmd), len(data)) + cmd + data)
        if not slot.done.wait(max(0.0, deadline - time.monotonic())):
            with self.lock:
                self.pending.pop(ident, None)
            raise FactError(f"{escape(self.name)} did not answer within {seconds:g} s")
        if slot.answer is None:
            raise FactError(f"{escape(self.name)}: {self.broken}")
        rc, out, err = slot.answer
        if rc == 253:
            raise FactError(f"{escape(self.name)} sent more than {cap / (1 << 20):g} MiB for one command "
                            "(the command was stopped; nothing it sent was used)")
        if rc == 252:
            raise FactError(f"{escape(self.name)}: a command did not finish within {seconds:g} s")
        return rc, out, err

    def close(self) -> None:
        """End the agent: its input closes and it exits; then the process started here."""
        try:
            if self.proc.stdin is not None:
                self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self._break("closed")
            self.proc.wait()
        with self.lock:
            if self.broken is None:
                self.broken = "the connection was closed"
