"""Options: what a check accepts in its baseline section, and what a plugin reads from the
site variables itself (its SETTINGS). One resolver for both: each value is interpolated,
defaulted, type-checked and, where the option says how, range-checked (``Option.check``);
a value that fails is refused with the file and line it came from (exit 2).
"""

from __future__ import annotations

import math

from sdcheck.baseline.files import line_of
from sdcheck.baseline.loader import SECRET_VARS
from sdcheck.baseline.template import interpolate
from sdcheck.errors import BaselineError
from sdcheck.startup import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any, Callable

    from sdcheck.baseline.loader import Baseline
    from sdcheck.check import Check


class Option:
    """One key a check accepts in its baseline section, or one site variable a plugin reads.

    ``check(value) -> bool`` refuses values of the right type that are still wrong (a range,
    an empty item); ``help`` says what is wanted, in the words of the error message."""

    __slots__ = ("type", "default", "required", "help", "check")

    def __init__(self, type: Any, default: Any = None, required: bool = False, help: str = "",  # noqa: A002
                 check: Callable[[Any], bool] | None = None):
        self.type, self.default, self.required, self.help = type, default, required, help
        self.check = check

    def type_names(self) -> str:
        return "/".join(t.__name__ for t in (self.type if isinstance(self.type, tuple) else (self.type,)))

    def accepts(self, value: Any) -> bool:
        """The value has the option's type (a finite number where a number is wanted) and
        passes its ``check``."""
        if not check_type(value, self) or (isinstance(value, float) and not math.isfinite(value)):
            return False
        return self.check is None or bool(self.check(value))


def check_type(value: Any, opt: Option) -> bool:
    types = opt.type if isinstance(opt.type, tuple) else (opt.type,)
    if bool not in types and isinstance(value, bool):
        return False
    if float in types and isinstance(value, int) and not isinstance(value, bool):
        return True
    return isinstance(value, types)


def _blame(raw_value, origins: dict, path: str, line: int | None) -> tuple[str, int | None, str]:
    """Where a bad option value comes from: the vars file's line (or --var) that set a
    variable it uses, else the baseline's line. (path, line, "variable NAME: " or "")."""
    import re

    used = re.findall(r"\$\{([A-Za-z_]\w*)\}", raw_value if isinstance(raw_value, str) else repr(raw_value))
    for name in used:
        if name in origins:
            where, at = origins[name]
            return where, at, f"variable {name!r}: "
    return path, line, ""


def resolve_options(baseline: Baseline, classes: dict[str, type[Check]],
                    variables: dict[str, Any], origins: dict | None = None) -> dict[str, dict[str, Any]]:
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
                if not check_type(value, opt) or not opt.accepts(value):
                    at_path, at_line, var = _blame(raw[key], origins or {}, path, line_of(raw, key, line))
                    if not check_type(value, opt):
                        raise BaselineError(at_path, at_line, f"{var}{cid}: option {key!r} must be "
                                            f"{opt.type_names()}, got {type(value).__name__}")
                    # the value is not shown: it may come from a secret variable
                    raise BaselineError(at_path, at_line, f"{var}{cid}: option {key!r} must be "
                                        f"{opt.help or opt.type_names()}")
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
    from sdcheck.registry import plugin_settings

    out: dict[str, Any] = {}
    for name, (plugin, opt) in plugin_settings().items():
        if name not in variables:
            out[name] = opt.default
            continue
        value = variables[name]
        if not opt.accepts(value):
            where = vars_path or baseline.path
            line = None if vars_path else line_of(baseline.variables, name)
            want = opt.help or opt.type_names()
            raise BaselineError(where, line, f"variable {name!r} (read by the {plugin} plugin) must be {want}, "
                                f"got {value!r}" if name not in SECRET_VARS else
                                f"variable {name!r} (read by the {plugin} plugin) must be {want}")
        out[name] = value
    return out
