"""Reading the files sdcheck is told to read (baselines, vars, waivers): bounded, never
through a symlink, never blocking on a FIFO; YAML loaded with the line of every key and item
so every error can name ``file:line``."""

from __future__ import annotations

import errno
import os
import stat

from sdcheck.errors import BaselineError
from sdcheck.startup import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any

class MDict(dict):
    """A mapping that remembers the line of each key."""

    line = 0
    key_lines: dict
    _path: str | None = None


class MList(list):
    line = 0
    item_lines: list = []  # line of each item (after block expansion: of its source)


def item_lines(value: Any) -> list:
    """Baseline line of each item of a list read from a baseline (0 where unknown)."""
    lines = getattr(value, "item_lines", None) or []
    return list(lines) + [0] * (len(value) - len(lines))


def loader_class():
    import yaml

    base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

    class Loader(base):
        pass

    def construct_mapping(loader, node):
        out = MDict()
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
        out = MList(loader.construct_object(n, deep=True) for n in node.value)
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
        compiled = precompiled(path, data)
        if compiled is not None:
            return compiled
    import yaml

    if _LOADER is None:
        _LOADER = loader_class()
    try:
        if secret:
            for event in yaml.parse(data, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
                if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
                    raise BaselineError(path, event.start_mark.line + 1 if event.start_mark else None,
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
    if key is not None and isinstance(obj, MDict):
        return obj.key_lines.get(key, obj.line)
    return getattr(obj, "line", default) or default


def precompiled(path: str, data: bytes) -> Any:
    """A bundled baseline's parsed form when ``data`` is byte for byte the file it was
    precompiled from (sdcheck/baseline/precompiled.py, see baseline.bundled), else None."""
    from sdcheck.baseline.bundled import lookup

    return lookup(os.path.basename(path), data)
