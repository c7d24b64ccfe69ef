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
    return dict(data)


def parse_var_option(text: str) -> tuple[str, Any]:
    name, sep, raw = text.partition("=")
    name = name.strip()
    if not sep or not NAME_RE.match(name):
        # never echo the value: it may be a password
        raise BaselineError("--var", None, "expected NAME=VALUE with NAME a plain identifier "
                            f"(got a name of {len(name)} characters{'' if sep else ' and no ='})")
    import yaml

    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    if isinstance(value, (dict, list, int, float, bool)) or value is None:
        return name, value if value is not None else ""
    return name, raw


# -- baselines ----------------------------------------------------------------------

class Baseline:
    def __init__(self, path: str, profile: str, description: str, variables: dict,
                 checks: dict, lines: dict | None = None):
        self.path, self.profile, self.description = path, profile, description
        self.variables = variables  # defaults from the file (raw)
        self.checks = checks        # check id -> raw options
        self.lines = lines or {}    # check id -> line of its section

    def source_of(self, check_id: str) -> str:
        """The file that defined a check's options (a parent baseline, for inherited ones)."""
        return getattr(self.checks.get(check_id), "_path", None) or self.path

    def line_of(self, check_id: str) -> int | None:
        return self.lines.get(check_id)


_TOP_KEYS = {"sdcheck_baseline", "profile", "description", "extends", "vars", "checks"}


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
    parent = data.get("extends")
    if parent is not None:
        if not isinstance(parent, str):
            raise BaselineError(path, line_of(data, "extends"), "'extends' must be a file name")
        ppath = parent if os.path.isabs(parent) else os.path.join(os.path.dirname(path), parent)
        if os.path.abspath(ppath) in _seen:
            raise BaselineError(path, line_of(data, "extends"), f"'extends' loops back to {parent}")
        base = load_baseline(ppath, _seen + (os.path.abspath(path),))
        variables.update(base.variables)
        checks.update(base.checks)
        lines.update(base.lines)
    raw_vars = data.get("vars") or {}
    if not isinstance(raw_vars, dict):
        raise BaselineError(path, line_of(data, "vars"), "'vars' must be a mapping")
    variables.update(raw_vars)
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
    return Baseline(path, profile, str(data.get("description") or ""), variables, checks, lines)


def merge_variables(baseline: Baseline, vars_file: dict[str, Any] | None,
                    cli_vars: list[tuple[str, Any]]) -> dict[str, Any]:
    merged = dict(baseline.variables)
    if vars_file:
        merged.update(vars_file)
    for k, v in cli_vars:
        merged[k] = v
    return merged
