"""store.permissions, calibrated on SecureDrop's own layout: what its postinst and its web
application create passes; anything that opens the store to another user is a finding."""

from __future__ import annotations

import os
import shutil

import pytest

from helpers.store_suite import CHECKS, counts, each_kind_alone, sdcheck


def test_found_alone_with_the_exact_count(fx):
    each_kind_alone(fx, 'permissions')


def test_securedrop_as_it_really_writes_the_store_passes(fx):
    """umask 022 for the web application (source directories 0755, files 0644, replies
    among them), 0027 for the database; a source deleted and a file deleted by a journalist,
    both moved to the shredder with their rows gone, as SecureDrop's store does."""
    sources = sorted({fs for fs, _n in fx.files})
    gone_source, other = sources[0], sources[1]
    assert any("-reply.gpg" in n for _fs, n in fx.files)
    assert (fx.store / other).stat().st_mode & 0o777 == 0o755
    assert fx.path(*fx.files[-1]).stat().st_mode & 0o777 == 0o644 and fx.db.stat().st_mode & 0o777 == 0o640
    shutil.move(fx.store / gone_source, fx.shredder / gone_source)
    fx.sql("DELETE FROM submissions WHERE source_id = (SELECT id FROM sources WHERE filesystem_id = ?)", gone_source)
    fx.sql("DELETE FROM replies WHERE source_id = (SELECT id FROM sources WHERE filesystem_id = ?)", gone_source)
    fx.sql("DELETE FROM sources WHERE filesystem_id = ?", gone_source)
    fs, name = next((fs, n) for fs, n in fx.files if fs == other and "-msg" in n)
    shutil.move(fx.path(fs, name), fx.shredder / name)
    fx.sql("DELETE FROM submissions WHERE filename = ?", name)
    res = sdcheck(fx, "run")
    assert res.returncode == 0, res.stdout
    assert res.stdout.decode() == f"sdcheck: OK: {len(CHECKS)} checks passed (profile app)\n"


def _store_open(fx):
    fx.store.chmod(0o755)


def _source_dir_group_writable(fx):
    (fx.store / fx.files[0][0]).chmod(0o775)


def _file_world_writable(fx):
    fx.path(*fx.files[1]).chmod(0o666)


def _file_setuid(fx):
    fx.path(*fx.files[2]).chmod(0o4644)


def _source_dir_setgid(fx):
    (fx.store / fx.files[0][0]).chmod(0o2755)


def _source_dir_sticky(fx):
    (fx.store / fx.files[0][0]).chmod(0o1755)


def _file_owned_by_root(fx):
    os.chown(fx.path(*fx.files[3]), 0, 0)


def _source_dir_owned_by_root(fx):
    os.chown(fx.store / fx.files[0][0], 0, 0)


def _store_owned_by_root(fx):
    os.chown(fx.store, 0, 0)


@pytest.mark.parametrize("change", [_store_open, _source_dir_group_writable, _file_world_writable, _file_setuid,
                                    _source_dir_setgid, _source_dir_sticky, _file_owned_by_root,
                                    _source_dir_owned_by_root, _store_owned_by_root])
def test_what_opens_the_store_is_a_finding(fx, change):
    change(fx)
    got = counts(fx)
    assert got["store.permissions"] == 1 and sum(got.values()) == 1, got
