"""Set-up guards: every program the tests or sdcheck run is installed by setup.sh (named in
packages.txt), and the code keeps to the Python floor that pyproject.toml declares."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import tomllib
from pathlib import Path

from helpers.all import PACKAGES_TXT, declared_programs

ROOT = Path(__file__).parent.parent
_SUBPROCESS = {"subprocess.run", "subprocess.Popen", "subprocess.check_output", "subprocess.check_call",
               "subprocess.call"}
# shell words that are not programs (builtins, keywords)
_SHELL_WORDS = {"cd", "exec", "export", "echo", "printf", "test", "[", "true", "false", "set", "for", "do",
                "done", "if", "then", "fi", "while", "read", "wait", "trap", "exit", "return", "command"}


def _literal(node: ast.AST) -> str | None:
    """A string constant, or an f-string with '{}' where its values go."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)
    return None


# programs a test runs because they are not there
_ABSENT_ON_PURPOSE = {"definitely-not-installed-sdcheck"}


def _shell_programs(script: str) -> list[str]:
    """The first word of each simple command of a shell script (good enough for tests')."""
    words = []
    script = re.sub(r"'[^']*'|\"(?:\\.|[^\"\\])*\"", "QUOTED", script)  # quoted words are arguments
    for part in re.split(r"&&|\|\||[;|\n()]", script):
        tokens = part.split()
        while tokens and re.fullmatch(r"[A-Z_]+=\S*|\d?>.*|!", tokens[0]):  # VAR=x, redirections
            tokens.pop(0)
        if tokens and tokens[0] not in _SHELL_WORDS:
            words.append(tokens[0])
    return words


def programs_run_by(paths) -> dict[str, set[str]]:
    """{program: {file:line, ...}} for what the code runs: need()/which()/facts.run() names,
    the first element of a literal argv, the commands of literal shell scripts."""
    found: dict[str, set[str]] = {}
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.Call) or not node.args:
                continue
            func = ast.unparse(node.func)
            name = func.rsplit(".", 1)[-1]
            first = node.args[0]
            progs: list[str] = []
            if name in ("need", "which"):
                progs = [s for a in node.args if (s := _literal(a)) is not None]
            elif (func in _SUBPROCESS or name in ("exec_argv", "run")) and isinstance(first, (ast.List, ast.Tuple)) \
                    and first.elts and (s := _literal(first.elts[0])) is not None:
                progs = _shell_programs(first.elts[2].value) if s == "sh" and len(first.elts) > 2 \
                    and _literal(first.elts[2]) else [s]
            elif name == "sh" and (s := _literal(first)) is not None:
                progs = _shell_programs(s)
            for prog in progs:
                found.setdefault(prog, set()).add(f"{path.name}:{node.lineno}")
    return found


def _undeclared(found: dict[str, set[str]]) -> list[str]:
    declared = declared_programs()
    bad = []
    for prog, where in sorted(found.items()):
        if "{}" in prog:  # iptables-{backend}: some declared program must fit the pattern
            pattern = re.compile(re.escape(prog).replace(r"\{\}", ".+"))
            ok = any(pattern.fullmatch(d) for d in declared)
        else:
            ok = prog in declared or prog in _ABSENT_ON_PURPOSE or prog.startswith(("/tmp", "./")) or "/" in prog and Path(prog).name in declared
        if not ok:
            bad.append(f"{prog} ({', '.join(sorted(where))})")
    return bad


def test_every_program_the_tests_run_is_installed_by_setup():
    found = programs_run_by(sorted((ROOT / "tests").rglob("*.py")))
    assert {"ip", "iptables-nft", "postmap", "ssh-keygen", "flock"} <= set(found), "the scan misses known uses"
    assert _undeclared(found) == [], f"add these to {PACKAGES_TXT.name} (their Debian package)"


def test_every_program_sdcheck_runs_is_named_in_packages_txt():
    found = programs_run_by(sorted((ROOT / "sdcheck").rglob("*.py")))
    assert {"nft", "postconf", "gpg"} <= set(found), "the scan misses known uses"
    assert _undeclared(found) == [], f"add these to {PACKAGES_TXT.name} (their Debian package)"


def test_the_scan_catches_an_undeclared_program(tmp_path):
    probe = tmp_path / "test_probe.py"
    probe.write_text('import subprocess\n'
                     'def test_x(netns):\n'
                     '    need("ip", "cowsay")\n'
                     '    netns.sh("iptables-nft -S && fortune | lolcat")\n'
                     '    subprocess.run(["sl", "-e"])\n')
    found = programs_run_by([probe])
    assert {p.split(" ")[0] for p in _undeclared({k: {"x"} for k in found})} == {"cowsay", "fortune", "lolcat", "sl"}


def test_setup_sh_installs_the_roles_of_packages_txt():
    """setup.sh's own reading of packages.txt (awk) agrees with the tests' reading."""
    script = ROOT / "setup.sh"
    text = script.read_text()
    fn = text[text.index("packages() {"):text.index("\n}\n", text.index("packages() {")) + 3]
    out = subprocess.run(["bash", "-c", f"cd {ROOT} && {fn}\npackages runtime test"], capture_output=True,
                         text=True, check=True).stdout.split()
    rows = [ln.split() for ln in PACKAGES_TXT.read_text().split("\n") if ln.strip() and not ln.startswith("#")]
    assert out == [r[1] for r in rows if r[0] in ("runtime", "test")]
    assert {"nftables", "iptables", "python3-iptables", "postfix"} <= set(out)


def test_code_keeps_to_requires_python(tmp_path):
    """vermin reads the syntax and standard-library use of every module against the floor."""
    floor = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    version = re.fullmatch(r">=\s*(\d+\.\d+)", floor)
    assert version, f"requires-python should be a plain floor, not {floor!r}"

    def vermin(*paths) -> subprocess.CompletedProcess:  # '3.11-': nothing newer than 3.11 needed
        return subprocess.run([str(Path(sys.executable).parent / "vermin"), "-q", "--no-tips", "--eval-annotations",
                               f"-t={version.group(1)}-", *map(str, paths)], cwd=ROOT, capture_output=True,
                              text=True, timeout=300)

    res = vermin("sdcheck", "tests", "bench")
    assert res.returncode == 0, res.stdout + res.stderr
    newer = tmp_path / "newer.py"
    newer.write_text("import itertools\nprint(list(itertools.batched('abcd', 2)))\n")  # 3.12
    assert vermin(newer).returncode == 1, "vermin should refuse what the floor lacks"
    # and the interpreter running the tests is one the floor admits
    assert sys.version_info[:2] >= tuple(map(int, version.group(1).split(".")))


def test_the_server_lock_file_pins_every_runtime_dependency_by_hash():
    """requirements/server.txt (what setup.sh install and the .deb install) pins exactly the
    runtime dependencies pyproject.toml names, python-iptables aside (Debian's), each by hash
    and at a version pyproject admits; no test runner is among them."""
    from packaging.requirements import Requirement

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    runtime = {Requirement(r).name.lower(): Requirement(r) for r in project["dependencies"]}
    assert "pytest" not in runtime and "pytest-testinfra" not in runtime
    assert {Requirement(r).name for r in project["optional-dependencies"]["remote"]} == {"pytest", "pytest-testinfra"}
    text = (ROOT / "requirements" / "server.txt").read_text()
    entries = re.findall(r"^([A-Za-z0-9_.-]+)==(\S+) \\\n((?:\s+--hash=sha256:[0-9a-f]{64}(?: \\)?\n?)+)", text, re.M)
    pinned = {name.lower(): (version, hashes) for name, version, hashes in entries}
    assert set(pinned) == set(runtime) - {"python-iptables"}, (pinned, runtime)
    for name, (version, hashes) in pinned.items():
        assert runtime[name].specifier.contains(version), (name, version)
        assert hashes.count("--hash=sha256:") >= 1


def test_a_server_without_the_remote_extra_says_which_to_install():
    code = ("import sys; sys.modules['testinfra'] = None\n"
            "from sdcheck.cli import main\n"
            "sys.exit(main(['report', '--profile', 'app', '--hosts', 'ssh://root@app']))")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert res.returncode == 2 and "pip install 'sdcheck[remote]'" in res.stderr, res.stderr


def test_every_import_in_the_benchmarks_resolves():
    """bench/ is not run by the suite; its imports (of sdcheck and of the tests' helpers) are
    checked here, so moving a helper cannot silently break ./setup.sh bench."""
    import importlib

    for path in sorted((ROOT / "bench").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), path.name)):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                if node.module.split(".")[0] in ("helpers", "sdcheck"):
                    module = importlib.import_module(node.module)
                    for alias in node.names:
                        assert hasattr(module, alias.name), f"{path.name}: {node.module}.{alias.name}"
