"""The Debian package: packaging/build-deb builds it from this tree (pip from the hash-pinned
lock, dpkg-deb); it installs, upgrades and purges cleanly on a throwaway copy of this
machine's root filesystem (an overlay in a private mount namespace, entered with chroot:
this machine's dpkg database and files are never changed); 'sdcheck list' and 'man sdcheck'
work after install; the server install has no test runner; purge leaves nothing behind."""

from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path

import pytest
from helpers.programs import need

ROOT = Path(__file__).resolve().parents[1]
# what dpkg and man-db themselves keep (its database, its log, man's index): not sdcheck's
DPKG_OWN = ("./var/lib/dpkg", "./var/log/dpkg.log", "./var/cache/man", "./var/cache/debconf", "./var/log/alternatives.log")


@pytest.fixture(scope="module")
def debs(tmp_path_factory):
    need("dpkg-deb", "gzip", root=False)
    out = tmp_path_factory.mktemp("debs")
    built = []
    for version in ("0.1.0", "0.1.0+upgrade1"):
        # this machine's environment: pip's registry settings (index, CA) may live there
        res = subprocess.run([str(ROOT / "packaging" / "build-deb"), str(out)], capture_output=True, text=True,
                             timeout=600, env=dict(os.environ, SDCHECK_DEB_VERSION=version))
        assert res.returncode == 0, res.stderr[-3000:]
        built.append(Path(res.stdout.strip().splitlines()[-1]))
    return built


def _in_a_copy(tmp_path: Path, debs: list[Path], script: str) -> subprocess.CompletedProcess:
    """Run ``script`` (as root, /bin/sh) chrooted into an overlay of this machine's root
    filesystem whose changes land in a tmpfs; afterwards, the paths the overlay's upper layer
    holds (what the script changed) are printed after a line '=== changed'."""
    need("unshare", "mount", "chroot", "dpkg", "man", "comm", "rm")
    layers = tmp_path / "layers"
    layers.mkdir()
    q = shlex.quote
    copies = " && ".join(f"cp {q(str(d))} $M/tmp/{q(d.name)}" for d in debs)
    outer = f"""set -e
mount --make-rprivate /
mount -t tmpfs tmpfs {q(str(layers))}
cd {q(str(layers))} && mkdir upper work merged
M={q(str(layers / 'merged'))}
mount -t overlay overlay -o lowerdir=/,upperdir={q(str(layers / 'upper'))},workdir={q(str(layers / 'work'))} $M
mount -t proc proc $M/proc
mount --rbind /dev $M/dev
mount -t tmpfs tmpfs $M/tmp
mount -t tmpfs tmpfs $M/run
{copies}
# a machine without sdcheck: a 'setup.sh install' of this machine (fresh-machine makes one) goes
chroot $M rm -rf /opt/sdcheck /etc/sdcheck /var/lib/sdcheck /usr/local/bin/sdcheck
cd {q(str(layers / 'upper'))} && find . -mindepth 1 \\( -type f -o -type l -o -type c \\) | sort > ../before
set +e
chroot $M /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root /bin/sh -c {q(script)}
rc=$?
echo "=== changed"
cd {q(str(layers / 'upper'))} && find . -mindepth 1 \\( -type f -o -type l -o -type c \\) | sort | comm -13 ../before -
exit $rc
"""
    return subprocess.run(["unshare", "-m", "sh", "-c", outer], capture_output=True, text=True, timeout=600)


def test_the_package_installs_upgrades_and_purges_leaving_nothing(tmp_path, debs):
    first, second = (f"/tmp/{d.name}" for d in debs)
    script = f"""set -e
dpkg -i {first} >/dev/null
echo "== list"; sdcheck list | head -3
echo "== man"; MANWIDTH=80 man -P cat sdcheck | head -12
echo "== ossec"; ls /usr/share/sdcheck/ossec/
echo "== vars"; stat -c '%a %U' /etc/sdcheck /etc/sdcheck/vars.yml
echo "== pytest"; ls /opt/venvs/sdcheck/lib/python3*/site-packages | grep -ci -e '^pytest' -e '^testinfra' || true
echo "== remote"; sdcheck report --profile app --hosts ssh://root@app >/dev/null 2>/tmp/err || echo "rc=$?"; cat /tmp/err
echo "== completion"; bash -c '. /usr/share/bash-completion/completions/sdcheck && COMP_WORDS=(sdcheck rep); COMP_CWORD=1; _sdcheck && echo ${{COMPREPLY[*]}}'
echo "keep" > /etc/sdcheck/waivers.yml
dpkg -i {second} >/dev/null
echo "== upgraded"; dpkg-query -W -f '${{Version}}\\n' sdcheck; sdcheck list | wc -l; cat /etc/sdcheck/waivers.yml
dpkg --purge sdcheck >/dev/null
echo "== purged"; ls -d /etc/sdcheck /var/lib/sdcheck /opt/venvs /opt/sdcheck /usr/bin/sdcheck 2>&1 | sed 's/.*cannot access/gone/'
"""
    res = _in_a_copy(tmp_path, debs, script)
    out = res.stdout
    assert res.returncode == 0, out + res.stderr
    section = {}
    for block in out.split("== ")[1:]:
        name, _, body = block.partition("\n")
        section[name.strip()] = body
    assert section["list"].startswith("alert.route"), out
    assert "SDCHECK(1)" in section["man"] and "sdcheck run" in section["man"]
    assert {"local_rules.xml", "localfile-app.xml", "localfile-mon.xml"} <= set(section["ossec"].split())
    assert section["vars"].split() == ["700", "root", "600", "root"]
    assert section["pytest"].split()[0] == "0"  # no test runner on a server
    assert "rc=2" in section["remote"] and "pip install 'sdcheck[remote]'" in section["remote"]
    assert section["completion"].split() == ["report"]
    upgraded = section["upgraded"].split("\n")
    assert upgraded[0] == "0.1.0+upgrade1" and int(upgraded[1]) > 40 and upgraded[2] == "keep"  # the site's file kept
    purged, _, changed = section["purged"].partition("=== changed\n")
    assert purged.count("gone") == 5, purged
    left = [p for p in changed.splitlines() if p and not p.startswith(DPKG_OWN)]
    assert left == [], left
