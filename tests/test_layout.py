"""The shape of the package, read from its imports and calls (ast):

- the core (everything outside sdcheck/plugins) imports no plugin;
- a plugin imports the core and itself, never another plugin and never the CLI;
- no plugin module reaches the machine itself (sqlite3, subprocess, sockets, file calls):
  the host layer (sdcheck/host) does that;
- formatters never touch the host; parsers and judges are pure functions of their input.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "sdcheck"

# modules that reach the machine; a plugin must go through sdcheck.host instead
HOST_MODULES = {"sqlite3", "subprocess", "socket", "shutil", "tempfile", "fcntl", "multiprocessing",
                "glob", "pwd", "grp", "psutil", "iptc", "smtplib", "pathlib"}
# os functions that touch files or processes (os.path string helpers are fine)
OS_CALLS = {"open", "listdir", "scandir", "stat", "lstat", "fstat", "walk", "remove", "unlink", "mkdir",
            "makedirs", "rename", "replace", "chmod", "chown", "readlink", "access", "read", "write", "close",
            "system", "popen", "fork", "kill", "geteuid", "getuid", "cpu_count", "path.exists", "path.isdir",
            "path.isfile", "path.islink", "path.lexists", "path.getsize", "path.getmtime", "path.realpath"}
# run on the host as a program of its own (its source is handed to the host's python3),
# never imported by sdcheck's process: it is the probe, not plugin logic
PROGRAMS = {"plugins/alert/smtp_probe.py"}
PURE = ("parse", "save_parser", "rules", "diff", "judge", "expected")


def _imports(tree: ast.AST) -> list[tuple[str, int]]:
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.extend((a.name, node.lineno) for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append((node.module, node.lineno))
            out.extend((f"{node.module}.{a.name}", node.lineno) for a in node.names)
    return out


def _calls(tree: ast.AST) -> list[tuple[str, int]]:
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            out.append((ast.unparse(node.func), node.lineno))
    return out


def violations(root: Path) -> list[str]:
    """Every broken rule under the package directory ``root``, as 'file:line: rule'."""
    found = []
    pkg = root.name
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        tree = ast.parse(path.read_text(), rel)
        parts = rel.split("/")
        plugin = parts[1] if parts[0] == "plugins" and len(parts) > 2 else None
        for name, line in _imports(tree):
            where = f"{rel}:{line}"
            if not name.startswith(pkg + "."):
                top = name.split(".")[0]
                if plugin and rel not in PROGRAMS and top in HOST_MODULES:
                    found.append(f"{where}: plugin module imports {top} (use the host layer)")
                if parts[0] == "formatters" and top in HOST_MODULES - {"pathlib"}:
                    found.append(f"{where}: formatter imports {top}")
                if path.stem in PURE and top in HOST_MODULES | {"os"}:
                    found.append(f"{where}: pure module imports {top}")
                continue
            inner = name.split(".")[1:]
            if not plugin and inner[:1] == ["plugins"] and len(inner) > 1 and parts[0] != "plugins":
                found.append(f"{where}: core imports plugin {inner[1]}")
            if plugin and inner[:1] == ["plugins"] and len(inner) > 1 and inner[1] != plugin:
                found.append(f"{where}: plugin {plugin} imports plugin {inner[1]}")
            if plugin and inner[:1] in (["cli"], ["pytest_plugin"]):
                found.append(f"{where}: plugin {plugin} imports {'.'.join(inner[:1])}")
            if parts[0] == "formatters" and inner[:1] == ["host"]:
                found.append(f"{where}: formatter imports the host layer")
            if path.stem in PURE and inner[:1] == ["host"] and inner[1:2] != ["base"]:
                found.append(f"{where}: pure module imports the host layer")
        for func, line in _calls(tree):
            where = f"{rel}:{line}"
            touches = func == "open" or (func.startswith("os.") and func[3:] in OS_CALLS)
            if touches and rel not in PROGRAMS and (plugin or parts[0] == "formatters" or path.stem in PURE):
                found.append(f"{where}: calls {func} (use the host layer)")
    return sorted(set(found))


def test_the_package_keeps_its_shape():
    assert (PACKAGE / "plugins").is_dir() and (PACKAGE / "host").is_dir()
    assert violations(PACKAGE) == []


def test_every_plugin_has_a_readme():
    for plugin in sorted(p for p in (PACKAGE / "plugins").iterdir() if p.is_dir() and p.name != "__pycache__"):
        readme = plugin / "README.md"
        assert readme.is_file(), f"{plugin.name} has no README.md"
        text = readme.read_text()
        for heading in ("Reads", "Cannot see"):
            assert f"## {heading}" in text, f"{plugin.name}/README.md lacks '## {heading}'"


def test_the_rules_catch_each_kind_of_break(tmp_path):
    """The checker itself, on a package that breaks every rule once."""
    pkg = tmp_path / "sdcheck"
    files = {
        "cli.py": "from sdcheck.plugins.alpha import checks\n",                     # core -> plugin
        "formatters/text.py": "import subprocess\nopen('/etc/passwd')\n",          # formatter on host
        "plugins/alpha/checks.py": ("import sqlite3\nimport os\nfrom sdcheck.plugins.beta import x\n"
                                    "from sdcheck import cli\nos.listdir('/')\n"),
        "plugins/alpha/judge.py": "from sdcheck.host.local import LocalFacts\n",   # pure on host
        "plugins/beta/x.py": "from sdcheck.model import Finding\n",                 # allowed
    }
    for rel, text in files.items():
        (pkg / rel).parent.mkdir(parents=True, exist_ok=True)
        (pkg / rel).write_text(text)
    found = violations(pkg)
    expected = ["cli.py:1: core imports plugin alpha", "formatters/text.py:1: formatter imports subprocess",
                "formatters/text.py:2: calls open (use the host layer)",
                "plugins/alpha/checks.py:1: plugin module imports sqlite3 (use the host layer)",
                "plugins/alpha/checks.py:3: plugin alpha imports plugin beta",
                "plugins/alpha/checks.py:4: plugin alpha imports cli",
                "plugins/alpha/checks.py:5: calls os.listdir (use the host layer)",
                "plugins/alpha/judge.py:1: pure module imports the host layer"]
    assert sorted(found) == sorted(expected)


def test_tests_never_import_each_other():
    tests = Path(__file__).resolve().parent
    bad = []
    for path in sorted(tests.rglob("*.py")):
        for name, line in _imports(ast.parse(path.read_text(), path.name)):
            top = name.split(".")[0]
            if top.startswith("test_") or top == "conftest" or (top == "plugins" and ".test_" in name):
                bad.append(f"{path.name}:{line}: imports {name} (shared code goes in tests/helpers/)")
            if top == "helpers" and name.rsplit(".", 1)[-1].startswith("_"):
                bad.append(f"{path.name}:{line}: imports {name}, another module's private name")
    assert bad == []


# -- the id is the address ----------------------------------------------------------------

ROOT = PACKAGE.parent
MAX_MODULE_BYTES = 15_000
GENERATED = {"baseline/precompiled.py"}


def _check_classes_defined(tree: ast.AST) -> list[tuple[str, str]]:
    """(class name, id) of every class in the module that assigns a string ``id``."""
    out = []
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            for stmt in node.body:
                if (isinstance(stmt, ast.Assign) and any(getattr(t, "id", "") == "id" for t in stmt.targets)
                        and isinstance(stmt.value, ast.Constant) and isinstance(stmt.value.value, str)):
                    out.append((node.name, stmt.value.value))
    return out


def shape_violations(root: Path) -> list[str]:
    """The id-is-the-address rules, for the package directory ``root``: each module under
    plugins/*/checks/ defines exactly one check whose id is its path; no module imports
    another's underscore names; host/ imports no plugin and names no check; no module but
    generated data is over MAX_MODULE_BYTES."""
    from sdcheck.docs import module_path

    found = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        text = path.read_text()
        tree = ast.parse(text, rel)
        parts = rel.split("/")
        if parts[0] == "plugins" and len(parts) == 4 and parts[2] == "checks" and parts[3] != "__init__.py":
            checks = _check_classes_defined(tree)
            if len(checks) != 1 or module_path(checks[0][1]) != f"{root.name}/{rel}":
                found.append(f"{rel}: defines {checks or 'no check'}, not one check named after its path")
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(root.name):
                found += [f"{rel}:{node.lineno}: imports {node.module}.{a.name}" for a in node.names
                          if a.name.startswith("_") and a.name != "__version__"]
        if parts[0] == "host":
            found += sorted({f"{rel}:{line}: host imports a plugin" for name, line in _imports(tree)
                             if name.startswith(f"{root.name}.plugins")})
            found += [f"{rel}: host names a {plugin} check" for plugin in ("iptables", "postfix", "store", "alert")
                      if f'"{plugin}.' in text]
        if len(text.encode()) > MAX_MODULE_BYTES and rel not in GENERATED:
            found.append(f"{rel}: {len(text.encode())} bytes, over {MAX_MODULE_BYTES}")
    return found


def test_the_package_keeps_the_id_is_the_address_shape():
    assert shape_violations(PACKAGE) == []


def test_the_shape_rules_catch_each_kind_of_break(tmp_path):
    pkg = tmp_path / "sdcheck"
    check = "from sdcheck.check import Check\n\nclass {cls}(Check):\n    id = {cid!r}\n"
    files = {
        "plugins/alpha/checks/good.py": check.format(cls="Good", cid="alpha.good"),
        "plugins/alpha/checks/two.py": check.format(cls="A", cid="alpha.two") + check.format(cls="B", cid="alpha.b"),
        "plugins/alpha/checks/misnamed.py": check.format(cls="M", cid="alpha.other-name"),
        "plugins/alpha/live.py": "from sdcheck.plugins.alpha.base import _private\n",
        "host/local.py": "from sdcheck.plugins.alpha import live\nNAME = \"alpha.good\"\nX = \"iptables.ruleset\"\n",
        "big.py": "#" + "x" * MAX_MODULE_BYTES + "\n",
    }
    for rel, text in files.items():
        (pkg / rel).parent.mkdir(parents=True, exist_ok=True)
        (pkg / rel).write_text(text)
    found = shape_violations(pkg)
    assert [f.split(":")[0] for f in found] == ["big.py", "host/local.py", "host/local.py",
                                                  "plugins/alpha/checks/misnamed.py",
                                                  "plugins/alpha/checks/two.py", "plugins/alpha/live.py"], found
    assert "host imports a plugin" in found[1] and "host names a iptables check" in found[2]


def test_every_check_id_leads_to_its_module_docs_entry_and_tests():
    from sdcheck.docs import module_path, test_path
    from sdcheck.registry import load_checks

    docs = (ROOT / "docs" / "checks.md").read_text()
    classes = load_checks()
    assert len(classes) >= 25
    for cid, cls in classes.items():
        assert (ROOT / module_path(cid)).is_file(), cid
        assert cls.__module__.replace(".", "/") + ".py" == module_path(cid), cid
        assert f"\n## {cid}\n" in docs, f"docs/checks.md has no entry for {cid}"
        test_file = ROOT / test_path(cid)
        assert test_file.is_file(), f"{cid}: no {test_path(cid)}"
        assert "def test_" in test_file.read_text(), f"{test_path(cid)} holds no test"


def test_docs_checks_md_is_current():
    from sdcheck.docs import checks_markdown
    from sdcheck.registry import load_checks

    assert (ROOT / "docs" / "checks.md").read_text() == checks_markdown(load_checks()), \
        "run 'python -m sdcheck.docs > docs/checks.md'"




def test_tests_spell_the_command_and_the_ossec_prefix_once():
    tests = Path(__file__).resolve().parent
    needles = ('"-m", ' + '"sdcheck"', "PREFIX = " + '"System configuration error')  # not spelled here
    spelled = [p.relative_to(tests).as_posix() for p in sorted(tests.rglob("*.py"))
               if any(n in p.read_text() for n in needles)]
    assert spelled == ["helpers/cli.py"]
