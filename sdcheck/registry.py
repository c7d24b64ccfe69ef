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
from sdcheck.startup import scan_entry_points

GROUP = "sdcheck.checks"


def _selected(plugin: str, prefixes: list[str] | None) -> bool:
    if not prefixes:
        return True
    return any(plugin.startswith(p) or p.startswith(plugin + ".") or p == plugin for p in prefixes)


_EPS: dict = {}


def _entry_points(group: str = GROUP):
    if group not in _EPS:
        found = scan_entry_points(group)
        if found is None:
            from importlib.metadata import entry_points

            _EPS[group] = tuple(entry_points(group=group))
        else:
            _EPS[group] = tuple(found)
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


def plugin_entry_points() -> dict[str, str]:
    """The installed check plugins: entry point name -> what it points at."""
    return {ep.name: ep.value for ep in _entry_points()}


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
    plugins: dict = {}  # name -> entry point
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
