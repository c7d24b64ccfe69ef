"""Postfix checks against real Postfix tools (postconf, postmap from Debian's postfix) on
configurations rendered from SecureDrop's templates into temporary directories."""

from __future__ import annotations

import pytest
from helpers import cli
from helpers.postfix import Site
from helpers.postfix_suite import (
    every_output,
    break_key,
    break_mode_0644,
    passwords,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st


@pytest.mark.parametrize("mode", ["system", "override", "fingerprint"])
def test_reference_configuration_passes(tmp_path, mode):
    site = Site(tmp_path, mode)
    code, lines = site.run()
    assert code == 0, lines
    res = cli.sdcheck("list", "--profile", "mon", timeout=60)
    n = sum(1 for ln in res.stdout.splitlines() if ln.startswith("postfix.") and not ln.startswith("postfix.anchors"))
    assert n >= 7  # postfix.config among them
    assert lines == [f"sdcheck: OK: {n - 1} checks passed, 1 skip (profile mon)"]  # the service is off


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(password=passwords, state=st.sampled_from(["passing", "failing", "broken"]))
def test_password_never_in_any_output(tmp_path_factory, password, state):
    def outputs(pw: str) -> str:
        root = tmp_path_factory.mktemp("pw")
        site = Site(root, "system", password=pw)
        if state == "failing":
            break_key(site)
            break_mode_0644(site)
        elif state == "broken":
            (site.dir / "sasl_passwd.db").write_bytes(b"\0garbage" * 64)
        return every_output(site).replace(str(root), "ROOT")

    text = outputs(password)
    if password in text:
        # only where sdcheck's own fixed text holds the same word ('waived', 'postfix', '587'):
        # the same configuration with a neutral password of that length shows it as often
        neutral = outputs("q" * len(password))
        assert text.count(password) <= neutral.count(password), password
