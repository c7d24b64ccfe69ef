"""python-iptables, the in-process reader of *legacy* netfilter tables (host layer).

Only for tables the kernel already lists in /proc/net/ip*_tables_names: opened on an nft
host, python-iptables reads nothing and creates a legacy table. It returns plain data, the
fields of each kernel entry as python-iptables gives them (``LegacyRule``); the iptables
plugin turns them into rules (plugins/iptables/legacy.py).
"""

from __future__ import annotations

import _thread
import os
from collections import namedtuple

from sdcheck.escape import escape
from sdcheck.host.base import FactError

_PY_IPTC_TABLES = ("filter", "nat", "mangle", "raw", "security")

# One rule as python-iptables reads it. ``matches``: [(name, [(key, [values])])];
# ``target``: (name, goto, [(key, [values])]) or None; ``ip_flags``/``ip_invflags``: the raw
# entry's flags (None where the family has none), which python-iptables' own 'fragment' folds.
LegacyRule = namedtuple("LegacyRule", "src dst in_interface out_interface protocol ip_flags ip_invflags "
                                      "matches target")


def _prepare_iptc_env() -> None:
    """python-iptables probes the linker and ldconfig at import; tell it where things are."""
    os.environ.setdefault("SETUPTOOLS_USE_DISTUTILS", "stdlib")
    if "XTABLES_LIBDIR" not in os.environ:
        import glob

        for d in sorted(glob.glob("/usr/lib/*/xtables")) + ["/usr/lib/xtables", "/lib/xtables"]:
            if os.path.isdir(d):
                os.environ["XTABLES_LIBDIR"] = d
                os.environ.setdefault("IPTABLES_LIBDIR", os.path.dirname(d))
                break


_IPTC_LOCK = _thread.allocate_lock()


def preload() -> None:
    """Import python-iptables now, in the calling (main) thread, if this machine has
    legacy tables. Imported for the first time from a check thread, it can deadlock with
    another thread's imports: python-iptables imports distutils, which setuptools' shim
    turns into an import of setuptools from inside a meta-path finder (seen as a hang)."""
    for path in ("/proc/net/ip_tables_names", "/proc/net/ip6_tables_names"):
        try:
            with open(path, encoding="ascii", errors="replace") as fh:
                if not fh.read(4096).strip():
                    continue
        except OSError:
            continue
        _prepare_iptc_env()
        try:
            import iptc  # noqa: F401, PLC0415
        except Exception:  # noqa: BLE001, S110 - read_snapshot falls back to iptables-legacy-save
            pass
        return


def read_legacy(names: list[str], family: int) -> dict[str, list]:
    """Existing legacy tables read in-process with python-iptables, as plain data:
    ``{table: [(chain, policy or None, [LegacyRule])]}``.

    libiptc/libxtables keep global state (option parsing, extension registry), so the
    IPv4 and IPv6 reads, which run in different check threads, take turns."""
    with _IPTC_LOCK:
        return _read_legacy(names, family)


def _read_legacy(names: list[str], family: int) -> dict[str, list]:
    _prepare_iptc_env()
    import iptc  # noqa: PLC0415 - lazy on purpose (300 ms, and only legacy hosts need it)

    table_cls = iptc.Table if family == 4 else iptc.Table6
    out: dict[str, list] = {}
    for name in names:
        if name not in _PY_IPTC_TABLES:
            raise FactError(f"python-iptables cannot read legacy table {escape(name)}")
        t = table_cls(name)
        t.autocommit = False
        t.refresh()
        out[name] = [(c.name, c.get_policy().name if c.is_builtin() else None, [_plain(r) for r in c.rules])
                     for c in t.chains]
    return out


def _plain(rule) -> LegacyRule:
    ip = getattr(getattr(rule, "entry", None), "ip", None)
    has_flags = ip is not None and hasattr(ip, "invflags")
    target = rule.target
    return LegacyRule(
        rule.src, rule.dst, rule.in_interface, rule.out_interface, rule.protocol,
        getattr(ip, "flags", 0) if has_flags else None, getattr(ip, "invflags", 0) if has_flags else None,
        [(m.name, [(k, list(v)) for k, v in m.get_all_parameters().items()]) for m in rule.matches],
        None if target is None or not target.name else
        (target.name, bool(getattr(target, "goto", False)),
         [(k, list(v)) for k, v in target.get_all_parameters().items()]))
