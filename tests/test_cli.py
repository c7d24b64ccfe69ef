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


# -- issue 25's items: no write through a symlink, a future state, a suggestion for a typo ----

def test_output_and_state_through_a_symlink_are_refused(tmp_path):
    target = tmp_path / "target"
    link = tmp_path / "link"
    link.symlink_to(target)
    for args in (["report", "--profile", "app", "--only", "system.sysctl", "--output", str(link)],
                 ["report", "--profile", "app", "--only", "system.sysctl", "--state", str(link)],
                 ["run", "--profile", "app", "--only", "system.sysctl", "--state", str(link)]):
        res = cli.sdcheck(*args)
        assert res.returncode == 2 and "is a symlink" in res.stdout + res.stderr, (args, res.stdout, res.stderr)
        assert not target.exists()


def test_a_state_recorded_in_the_future_is_a_finding(tmp_path):
    import json
    import time

    state = tmp_path / "state.json"
    state.write_text(json.dumps({"schema": "sdcheck-state", "version": 1, "profile": "app",
                                 "finished": time.time() + 3 * 86400, "exit": 0, "checks": {}}))
    res = cli.sdcheck("report", "--profile", "app", "--only", "system.sysctl", "--state", str(state),
                      "--format", "json")
    (f,) = [f for f in json.loads(res.stdout)["findings"] if f["check_id"] == "sdcheck.state"]
    assert f["status"] == "fail" and "in the future" in f["message"], f


def test_a_misspelled_id_gets_a_suggestion():
    res = cli.sdcheck("run", "--profile", "app", "--only", "iptables.rulset")
    assert res.returncode == 2 and "did you mean iptables.ruleset?" in res.stdout, res.stdout
    res = cli.sdcheck("explain", "ossec.heartbaet")
    assert res.returncode == 2 and "did you mean ossec.heartbeat?" in res.stderr, res.stderr
    res = cli.sdcheck("explain", "nothing.like.it")
    assert res.returncode == 2 and "did you mean" not in res.stderr


def test_a_misspelled_skip_is_not_silently_ignored():
    for flag in ("--skip", "--only"):
        res = cli.sdcheck("report", "--profile", "app", flag, "system.sysclt")
        assert res.returncode == 2, (flag, res.stdout, res.stderr)
        assert f"{flag} system.sysclt matches no check; did you mean system.sysctl?" in res.stderr
    # a prefix of real ids is not a typo
    res = cli.sdcheck("report", "--profile", "app", "--only", "system.sysctl", "--skip", "store")
    assert res.returncode in (0, 1), res.stderr


def test_a_secret_on_the_command_line_is_refused_and_never_echoed():
    secret = "Zq7-hunter2-on-argv"
    for command in ("run", "report"):
        res = cli.sdcheck(command, "--profile", "app", "--only", "system.sysctl", "--var", f"sasl_password={secret}")
        assert res.returncode == 2, res.stdout
        out = res.stdout + res.stderr
        assert secret not in out and "Zq7" not in out
        assert "--var-file sasl_password=PATH" in out and "SDCHECK_SASL_PASSWORD" in out


def test_an_alias_bomb_through_var_is_refused_at_once():
    levels = ["&a [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):  # 10**9 values if it were expanded
        prev, name = chr(ord("a") + i - 1), chr(ord("a") + i)
        levels.append(f"&{name} [{', '.join(['*' + prev] * 10)}]")
    value = "[" + ", ".join(levels) + "]"
    proc = subprocess.Popen([*cli.SDCHECK, "run", "--profile", "app", "--var", f"bomb={value}"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, _err = proc.communicate(timeout=60)
    assert proc.returncode == 2
    assert out.startswith("System configuration error: [sdcheck.config] (critical) --var bomb: YAML anchors and "
                          "aliases"), out


def test_reports_are_private_and_a_fifo_is_refused_at_once(tmp_path):
    import os
    import stat

    out = tmp_path / "report.txt"
    out.write_text("old")
    out.chmod(0o644)
    res = cli.sdcheck("report", "--profile", "app", "--only", "system.sysctl", "--output", str(out))
    assert res.returncode in (0, 1) and stat.S_IMODE(out.stat().st_mode) == 0o600
    assert "system.sysctl" in out.read_text()
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    res = cli.sdcheck("report", "--profile", "app", "--only", "system.sysctl", "--output", str(fifo), timeout=20)
    assert res.returncode == 2 and f"cannot write the report to {fifo}" in res.stderr
    res = cli.sdcheck("report", "--profile", "app", "--only", "system.sysctl", "--state", str(fifo), "--format",
                      "json", timeout=20)
    assert f"the state file {fifo} cannot be read" in res.stdout and res.returncode == 1


def _world_readable_sdcheck() -> tuple[list[str], dict, object]:
    """A command that runs this sdcheck as any user: the checkout (or the test venv) may sit in
    root's 0700 home, so sdcheck and its libraries are copied to a 0755 directory and run by
    the real interpreter."""
    import importlib.util
    import os
    import shutil
    import tempfile
    from pathlib import Path

    d = Path(tempfile.mkdtemp(prefix="sdcheck-any-user-"))
    root = Path(__file__).resolve().parents[1]
    shutil.copytree(root / "sdcheck", d / "sdcheck", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(root / "baselines", d / "sdcheck" / "baselines")
    # its metadata too: plugins and formats are found through its entry points
    from importlib.metadata import distribution

    meta = Path(str(distribution("sdcheck")._path))  # noqa: SLF001 - where the installed metadata is
    shutil.copytree(meta, d / meta.name)
    for name in ("yaml", "_yaml", "psutil"):
        spec = importlib.util.find_spec(name)  # found, not imported
        if spec is None or not spec.submodule_search_locations:
            continue
        src = Path(list(spec.submodule_search_locations)[0])
        if not (d / src.name).exists():
            shutil.copytree(src, d / src.name, ignore=shutil.ignore_patterns("__pycache__"))
    for path in [d, *d.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    env = dict(os.environ, PYTHONPATH=str(d), HOME="/tmp")
    return [os.path.realpath(cli.SDCHECK[0]), *cli.SDCHECK[1:]], env, d


def test_without_root_the_advice_is_to_run_as_root_not_to_run_report_again():
    import json
    import subprocess

    import shutil

    argv, env, copy = _world_readable_sdcheck()
    try:
        res = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *argv, "report",
                              "--profile", "app", "--only", "iptables.default-drop", "--format", "json"],
                             capture_output=True, text=True, env=env, timeout=60, cwd="/")
    finally:
        shutil.rmtree(copy)
    (f,) = json.loads(res.stdout)["findings"]
    assert f["status"] == "error" and f["remedy"].startswith("Run sdcheck as root ('sudo sdcheck report')")
    assert "run 'sdcheck report' on the server" not in res.stdout.lower()
