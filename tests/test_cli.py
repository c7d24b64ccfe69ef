"""Ordinary command-line mistakes and habits end in one clear line and a documented code."""

from __future__ import annotations

import subprocess

import pytest

from helpers import cli


@pytest.mark.parametrize("args", [["list"], ["report", "--profile", "app", "--only", "store"]])
def test_a_reader_that_goes_away_ends_the_output_quietly(args):
    proc = subprocess.Popen([*cli.SDCHECK, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # gone before sdcheck writes, as 'head' after its lines
    _out, err = proc.communicate(timeout=60)
    assert err == b"" and proc.returncode == 0


def test_list_with_an_unknown_profile_is_a_usage_error():
    res = cli.sdcheck("list", "--profile", "xyz")
    assert res.returncode == 2 and res.stdout == ""
    assert res.stderr == "sdcheck: error: unknown profile 'xyz' (choose app or mon)\n"
