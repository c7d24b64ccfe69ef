"""postfix.master: breakages of SecureDrop's Postfix configuration, on real postconf and postmap."""

from __future__ import annotations

import pytest
from helpers.postfix_suite import BREAKAGES, breakage_is_detected


@pytest.mark.parametrize("name", sorted(n for n, b in BREAKAGES.items() if b[2] == "postfix.master"))
def test_breakage_is_detected(tmp_path, name):
    breakage_is_detected(tmp_path, name)
