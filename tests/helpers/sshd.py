"""Real OpenSSH servers on addresses of their own, each in a network namespace whose
firewall the test loads, reached through a veth pair."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from helpers.netns import Netns
from helpers.programs import need
from helpers.securedrop import SD

_NEXT = [0]


def ssh_client(tmp: Path) -> tuple[Path, Path]:
    """(a client key, an ssh_config using it) in ``tmp``: for hosts made here, whose host
    keys are new each time (not checked), never asking anything (BatchMode)."""
    key = tmp / "id"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    cfg = tmp / "ssh_config"
    cfg.write_text(f"Host *\n  IdentityFile {key}\n  IdentitiesOnly yes\n  StrictHostKeyChecking no\n"
                   "  UserKnownHostsFile /dev/null\n  LogLevel ERROR\n  BatchMode yes\n  ConnectTimeout 5\n")
    return key, cfg


class SshHost:
    """A namespace with SecureDrop's app firewall, eth0 = one end of a veth pair whose other
    end is in this (the test's) namespace, and sshd listening on the namespace's address."""

    def __init__(self, tmp: Path, client_key: Path, sudo_user: str | None = None, sshd_extra: str = "",
                 programs: dict[str, str] | None = None):
        """``sudo_user``: also a non-root login of that name, allowed to sudo without a
        password; it exists only in sshd's own mount namespace (bind-mounted copies of
        passwd, shadow, group and sudoers), so this machine's files are never changed.
        ``sshd_extra``: more sshd_config lines (``ForceCommand ...``: a host that misbehaves).
        ``programs``: {path: script}: the host's program at path is that script (bind-mounted
        in sshd's mount namespace)."""
        need("ip", "iptables-nft", "ssh", "ssh-keygen", "/usr/sbin/sshd",
             *(("sudo", "unshare") if sudo_user else ()), *(("unshare", "mount") if programs else ()))
        _NEXT[0] += 1
        n = (os.getpid() % 50) * 4 + _NEXT[0]
        self.ns = Netns()
        self.ns.sh("ip link del eth0")  # replace the namespace-internal uplink by one reaching us
        self.outside = f"vsd{os.getpid() % 10000}x{_NEXT[0]}"
        self.address = f"10.{200 + _NEXT[0] % 50}.{n % 250}.2"
        host_side = self.address.rsplit(".", 1)[0] + ".1"
        subprocess.run(["ip", "link", "add", self.outside, "type", "veth", "peer", "name", "eth0",
                        "netns", self.ns.name], check=True)
        subprocess.run(["ip", "addr", "add", f"{host_side}/24", "dev", self.outside], check=True)
        subprocess.run(["ip", "link", "set", self.outside, "up"], check=True)
        self.ns.sh(f"ip addr add {self.address}/24 dev eth0 && ip link set eth0 up && "
                   f"ip route add default via {host_side}")
        self.dir = tmp
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp / "hostkey")], check=True)
        # sshd reads the keys as the user logging in: a non-root one needs a readable place
        self.keys_dir = Path(tempfile.mkdtemp(prefix="sdcheck-sshd-")) if sudo_user else tmp
        self.keys_dir.chmod(0o755)
        keys = self.keys_dir / "authorized_keys"
        keys.write_text(Path(f"{client_key}.pub").read_text())
        keys.chmod(0o644)
        (tmp / "sshd_config").write_text(
            f"ListenAddress {self.address}\nPort 22\nHostKey {tmp / 'hostkey'}\nPidFile {tmp / 'sshd.pid'}\n"
            f"AuthorizedKeysFile {keys}\nPermitRootLogin prohibit-password\n"
            "PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\n" + sshd_extra)
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege-separation directory
        sshd = ["/usr/sbin/sshd", "-D", "-e", "-f", str(tmp / "sshd_config")]
        mounts = self._user_db(tmp, sudo_user) if sudo_user else ""
        for i, (path, script) in enumerate((programs or {}).items()):
            fake = tmp / f"program-{i}"
            fake.write_text(script)
            fake.chmod(0o755)
            mounts += f"mount --bind {fake} {path} && "
        if mounts:
            sshd = ["unshare", "-m", "sh", "-c", mounts + "exec " + " ".join(sshd)]
        self.log = tmp / "sshd.log"
        with open(self.log, "wb") as log:
            self.sshd = subprocess.Popen(self.ns.exec_argv(sshd), stdout=subprocess.DEVNULL, stderr=log)
        self.spec = f"ssh://{sudo_user or 'root'}@{self.address}"

    @staticmethod
    def _user_db(tmp: Path, user: str) -> str:
        """Shell commands bind-mounting user databases that add ``user`` (uid/gid 4321)."""
        uid = 4321
        files = {"passwd": f"{user}:x:{uid}:{uid}::/tmp:/bin/sh\n", "shadow": f"{user}:*:19000:0:99999:7:::\n",
                 "group": f"{user}:x:{uid}:\n", "sudoers": f"{user} ALL=(ALL:ALL) NOPASSWD: ALL\n"}
        script = ""
        for name, extra in files.items():
            copy = tmp / f"etc-{name}"
            copy.write_text(Path(f"/etc/{name}").read_text() + extra)
            copy.chmod(0o440 if name == "sudoers" else 0o644 if name != "shadow" else 0o640)
            script += f"mount --bind {copy} /etc/{name} && "
        return script

    def load(self, rules: str) -> None:
        self.ns.restore("nft", rules)
        # the veth has IPv6 link-local addresses: SecureDrop's IPv6 rules drop everything
        self.ns.restore("nft", (SD / "iptables_rules_v6").read_text(), family=6)

    def wait(self, ssh_config: Path) -> None:
        self.wait_as(ssh_config)

    def wait_as(self, ssh_config: Path, uid: int | None = None, gid: int | None = None, home=None) -> None:
        """Until the login of ``spec`` works (run as ``uid``/``gid`` on this side when given)."""
        login = self.spec.split("://", 1)[1]
        argv = ["ssh", "-F", str(ssh_config), login, "true"]
        env = None
        if uid is not None:
            argv = ["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups", "--"] + argv
            env = dict(os.environ, HOME=str(home))
        for _ in range(100):
            res = subprocess.run(argv, capture_output=True, timeout=20, env=env)
            if res.returncode == 0:
                return
            time.sleep(0.1)
        raise AssertionError(f"sshd did not come up: {res.stderr!r}")

    def connections(self) -> int:
        """Logins sshd has accepted so far (each a new SSH connection: sessions over one
        connection are not logins)."""
        return self.log.read_text(errors="replace").count("Accepted publickey")

    def close(self) -> None:
        self.sshd.terminate()
        self.sshd.wait(timeout=10)
        subprocess.run(["ip", "link", "del", self.outside], capture_output=True)
        self.ns.delete()
        if self.keys_dir != self.dir:
            shutil.rmtree(self.keys_dir, ignore_errors=True)
