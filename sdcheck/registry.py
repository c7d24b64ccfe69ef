"""Finding check plugins through the ``sdcheck.checks`` entry-point group.

Each entry point is named after its plugin (``iptables``) and points at a list of
``Check`` classes. A malformed id, an id outside the plugin's namespace, or a duplicate
id is an error, never silently skipped. Only plugins that a ``--only`` prefix can
select are imported, so ``sdcheck run --only iptables`` loads nothing else.
"""

from __future__ import annotations

import sys

from sdcheck.check import ID_RE, Check, Option
from sdcheck.errors import RegistryError

GROUP = "sdcheck.checks"


def _selected(plugin: str, prefixes: list[str] | None) -> bool:
    if not prefixes:
        return True
    return any(plugin.startswith(p) or p.startswith(plugin + ".") or p == plugin for p in prefixes)


_EPS: dict = {}


class _EntryPoint:
    __slots__ = ("name", "value")

    def __init__(self, name: str, value: str):
        self.name, self.value = name, value

    def load(self):
        import importlib

        module, _, attr = self.value.partition(":")
        obj = importlib.import_module(module.strip())
        for part in attr.strip().split(".") if attr.strip() else ():
            obj = getattr(obj, part)
        return obj


def _scan(group: str) -> list[_EntryPoint] | None:
    """Entry points of ``group`` from the ``entry_points.txt`` of installed distributions.

    Importing importlib.metadata costs about 25 ms (email, zipfile, pathlib, inspect),
    half of sdcheck's start-up budget; this reads the same files in about 1 ms. The first
    distribution of a name on sys.path wins, as with importlib.metadata. Returns None
    when the layout is unusual (no plain dist-info found for the group), and the caller
    falls back to importlib.metadata.
    """
    import os
    import sys

    seen_dists: set[str] = set()
    found: list[_EntryPoint] = []
    header = f"[{group}]"
    for entry in sys.path:
        try:
            names = os.listdir(entry or ".")
        except OSError:
            continue
        for name in sorted(names):
            if not name.endswith((".dist-info", ".egg-info")):
                continue
            dist = name.rsplit(".", 1)[0].split("-", 1)[0].lower().replace("_", "-").replace(".", "-")
            if dist in seen_dists:
                continue
            seen_dists.add(dist)
            try:
                with open(os.path.join(entry, name, "entry_points.txt"), encoding="utf-8") as fh:
                    text = fh.read()
            except OSError:
                continue
            if header not in text:
                continue
            section = None
            for line in text.splitlines():
                line = line.strip()
                if not line or line[0] in "#;":
                    continue
                if line.startswith("["):
                    section = line
                    continue
                if section == header and "=" in line:
                    key, _, value = line.partition("=")
                    found.append(_EntryPoint(key.strip(), value.strip()))
    return found or None


def _entry_points(group: str = GROUP):
    if group not in _EPS:
        eps = _scan(group)
        if eps is None:
            from importlib.metadata import entry_points

            eps = entry_points(group=group)
        _EPS[group] = tuple(eps)
    return _EPS[group]


FORMATTERS = "sdcheck.formatters"


def formatter_names() -> list[str]:
    """The output formats installed (``sdcheck.formatters`` entry points), sorted."""
    return sorted({ep.name for ep in _entry_points(FORMATTERS)})


def formatter(name: str):
    """The formatter module called ``name``: ``render(run, options) -> str`` and, where it can
    put several hosts in one document, ``render_hosts(runs, options) -> str``."""
    for ep in _entry_points(FORMATTERS):
        if ep.name == name:
            try:
                module = ep.load()
            except Exception as exc:  # noqa: BLE001
                raise RegistryError(f"output format {name!r} failed to load: {type(exc).__name__}: {exc}") from None
            if not callable(getattr(module, "render", None)):
                raise RegistryError(f"output format {name!r} ({ep.value}) has no render(run, options)")
            return module
    raise RegistryError(f"no output format {name!r} is installed (installed: {', '.join(formatter_names())})")


def plugin_names() -> set[str]:
    return {ep.name for ep in _entry_points()}


def validate(plugin: str, classes, seen: dict[str, str]) -> list[type[Check]]:
    out = []
    if not isinstance(classes, (list, tuple)):
        raise RegistryError(f"plugin {plugin!r} must export a list of Check classes")
    for cls in classes:
        if not (isinstance(cls, type) and issubclass(cls, Check)):
            raise RegistryError(f"plugin {plugin!r} exports {cls!r}, which is not a Check class")
        cid = cls.id
        if not isinstance(cid, str) or not ID_RE.match(cid):
            raise RegistryError(f"plugin {plugin!r}: check id {cid!r} is malformed "
                                "(dotted lower-case words, e.g. 'iptables.default-drop')")
        if not cid.startswith(plugin + "."):
            raise RegistryError(f"plugin {plugin!r}: check id {cid!r} must start with '{plugin}.'")
        if cid in seen:
            raise RegistryError(f"check id {cid!r} is defined twice (plugins {seen[cid]!r} and {plugin!r})")
        if not cls.title:
            raise RegistryError(f"check {cid!r} has no title")
        seen[cid] = plugin
        out.append(cls)
    return out


_HOOKS: dict = {}
_SETTINGS: dict = {}


def plugin_settings() -> dict:
    """``{variable: (plugin, Option)}``: the site variables the loaded plugins read
    themselves (not through a check's options), declared so they are type-checked."""
    return {var: (plugin, opt) for plugin in sorted(_SETTINGS) for var, opt in _SETTINGS[plugin].items()}


def plugin_hook(plugin: str, name: str):
    """A plugin module's function ``name`` (``capture``...), or None; loads the plugin."""
    load_checks([plugin])
    for ep in _entry_points():
        if ep.name == plugin:
            module = ep.load()
            hook = getattr(module, name, None)
            return hook if callable(hook) else None
    return None


def hooks(name: str) -> list:
    """The plugins' functions called ``name`` (``report_info``, ``secrets``, ``prefetch``), loaded so far,
    by plugin name."""
    found = _HOOKS.get(name, {})
    return [found[plugin] for plugin in sorted(found)]


def load_checks(prefixes: list[str] | None = None) -> dict[str, type[Check]]:
    """Check classes by id, in a stable order, restricted to plugins ``prefixes`` can select."""
    seen: dict[str, str] = {}
    found: dict[str, type[Check]] = {}
    plugins: dict[str, object] = {}
    for ep in _entry_points():
        if ep.name in plugins:
            raise RegistryError(f"two plugins are named {ep.name!r}")
        plugins[ep.name] = ep
    for name in sorted(plugins):
        if not _selected(name, prefixes):
            continue
        try:
            loaded = plugins[name].load()
        except Exception as exc:  # noqa: BLE001
            raise RegistryError(f"plugin {name!r} failed to load: {type(exc).__name__}: {exc}") from None
        classes = loaded
        if isinstance(loaded, type(sys)):  # a plugin module: its CHECKS, and its hooks
            classes = getattr(loaded, "CHECKS", None)
            if classes is None:
                raise RegistryError(f"plugin {name!r} ({loaded.__name__}) has no CHECKS list")
            settings = getattr(loaded, "SETTINGS", {})
            if not isinstance(settings, dict) or not all(isinstance(o, Option) for o in settings.values()):
                raise RegistryError(f"plugin {name!r}: SETTINGS must map variable names to Option")
            _SETTINGS[name] = settings
            for hook_name in ("report_info", "secrets", "prefetch"):
                hook = getattr(loaded, hook_name, None)
                if hook is not None:
                    if not callable(hook):
                        raise RegistryError(f"plugin {name!r}: {hook_name} must be a function")
                    _HOOKS.setdefault(hook_name, {})[name] = hook
        for cls in validate(name, classes, seen):
            found[cls.id] = cls
    return found


def select(ids, only: list[str] | None, skip: list[str] | None) -> list[str]:
    """Ids that start with one of ``only`` (all when empty) and with none of ``skip``."""
    def hit(cid: str, prefixes: list[str]) -> bool:
        return any(cid.startswith(p) for p in prefixes)
    return [c for c in ids if (not only or hit(c, only)) and not (skip and hit(c, skip))]
