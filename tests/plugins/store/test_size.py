"""store.*: the submission store against its SQLite database, on real directories and
real SQLite files, read-only."""

from __future__ import annotations

from helpers.store_suite import counts, each_kind_alone


def test_a_size_that_is_not_a_number_is_a_finding(fx):
    fx.sql("UPDATE submissions SET size = 'abc' WHERE id = (SELECT min(id) FROM submissions)")
    got = counts(fx)
    assert got["store.size"] == 1 and sum(got.values()) == 1, got


def test_found_alone_with_the_exact_count(fx):
    each_kind_alone(fx, 'size')
