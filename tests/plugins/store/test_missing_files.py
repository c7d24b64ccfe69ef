"""store.*: the submission store against its SQLite database, on real directories and
real SQLite files, read-only."""

from __future__ import annotations

import pytest
from helpers.store_suite import loosen_table, counts, each_kind_alone, sdcheck


def test_match_is_by_source_and_name_not_bare_name(fx):
    """Two sources with a file of the same name; A's file moved over B's. A bare-name match
    (manage.py's) still finds every name somewhere; matching by (source, name) does not."""
    fs_a, name = fx.files[0]
    fs_b = next(fs for fs, _n in fx.files if fs != fs_a)
    size = fx.path(fs_a, name).stat().st_size
    fx.sql("INSERT INTO submissions (uuid, source_id, filename, size) "
           "VALUES ('u-same', (SELECT id FROM sources WHERE filesystem_id = ?), ?, ?)", fs_b, name, size)
    fx.path(fs_a, name).rename(fx.path(fs_b, name))
    got = counts(fx)
    assert got["store.missing-files"] == 1 and got["store.orphan-files"] == 0 and got["store.misplaced"] == 0


@pytest.mark.parametrize("value", [None, "abc", 2.5])
def test_rows_without_a_valid_source_id_are_findings(fx, value):
    loosen_table(fx, "submissions")
    fx.sql("UPDATE submissions SET source_id = ? WHERE id = (SELECT min(id) FROM submissions)", value)
    got = counts(fx)
    # the row names no source: its file is missing from any source's directory, and the file it
    # named is under another source's (misplaced), never silently dropped
    assert got["store.missing-files"] + got["store.misplaced"] == 1, got
    res = sdcheck(fx, "run")
    assert res.returncode == 1 and b"failed unexpectedly" not in res.stdout


def test_found_alone_with_the_exact_count(fx):
    each_kind_alone(fx, 'missing')


def test_rows_whose_source_is_gone_are_named_as_such(fx):
    """Deleting a source's row (not its files' rows) leaves rows that belong to no source:
    the finding says so, instead of saying files are missing."""
    fs = sorted({fs for fs, _n in fx.files})[3]
    n = sum(1 for f, _n in fx.files if f == fs)
    fx.sql("DELETE FROM sources WHERE filesystem_id = ?", fs)
    lines = sdcheck(fx, "run").stdout.decode().splitlines()
    (line,) = [ln for ln in lines if "[store.missing-files]" in ln]
    assert f") {n} database row(s) belong to no source: their sources row is gone" in line, line
    assert "unknown-sources" in " ".join(lines)  # and its directory is a source the database does not know
