"""Baselines (expected state, YAML) and variables (site values).

Variables, in increasing precedence: ``vars:`` defaults in the baseline, a vars file
(``--vars``; SecureDrop's ``site-specific`` file is accepted as it is, unknown keys
included), and ``--var KEY=VALUE``. In a baseline, ``${name}`` is replaced by a variable;
a string that is exactly ``${name}`` takes the variable's value whole (a list stays a
list); ``$${`` writes a literal ``${``.

Every error names the file and line, so an admin can go straight to it.
"""

from __future__ import annotations

import errno
import os
import re
import stat
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

from sdcheck.check import Check, Option
from sdcheck.lazy import Pattern

def _baseline_dir() -> str:
    here = os.path.dirname(os.path.abspath(__file__))
    installed = os.path.join(here, "baselines")          # wheel: sdcheck/baselines/
    source = os.path.join(os.path.dirname(here), "baselines")  # checkout / editable install
    return installed if os.path.isdir(installed) else source


BASELINE_DIR = _baseline_dir()
PROFILES = ("app", "mon")
SCHEMA_VERSION = 1
# ${name}: a variable; $${ is a literal ${ (except $${fact:, which the fact substitution
# unescapes when the check runs, so a literal "${fact:x}" is never substituted)
_VAR_RE = Pattern(r"\$(\$)\{(?!fact:)|\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_NAME_RE = Pattern(r"^[A-Za-z_][A-Za-z0-9_]*$")
_PROFILE_RE = Pattern(r"^[a-z][a-z0-9_-]{0,31}$")
# variables that hold secrets: never printed, redacted from every output
SECRET_VARS = ("sasl_password",)


class BaselineError(Exception):
    """A malformed baseline, vars file or option. Printed as one line ``file:line: msg``."""

    def __init__(self, path: str, line: int | None, message: str):
        self.path, self.line, self.message = path, line, message
        super().__init__(f"{path}:{line}: {message}" if line else f"{path}: {message}")


class _MDict(dict):
    """A mapping that remembers the line of each key."""

    line = 0
    key_lines: dict
    _path: str | None = None


class _MList(list):
    line = 0
    item_lines: list = []  # line of each item (after block expansion: of its source)


def item_lines(value: Any) -> list:
    """Baseline line of each item of a list read from a baseline (0 where unknown)."""
    lines = getattr(value, "item_lines", None) or []
    return list(lines) + [0] * (len(value) - len(lines))


def _loader_cls():
    import yaml

    base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

    class Loader(base):  # type: ignore[misc, valid-type]
        pass

    def construct_mapping(loader, node):
        out = _MDict()
        out.line = node.start_mark.line + 1
        out.key_lines = {}
        for knode, vnode in node.value:
            key = loader.construct_object(knode, deep=True)
            if not isinstance(key, (str, int, float, bool)) or key is None:
                raise yaml.constructor.ConstructorError(
                    None, None, "mapping keys must be plain words", knode.start_mark)
            if key in out:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} appears twice", knode.start_mark)
            out[key] = loader.construct_object(vnode, deep=True)
            out.key_lines[key] = knode.start_mark.line + 1
        return out

    def construct_seq(loader, node):
        out = _MList(loader.construct_object(n, deep=True) for n in node.value)
        out.line = node.start_mark.line + 1
        out.item_lines = [n.start_mark.line + 1 for n in node.value]
        return out

    Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, construct_mapping)
    Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, construct_seq)
    return Loader


_LOADER = None


MAX_FILE_BYTES = 4 << 20     # a baseline, vars or waivers file larger than this is refused
MAX_EXPANDED_NODES = 200_000  # YAML aliases may not expand a baseline beyond this many values


def read_input_file(path: str, limit: int = MAX_FILE_BYTES) -> bytes:
    """A file sdcheck was told to read (baseline, vars, waivers): a regular file, not a
    symlink and not a FIFO (opened without blocking), at most ``limit`` bytes; anything else
    is a clear error, never a hang and never a silently shortened file."""
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NOCTTY
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise BaselineError(path, None, "is a symlink; sdcheck does not follow it") from None
        raise BaselineError(path, None, f"cannot read: {exc.strerror or exc}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise BaselineError(path, None, "is not a regular file")
        if st.st_size > limit:
            raise BaselineError(path, None, f"is {st.st_size} bytes, more than the {limit >> 20} MiB sdcheck "
                                "reads; it refuses the file rather than read part of it")
        chunks, size = [], 0
        while size <= limit:
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > limit:
            raise BaselineError(path, None, f"grew beyond {limit >> 20} MiB while being read")
        return b"".join(chunks)
    except OSError as exc:
        raise BaselineError(path, None, f"cannot read: {exc.strerror or exc}") from None
    finally:
        os.close(fd)


def load_yaml(path: str, *, secret: bool = False) -> Any:
    """A YAML file as data with line numbers. ``secret``: the file may hold secrets (vars,
    waivers): anchors and aliases are refused, and an error names only the line and column,
    never the text."""
    global _LOADER
    data = read_input_file(path)
    if not secret:
        compiled = _compiled(path, data)
        if compiled is not None:
            return compiled
    import yaml

    if _LOADER is None:
        _LOADER = _loader_cls()
    try:
        if secret:
            for event in yaml.parse(data, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
                if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
                    raise BaselineError(path, event.start_mark.line + 1,
                                        "YAML anchors and aliases (& and *) are not allowed in this file")
        value = yaml.load(data, Loader=_LOADER)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        where = f" (column {mark.column + 1})" if mark else ""
        if secret:  # the problem text may quote a value (a tag, a scalar): position only
            raise BaselineError(path, mark.line + 1 if mark else None,
                                f"not valid YAML{where}; the text is not shown, it may hold a secret") from None
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        ctx = getattr(exc, "context", None)
        msg = f"not valid YAML: {problem}" + (f" ({ctx})" if ctx else "")
        raise BaselineError(path, mark.line + 1 if mark else None, msg) from None
    if not secret and _expanded_size(value) > MAX_EXPANDED_NODES:
        raise BaselineError(path, None, f"expands (through YAML aliases) to more than {MAX_EXPANDED_NODES} values")
    return value


# -- the bundled baselines, precompiled ---------------------------------------------
# Parsing YAML costs start-up time (importing yaml alone is ~12 ms). The bundled baselines
# are also kept as Python data in sdcheck/_bundled.py (generated: ``python -m
# sdcheck.baseline``), with the exact bytes they were made from: a baseline file whose bytes
# are those is read from there, anything else (an edited copy, a site's own) as YAML.
# tests/test_startup.py checks that the module is current and reads the same as the YAML.

def _compiled(path: str, data: bytes) -> Any:
    from sdcheck import _bundled

    entry = _bundled.BASELINES.get(os.path.basename(path))
    if entry is None or entry[0] != data:
        return None
    return _decode(entry[1])


def _encode(value: Any) -> Any:
    """A loaded YAML value as plain literals (tuples never come out of YAML, so they mark
    the mappings and lists, with their line numbers)."""
    if isinstance(value, dict):
        lines = getattr(value, "key_lines", {})
        return ("M", line_of(value, default=0),
                tuple((k, lines.get(k, 0), _encode(v)) for k, v in value.items()))
    if isinstance(value, list):
        return ("L", line_of(value, default=0), tuple(item_lines(value)), tuple(_encode(v) for v in value))
    if not isinstance(value, (str, int, float, bool, type(None))):
        raise TypeError(f"cannot precompile a {type(value).__name__}")
    return value


def _decode(node: Any) -> Any:
    if type(node) is not tuple:
        return node
    if node[0] == "M":
        out = _MDict()
        out.line, out.key_lines = node[1], {}
        for key, key_line, value in node[2]:
            out[key] = _decode(value)
            out.key_lines[key] = key_line
        return out
    items = _MList(_decode(v) for v in node[3])
    items.line, items.item_lines = node[1], list(node[2])
    return items


def compiled_module() -> str:
    """The text of sdcheck/_bundled.py for the baselines in BASELINE_DIR."""
    import yaml

    names = sorted(n for n in os.listdir(BASELINE_DIR) if n.endswith(".yml"))
    out = ["# Generated by 'python -m sdcheck.baseline' from baselines/*.yml: do not edit.",
           "# Each bundled baseline's bytes and its parsed form (see baseline._compiled).", "BASELINES = {"]
    for name in names:
        data = read_input_file(os.path.join(BASELINE_DIR, name))
        tree = _encode(yaml.load(data, Loader=_loader_cls()))  # noqa: S506 - a SafeLoader subclass
        out.append(f"    {name!r}: ({data!r}, {tree!r}),")
    out.append("}")
    return "\n".join(out) + "\n"


def _expanded_size(value: Any) -> int:
    """How many values ``value`` holds once every alias is copied out (as interpolation
    does), counted without copying: each shared node is sized once."""
    sizes: dict[int, int] = {}

    def size(obj: Any) -> int:
        if not isinstance(obj, (dict, list)):
            return 1
        key = id(obj)
        if key not in sizes:
            sizes[key] = 0  # a cycle counts as nothing more
            children = obj.values() if isinstance(obj, dict) else obj
            sizes[key] = min(MAX_EXPANDED_NODES + 1, 1 + sum(size(c) for c in children))
        return sizes[key]
    return size(value)


def line_of(obj: Any, key: Any = None, default: int | None = None) -> int | None:
    """The line in its YAML file of a mapping's ``key`` (or of the value itself): for
    error messages that point at ``file:line``; ``default`` when it is not known."""
    if key is not None and isinstance(obj, _MDict):
        return obj.key_lines.get(key, obj.line)
    return getattr(obj, "line", default) or default


# -- variables ----------------------------------------------------------------------

def load_vars_file(path: str) -> dict[str, Any]:
    data = load_yaml(path, secret=True)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise BaselineError(path, line_of(data, default=1), "a vars file must be a mapping of name: value")
    for key in data:
        if not isinstance(key, str) or not _NAME_RE.match(key):
            # not echoed: a line such as 'hunter2:' would print a password
            raise BaselineError(path, line_of(data, key), "a variable name is not a plain identifier "
                                "(letters, digits and _)")
    return dict(data)


def parse_var_option(text: str) -> tuple[str, Any]:
    name, sep, raw = text.partition("=")
    name = name.strip()
    if not sep or not _NAME_RE.match(name):
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


def interpolate(value: Any, variables: dict[str, Any], path: str, line: int | None) -> Any:
    if isinstance(value, str):
        whole = _VAR_RE.fullmatch(value)
        if whole and whole.group(2):
            name = whole.group(2)
            if name not in variables:
                raise BaselineError(path, line, f"variable {name!r} is not defined "
                                    "(set it in the vars file or with --var)")
            return variables[name]

        def sub(m: re.Match) -> str:
            if m.group(1):
                return "${"
            name = m.group(2)
            if name not in variables:
                raise BaselineError(path, line, f"variable {name!r} is not defined "
                                    "(set it in the vars file or with --var)")
            v = variables[name]
            if isinstance(v, (list, dict)):
                raise BaselineError(path, line, f"variable {name!r} holds a list or mapping and "
                                    "cannot be part of a longer string")
            return str(v)
        return _VAR_RE.sub(sub, value)
    if isinstance(value, dict):
        out_d = _MDict((k, interpolate(v, variables, path, line_of(value, k, line))) for k, v in value.items())
        out_d.line = getattr(value, "line", 0) or line or 0
        out_d.key_lines = dict(getattr(value, "key_lines", {}))
        return out_d
    if isinstance(value, list):
        out = _MList()
        out.line = getattr(value, "line", 0) or line or 0
        lines: list[int] = []
        for item, item_line in zip(value, item_lines(value)):
            item_line = item_line or line
            if isinstance(item, dict) and "do" in item:
                got, got_lines = _expand_block(item, variables, path, item_line)
                out.extend(got)
                lines.extend(got_lines)
                continue
            out.append(interpolate(item, variables, path, item_line))
            lines.append(item_line or 0)
        out.item_lines = lines
        return out
    return value


_BLOCK_KEYS = ({"when", "do"}, {"unless", "do"}, {"for_each", "as", "do"})


def _expand_block(block: dict, variables: dict[str, Any], path: str,
                  line: int | None) -> tuple[list, list]:
    """Expand a list item ``{when: BOOL, do: [...]}``, ``{unless: BOOL, do: [...]}`` or
    ``{for_each: LIST, as: NAME, do: [...]}`` into the items of ``do``."""
    keys = set(block)
    if keys not in _BLOCK_KEYS:
        raise BaselineError(path, line, "a block in a list is {when: BOOL, do: [...]}, "
                            "{unless: BOOL, do: [...]} or {for_each: LIST, as: NAME, do: [...]}; "
                            f"got keys {', '.join(sorted(map(str, keys)))}")
    body = block["do"]
    if not isinstance(body, list):
        raise BaselineError(path, line_of(block, "do", line), "'do' must be a list")
    if "for_each" in keys:
        name = block["as"]
        if not isinstance(name, str) or not _NAME_RE.match(name):
            raise BaselineError(path, line_of(block, "as", line), "'as' must be a plain identifier")
        values = interpolate(block["for_each"], variables, path, line_of(block, "for_each", line))
        if isinstance(values, (str, int, float)) and not isinstance(values, bool):
            values = [values]  # a single DNS server written without a list
        if not isinstance(values, list):
            raise BaselineError(path, line_of(block, "for_each", line),
                                f"'for_each' must be a list, got {type(values).__name__}")
        out: list = []
        lines: list = []
        for v in values:
            got = interpolate(body, dict(variables, **{name: v}), path, line)
            out.extend(got)
            lines.extend(item_lines(got))
        return out, lines
    key = "when" if "when" in keys else "unless"
    cond = interpolate(block[key], variables, path, line_of(block, key, line))
    if not isinstance(cond, bool):
        raise BaselineError(path, line_of(block, key, line),
                            f"'{key}' must be true or false, got {type(cond).__name__}")
    if cond != (key == "when"):
        return [], []
    got = interpolate(body, variables, path, line)
    return list(got), item_lines(got)


# -- host facts ----------------------------------------------------------------------
# ${fact:NAME} is the one interpolation syntax for what only the host can tell; variables
# are bound when the baseline loads, facts when a check runs on the host (Context.fact).
HOST_FACTS = ("default_interface",)
_FACT_PREFIX = "${fact:"


def substitute_facts(value: str, fact) -> str:
    """``value`` with each ``${fact:NAME}`` replaced by ``fact(NAME)``; a fact that has no
    value (None) is left as written, so it cannot match anything real."""
    if _FACT_PREFIX not in value:
        return value
    out = []
    rest = value
    while _FACT_PREFIX in rest:
        head, _, tail = rest.partition(_FACT_PREFIX)
        if head.endswith("$"):  # $${fact:...} is the literal text ${fact:...}
            out.append(head[:-1] + _FACT_PREFIX)
            rest = tail
            continue
        name, close, after = tail.partition("}")
        if not close:
            break
        got = fact(name)
        out.append(head + (got if got is not None else _FACT_PREFIX + name + "}"))
        rest = after
    out.append(rest)
    return "".join(out)


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
            opts = _MDict()
            opts.line, opts.key_lines = line_of(raw_checks, cid), {}
        if opts is False:  # a child baseline can switch off an inherited check
            checks.pop(cid, None)
            continue
        if not isinstance(opts, dict):
            raise BaselineError(path, line_of(raw_checks, cid), f"options of {cid!r} must be a mapping")
        checks[cid] = opts
        lines[cid] = line_of(raw_checks, cid) or 0
        if isinstance(opts, _MDict):
            opts._path = path  # for messages: the file that defined these options
    profile = data.get("profile")
    if not isinstance(profile, str) or not _PROFILE_RE.match(profile):
        raise BaselineError(path, line_of(data, "profile", 1),
                            "'profile' (a lower-case word such as app or mon) is required")
    return Baseline(path, profile, str(data.get("description") or ""), variables, checks, lines)


def _check_type(value: Any, opt: Option) -> bool:
    types = opt.type if isinstance(opt.type, tuple) else (opt.type,)
    if bool not in types and isinstance(value, bool):
        return False
    if float in types and isinstance(value, int) and not isinstance(value, bool):
        return True
    return isinstance(value, types)


def resolve_options(baseline: Baseline, classes: dict[str, type[Check]],
                    variables: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Validate every check section against its check's options and fill in variables.

    Raises BaselineError for an unknown check id, an unknown or missing option, or a value
    of the wrong type. ``classes`` must hold every registered check, so a baseline that
    names a check of a plugin that is not installed is reported, not ignored.
    """
    out: dict[str, dict[str, Any]] = {}
    for cid, raw in baseline.checks.items():
        path = baseline.source_of(cid)
        line = baseline.line_of(cid)
        cls = classes.get(cid)
        if cls is None:
            raise BaselineError(path, line, f"unknown check {cid!r} (see 'sdcheck list')")
        resolved: dict[str, Any] = {}
        for key in raw:
            if key not in cls.options:
                allowed = ", ".join(sorted(cls.options)) or "none"
                raise BaselineError(path, line_of(raw, key, line),
                                    f"{cid}: unknown option {key!r} (allowed: {allowed})")
        for key, opt in cls.options.items():
            if key in raw:
                value = interpolate(raw[key], variables, path, line_of(raw, key, line))
                if not _check_type(value, opt):
                    want = "/".join(t.__name__ for t in (opt.type if isinstance(opt.type, tuple) else (opt.type,)))
                    raise BaselineError(path, line_of(raw, key, line),
                                        f"{cid}: option {key!r} must be {want}, got {type(value).__name__}")
                resolved[key] = value
            elif opt.required:
                raise BaselineError(path, line, f"{cid}: option {key!r} is required")
            else:
                resolved[key] = opt.default
        prepare = getattr(cls, "prepare_options", None)
        if prepare is not None:
            def fail(message: str, at: int | None = None, _cid=cid, _path=path, _line0=line):
                raise BaselineError(_path, at or _line0, f"{_cid}: {message}")
            prepare(resolved, raw, fail)
        out[cid] = resolved
    return out


def resolve_settings(baseline: Baseline, variables: dict[str, Any], vars_path: str | None) -> dict[str, Any]:
    """The loaded plugins' declared settings (registry.plugin_settings) from the variables:
    defaulted, type-checked, and refused with the file and line where they were set."""
    import math

    from sdcheck.registry import plugin_settings

    out: dict[str, Any] = {}
    for name, (plugin, opt) in plugin_settings().items():
        if name not in variables:
            out[name] = opt.default
            continue
        value = variables[name]
        bad = not _check_type(value, opt) or (isinstance(value, float) and not math.isfinite(value))
        if not bad and opt.check is not None:
            bad = not opt.check(value)
        if bad:
            where = vars_path or baseline.path
            line = None if vars_path else line_of(baseline.variables, name)
            want = opt.help or "/".join(t.__name__ for t in (opt.type if isinstance(opt.type, tuple) else (opt.type,)))
            raise BaselineError(where, line, f"variable {name!r} (read by the {plugin} plugin) must be {want}, "
                                f"got {value!r}" if name not in SECRET_VARS else
                                f"variable {name!r} (read by the {plugin} plugin) must be {want}")
        out[name] = value
    return out


def merge_variables(baseline: Baseline, vars_file: dict[str, Any] | None,
                    cli_vars: list[tuple[str, Any]]) -> dict[str, Any]:
    merged = dict(baseline.variables)
    if vars_file:
        merged.update(vars_file)
    for k, v in cli_vars:
        merged[k] = v
    return merged


if __name__ == "__main__":  # regenerate sdcheck/_bundled.py after editing a bundled baseline
    with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "_bundled.py"), "w") as fh:
        fh.write(compiled_module())
