"""Postfix checks against real Postfix tools (postconf, postmap from Debian's postfix) on
configurations rendered from SecureDrop's templates into temporary directories."""

from __future__ import annotations

import shutil

import pytest
from helpers.cli import PREFIX
from helpers.postfix import Site
from helpers.postfix_suite import BREAKAGES, breakage_is_detected, lines_of


def test_missing_configuration_is_an_error_not_a_pass(tmp_path):
    site = Site(tmp_path)
    shutil.rmtree(site.dir)
    code, lines = site.run()
    assert code == 1 and len(lines) == 1  # one cause, one line naming every check it stopped
    assert lines[0].startswith(f"{PREFIX}[postfix.") and "postfix.relay" in lines[0]
    assert "does not exist or is not a regular file" in lines[0]
    assert all(f"postfix.{c}" in lines[0] for c in ("tls", "master", "local", "sasl-passwd"))


def test_unset_relay_is_an_error(tmp_path):
    site = Site(tmp_path)
    code, lines = site.run(smtp_relay="")
    assert code == 1 and any("the variable smtp_relay is not set" in ln for ln in lines_of(lines, "postfix.relay"))


@pytest.mark.parametrize("name", sorted(n for n, b in BREAKAGES.items() if b[2] == "postfix.relay"))
def test_breakage_is_detected(tmp_path, name):
    breakage_is_detected(tmp_path, name)
