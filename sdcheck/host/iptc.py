"""python-iptables, the in-process reader of *legacy* netfilter tables (host layer).

Only for tables the kernel already lists in /proc/net/ip*_tables_names: opened on an nft
host, python-iptables reads nothing and creates a legacy table. It returns plain data;
the iptables plugin parses it like iptables-save's output.
"""

from __future__ import annotations

import os
import _thread

from sdcheck.escape import escape
from sdcheck.host.base import FactError

_PY_IPTC_TABLES = ("filter", "nat", "mangle", "raw", "security")


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
        except Exception:  # noqa: BLE001 - read_snapshot falls back to iptables-legacy-save
            pass
        return


def read_legacy(names: list[str], family: int) -> dict[str, list]:
    """Existing legacy tables read in-process with python-iptables, as plain data:
    ``{table: [(chain, policy or None, [rule tokens as iptables-save prints them])]}``.

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
        out[name] = [(c.name, c.get_policy().name if c.is_builtin() else None, [rule_tokens(r) for r in c.rules])
                     for c in t.chains]
    return out


def rule_tokens(rule) -> list[str]:
    """Tokens, as iptables-save would print them, for a python-iptables ``Rule``."""
    tokens: list[str] = []

    def addr(flag: str, value: str | None, empty: tuple) -> None:
        if not value or value in empty:
            return
        if value.startswith("!"):
            tokens.append("!")
            value = value[1:]
        tokens.extend([flag, value])

    addr("-s", rule.src, ("0.0.0.0/0.0.0.0", "::/0"))
    addr("-d", rule.dst, ("0.0.0.0/0.0.0.0", "::/0"))
    addr("-i", rule.in_interface, ())
    addr("-o", rule.out_interface, ())
    proto = rule.protocol
    if proto and proto not in ("ip", "all", "0"):
        addr("-p", proto, ())
    # the fragment flag, from the raw entry: python-iptables' own 'fragment' folds '! -f'
    # into "no flag" (IPT_F_FRAG 0x01 in flags, IPT_INV_FRAG 0x20 in invflags; IPv4 only)
    ip = getattr(getattr(rule, "entry", None), "ip", None)
    flags = getattr(ip, "flags", 0) if ip is not None and hasattr(ip, "invflags") else 0
    if isinstance(flags, int) and flags & 0x01:
        tokens.extend((["!"] if ip.invflags & 0x20 else []) + ["-f"])
    for match in rule.matches:
        tokens.extend(["-m", match.name])
        for key, values in match.get_all_parameters().items():
            values = list(values)
            if values and values[0] == "!":
                tokens.append("!")
                values = values[1:]
            tokens.append(f"--{key}")
            tokens.extend(_unescape(v) for v in values)
    target = rule.target
    if target is not None and target.name:
        tokens.extend(["-g" if getattr(target, "goto", False) else "-j", target.name])
        for key, values in target.get_all_parameters().items():
            tokens.append(f"--{key}")
            tokens.extend(_unescape(v) for v in values)
    return tokens


def _unescape(value: str) -> str:
    """python-iptables hands over the extensions' save-format text still escaped
    (xtables_save_string: backslash before \\, " and '); the kernel holds it unescaped."""
    if "\\" not in value:
        return value
    out, chars = [], iter(value)
    for ch in chars:
        out.append(next(chars, "") if ch == "\\" else ch)
    return "".join(out)
