"""Finding check plugins through the ``sdcheck.checks`` entry-point group.

Each entry point is named after its plugin (``iptables``) and points at a list of
``Check`` classes. A malformed id, an id outside the plugin's namespace, or a duplicate
id is an error, never silently skipped. Only plugins that a ``--only`` prefix can
select are imported, so ``sdcheck run --only iptables`` loads nothing else.
"""

from __future__ import annotations

from sdcheck.check import ID_RE, Check

GROUP = "sdcheck.checks"


class RegistryError(Exception):
    pass


def _selected(plugin: str, prefixes: list[str] | None) -> bool:
    if not prefixes:
        return True
    return any(plugin.startswith(p) or p.startswith(plugin + ".") or p == plugin for p in prefixes)


_EPS = None


def _entry_points():
    global _EPS
    if _EPS is None:
        from importlib.metadata import entry_points

        _EPS = tuple(entry_points(group=GROUP))
    return _EPS


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
            classes = plugins[name].load()
        except Exception as exc:  # noqa: BLE001
            raise RegistryError(f"plugin {name!r} failed to load: {type(exc).__name__}: {exc}") from None
        for cls in validate(name, classes, seen):
            found[cls.id] = cls
    return found


def select(ids, only: list[str] | None, skip: list[str] | None) -> list[str]:
    """Ids that start with one of ``only`` (all when empty) and with none of ``skip``."""
    def hit(cid: str, prefixes: list[str]) -> bool:
        return any(cid.startswith(p) for p in prefixes)
    return [c for c in ids if (not only or hit(c, only)) and not (skip and hit(c, skip))]
