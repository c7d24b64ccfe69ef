"""store.permissions: the submission store against its SQLite database
(the pass the store checks share is tested in test_store_scan.py)."""

from __future__ import annotations

from helpers.store_suite import each_kind_alone


def test_found_alone_with_the_exact_count(fx):
    each_kind_alone(fx, 'permissions')
