"""Start-up stays cheap: the bundled baselines are read from their precompiled form (no
YAML parser), and importing sdcheck and its plugins compiles no regular expression.
Times are measured by bench/bench_run.py, not here; these tests check the means."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml

from sdcheck import baseline as bl
from sdcheck.baseline import bundled, files

ROOT = Path(__file__).resolve().parent.parent


def _same(fast, slow, where="") -> None:
    """Equal values, and equal line numbers on every mapping key and list item."""
    assert type(fast) is type(slow), where
    if isinstance(slow, dict):
        assert list(fast) == list(slow), where
        assert fast.line == slow.line and fast.key_lines == slow.key_lines, where
        for key in slow:
            _same(fast[key], slow[key], f"{where}/{key}")
    elif isinstance(slow, list):
        assert len(fast) == len(slow), where
        assert fast.line == slow.line and fast.item_lines == slow.item_lines, where
        for i, (a, b) in enumerate(zip(fast, slow)):
            _same(a, b, f"{where}[{i}]")
    else:
        assert fast == slow, where


def test_precompiled_module_is_current():
    text = (ROOT / "sdcheck" / "baseline" / "precompiled.py").read_text()
    assert text == bundled.compiled_module(), "run 'python -m sdcheck.baseline' after editing baselines/"


def test_precompiled_baselines_read_as_their_yaml():
    names = sorted(p.name for p in Path(bl.BASELINE_DIR).glob("*.yml"))
    assert {"app.yml", "mon.yml", "common.yml"} <= set(names)
    for name in names:
        path = str(Path(bl.BASELINE_DIR) / name)
        data = bl.read_input_file(path)
        assert files.precompiled(path, data) is not None
        _same(bl.load_yaml(path), yaml.load(data, Loader=files.loader_class()), name)


def test_an_edited_copy_is_read_as_yaml(tmp_path):
    for name in ("app.yml", "common.yml"):
        (tmp_path / name).write_bytes((Path(bl.BASELINE_DIR) / name).read_bytes())
    app = tmp_path / "app.yml"
    # one byte differs from the bundled file: its own text counts, not the precompiled one
    app.write_text(app.read_text().replace("leftover_max_age_hours: 24", "leftover_max_age_hours: 25"))
    assert files.precompiled(str(app), app.read_bytes()) is None
    loaded = bl.load_baseline(str(app))
    assert loaded.variables["leftover_max_age_hours"] == 25
    assert loaded.checks["iptables.default-drop"] == bl.load_baseline(bl.bundled_path("app")).checks[
        "iptables.default-drop"]  # the unchanged parent still comes from the precompiled form


SPY = r"""
import io, json, re, sys
compiled = []
original = re.compile
def spy(pattern, flags=0):
    frame = sys._getframe(1)
    if frame.f_code.co_name == "<module>" and "/sdcheck/" in frame.f_code.co_filename:
        compiled.append(f"{frame.f_code.co_filename}:{frame.f_lineno}")
    return original(pattern, flags)
re.compile = spy
from sdcheck.cli import main
from sdcheck.registry import load_checks
out, sys.stdout = sys.stdout, io.StringIO()
code = main(["list"])
listed, sys.stdout = sys.stdout.getvalue(), out
load_checks()  # every plugin module
import importlib, pkgutil, sdcheck
for mod in pkgutil.walk_packages(sdcheck.__path__, "sdcheck."):
    if mod.name not in ("sdcheck.pytest_plugin", "sdcheck.__main__"):
        importlib.import_module(mod.name)
print(json.dumps({"code": code, "listed": listed.count("\n"), "compiled": compiled,
                  "yaml": "yaml" in sys.modules}))
"""


def test_no_regex_compiled_at_import_and_list_needs_no_yaml():
    res = subprocess.run([sys.executable, "-I", "-c", SPY], capture_output=True, text=True, timeout=60,
                         cwd="/", env={"PYTHONPATH": str(ROOT)})
    assert res.returncode == 0, res.stderr
    got = json.loads(res.stdout.splitlines()[-1])
    assert got["code"] == 0 and got["listed"] >= 10
    assert got["compiled"] == [], "compile on first use (sdcheck.lazy.Pattern): " + ", ".join(got["compiled"])
    # the spy imported every module at the end, so yaml is checked in a second process
    res = subprocess.run([sys.executable, "-I", "-c", "import sys; from sdcheck.cli import main; "
                          "main(['list']); print('yaml' in sys.modules, 'gettext' in sys.modules)"],
                         capture_output=True, text=True, timeout=60, cwd="/", env={"PYTHONPATH": str(ROOT)})
    assert res.returncode == 0, res.stderr
    assert res.stdout.splitlines()[-1] == "False False"


def test_a_pattern_compiles_once_and_behaves_like_re():
    import re
    from concurrent.futures import ThreadPoolExecutor

    from sdcheck.lazy import Pattern

    lazy = Pattern(r"(a+)(b)?", re.I)
    assert "_compiled" not in lazy.__dict__
    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(lambda s: lazy.fullmatch(s) and lazy.fullmatch(s).groups(), ["AaB", "a", "c"] * 20))
    assert got[:3] == [("Aa", "B"), ("a", None), None]
    assert lazy.sub("x", "caab") == "cx" and lazy.pattern == "(a+)(b)?" and lazy.groups == 2
    assert lazy.__dict__["_compiled"] is re.compile(r"(a+)(b)?", re.I)


def test_a_prefetched_command_is_handed_over_once_and_then_run_afresh():
    """LocalFacts.prefetch starts a command early; the next identical run() gets that result
    (the same process's output), later runs start the command again, and a run with input
    or as another user never takes it."""
    from sdcheck.host.base import FactError
    from sdcheck.host.local import LocalFacts

    facts = LocalFacts()
    pid = ["sh", "-c", "echo $$"]
    facts.prefetch([(pid, 10.0), (["no-such-program-sdcheck"], 10.0)])
    first = facts.run(pid)
    second = facts.run(pid)
    assert first.ok and second.ok and first.stdout.strip() and first.stdout != second.stdout
    facts.prefetch([(pid, 10.0)])
    with_input = facts.run(pid, input=b"")
    assert facts.run(pid).stdout not in (with_input.stdout, second.stdout)  # the prefetched one, kept
    slow = ["sh", "-c", "sleep 5; echo late"]
    facts.prefetch([(slow, 0.5)])
    try:
        facts.run(slow, timeout=0.5)
    except FactError as exc:  # the prefetched command's own limit holds
        assert "did not finish within 0.5 s" in str(exc)
    else:
        raise AssertionError("a prefetched command outlived its time limit")
