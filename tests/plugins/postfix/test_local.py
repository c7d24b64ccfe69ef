"""postfix.local: its options are checked when the baseline loads, with file and line."""

from __future__ import annotations

import pytest
from helpers import cli
from helpers.cli import PREFIX
from helpers.postfix import Site
from helpers.postfix_suite import BREAKAGES, breakage_is_detected

from sdcheck.baseline import bundled_path


@pytest.mark.parametrize("sample", ["X-Mailer:\tOSSEC HIDS", ""])
def test_a_header_sample_with_a_tab_or_empty_is_refused_with_file_and_line(tmp_path, sample):
    base = tmp_path / "site.yml"
    base.write_text(f"sdcheck_baseline: 1\nprofile: mon\nextends: {bundled_path('mon')}\nchecks:\n"
                    f"  postfix.local:\n    header_samples:\n      - 'Mime-Version: 1.0'\n"
                    f"      - \"{sample.replace(chr(9), chr(92) + 't')}\"\n")
    for command in ("run", "report"):
        res = cli.sdcheck(command, "--baseline", str(base), "--only", "postfix.local", timeout=60)
        assert res.returncode == 2, res.stdout + res.stderr
        where = f"{base}:6: postfix.local: option 'header_samples' must be headers (one line each, no tab)"
        if command == "run":
            (line,) = res.stdout.splitlines()
            assert line.startswith(f"{PREFIX}[sdcheck.config] (critical) {where}"), line
        else:
            (line,) = res.stderr.splitlines()
            assert line.startswith(f"sdcheck: error: {where}"), line


@pytest.mark.parametrize("name", sorted(n for n, b in BREAKAGES.items() if b[2] == "postfix.local"))
def test_breakage_is_detected(tmp_path, name):
    breakage_is_detected(tmp_path, name)


def test_a_generic_map_entry_beside_the_sender_is_critical(tmp_path):
    """smtp_generic_maps rewrites recipients too: one more line in the table sends every alert
    to someone else while the sender entry still looks right (postmap -q finds it)."""
    import json

    site = Site(tmp_path)
    generic = site.dir / "generic"
    generic.write_text(generic.read_text() + "admins@news.example spy@elsewhere.example\n")
    site.postmap("generic")
    data = json.loads(site.sdcheck("report", "--format", "json").stdout)
    bad = [f for f in data["findings"] if f["check_id"] == "postfix.local" and f["status"] == "fail"]
    assert len(bad) == 1 and bad[0]["severity"] == "critical", bad
    assert "rewrites admins@news.example to spy@elsewhere.example" in bad[0]["message"]
