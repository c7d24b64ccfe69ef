"""Real OSSEC for tests: built once from the vendored source into a cache, then run in
private mount namespaces.

Where things are:
- the source: ``$SDCHECK_OSSEC_SOURCE``, else ``../shared/vendor/ossec-hids-3.6.0.tar.gz`` next
  to the repository;
- the build: ``$SDCHECK_TEST_CACHE`` (default ``~/.cache/sdcheck-tests``)
  ``/ossec-3.6.0-<sha>/ossec``. OSSEC compiles its install directory in (its daemons chroot
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
import tarfile
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
    return Path(os.environ.get("SDCHECK_TEST_CACHE") or Path.home() / ".cache" / "sdcheck-tests")


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
            passwd += f"{name}:x:{uid}:{gid}::/nonexistent:/sbin/nologin\n"
    base.mkdir(parents=True, exist_ok=True)
    (base / "passwd").write_text(passwd)
    (base / "group").write_text(group)
    return base / "passwd", base / "group"


class Ossec:
    """One built OSSEC server install. ``prefix`` is its compiled-in directory."""

    def __init__(self, prefix: Path, ids: Path):
        self.prefix = prefix
        self.passwd, self.group = ids / "passwd", ids / "group"

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
            input: bytes | None = None) -> subprocess.CompletedProcess:
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
    ids = identity_files(home / "ids")
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
    with tarfile.open(src) as tar:
        tar.extractall(work, filter="data")
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
