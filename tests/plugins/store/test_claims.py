"""store.claims: one file, one row, of the file's own kind."""

from __future__ import annotations

import json

import pytest

from helpers.store_suite import counts, each_kind_alone, sdcheck


def test_found_alone_with_the_exact_count(fx):
    each_kind_alone(fx, "claims")


def _reply_claims_a_submission_too(fx, name):
    fx.sql("INSERT INTO replies (id, uuid, journalist_id, source_id, filename, size, deleted_by_source) "
           "SELECT 10000, 'twice', 1, source_id, filename, size, 0 FROM submissions WHERE filename = ?", name)


def _second_submission_row(fx, name):
    fx.sql("INSERT INTO submissions (id, uuid, source_id, filename, size, downloaded) "
           "SELECT 10001, 'twice', source_id, filename, size, 0 FROM submissions WHERE filename = ?", name)


@pytest.mark.parametrize("claim", [_reply_claims_a_submission_too, _second_submission_row])
def test_a_file_claimed_twice_is_a_finding(fx, claim):
    fs, name = next(f for f in fx.files if "-msg" in f[1])
    claim(fx, name)
    got = counts(fx)
    assert got["store.claims"] == 1 and sum(got.values()) == 1, got
    report = json.loads(sdcheck(fx, "report", "--format", "json", "--limit", "10").stdout)
    (finding,) = [f for f in report["findings"] if f["check_id"] == "store.claims"]
    assert finding["detail"][-1] == f"{fs}/{name} (claimed by another row too)", finding


def test_a_reply_recorded_as_a_submission_is_a_finding(fx):
    fs, name = next(f for f in fx.files if "-reply" in f[1])
    fx.sql("INSERT INTO submissions (id, uuid, source_id, filename, size, downloaded) "
           "SELECT 10002, 'kind', source_id, filename, size, 0 FROM replies WHERE filename = ?", name)
    fx.sql("DELETE FROM replies WHERE filename = ?", name)
    got = counts(fx)
    assert got["store.claims"] == 1 and sum(got.values()) == 1, got
    line = sdcheck(fx, "run").stdout.decode()
    assert line.startswith("System configuration error: [store.claims] (high) 1 file(s) claimed twice or by a row of "
                           "the other kind (1 wrong kind)"), line
