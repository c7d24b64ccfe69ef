"""store.orphan-files: the submission store against its SQLite database (see test_store_scan.py for the pass they share)."""

from __future__ import annotations

from helpers.store_suite import each_kind_alone


def test_found_alone_with_the_exact_count(fx):
    each_kind_alone(fx, 'orphans')
