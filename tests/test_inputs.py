"""Hostile or broken input files and options: a clear one-line error naming the file or
option, exit 2, within a bound; never a hang, a traceback, a shortened file or an echo of a
value that may be a secret."""

from __future__ import annotations

import os
import subprocess
import time

import pytest
from helpers import cli
from helpers.cli import PREFIX

SECRET = "hunter2-Secret-Value"


def sdcheck(*args: str, timeout: float = 60) -> tuple[subprocess.CompletedProcess, float]:
    start = time.monotonic()
    res = cli.sdcheck(*args, timeout=timeout)
    return res, time.monotonic() - start


def _one_error(res, command: str) -> str:
    assert res.returncode == 2, (res.stdout, res.stderr)
    assert "Traceback" not in res.stdout + res.stderr
    if command == "run":
        (line,) = res.stdout.splitlines()
        assert line.startswith(PREFIX + "[sdcheck.")
        return line
    (line,) = res.stderr.splitlines()
    assert line.startswith("sdcheck: error: ")
    return line


@pytest.mark.parametrize("option", ["--vars", "--waivers", "--baseline"])
@pytest.mark.parametrize("command", ["run", "report"])
def test_a_fifo_is_refused_at_once(tmp_path, option, command):
    fifo = tmp_path / "fifo.yml"
    os.mkfifo(fifo)
    res, took = sdcheck(command, "--profile", "app", "--only", "store", option, str(fifo), timeout=10)
    line = _one_error(res, command)
    assert "is not a regular file" in line and "fifo.yml" in line
    assert took < 10


def test_a_symlinked_vars_file_is_refused(tmp_path):
    real = tmp_path / "real.yml"
    real.write_text("app_user: www-data\n")
    (tmp_path / "link.yml").symlink_to(real)
    res, _ = sdcheck("run", "--profile", "app", "--only", "store", "--vars", str(tmp_path / "link.yml"))
    assert "is a symlink" in _one_error(res, "run")


def test_a_vars_file_over_the_limit_is_refused_not_cut(tmp_path):
    big = tmp_path / "vars.yml"
    big.write_text("app_user: www-data\n" + "# padding\n" * (500_000) + "store_dir: /elsewhere\n")
    assert big.stat().st_size > 4 << 20
    res, _ = sdcheck("run", "--profile", "app", "--only", "store", "--vars", str(big))
    assert "refuses the file rather than read part of it" in _one_error(res, "run")


@pytest.mark.parametrize("text", [
    f"sasl_password: !Secret{SECRET}\n",                       # a YAML tag
    f"sasl_password: &a {SECRET}\nsmtp_relay: *a\n",           # anchors and aliases
    "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
    "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nsasl_password: [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n",
    f"sasl_password: '{SECRET}\n",                             # an unterminated quote
    f"{SECRET}:\n  - [\n",
])
def test_vars_errors_never_echo_values_and_refuse_aliases(tmp_path, text):
    path = tmp_path / "vars.yml"
    path.write_text(text)
    for command in ("run", "report"):
        res, took = sdcheck(command, "--profile", "mon", "--only", "postfix", "--vars", str(path), timeout=30)
        line = _one_error(res, command)
        assert "vars.yml" in line
        assert "hunter2" not in res.stdout + res.stderr and "Secret" not in res.stdout + res.stderr
        assert took < 30


def test_a_baseline_alias_bomb_is_bounded(tmp_path):
    levels = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 7):
        prev, name = chr(ord("a") + i - 1), chr(ord("a") + i)
        levels.append(f"{name}: &{name} [{', '.join(['*' + prev] * 10)}]")
    base = tmp_path / "bomb.yml"
    base.write_text("sdcheck_baseline: 1\nprofile: app\nvars:\n  " + "\n  ".join(levels) +
                    "\nchecks:\n  iptables.backends: {}\n")
    res, took = sdcheck("run", "--baseline", str(base), timeout=60)
    assert "expands (through YAML aliases)" in _one_error(res, "run")
    assert took < 60


def test_report_to_an_unwritable_place_is_a_usage_error(tmp_path):
    res, _ = sdcheck("report", "--profile", "app", "--only", "store", "--output", str(tmp_path / "no" / "such" / "r"),
                     "--var", f"store_dir={tmp_path}", "--var", f"db_path={tmp_path}/db")
    assert "cannot write the report" in _one_error(res, "report")


def test_output_in_an_ascii_locale_never_fails(tmp_path):
    """A non-ASCII host value (here a store file name) with PYTHONIOENCODING=ascii."""
    store = tmp_path / "store"
    (store / "\u00e9l\u00e8ve").mkdir(parents=True)
    env = dict(os.environ, PYTHONIOENCODING="ascii", LC_ALL="C")
    for command in (["run"], ["report"], ["report", "--format", "json"]):
        res = cli.sdcheck(*command, "--profile", "app", "--only", "store", "--var", f"store_dir={store}", "--var", f"db_path={tmp_path}/\u00e9l\u00e8ve.db", text=False, env=env, timeout=60)
        assert res.returncode == 1, res.stderr
        assert b"UnicodeEncodeError" not in res.stdout + res.stderr and b"failed unexpectedly" not in res.stdout
        res.stdout.decode("ascii")  # run: ASCII only; report: escapes what the locale cannot show
        assert b"\\xe9l\\xe8ve" in res.stdout or b"\\u00e9l\\u00e8ve" in res.stdout  # shown, escaped
