"""A real Postfix for the tests: main.cf dating, and a master in namespaces of its own."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path


def settle(path: Path) -> None:
    """Postfix programs wait (300 ms steps, up to ~1.5 s) while main.cf is younger than a
    second, in case it is being written; a test's freshly written main.cf is dated back."""
    past = time.time() - 10
    os.utime(path, (past, past))


class Master:
    """Postfix's master started for real in its own network and mount namespaces: its
    /etc/postfix, spool and data directories are bind mounts of temporary ones."""

    def __init__(self, netns, inet_interfaces: str, extra_main: str = "", hosts_file: Path | None = None):
        import tempfile

        # Postfix's own users must be able to reach these (pytest's tmp_path is root-only)
        root = self.root = Path(tempfile.mkdtemp(prefix="sdcheck-postfix-"))
        root.chmod(0o755)
        etc, spool, lib = root / "etc", root / "spool", root / "lib"
        for d in (etc, spool, lib):
            d.mkdir(parents=True)
        for name in ("master.cf", "dynamicmaps.cf", "postfix-files", "post-install", "postfix-script"):
            shutil.copy(f"/etc/postfix/{name}", etc / name)
        for name in ("postfix-files.d", "dynamicmaps.cf.d"):
            shutil.copytree(f"/etc/postfix/{name}", etc / name)
        (etc / "main.cf").write_text(f"myhostname = mon.test\ninet_interfaces = {inet_interfaces}\n"
                                     "inet_protocols = ipv4\nmaillog_file = /var/spool/postfix/maillog\n"
                                     "compatibility_level = 3.6\n" + extra_main)
        # no chroot for the smtp client: it needs the SASL modules and nothing is copied in
        master_cf = etc / "master.cf"
        master_cf.write_text(re.sub(r"^(smtp\s+unix\s+-\s+-\s+)y", r"\1n", master_cf.read_text(), flags=re.M))
        self.etc, self.spool = etc, spool
        settle(etc / "main.cf")
        shutil.chown(lib, "postfix")
        hosts = f"mount --bind {hosts_file} /etc/hosts && " if hosts_file else ""
        script = (hosts + f"mount --bind {etc} /etc/postfix && mount --bind {spool} /var/spool/postfix && "
                  f"mount --bind {lib} /var/lib/postfix && postfix set-permissions >/dev/null 2>&1; "
                  "postfix start >/dev/null 2>&1")
        subprocess.run(netns.exec_argv(["unshare", "-m", "sh", "-c", script]), timeout=60)
        self.pid = None
        for _ in range(100):
            pid_file = spool / "pid" / "master.pid"
            listening = netns.sh("ss -Hltn 'sport = :25'", check=False).stdout.strip()
            if pid_file.exists() and listening:
                self.pid = int(pid_file.read_text().split()[0])
                break
            time.sleep(0.1)
        assert self.pid, "Postfix's master did not start"

    def exec(self, command: str) -> str:
        """Run a shell command in the master's mount and network namespaces."""
        res = subprocess.run(["nsenter", "-t", str(self.pid), "-m", "-n", "sh", "-c", command],
                             capture_output=True, text=True, timeout=60)
        assert res.returncode == 0, res.stderr
        return res.stdout

    def stop(self) -> None:
        if self.pid:
            subprocess.run(["kill", "-TERM", str(self.pid)], check=False)
            for _ in range(50):
                if not Path(f"/proc/{self.pid}").exists():
                    break
                time.sleep(0.1)
        shutil.rmtree(self.root, ignore_errors=True)
