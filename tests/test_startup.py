"""Start-up stays cheap: the bundled baselines are read from their precompiled form (no
YAML parser), and importing sdcheck and its plugins compiles no regular expression.
Times are measured by bench/bench_run.py, not here; these tests check the means."""

from __future__ import annotations

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


def test_catalog_module_is_current():
    text = (ROOT / "sdcheck" / "catalog.py").read_text()
    assert text == bundled.catalog_module(), "run 'python -m sdcheck.baseline' after changing a check or baseline"


def test_list_from_the_catalog_reads_as_from_the_plugins():
    from sdcheck.registry import load_checks
    from sdcheck.startup import catalog_listing

    enabled = {p: set(bl.load_baseline(bl.bundled_path(p)).checks) for p in bl.PROFILES}
    for profile in (None, "app", "mon"):
        slow = []
        for cid, cls in load_checks().items():
            profiles = [p for p in bl.PROFILES if cid in enabled[p]]
            if not profile or profile in profiles:
                slow.append(f"{cid:28} {str(cls.severity):8} {cls.title}  (profiles: {', '.join(profiles) or 'none'})\n")
        assert catalog_listing(profile) == slow


def test_list_loads_the_plugins_when_they_differ_from_the_catalog(monkeypatch):
    from sdcheck import catalog
    from sdcheck.startup import catalog_listing

    monkeypatch.setitem(catalog.PLUGINS, "extra", "somewhere.else")  # another plugin installed
    assert catalog_listing(None) is None


def test_list_imports_no_plugin():
    res = subprocess.run([sys.executable, "-c", "import io, sys; from sdcheck.cli import main; "
                          "out, sys.stdout = sys.stdout, io.StringIO(); code = main(['list']); sys.stdout = out; "
                          "print(code, sorted(m for m in sys.modules if m.startswith('sdcheck.plugins.')))"],
                         capture_output=True, text=True, timeout=60, cwd=str(ROOT))
    assert res.returncode == 0 and res.stdout.split(None, 1) == ["0", "[]\n"], res.stdout + res.stderr


def test_precompiled_baselines_read_as_their_yaml():
    names = sorted(p.name for p in Path(bl.BASELINE_DIR).glob("*.yml"))
    assert {"app.yml", "mon.yml", "common.yml"} <= set(names)
    for name in names:
        path = str(Path(bl.BASELINE_DIR) / name)
        data = bl.read_input_file(path)
        assert files.precompiled(path, data) is not None
        _same(bl.load_yaml(path), yaml.load(data, Loader=files.loader_class()), name)  # noqa: S506 - a SafeLoader


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


# what sdcheck.startup keeps out of a start-up, each measured (see its docstring)
KEPT_OUT = ("yaml", "typing", "gettext", "shutil", "importlib.metadata")


def test_list_imports_nothing_the_startup_tricks_keep_out():
    res = subprocess.run([sys.executable, "-I", "-c", "import io, sys; from sdcheck.cli import main; "
                          "out, sys.stdout = sys.stdout, io.StringIO(); code = main(['list']); "
                          "listed, sys.stdout = sys.stdout.getvalue(), out; "
                          f"print(code, listed.count(chr(10)), *[m in sys.modules for m in {KEPT_OUT!r}])"],
                         capture_output=True, text=True, timeout=60, cwd="/", env={"PYTHONPATH": str(ROOT)})
    assert res.returncode == 0, res.stderr
    code, listed, *loaded = res.stdout.split()
    assert code == "0" and int(listed) >= 25
    assert dict(zip(KEPT_OUT, loaded)) == dict.fromkeys(KEPT_OUT, "False")


def test_the_startup_tricks_live_in_one_module():
    """Only sdcheck/startup.py defines TYPE_CHECKING or stubs gettext."""
    found = [p.relative_to(ROOT).as_posix() for p in sorted((ROOT / "sdcheck").rglob("*.py"))
             if "TYPE_CHECKING = " in p.read_text() or 'ModuleType("gettext")' in p.read_text()]
    assert found == ["sdcheck/startup.py"]


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
