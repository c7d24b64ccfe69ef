"""Real OSSEC for tests: built once from the vendored source into a cache, then run in
private mount namespaces.

Where things are:
- the source: ``$SDCHECK_OSSEC_SOURCE``, else ``../shared/vendor/ossec-hids-3.6.0.tar.gz`` next
  to the repository;
- the build: ``$SDCHECK_TEST_CACHE`` (default ``/var/cache/sdcheck-tests``)
  ``/ossec-3.6.0-<sha>/ossec``. Every directory above it must be searchable by OSSEC's users:
  ossec-maild's resolver process writes its pid file there before it drops into a chroot (so
  not under /root). OSSEC compiles its install directory in (its daemons chroot
  there), so that directory is the one every test uses; a test that changes OSSEC's files bind
  mounts a scratch copy over it in its own mount namespace.
- OSSEC's users (ossec, ossecm, ossecr): when this machine has none, a scratch copy of
  /etc/passwd and /etc/group with them added is bound over the real files inside the
  namespace, so this machine's /etc is never written.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shlex
import shutil
import subprocess
from pathlib import Path

from helpers.programs import need

ROOT = Path(__file__).resolve().parents[2]
VERSION = "3.6.0"
USERS = ("ossec", "ossecm", "ossecr")
BUILD_PACKAGES = "build-essential libpcre2-dev zlib1g-dev libssl-dev libevent-dev"


def source() -> Path:
    env = os.environ.get("SDCHECK_OSSEC_SOURCE")
    path = Path(env) if env else ROOT.parent / "shared" / "vendor" / f"ossec-hids-{VERSION}.tar.gz"
    if not path.is_file():
        raise FileNotFoundError(f"OSSEC {VERSION} source not found at {path} (set SDCHECK_OSSEC_SOURCE)")
    return path


def _cache() -> Path:
    path = Path(os.environ.get("SDCHECK_TEST_CACHE") or "/var/cache/sdcheck-tests")
    path.mkdir(mode=0o755, parents=True, exist_ok=True)
    st = path.stat()
    if st.st_uid != 0 or st.st_mode & 0o022:  # its programs run as root: nobody else may plant them
        raise RuntimeError(f"{path} must belong to root and be writable by root only")
    return path


def _free_id(taken: set[int], start: int) -> int:
    while start in taken:
        start += 1
    return start


def identity_files(base: Path) -> tuple[Path, Path]:
    """passwd and group files: this machine's, plus OSSEC's users where it lacks them."""
    passwd = Path("/etc/passwd").read_text()
    group = Path("/etc/group").read_text()
    users = {line.split(":")[0]: line for line in passwd.splitlines() if line.count(":") >= 6}
    groups = {line.split(":")[0]: line for line in group.splitlines() if line.count(":") >= 3}
    uids = {int(line.split(":")[2]) for line in users.values()}
    gids = {int(line.split(":")[2]) for line in groups.values()}
    if "ossec" not in groups:
        gid = _free_id(gids, 961)
        group += f"ossec:x:{gid}:\n"
    else:
        gid = int(groups["ossec"].split(":")[2])
    for name in USERS:
        if name not in users:
            uid = _free_id(uids, 961)
            uids.add(uid)
            passwd += f"{name}:x:{uid}:{gid}::/var/ossec:/sbin/nologin\n"  # as OSSEC's adduser.sh: -d DIR
    base.mkdir(parents=True, exist_ok=True)
    (base / "passwd").write_text(passwd)
    (base / "group").write_text(group)
    return base / "passwd", base / "group"


class Ossec:
    """One built OSSEC server install. ``prefix`` is its compiled-in directory."""

    def __init__(self, prefix: Path, ids: Path):
        self.prefix = prefix
        self.passwd, self.group = ids / "passwd", ids / "group"

    def ids(self, name: str) -> tuple[int, int]:
        """(uid, gid) of one of OSSEC's users in this install's passwd file."""
        for line in self.passwd.read_text().splitlines():
            parts = line.split(":")
            if parts[0] == name:
                return int(parts[2]), int(parts[3])
        raise KeyError(name)

    def ns_prelude(self, scratch: Path | None = None) -> str:
        """Shell lines that, inside ``unshare -m``, put OSSEC's users in place and (with
        ``scratch``) bind a copy of the install over the compiled-in directory."""
        lines = ["set -e", "mount --make-rprivate /",
                 f"mount --bind {shlex.quote(str(self.passwd))} /etc/passwd",
                 f"mount --bind {shlex.quote(str(self.group))} /etc/group"]
        if scratch is not None:
            lines.append(f"mount --bind {shlex.quote(str(scratch))} {shlex.quote(str(self.prefix))}")
        return "\n".join(lines) + "\n"

    def copy(self, dest: Path) -> Path:
        """A scratch copy of the whole install (owners and modes kept) for one test."""
        subprocess.run(["cp", "-a", str(self.prefix), str(dest)], check=True)
        return dest

    def run(self, script: str, scratch: Path | None = None, net: bool = False, timeout: float = 60,
            input: bytes | None = None) -> subprocess.CompletedProcess:  # noqa: A002 - subprocess's name
        """Run a shell script in a private mount namespace (and a new network namespace with
        ``net``) where OSSEC's users exist and ``scratch`` (if given) is the install."""
        cmd = ["unshare", "-m"] + (["-n"] if net else []) + ["sh", "-c", self.ns_prelude(scratch) + script]
        return subprocess.run(cmd, capture_output=True, timeout=timeout, input=input)


def build() -> Ossec:
    """The cached build, made on first use (about 1.5 minutes on 2 cores)."""
    for prog in ("make", "gcc", "unshare"):
        need(prog)
    src = source()
    digest = hashlib.sha256(src.read_bytes()).hexdigest()[:12]
    home = _cache() / f"ossec-{VERSION}-{digest}"
    prefix = home / "ossec"
    home.mkdir(parents=True, exist_ok=True)
    identity_files(home / "ids")
    with open(home / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (home / "done").exists():
            _build(src, home, prefix, Ossec(prefix, home / "ids"))
    return Ossec(prefix, home / "ids")


def _build(src: Path, home: Path, prefix: Path, ossec: Ossec) -> None:
    work = home / "src"
    shutil.rmtree(work, ignore_errors=True)
    shutil.rmtree(prefix, ignore_errors=True)
    work.mkdir()
    subprocess.run(["tar", "-xzf", str(src), "-C", str(work), "--no-same-owner", "--no-same-permissions"],
                   check=True)
    (tree,) = [p for p in work.iterdir() if p.is_dir()]
    prefix.mkdir()
    make = (f"cd {shlex.quote(str(tree / 'src'))}\n"
            "export CFLAGS=-fcommon\n"  # gcc 12 defaults to -fno-common; 3.6.0 needs common symbols
            f"args='TARGET=server PREFIX={prefix} PCRE2_SYSTEM=yes ZLIB_SYSTEM=yes USE_SYSTEMD=no'\n"
            "make -j2 $args build >../build.log 2>&1\n"
            "make $args install >../install.log 2>&1\n")
    res = ossec.run(make, timeout=1800)
    if res.returncode:
        log = (tree / "build.log").read_text(errors="replace")[-3000:] if (tree / "build.log").exists() else ""
        ilog = (tree / "install.log").read_text(errors="replace")[-3000:] if (tree / "install.log").exists() else ""
        raise RuntimeError(f"building OSSEC failed (needs: {BUILD_PACKAGES}):\n{res.stderr.decode()}\n{log}\n{ilog}")
    shutil.rmtree(work, ignore_errors=True)
    (home / "done").write_text(VERSION + "\n")


def securedrop_server(ossec: Ossec, dest: Path, conf: str | None = None, rules: str | None = None) -> Path:
    """A scratch copy of the install laid out as SecureDrop's Monitor Server with sdcheck:
    its ossec.conf, local_rules.xml and local_decoder.xml (from tests/data/securedrop), or
    ``conf`` and ``rules`` given. Bind it over ``ossec.prefix`` (``Ossec.run(scratch=)``)."""
    from helpers import securedrop

    ossec.copy(dest)
    (dest / "etc" / "ossec.conf").write_text(conf if conf is not None else securedrop.ossec_conf("mon"))
    (dest / "rules" / "local_rules.xml").write_text(rules if rules is not None else securedrop.ossec_local_rules())
    shutil.copy(securedrop.SD / "ossec-server-local_decoder.xml", dest / "etc" / "local_decoder.xml")
    return dest


def sdcheck_inside(ossec: Ossec, scratch: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """``sdcheck ARGS --var ossec_dir=<prefix>`` inside the namespace where ``scratch`` is the install."""
    from helpers import cli

    cmd = " ".join(shlex.quote(a) for a in [*cli.SDCHECK, *args, "--var", f"ossec_dir={ossec.prefix}"])
    res = ossec.run(f"cd {shlex.quote(str(ROOT))}\nexec {cmd}", scratch=scratch, timeout=timeout)
    return subprocess.CompletedProcess(res.args, res.returncode, res.stdout.decode(), res.stderr.decode())


class Running:
    """OSSEC daemons of a scratch install running in a mount and network namespace of their own
    (loopback only, an SMTP sink on 127.0.0.1:25). Only processes in that namespace are ever
    signalled."""

    def __init__(self, ossec: Ossec, scratch: Path, mail_dir: Path):
        import sys
        import time

        self.ossec, self.scratch, self.mail_dir = ossec, scratch, mail_dir
        mail_dir.mkdir(parents=True, exist_ok=True)
        script = self.ossec.ns_prelude(scratch) + "ip link set lo up\necho ready\nexec sleep 3600\n"
        self.holder = subprocess.Popen(["unshare", "-m", "-n", "sh", "-c", script], stdout=subprocess.PIPE)
        assert self.holder.stdout.readline().strip() == b"ready"
        self.ns = os.readlink(f"/proc/{self.holder.pid}/ns/mnt")
        sink = Path(__file__).with_name("smtp_sink.py")
        self.sink = subprocess.Popen(["nsenter", "-t", str(self.holder.pid), "-m", "-n", sys.executable, str(sink),
                                      str(mail_dir)], stdout=subprocess.PIPE)
        assert self.sink.stdout.readline().strip() == b"ready"
        self._time = time

    def sh(self, script: str, timeout: float = 60, input: bytes | None = None) -> subprocess.CompletedProcess:  # noqa: A002 - subprocess's name
        return subprocess.run(["nsenter", "-t", str(self.holder.pid), "-m", "-n", "sh", "-c", "set -e\n" + script],
                              capture_output=True, timeout=timeout, input=input)

    def start(self, *daemons: str) -> None:
        for name in daemons:
            res = self.sh(f"{self.ossec.prefix}/bin/{name}")
            assert res.returncode == 0, (name, res.stderr.decode())

    def inject(self, location: str, line: str) -> None:
        """An event as ossec-remoted hands an agent's to analysisd: ``1:(agent) ip->alias:log``."""
        sock = f"{self.ossec.prefix}/queue/ossec/queue"
        msg = f"1:{location}:{line}".encode()
        code = ("import socket,sys; s=socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); "
                f"s.connect({sock!r}); s.send(sys.stdin.buffer.read())")
        import sys
        for _ in range(150):  # analysisd makes its socket a moment after it starts
            res = self.sh(f"exec {shlex.quote(sys.executable)} -c {shlex.quote(code)}", input=msg)
            if res.returncode == 0:
                return
            self._time.sleep(0.2)
        raise AssertionError(res.stderr.decode())

    def wait_for(self, path: Path, text: str, timeout: float = 60) -> str:
        deadline = self._time.monotonic() + timeout
        while self._time.monotonic() < deadline:
            content = path.read_text(errors="replace") if path.exists() else ""
            if text in content:
                return content
            self._time.sleep(0.2)
        raise AssertionError(f"{text!r} did not appear in {path} within {timeout} s")

    def mails(self) -> list[str]:
        return [p.read_text(errors="replace") for p in sorted(self.mail_dir.glob("*.eml"))]

    def stop(self) -> None:
        import signal

        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit() or int(proc.name) == self.holder.pid:
                continue
            try:
                if os.readlink(proc / "ns" / "mnt") == self.ns:
                    os.kill(int(proc.name), signal.SIGKILL)
            except OSError:
                continue
        self.holder.kill()
        self.holder.wait()
        self.sink.wait(timeout=10)


def running_conf(stub: str) -> str:
    """SecureDrop's Monitor Server ossec.conf with sdcheck's <localfile> as the only one, its
    program replaced by ``stub`` (the other entries read this machine's logs)."""
    import re

    from helpers import securedrop

    text = re.sub(r"\s*<localfile>.*?</localfile>", "", securedrop.ossec_conf("mon"), flags=re.S)
    ours = (ROOT / "ossec_rules" / "localfile-mon.xml").read_text().split("-->", 1)[1]
    ours = ours.replace("/opt/sdcheck/bin/sdcheck ", stub + " ")
    head, tail = text.rsplit("</ossec_config>", 1)
    return head + ours + "</ossec_config>" + tail
