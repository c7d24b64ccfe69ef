"""Baselines (expected state, YAML) and variables (site values).

Variables, in increasing precedence: ``vars:`` defaults in the baseline, a vars file
(``--vars``; SecureDrop's ``site-specific`` file is accepted as it is, unknown keys
included), and ``--var KEY=VALUE``. See baseline/template.py for what a baseline may say.
Every error names the file and line, so an admin can go straight to it.
"""

from __future__ import annotations

import os
import re

from sdcheck.baseline.files import MDict, line_of, load_yaml
from sdcheck.baseline.template import NAME_RE
from sdcheck.errors import BaselineError
from sdcheck.startup import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any


def _baseline_dir() -> str:
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    installed = os.path.join(here, "baselines")          # wheel: sdcheck/baselines/
    source = os.path.join(os.path.dirname(here), "baselines")  # checkout / editable install
    return installed if os.path.isdir(installed) else source


BASELINE_DIR = _baseline_dir()
PROFILES = ("app", "mon")
SCHEMA_VERSION = 1
_PROFILE_RE = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
# variables that hold secrets: never printed, redacted from every output
SECRET_VARS = ("sasl_password",)


# -- variables ----------------------------------------------------------------------

def load_vars_file(path: str) -> dict[str, Any]:
    data = load_yaml(path, secret=True)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise BaselineError(path, line_of(data, default=1), "a vars file must be a mapping of name: value")
    for key in data:
        if not isinstance(key, str) or not NAME_RE.match(key):
            # not echoed: a line such as 'hunter2:' would print a password
            raise BaselineError(path, line_of(data, key), "a variable name is not a plain identifier "
                                "(letters, digits and _)")
    return data  # an MDict: a bad value is blamed on its line


def parse_var_option(text: str, option: str = "--var") -> tuple[str, Any]:
    """``NAME=VALUE``, the value read as YAML under the vars file's rules: at most
    MAX_FILE_BYTES, no anchors or aliases (an alias bomb never expands). A variable that holds
    a secret is refused here: on a command line every local user can read it."""
    name, sep, raw = text.partition("=")
    name = name.strip()
    if not sep or not NAME_RE.match(name):
        # never echo the value: it may be a password
        raise BaselineError(option, None, "expected NAME=VALUE with NAME a plain identifier "
                            f"(got a name of {len(name)} characters{'' if sep else ' and no ='})")
    if option == "--var" and name in SECRET_VARS:
        raise BaselineError("--var", None, f"{name} holds a secret, and a command line can be read by every "
                            "local user while sdcheck runs: put it in the vars file (mode 0600), in the environment "
                            f"variable {secret_env(name)}, or in a file named with --var-file {name}=PATH")
    return name, parse_var_value(raw, f"{option} {name}")


def secret_env(name: str) -> str:
    """The environment variable a secret variable may come from."""
    return f"SDCHECK_{name.upper()}"


def parse_var_value(raw: str, where: str) -> Any:
    from sdcheck.baseline.files import MAX_FILE_BYTES

    if len(raw.encode("utf-8", "surrogateescape")) > MAX_FILE_BYTES:
        raise BaselineError(where, None, f"the value is larger than {MAX_FILE_BYTES >> 20} MiB")
    if not raw.strip():
        return ""
    import yaml

    try:
        for event in yaml.parse(raw, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
            if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
                raise BaselineError(where, None, "YAML anchors and aliases (& and *) are not allowed in a value")
        value = yaml.safe_load(raw)
    except yaml.YAMLError:
        return raw  # not YAML: the text as it is
    if isinstance(value, (dict, list, int, float, bool)) or value is None:
        return value if value is not None else ""
    return raw


def secret_inputs(var_files: list[str], environ) -> list[tuple[str, Any]]:
    """Secret variables from ``--var-file NAME=PATH`` (the file's text, one trailing newline
    removed; read as vars files are) and from the environment (``SDCHECK_SASL_PASSWORD``)."""
    from sdcheck.baseline.files import read_input_file

    out: list[tuple[str, Any]] = [(name, environ[secret_env(name)]) for name in SECRET_VARS
                                  if environ.get(secret_env(name))]
    for text in var_files:
        name, sep, path = text.partition("=")
        name = name.strip()
        if not sep or not NAME_RE.match(name) or not path:
            raise BaselineError("--var-file", None, "expected NAME=PATH with NAME a plain identifier")
        data = read_input_file(path).decode("utf-8", "surrogateescape")
        out.append((name, data[:-1] if data.endswith("\n") else data))
    return out


# -- baselines ----------------------------------------------------------------------

class Baseline:
    def __init__(self, path: str, profile: str, description: str, variables: dict,
                 checks: dict, lines: dict | None = None, site: list[str] | None = None):
        self.path, self.profile, self.description = path, profile, description
        self.site = site or []      # variables only the site can give (its addresses, relay, admins)
        self.var_sources: dict[str, str] = {}  # variable -> the baseline file that last set it
        self.variables = variables  # defaults from the file (raw)
        self.checks = checks        # check id -> raw options
        self.lines = lines or {}    # check id -> line of its section

    def source_of(self, check_id: str) -> str:
        """The file that defined a check's options (a parent baseline, for inherited ones)."""
        return getattr(self.checks.get(check_id), "_path", None) or self.path

    def line_of(self, check_id: str) -> int | None:
        return self.lines.get(check_id)


_TOP_KEYS = {"sdcheck_baseline", "profile", "description", "extends", "vars", "site", "checks"}


def bundled_path(profile: str) -> str:
    return os.path.join(BASELINE_DIR, f"{profile}.yml")


def load_baseline(path: str, _seen: tuple[str, ...] = ()) -> Baseline:
    data = load_yaml(path)
    if not isinstance(data, dict):
        raise BaselineError(path, line_of(data, default=1), "a baseline must be a mapping")
    for key in data:
        if key not in _TOP_KEYS:
            raise BaselineError(path, line_of(data, key), f"unknown key {key!r} "
                                f"(allowed: {', '.join(sorted(_TOP_KEYS))})")
    version = data.get("sdcheck_baseline")
    if version != SCHEMA_VERSION:
        raise BaselineError(path, line_of(data, "sdcheck_baseline", 1),
                            f"'sdcheck_baseline: {SCHEMA_VERSION}' is required (got {version!r})")
    variables: dict[str, Any] = {}
    checks: dict[str, dict[str, Any]] = {}
    lines: dict[str, int] = {}
    site: list[str] = []
    var_sources: dict[str, str] = {}
    parent = data.get("extends")
    if parent is not None:
        if not isinstance(parent, str):
            raise BaselineError(path, line_of(data, "extends"), "'extends' must be a file name")
        ppath = parent if os.path.isabs(parent) else os.path.join(os.path.dirname(path), parent)
        if _PROFILE_RE.match(parent) and not os.path.exists(ppath):  # a bundled one by name: extends: app
            ppath = bundled_path(parent) if os.path.exists(bundled_path(parent)) else ppath
        if os.path.abspath(ppath) in _seen:
            raise BaselineError(path, line_of(data, "extends"), f"'extends' loops back to {parent}")
        base = load_baseline(ppath, _seen + (os.path.abspath(path),))
        site.extend(base.site)
        var_sources = dict(base.var_sources)
        variables.update(base.variables)
        checks.update(base.checks)
        lines.update(base.lines)
    own_site = data.get("site") or []
    if not isinstance(own_site, list) or not all(isinstance(n, str) and NAME_RE.match(n) for n in own_site):
        raise BaselineError(path, line_of(data, "site"), "'site' must be a list of variable names")
    site.extend(n for n in own_site if n not in site)
    raw_vars = data.get("vars") or {}
    if not isinstance(raw_vars, dict):
        raise BaselineError(path, line_of(data, "vars"), "'vars' must be a mapping")
    variables.update(raw_vars)
    var_sources.update({k: f"{path}:{line_of(raw_vars, k) or 0}" for k in raw_vars})
    raw_checks = data.get("checks") or {}
    if not isinstance(raw_checks, dict):
        raise BaselineError(path, line_of(data, "checks"), "'checks' must be a mapping of check id: options")
    for cid, opts in raw_checks.items():
        if opts is None:
            opts = MDict()
            opts.line, opts.key_lines = line_of(raw_checks, cid) or 0, {}
        if opts is False:  # a child baseline can switch off an inherited check
            checks.pop(cid, None)
            continue
        if not isinstance(opts, dict):
            raise BaselineError(path, line_of(raw_checks, cid), f"options of {cid!r} must be a mapping")
        checks[cid] = opts
        lines[cid] = line_of(raw_checks, cid) or 0
        if isinstance(opts, MDict):
            opts._path = path  # for messages: the file that defined these options
    profile = data.get("profile")
    if not isinstance(profile, str) or not _PROFILE_RE.match(profile):
        raise BaselineError(path, line_of(data, "profile", 1),
                            "'profile' (a lower-case word such as app or mon) is required")
    out = Baseline(path, profile, str(data.get("description") or ""), variables, checks, lines, site)
    out.var_sources = var_sources
    return out


def merge_variables(baseline: Baseline, vars_file: dict[str, Any] | None,
                    cli_vars: list[tuple[str, Any]]) -> dict[str, Any]:
    merged = dict(baseline.variables)
    if vars_file:
        merged.update(vars_file)
    for k, v in cli_vars:
        merged[k] = v
    return merged
