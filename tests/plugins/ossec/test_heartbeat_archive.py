"""The archived alerts of yesterday (.gz, as ossec-monitord compresses them) are read from
their end, bounded, whatever the file holds."""

from __future__ import annotations

import gzip

from hypothesis import given, settings
from hypothesis import strategies as st

from sdcheck.plugins.ossec.checks.heartbeat import _gunzip


@settings(max_examples=50, deadline=None)
@given(st.binary(max_size=200_000), st.integers(min_value=1, max_value=50_000))
def test_the_end_of_an_archive_is_kept(content, limit):
    assert _gunzip(gzip.compress(content), limit) == content[-limit:]


def test_a_bomb_stops_at_eight_times_the_limit():
    bomb = gzip.compress(b"\0" * (40 << 20))
    out = _gunzip(bomb, 1 << 20)
    assert len(out) == 1 << 20 and set(out) == {0}


def test_garbage_is_an_error_not_a_hang():
    from sdcheck.host.base import FactError

    try:
        _gunzip(b"not gzip at all", 1000)
    except FactError as exc:
        assert "not gzip data" in str(exc)
        return
    raise AssertionError("garbage read as an archive")
