"""postfix.anchors: a CA directory laid out as Debian's ca-certificates lays it out (its
certificates, symlinked and hashed by 'openssl rehash' as update-ca-certificates does) passes;
an anchor added by c_rehash, a local CA or an edited certificate is critical. The override
file holds exactly the site's certificates."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from helpers import cli
from helpers.certs import make_certs
from helpers.securedrop import write_vars

from sdcheck.plugins.postfix.checks.anchors import pem_fingerprints

CHECK = "postfix.anchors"


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("certs")
    make_certs(tmp)
    return tmp


@pytest.fixture
def system(tmp_path):
    """(cert_dir, share, conf, md5sums): copies of the ca-certificates package's files, and a CA
    directory made from them as update-ca-certificates makes /etc/ssl/certs."""
    share = tmp_path / "share"
    shutil.copytree("/usr/share/ca-certificates", share, symlinks=True)
    conf = tmp_path / "ca-certificates.conf"
    shutil.copy("/etc/ca-certificates.conf", conf)
    md5sums = tmp_path / "md5sums"
    shutil.copy("/var/lib/dpkg/info/ca-certificates.md5sums", md5sums)
    cert_dir = tmp_path / "certs"
    cert_dir.mkdir()
    for line in conf.read_text().splitlines():
        if line and not line.startswith(("#", "!")):
            (cert_dir / (Path(line).stem + ".pem")).symlink_to(share / line)
    subprocess.run(["openssl", "rehash", str(cert_dir)], check=True, capture_output=True)
    return cert_dir, share, conf, md5sums


def _report(tmp_path, extra_vars=None, **options):
    baseline = tmp_path / "anchors.yml"
    mon = Path(__file__).resolve().parents[3] / "baselines" / "mon.yml"
    baseline.write_text(f"sdcheck_baseline: 1\nprofile: mon\nextends: {mon}\nchecks:\n  postfix.anchors:\n"
                        + "".join(f"    {k}: {json.dumps(v)}\n" for k, v in options.items()))
    vars_file = write_vars(tmp_path / "vars.yml", **(extra_vars or {}))
    res = cli.sdcheck("report", "--baseline", str(baseline), "--vars", str(vars_file), "--only", CHECK,
                      "--format", "json")
    assert res.returncode in (0, 1), res.stderr
    return [f for f in json.loads(res.stdout)["findings"] if f["check_id"] == CHECK]


def _system_report(tmp_path, system):
    cert_dir, share, conf, md5sums = system
    return _report(tmp_path, cert_dir=str(cert_dir), ca_share=str(share), ca_conf=str(conf), md5sums=str(md5sums),
                   fingerprint="", cert_override_file="")


def test_the_package_s_anchors_pass(tmp_path, system):
    found = _system_report(tmp_path, system)
    assert [f["status"] for f in found] == ["pass"], found


def test_an_anchor_added_with_rehash_is_critical(tmp_path, system, certs):
    cert_dir = system[0]
    shutil.copy(certs / "ca.crt", cert_dir / "relay-mitm.pem")
    subprocess.run(["openssl", "rehash", str(cert_dir)], check=True, capture_output=True)
    (bad,) = [f for f in _system_report(tmp_path, system) if f["status"] == "fail"]
    assert "relay-mitm.pem, which the ca-certificates package did not install" in bad["message"]
    assert bad["severity"] == "critical"


def test_a_local_ca_is_critical(tmp_path, system, certs):
    cert_dir = system[0]
    local = tmp_path / "local" / "corp.crt"
    local.parent.mkdir()
    shutil.copy(certs / "ca.crt", local)
    (cert_dir / "corp.pem").symlink_to(local)
    subprocess.run(["openssl", "rehash", str(cert_dir)], check=True, capture_output=True)
    bad = [f for f in _system_report(tmp_path, system) if f["status"] == "fail"]
    assert len(bad) == 1 and str(local) in bad[0]["message"]


def test_a_package_certificate_edited_in_place_is_critical(tmp_path, system, certs):
    _, share, conf, _ = system
    first = next(line for line in conf.read_text().splitlines() if line and not line.startswith(("#", "!")))
    target = share / first
    target.write_bytes((certs / "ca.crt").read_bytes())
    bad = [f for f in _system_report(tmp_path, system) if f["status"] == "fail"]
    assert bad and all("not what the package installed" in f["message"] for f in bad), bad


def _override(tmp_path, certs, content: bytes, sha256=None):
    d = tmp_path / "certs_local"
    d.mkdir(exist_ok=True)
    (d / "relay.crt").write_bytes(content)
    os.chmod(d / "relay.crt", 0o755)
    return _report(tmp_path, {"smtp_relay_cert_override_sha256": sha256 or []},
                   cert_override_file="relay.crt", cert_override_dir=str(d), fingerprint="")


def test_the_override_file_with_the_site_s_certificate_passes(tmp_path, certs):
    ca = (certs / "ca.crt").read_bytes()
    found = _override(tmp_path, certs, ca, sha256=pem_fingerprints(ca.decode()))
    assert [f["status"] for f in found] == ["pass"], found


def test_a_second_ca_appended_to_the_override_file_is_critical(tmp_path, certs):
    ca = (certs / "ca.crt").read_bytes()
    other = (certs / "selfsigned.crt").read_bytes()
    for sha in (None, pem_fingerprints(ca.decode())):  # with and without the site's fingerprints
        bad = [f for f in _override(tmp_path, certs, ca + other, sha256=sha) if f["status"] == "fail"]
        assert bad and bad[0]["severity"] == "critical" and "holds 2 certificate" in bad[0]["message"], bad


def test_fingerprint_mode_trusts_no_anchor(tmp_path):
    found = _report(tmp_path, fingerprint="AA:BB", cert_override_file="")
    assert [f["status"] for f in found] == ["pass"]
