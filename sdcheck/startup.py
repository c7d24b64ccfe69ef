"""Everything sdcheck does only to start faster, in one place, each with what it saves.

``sdcheck run`` is started by OSSEC on every server every day and ``sdcheck list`` by
admins and tests; start-up is measured by bench/ (bench/README.md). A trick stays here only
while it saves at least 3 ms of ``sdcheck list`` or ``run`` on a byte-compiled install
(medians of interleaved runs, 2 cores, Debian 12, Python 3.11):

- ``TYPE_CHECKING``: ``typing`` is not imported at run time (4 ms after ``re``, which
  argparse imports anyway). Annotations are strings (``from __future__ import annotations``)
  and names they need are imported under ``if TYPE_CHECKING:``, which mypy reads as true.
- ``scan_entry_points``: the plugins' and formats' entry points read from the installed
  distributions' ``entry_points.txt``; importlib.metadata costs 36 ms of ``sdcheck list``.
- ``argparse_without_gettext``: 3.5 ms of ``sdcheck list``.
- ``help_formatter``: argparse's HelpFormatter sized without importing shutil: 3 ms.

Measured and not kept: regular expressions compiled on first use instead of at import
(1.7 ms of ``sdcheck list``).
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False


class EntryPoint:
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


def scan_entry_points(group: str) -> list[EntryPoint] | None:
    """Entry points of ``group`` from the ``entry_points.txt`` of installed distributions.

    Importing importlib.metadata costs about 25 ms (email, zipfile, pathlib, inspect),
    half of sdcheck's start-up budget; this reads the same files in about 1 ms. The first
    distribution of a name on sys.path wins, as with importlib.metadata. Returns None
    when the layout is unusual (no plain dist-info found for the group), and the caller
    falls back to importlib.metadata.
    """
    seen_dists: set[str] = set()
    found: list[EntryPoint] = []
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
                    found.append(EntryPoint(key.strip(), value.strip()))
    return found or None


def argparse_without_gettext():
    """argparse, imported without gettext when nothing has imported gettext yet: gettext
    compiles a regex at import and looks for translation catalogues (importing locale) on
    each message argparse prepares: 3.5 ms of `sdcheck list` (37 ms). sdcheck's messages are English
    and Debian ships no catalogue for argparse's, so its strings are used as they are."""
    if "argparse" in sys.modules or "gettext" in sys.modules:
        import argparse
        return argparse
    import types

    plain = types.ModuleType("gettext")
    plain.gettext = lambda message: message
    plain.ngettext = lambda singular, plural, n: singular if n == 1 else plural
    sys.modules["gettext"] = plain
    try:
        import argparse
    finally:
        del sys.modules["gettext"]  # anyone else importing gettext gets the real one
    return argparse


def help_formatter(argparse):
    """argparse's HelpFormatter with the width found without shutil: argparse builds one for
    every argument it adds, and its own width lookup imports shutil (bz2, lzma)."""

    class Formatter(argparse.HelpFormatter):
        def __init__(self, prog, **kw):
            if kw.get("width") is None:
                try:
                    columns = int(os.environ.get("COLUMNS", "")) or os.get_terminal_size(sys.stdout.fileno()).columns
                except (ValueError, OSError):
                    columns = 80
                kw["width"] = max(columns, 40) - 2
            super().__init__(prog, **kw)

    return Formatter


def catalog_listing(profile: str | None) -> list[str] | None:
    """``sdcheck list``'s lines from the generated catalog (sdcheck/catalog.py), without
    importing a plugin or the baselines: about 3/4 of list's own time on a quiet machine
    (bench/README.md). None when the installed check plugins are not exactly the ones the
    catalog was made from (another plugin installed, one replaced): the caller then loads them."""
    from sdcheck import catalog

    found = scan_entry_points("sdcheck.checks")
    if found is None or {ep.name: ep.value for ep in found} != catalog.PLUGINS:
        return None
    return [f"{cid:28} {severity:8} {title}  (profiles: {', '.join(profiles) or 'none'})\n"
            for cid, severity, title, profiles in catalog.CHECKS if not profile or profile in profiles]
