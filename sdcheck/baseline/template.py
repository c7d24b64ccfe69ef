"""Variables and host facts in a baseline.

In a baseline, ``${name}`` is replaced by a variable; a string that is exactly ``${name}``
takes the variable's value whole (a list stays a list); ``$${`` writes a literal ``${``. A
list item ``{when: BOOL, do: [...]}``, ``{unless: ...}`` or ``{for_each: LIST, as: NAME,
do: [...]}`` expands into the items of ``do``. ``${fact:NAME}`` is left for the host
(``substitute_facts``, when a check runs). Every error names the file and line.
"""

from __future__ import annotations

import re

from sdcheck.baseline.files import MDict, MList, item_lines, line_of
from sdcheck.errors import BaselineError
from sdcheck.startup import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any

# ${name}: a variable; $${ is a literal ${ (except $${fact:, which the fact substitution
# unescapes when the check runs, so a literal "${fact:x}" is never substituted)
_VAR_RE = re.compile(r"\$(\$)\{(?!fact:)|\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


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
        out_d = MDict((k, interpolate(v, variables, path, line_of(value, k, line))) for k, v in value.items())
        out_d.line = getattr(value, "line", 0) or line or 0
        out_d.key_lines = dict(getattr(value, "key_lines", {}))
        return out_d
    if isinstance(value, list):
        out = MList()
        out.line = getattr(value, "line", 0) or line or 0
        lines: list[int] = []
        for item, item_line in zip(value, item_lines(value)):
            item_line = item_line or line
            if isinstance(item, dict) and "do" in item:
                got, got_lines = expand_block(item, variables, path, item_line)
                out.extend(got)
                lines.extend(got_lines)
                continue
            out.append(interpolate(item, variables, path, item_line))
            lines.append(item_line or 0)
        out.item_lines = lines
        return out
    return value


_BLOCK_KEYS = ({"when", "do"}, {"unless", "do"}, {"for_each", "as", "do"})


def expand_block(block: dict, variables: dict[str, Any], path: str,
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
        if not isinstance(name, str) or not NAME_RE.match(name):
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
