"""The way to a testinfra host: one SSH connection for the whole run, and a local bound on
everything that comes back.

**One connection.** The first command starts the agent (``sdcheck.host.agent``) through the
command testinfra would run (ssh and its options, sudo): that one ssh process is the host's
one connection, and every fact command goes through it. testinfra's default
``ControlMaster=auto`` with ``ControlPersist`` is turned off for it: a persisted master
outlives its command and sdcheck's run. A host without python3 is
reached one SSH session per command over a shared master connection instead: a
``ControlPath`` in a private directory (0700) of sdcheck's own, which ``close()`` asks to exit
(``ssh -O exit``, through the socket, no signal) and removes. At most ``SESSIONS`` commands
run at once that way (OpenSSH's ``MaxSessions`` is 10), ``AGENT_SLOTS`` through the agent.

**Bounds.** Every command testinfra starts as a local process (ssh, sshpass, docker ...)
runs here under a deadline and a cap on the bytes read from it, both checked while reading:
past either, its process group (started here, in a session of its own) is killed and the
command is a ``FactError`` naming the host. A command reserves its cap from one budget
shared by every host of the run before it starts, so the output held at once stays under
``BUDGET`` whatever the hosts send. Standard input is written to the command's standard
input, never put on a command line (on the target, every user can read those). Backends
without a local process (paramiko) get the deadline from a helper thread and the cap after
the fact.
"""

from __future__ import annotations

import os
import selectors
import shlex
import shutil
import signal
import subprocess
import tempfile
import threading
import time

from sdcheck.escape import escape
from sdcheck.host.base import FactError
from sdcheck.startup import TYPE_CHECKING

if TYPE_CHECKING:
    from sdcheck.host.agent import Agent

#: Output held at once by all remote commands of a run (bytes, as sent: base64).
BUDGET = 192 << 20
#: Commands run at once on one host: SSH sessions (OpenSSH's MaxSessions is 10), or
#: commands of the agent (sdcheck.host.agent).
SESSIONS = 6
AGENT_SLOTS = 16
#: Standard error kept per command (its end).
STDERR_KEEP = 64 << 10


class _Budget:
    def __init__(self, total: int):
        self.total, self.free = total, total
        self.cond = threading.Condition()

    def take(self, amount: int, deadline: float) -> int:
        amount = min(amount, self.total)
        with self.cond:
            while self.free < amount:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError
                self.cond.wait(left)
            self.free -= amount
        return amount

    def give(self, amount: int) -> None:
        with self.cond:
            self.free += amount
            self.cond.notify_all()


_BUDGET = _Budget(BUDGET)
_TRACE = os.environ.get("SDCHECK_TRACE_COMMANDS")


def _trace(command: str, stdin: bytes | None) -> None:
    import json

    assert _TRACE is not None
    line = json.dumps({"shell": command, "input": (stdin or b"").decode("latin-1")}) + "\n"
    fd = os.open(_TRACE, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)
_JOB = threading.local()


class _Captured(Exception):
    def __init__(self, command):
        self.command = command


class Job:
    """What one command may take: seconds (from its start), bytes of output, its input."""

    def __init__(self, seconds: float, cap: int, stdin: bytes | None = None):
        self.seconds, self.cap, self.stdin = seconds, cap, stdin


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # the group of a process started here
    except OSError:
        pass
    proc.wait()


def bounded_local(name: str, command: str, job: Job) -> tuple[int, bytes, bytes]:
    """Run a local shell command (testinfra's ssh/docker/... invocation) under ``job``'s
    bounds: (exit status, stdout, the end of stderr)."""
    proc = subprocess.Popen(command, shell=True, stdin=subprocess.PIPE if job.stdin else subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
                            close_fds=True)
    deadline = time.monotonic() + job.seconds
    out, err, size = [], bytearray(), 0
    sel = selectors.DefaultSelector()
    assert proc.stdout is not None and proc.stderr is not None
    sel.register(proc.stdout, selectors.EVENT_READ, "out")
    sel.register(proc.stderr, selectors.EVENT_READ, "err")
    pending = memoryview(job.stdin or b"")
    if job.stdin:
        assert proc.stdin is not None
        os.set_blocking(proc.stdin.fileno(), False)
        sel.register(proc.stdin, selectors.EVENT_WRITE, "in")
    try:
        while len(sel.get_map()):
            left = deadline - time.monotonic()
            if left <= 0:
                _kill_group(proc)
                raise FactError(f"{escape(name)} did not answer within {job.seconds:g} s (the command was stopped)")
            for key, _ in sel.select(min(left, 1.0)):
                if key.data == "in":
                    try:
                        pending = pending[os.write(key.fd, pending[:1 << 16]):]
                    except BrokenPipeError:
                        pending = pending[:0]
                    if not pending:
                        sel.unregister(key.fileobj)
                        assert proc.stdin is not None
                        proc.stdin.close()
                    continue
                chunk = os.read(key.fd, 1 << 16)
                if not chunk:
                    sel.unregister(key.fileobj)
                    continue
                if key.data == "err":
                    err += chunk
                    del err[:-STDERR_KEEP]
                    continue
                size += len(chunk)
                if size > job.cap:
                    _kill_group(proc)
                    raise FactError(f"{escape(name)} sent more than {job.cap / (1 << 20):g} MiB for one command "
                                    "(the command was stopped; nothing it sent was used)")
                out.append(chunk)
        left = max(0.0, deadline - time.monotonic())
        try:
            proc.wait(left)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            raise FactError(f"{escape(name)} did not answer within {job.seconds:g} s "
                            "(the command was stopped)") from None
    finally:
        sel.close()
        for pipe in (proc.stdin, proc.stdout, proc.stderr):
            if pipe is not None and not pipe.closed:
                pipe.close()
    return proc.returncode, b"".join(out), bytes(err)


def _underlying(host):
    """An ``ansible://`` host that Ansible reaches over ssh or locally is run through the
    testinfra host Ansible's settings give (testinfra does the same, per command)."""
    backend = host.backend
    if backend.NAME == "ansible" and not getattr(backend, "force_ansible", False):
        found = backend.ansible_runner.get_host(backend.host, ssh_config=backend.ssh_config,
                                                ssh_identity_file=backend.ssh_identity_file)
        if found is not None:
            return found
    return host


class Link:
    """One testinfra host, reached through one connection, every command bounded."""

    def __init__(self, host, name: str, sudo: bool = False):
        import copy

        from testinfra.host import Host

        self.name = name
        # a copy: the caller's host (a test suite's ``host`` fixture) is left as it was
        backend = copy.copy(_underlying(host).backend)
        self.host, self.backend = Host(backend), backend
        if sudo:
            backend.sudo = True  # once, for every command: host.sudo() is not thread-safe
        self.dir: str | None = None
        self.extra = (getattr(backend, "ssh_extra_args", None) or "").lower()
        if backend.NAME in ("ssh", "safe-ssh") and "controlmaster" not in self.extra:
            # the agent's own ssh is the one connection: no master left behind (with
            # ControlPersist the master outlives its command and the run)
            backend.controlpersist = 0
        self.local = hasattr(backend, "run_local") and backend.NAME not in ("paramiko", "ansible")
        if self.local:
            backend.run_local = self._run_local  # testinfra's own call, under the job's bounds
        self.sessions = threading.BoundedSemaphore(SESSIONS)
        self.opening, self.opened, self.closed = threading.Lock(), False, False
        self.agent: Agent | None = None
        self.failed: FactError | None = None

    def _run_local(self, command: str, *args: str):
        cmd = self.backend.encode(self.backend.quote(command, *args))
        if getattr(_JOB, "capture", False):
            raise _Captured(cmd)
        job = getattr(_JOB, "job", None) or Job(600, 64 << 20)
        rc, out, err = bounded_local(self.name, cmd, job)
        return self.backend.result(rc, cmd, out, err)

    def run(self, command: str, job: Job):
        """testinfra's ``host.run(command)`` under ``job``. The first command runs alone: it
        opens the connection the others share (run together, each would open its own)."""
        if self.closed:
            raise FactError(f"{escape(self.name)}: the connection was closed")
        if not self.opened:
            with self.opening:
                if not self.opened:
                    try:
                        self._start_agent()
                    except FactError as exc:  # every later command: the same answer, at once
                        self.failed = exc
                        raise
                    finally:
                        self.opened = True
                    return self._run(command, job)
        if self.failed is not None:
            raise FactError(str(self.failed))
        return self._run(command, job)

    def _start_agent(self) -> None:
        """The agent, through the command testinfra would run (sudo, ssh options, ControlPath
        included), captured instead of run; without python3 on the host, one session per command."""
        from sdcheck.host.agent import BOOT, Agent, NoPython

        if not self.local or self.backend.NAME == "safe-ssh":
            self._share_connection()
            return
        _JOB.capture = True
        shell_command = None
        try:
            self.host.run(f"LC_ALL=C LANG=C PATH=/usr/sbin:/usr/bin:/sbin:/bin python3 -I -S -c {shlex.quote(BOOT)}")
        except _Captured as captured:
            shell_command = captured.command
        finally:
            _JOB.capture = False
        if shell_command is None:  # the backend ran something else than a local process
            self._share_connection()
            return
        try:
            self.agent = Agent(self.name, shell_command.decode("utf-8", "surrogateescape")
                               if isinstance(shell_command, bytes) else shell_command)
        except NoPython:
            self._share_connection()
            return
        self.sessions = threading.BoundedSemaphore(AGENT_SLOTS)

    def _share_connection(self) -> None:
        """Without the agent (no python3 there), commands share one master connection: a
        ControlPath in a private directory (0700), removed by close()."""
        backend = self.backend
        if backend.NAME not in ("ssh", "safe-ssh") or "controlpath" in self.extra or "controlmaster" in self.extra:
            return
        self.dir = tempfile.mkdtemp(prefix="sdcheck-ssh-")  # this process's own
        backend.controlpath = os.path.join(self.dir, "c")
        backend.controlpersist = 60

    def _run(self, command: str, job: Job):
        deadline = time.monotonic() + job.seconds
        try:
            taken = _BUDGET.take(job.cap, deadline)
        except TimeoutError:
            raise FactError(f"{escape(self.name)}: no memory budget for a command within {job.seconds:g} s") from None
        try:
            if not self.sessions.acquire(timeout=max(0.0, deadline - time.monotonic())):
                raise FactError(f"{escape(self.name)}: no free session within {job.seconds:g} s")
            try:
                job = Job(max(0.1, deadline - time.monotonic()), job.cap, job.stdin)
                if _TRACE:  # bench/: the commands a run needs, to time them as a floor
                    _trace(command, job.stdin)
                if self.agent is not None:
                    rc, out, err = self.agent.call(command, job.seconds, job.cap, job.stdin)
                    return self.backend.result(rc, command, out, err)
                if self.local:
                    _JOB.job = job
                    try:
                        return self.host.run(command)
                    finally:
                        _JOB.job = None
                return self._run_in_thread(command, job)
            finally:
                self.sessions.release()
        finally:
            _BUDGET.give(taken)

    def _run_in_thread(self, command: str, job: Job):
        if job.stdin:
            raise FactError(f"{escape(self.name)}: this backend cannot give a command its input without "
                            "putting it on a command line; use ssh://")
        box: list = []

        def work():
            try:
                box.append(self.host.run(command))
            except Exception as exc:  # noqa: BLE001 - raised again in the caller's thread
                box.append(exc)

        t = threading.Thread(target=work, daemon=True, name=f"remote:{self.name}")
        t.start()
        t.join(job.seconds)
        if not box:
            raise FactError(f"{escape(self.name)} did not answer within {job.seconds:g} s")
        if isinstance(box[0], Exception):
            raise box[0]
        if len(box[0].stdout_bytes) > job.cap:
            raise FactError(f"{escape(self.name)} sent more than {job.cap / (1 << 20):g} MiB for one command")
        return box[0]

    def close(self) -> None:
        """Ask the master connection to exit and remove its directory."""
        if self.closed:
            return
        self.closed = True
        if self.agent is not None:
            self.agent.close()
        if self.dir is None:
            return
        path = os.path.join(self.dir, "c")
        if os.path.exists(path):
            try:
                subprocess.run(["ssh", "-o", f"ControlPath={path}", "-O", "exit", "sdcheck-master"],
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                pass
        shutil.rmtree(self.dir, ignore_errors=True)
