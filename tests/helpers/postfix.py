"""A real Postfix for the tests: main.cf dating, and a master in namespaces of its own."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import jinja2
import yaml

from helpers import cli
from helpers.programs import need
from helpers.securedrop import SD


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


PASSWORD = "s3cret Pa:ss\u00e9#1"
RELAY, PORT = "smtp.gmail.com", 587
FINGERPRINT = "6D:87:EE:CB:D0:37:2F:88:B8:29:06:FB:35:F4:65:00:7F:FD:84:29"


def _postfix_tools() -> None:
    need("postconf", "postmap", root=False)


class Site:
    """A Monitor Server's Postfix configuration in a temporary directory, as SecureDrop's
    Ansible role writes it, for one TLS mode: system CAs, override CA file, fingerprint."""

    def __init__(self, root: Path, mode: str = "system", password: str = PASSWORD, **values):
        need("postconf", "postmap", root=False)
        self.root = root
        self.dir = root / "postfix"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.mode = mode
        self.password = password
        self.values = dict(smtp_relay=RELAY, smtp_relay_port=PORT, sasl_username="alerts",
                           sasl_domain="news.example", postfix_hostname="mon.news.example",
                           smtp_relay_cert_dir="/etc/ssl/certs",
                           smtp_relay_cert_override_dir=str(root / "certs_local"),
                           smtp_relay_cert_override_file="", smtp_relay_fingerprint="")
        if mode == "override":
            self.values["smtp_relay_cert_override_file"] = "relay-ca.crt"
        if mode == "fingerprint":
            self.values["smtp_relay_fingerprint"] = FINGERPRINT
        self.values.update(values)
        self.sender = f"{self.values['sasl_username']}@{self.values['sasl_domain']}"
        self.write()

    # -- files ---------------------------------------------------------------------------
    def write(self) -> None:
        v = dict(self.values, postfix_from_address=self.sender)
        main = jinja2.Template((SD / "postfix-main.cf.j2").read_text()).render(**v)
        (self.dir / "main.cf").write_text(main.replace("/etc/postfix/", f"{self.dir}/"))
        settle(self.dir / "main.cf")
        shutil.copy("/etc/postfix/master.cf", self.dir / "master.cf")
        shutil.copy(SD / "header_checks", self.dir / "header_checks")
        (self.dir / "header_checks").chmod(0o644)  # as Ansible's copy creates it (root's umask)
        sasl = jinja2.Template((SD / "sasl_passwd.j2").read_text()).render(sasl_password=self.password, **v)
        self.write_sasl(sasl)
        (self.dir / "generic").write_text(f"ossec@{v['postfix_hostname']} {self.sender}\n")
        self.postmap("generic")
        if self.mode == "override":
            certs = Path(v["smtp_relay_cert_override_dir"])
            certs.mkdir(exist_ok=True)
            subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30",
                            "-subj", "/CN=relay-ca", "-keyout", str(self.root / "ca.key"),
                            "-out", str(certs / "relay-ca.crt")], check=True, capture_output=True)

    def write_sasl(self, text: str, mode: int = 0o600) -> None:
        path = self.dir / "sasl_passwd"
        path.write_text(text if text.endswith("\n") else text + "\n")
        os.chmod(path, mode)
        self.postmap("sasl_passwd")

    def postmap(self, name: str) -> None:
        subprocess.run(["postmap", "-c", str(self.dir), f"hash:{self.dir}/{name}"], check=True,
                       capture_output=True)

    def main_cf(self, line: str) -> None:
        path = self.dir / "main.cf"
        text = path.read_text()
        path.write_text(text + ("" if text.endswith("\n") else "\n") + line + "\n")  # the last setting wins
        settle(path)

    # -- running sdcheck ---------------------------------------------------------------
    def vars_file(self, **extra) -> str:
        v = self.values
        data = {"postfix_dir": str(self.dir), "smtp_relay": v["smtp_relay"], "smtp_relay_port": PORT,
                "sasl_username": v["sasl_username"], "sasl_domain": v["sasl_domain"],
                "sasl_password": self.password, "smtp_relay_fingerprint": v["smtp_relay_fingerprint"],
                "smtp_relay_cert_override_file": v["smtp_relay_cert_override_file"],
                "smtp_relay_cert_override_dir": v["smtp_relay_cert_override_dir"],
                "monitor_hostname": v["postfix_hostname"], "postfix_enable_service": False}
        data.update(extra)
        path = self.root / "vars.yml"
        path.write_text(yaml.safe_dump(data, allow_unicode=True))
        return str(path)

    def sdcheck(self, *args: str, **extra_vars) -> subprocess.CompletedProcess:
        # postfix.anchors judges this machine's CA directory, not the site's files: its own tests
        # (test_anchors.py) give it a directory laid out as the ca-certificates package lays it out
        return cli.sdcheck(*args, "--profile", "mon", "--vars", self.vars_file(**extra_vars), "--only", "postfix",
                           "--skip", "postfix.anchors", timeout=60, errors="surrogateescape")

    def run(self, **extra_vars) -> tuple[int, list[str]]:
        res = self.sdcheck("run", **extra_vars)
        assert res.stderr == ""
        return res.returncode, res.stdout.splitlines()

    def report(self) -> dict:
        res = self.sdcheck("report", "--format", "json")
        return json.loads(res.stdout)
