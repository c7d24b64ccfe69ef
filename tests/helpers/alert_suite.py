"""Shared by the alert plugin's tests (tests/plugins/alert/): real gpg in temporary homes,
a real TLS relay on 127.0.0.1, mail logs; sdcheck run against them."""

from __future__ import annotations

import hashlib
import json
import shutil
import ssl
import subprocess
import tempfile
from pathlib import Path

import pytest
import yaml

from helpers import cli
from helpers.all import need
from helpers.certs import make_certs
from helpers.securedrop import BASELINE_SITE


def sdcheck(tmp: Path, *args: str, **variables) -> subprocess.CompletedProcess:
    # the recorded mail logs are old: the silence window is the subject of its own tests
    variables.setdefault("mail_max_silence_hours", 0)
    vars_file = tmp / "vars.yml"
    vars_file.write_text(yaml.safe_dump(dict(BASELINE_SITE, **variables)))
    return cli.sdcheck(*args, "--profile", "mon", "--vars", str(vars_file), "--only", "alert", timeout=120)


def findings(res, check_id: str) -> list[dict]:
    return [f for f in json.loads(res.stdout)["findings"] if f["check_id"] == check_id]


class GpgHome:
    """A GnuPG home with short path (gpg's sockets live there)."""

    def __init__(self):
        need("gpg", "gpgconf", root=False)
        self.path = Path(tempfile.mkdtemp(prefix="sdg-", dir="/tmp"))
        self.path.chmod(0o700)

    def gpg(self, *args: str, faked: str | None = None) -> str:
        argv = ["gpg", "--homedir", str(self.path), "--batch", "--pinentry-mode", "loopback", "--passphrase", ""]
        if faked:
            argv += ["--faked-system-time", faked]
        res = subprocess.run(argv + list(args), capture_output=True, text=True, timeout=60)
        assert res.returncode == 0, res.stderr
        return res.stdout

    def new_key(self, uid: str, expire: str = "1y", encrypt: bool = True, faked: str | None = None) -> str:
        self.gpg("--quick-gen-key", uid, "ed25519", "sign", expire, faked=faked)
        fpr = [ln.split(":")[9] for ln in self.gpg("--with-colons", "--list-keys", uid).splitlines()
               if ln.startswith("fpr:")][0]
        if encrypt:
            self.gpg("--quick-add-key", fpr, "cv25519", "encr", expire, faked=faked)
        return fpr

    def snapshot(self) -> dict:
        return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in self.path.iterdir() if p.is_file()}

    def close(self):
        subprocess.run(["gpgconf", "--homedir", str(self.path), "--kill", "all"], capture_output=True)
        shutil.rmtree(self.path, ignore_errors=True)


@pytest.fixture
def home():
    h = GpgHome()
    yield h
    h.close()


@pytest.fixture(scope="module")
def admin_key():
    """(fingerprint, armored public key) of an admins' key made for the module's tests."""
    h = GpgHome()
    fpr = h.new_key("Admins <admins@news.example>")
    yield fpr, h.gpg("--armor", "--export", fpr).encode()
    h.close()


def gpg_report(tmp_path, home, fpr, **extra):
    res = sdcheck(tmp_path, "report", "--format", "json", ossec_gpg_fpr=fpr, ossec_gnupg_home=str(home.path),
                  **extra)
    return findings(res, "alert.gpg")


class Relay:
    """aiosmtpd on 127.0.0.1: STARTTLS with the given certificate, AUTH only after TLS."""

    def __init__(self, tmp: Path, cert: str | None):
        from aiosmtpd.controller import Controller
        from aiosmtpd.smtp import AuthResult

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                return "250 OK"

        def authenticator(server, session, envelope, mechanism, auth_data):
            return AuthResult(success=False)

        kwargs = {}
        if cert:
            ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ctx.load_cert_chain(tmp / f"{cert}.crt", tmp / f"{cert}.key")
            kwargs = dict(tls_context=ctx, require_starttls=True, authenticator=authenticator,
                          auth_require_tls=True)
        import socket

        with socket.socket() as s:  # a free port (aiosmtpd's start-up probe needs a real one)
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port, server_hostname="localhost",
                                     **kwargs)
        self.controller.start()

    def stop(self):
        self.controller.stop()


@pytest.fixture(scope="module")
def certs():
    tmp = Path(tempfile.mkdtemp(prefix="sdcheck-certs-"))
    make_certs(tmp)
    yield tmp
    shutil.rmtree(tmp, ignore_errors=True)


def cert_fingerprint(path: Path) -> str:
    der = ssl.PEM_cert_to_DER_cert(path.read_text())
    h = hashlib.sha1(der).hexdigest().upper()  # noqa: S324 - Postfix's fingerprint digest here
    return ":".join(h[i:i + 2] for i in range(0, 40, 2))


def relay_report(tmp_path, certs, port, **tls):
    variables = dict(smtp_relay="localhost", smtp_relay_port=port, smtp_relay_cert_override_dir=str(certs))
    variables.update(tls)
    res = sdcheck(tmp_path, "report", "--online", "--format", "json", **variables)
    (finding,) = findings(res, "alert.relay")
    return finding


MAILLOG = Path(__file__).resolve().parents[1] / "data" / "maillog"
