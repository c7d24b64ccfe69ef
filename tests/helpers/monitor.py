"""A Monitor Server's alert path laid out as SecureDrop lays it out, in a scratch directory,
and sdcheck run where that directory is /var/ossec: a private mount namespace whose /var is a
tmpfs holding this machine's /var subdirectories (bound back) plus the scratch /var/ossec,
and whose /etc/passwd and /etc/group have OSSEC's users. This machine's /var/ossec and /etc
are never touched."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from pathlib import Path

import jinja2

from helpers import cli
from helpers.ossec import identity_files
from helpers.securedrop import BASELINE_SITE, SD

EMAIL = "admins@news.example"
HOSTNAME = "mon"


class MonitorHost:
    def __init__(self, tmp: Path, fingerprint: str, public_key: bytes, keyring_owner: str = "ossec",
                 postfix: Path | None = None):
        """``postfix``: a Postfix configuration directory already laid out (helpers.postfix.Site's);
        by default one of its own with the files the alert path reads."""
        self.tmp, self.fingerprint = tmp, fingerprint
        self.etc_extra: dict[str, str] = {}
        self.passwd, self.group = identity_files(tmp / "ids")
        self.ossec = tmp / "var-ossec"
        self.ossec.mkdir()
        self.uid, self.gid = self._ids("ossec")
        os.chown(self.ossec, 0, self.gid)
        self.ossec.chmod(0o750)
        procmailrc = self.ossec / ".procmailrc"
        shutil.copy(SD / "procmailrc", procmailrc)  # mode set below, whatever the checkout's
        os.chown(procmailrc, 0, self.gid)
        procmailrc.chmod(0o644)
        self.write_alarm(self.render_alarm())
        gnupg = self.ossec / ".gnupg"
        gnupg.mkdir(mode=0o700)
        (tmp / "admin.asc").write_bytes(public_key)
        # SecureDrop imports as the ossec user ('sudo -u ossec gpg --homedir ... --import');
        # keyring_owner="root" is the attack: imported as root, unreadable to ossec
        if keyring_owner == "ossec":
            os.chown(gnupg, self.uid, self.gid)
        cmd = "gpg --batch --homedir /var/ossec/.gnupg --import"
        if keyring_owner == "ossec":
            cmd = f"setpriv --reuid=ossec --regid=ossec --init-groups env HOME=/var/ossec {cmd}"
        res = self.sh(f"{cmd} < {shlex.quote(str(tmp / 'admin.asc'))}; gpgconf --homedir /var/ossec/.gnupg --kill all")
        assert res.returncode == 0, res.stderr
        # Postfix's files on the path (a config dir of their own: postfix_dir, postfix_aliases)
        self.aliases = tmp / "aliases"
        if postfix is not None:
            self.postfix = postfix
            self.write_aliases((SD / "aliases").read_text())
            return
        self.postfix = tmp / "postfix"
        self.postfix.mkdir()
        (self.postfix / "main.cf").write_text("")
        shutil.copy(SD / "header_checks", self.postfix / "header_checks")
        (self.postfix / "header_checks").chmod(0o644)  # as Ansible's copy creates it (root's umask)
        self.write_aliases((SD / "aliases").read_text())

    def write_aliases(self, text: str) -> None:
        self.aliases.write_text(text)
        subprocess.run(["postalias", "-c", str(self.postfix), str(self.aliases)], check=True)

    def _ids(self, name: str) -> tuple[int, int]:
        for line in self.passwd.read_text().splitlines():
            f = line.split(":")
            if f[0] == name:
                return int(f[2]), int(f[3])
        raise KeyError(name)

    def render_alarm(self, email: str = EMAIL, fingerprint: str | None = None) -> str:
        template = jinja2.Template((SD / "send_encrypted_alarm.sh.j2").read_text(), keep_trailing_newline=True)
        return template.render(ossec_alert_email=email, ossec_gpg_fpr=fingerprint or self.fingerprint,
                               journalist_alert_email="", journalist_gpg_fpr="")

    def write_alarm(self, text: str) -> None:
        path = self.ossec / "send_encrypted_alarm.sh"
        path.write_text(text)
        os.chown(path, 0, self.gid)
        path.chmod(0o550)

    def prelude(self) -> str:
        """Shell lines for a fresh ``unshare -m``: OSSEC's users, and the scratch as /var/ossec."""
        q = shlex.quote
        old = self.tmp / "oldvar"
        old.mkdir(exist_ok=True)
        etc = []
        if self.etc_extra:  # files this machine's /etc lacks: a copy of /etc with them, bound over it
            copy = self.tmp / "etc"
            if not copy.exists():
                subprocess.run(["cp", "-a", "/etc", str(copy)], check=True)
            for name, text in self.etc_extra.items():
                (copy / name).write_text(text)
            etc = [f"mount --bind {q(str(copy))} /etc"]
        return "\n".join([
            "set -e", "mount --make-rprivate /", *etc,
            f"mount --bind {q(str(self.passwd))} /etc/passwd", f"mount --bind {q(str(self.group))} /etc/group",
            f"mount --rbind /var {q(str(old))}", "mount -t tmpfs -o mode=0755 sdcheck-test-var /var",
            f"for d in {q(str(old))}/* {q(str(old))}/.[!.]*; do",
            '    [ -e "$d" ] || [ -L "$d" ] || continue',
            '    n=/var/$(basename "$d")',
            '    if [ -L "$d" ]; then ln -s "$(readlink "$d")" "$n";',
            '    elif [ -d "$d" ]; then mkdir "$n"; mount --rbind "$d" "$n"; fi',
            "done",
            f"mkdir /var/ossec && mount --bind {q(str(self.ossec))} /var/ossec", ""])

    def sh(self, script: str, timeout: float = 120, input: bytes | None = None) -> subprocess.CompletedProcess:  # noqa: A002 - subprocess's name
        return subprocess.run(["unshare", "-m", "sh", "-c", self.prelude() + script], capture_output=True, text=True,
                              timeout=timeout, input=input)

    def sdcheck(self, *args: str, **variables) -> subprocess.CompletedProcess:
        import yaml

        values = {**BASELINE_SITE, "ossec_alert_email": EMAIL, "ossec_gpg_fpr": self.fingerprint, "monitor_hostname": HOSTNAME,
                  "postfix_dir": str(self.postfix), "postfix_aliases": str(self.aliases)}
        values.update(variables)
        vars_file = self.tmp / "vars.yml"
        vars_file.write_text(yaml.safe_dump(values))
        cmd = " ".join(shlex.quote(a) for a in [*cli.SDCHECK, *args, "--profile", "mon", "--vars", str(vars_file)])
        root = Path(__file__).resolve().parents[2]
        return self.sh(f"cd {shlex.quote(str(root))}\nexec {cmd}")
