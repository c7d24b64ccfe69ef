"""Reading the live iptables rulesets without side effects.

Debian 12 and current Ubuntu run ``iptables`` on the nf_tables backend; python-iptables
only speaks the legacy kernel interface and, opened on an nft host, reports an empty
ruleset *and creates a legacy table*. So:

1. Legacy tables are looked at only if the kernel already lists them in
   ``/proc/net/ip_tables_names`` (``ip6_tables_names`` for IPv6). Reading that file
   loads no module and creates nothing. Where they exist they are read through
   python-iptables (imported lazily), or ``iptables-legacy-save`` on a remote host or if
   python-iptables cannot load.
2. nft tables are read through ``iptables-nft-save``.
3. The backend the ``iptables`` command uses is read from where its symlink points.
4. The xtables lock is waited for (shared, bounded) so a ruleset is not read half-way
   through a legacy ``iptables-restore``.
"""

from __future__ import annotations

import errno
import os
import threading
import time

from sdcheck.host.base import FactError, Facts
from sdcheck.plugins.iptables.rules import (
    Chain, ParseError, Table, iptc_rule_tokens, parse_save, rule_from_tokens,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from sdcheck.plugins.iptables.rules import Resolver
from sdcheck.escape import escape

LOCK_PATH = "/run/xtables.lock"
_SAVE_TIMEOUT = 20.0
_PY_IPTC_TABLES = ("filter", "nat", "mangle", "raw", "security")


class Snapshot:
    """What one read of the live firewall found, per backend."""

    def __init__(self, family: int, selected: str | None):
        self.family = family
        self.selected = selected  # backend of the `iptables` command: "nft", "legacy" or None
        self.tables: dict[str, dict[str, Table]] = {}  # backend -> tables
        self.readers: dict[str, str] = {}  # backend -> how it was read
        self.unavailable: dict[str, str] = {}  # backend -> why it was not read

    def loaded(self) -> list[str]:
        """Backends that hold any rule, user chain or non-ACCEPT policy."""
        return [b for b, tables in self.tables.items()
                if any(not t.is_empty() for t in tables.values())]

    def effective(self) -> list[tuple[str, dict[str, Table]]]:
        """The rulesets to judge: every backend holding rules, or else the selected one."""
        loaded = self.loaded()
        if loaded:
            return [(b, self.tables[b]) for b in loaded]
        for b in (self.selected, "nft", "legacy"):
            if b in self.tables:
                return [(b, self.tables[b])]
        return []


def _cmd(family: int, backend: str, what: str = "save") -> str:
    base = "iptables" if family == 4 else "ip6tables"
    return f"{base}-{backend}-{what}" if what else f"{base}-{backend}"


def selected_backend(facts: Facts, family: int = 4) -> str | None:
    path = facts.which("iptables" if family == 4 else "ip6tables")
    if path is None:
        return None
    target = os.path.basename(facts.realpath(path))
    if "nft" in target:
        return "nft"
    if "legacy" in target:
        return "legacy"
    return None


class XtablesLock:
    """Hold a shared flock on the xtables lock file for the duration of a read.

    iptables-legacy takes an exclusive flock on this file while it changes a table;
    waiting for a shared one means we never read half a change. The file is opened
    read-only and never created.
    """

    def __init__(self, path: str | None, timeout: float):
        self.path = path
        self.timeout = timeout
        self.fd: int | None = None

    def __enter__(self):
        if self.path is None:  # no local lock to wait for (a remote host)
            return self
        import fcntl

        try:
            self.fd = os.open(self.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except FileNotFoundError:
            return self  # nobody has ever taken it
        except OSError as exc:
            raise FactError(f"cannot open the xtables lock {escape(self.path)}: "
                            f"{escape(exc.strerror or exc)}") from None
        deadline = time.monotonic() + self.timeout
        delay = 0.01
        while True:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
                return self
            except OSError as exc:
                if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    raise FactError(f"cannot lock {escape(self.path)}: {escape(exc.strerror)}") from None
            if time.monotonic() >= deadline:
                os.close(self.fd)
                self.fd = None
                raise FactError(
                    f"the xtables lock {escape(self.path)} has been held by another process for "
                    f"more than {self.timeout:g} s, so the firewall could not be read; an iptables "
                    "command may be hung")
            time.sleep(delay)
            delay = min(delay * 2, 0.2)

    def __exit__(self, *exc):
        if self.fd is not None:
            os.close(self.fd)  # closing releases the flock
            self.fd = None


def legacy_table_names(facts: Facts, family: int = 4) -> list[str]:
    path = "/proc/net/ip_tables_names" if family == 4 else "/proc/net/ip6_tables_names"
    if facts.lstat(path) is None:
        return []  # the legacy module is not loaded: no legacy tables
    # procfs files report size 0; read_bytes reads until EOF
    return sorted(set(facts.read_text(path, 4096).split()))


def _run_save(facts: Facts, argv: list[str], resolve: Resolver | None) -> dict[str, Table]:
    res = facts.run(argv, timeout=_SAVE_TIMEOUT)
    if not res.ok:
        err = res.stderr.decode("utf-8", "replace").strip().splitlines()
        raise FactError(f"{argv[0]} failed (exit {res.returncode}): {escape(err[-1] if err else '')}")
    try:
        return parse_save(res.stdout.decode("utf-8", "surrogateescape"), resolve)
    except ParseError as exc:
        raise FactError(f"cannot understand the output of {argv[0]}: {escape(exc)}") from None


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


_IPTC_LOCK = threading.Lock()


def preload_iptc() -> None:
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


def read_legacy_iptc(names: list[str], family: int, resolve: Resolver | None) -> dict[str, Table]:
    """Read existing legacy tables in-process with python-iptables.

    libiptc/libxtables keep global state (option parsing, extension registry), so the
    IPv4 and IPv6 reads, which run in different check threads, take turns."""
    with _IPTC_LOCK:
        return _read_legacy_iptc(names, family, resolve)


def _read_legacy_iptc(names: list[str], family: int, resolve: Resolver | None) -> dict[str, Table]:
    _prepare_iptc_env()
    import iptc  # noqa: PLC0415 - lazy on purpose (300 ms, and only legacy hosts need it)

    table_cls = iptc.Table if family == 4 else iptc.Table6
    out: dict[str, Table] = {}
    for name in names:
        if name not in _PY_IPTC_TABLES:
            raise FactError(f"python-iptables cannot read legacy table {escape(name)}")
        t = table_cls(name)
        t.autocommit = False
        t.refresh()
        table = Table(name)
        for c in t.chains:
            policy = c.get_policy().name if c.is_builtin() else None
            chain = Chain(c.name, policy)
            for pos, r in enumerate(c.rules, 1):
                tokens = iptc_rule_tokens(r)
                text = "-A " + c.name + " " + " ".join(tokens)
                try:
                    chain.rules.append(rule_from_tokens(c.name, tokens, resolve, text=text, line=pos))
                except ParseError as exc:
                    raise FactError(f"cannot understand legacy rule {escape(text)}: {escape(exc)}") from None
            table.chains[c.name] = chain
        out[name] = table
    return out


def read_snapshot(facts: Facts, family: int = 4, lock_path: str = LOCK_PATH,
                  lock_timeout: float = 5.0, resolve: Resolver | None = None,
                  use_iptc: bool = True) -> Snapshot:
    snap = Snapshot(family=family, selected=selected_backend(facts, family))
    legacy_names = legacy_table_names(facts, family)
    with XtablesLock(lock_path if facts.is_local else None, lock_timeout):
        nft_save = _cmd(family, "nft")
        if facts.which(nft_save):
            try:
                snap.tables["nft"] = _run_save(facts, [nft_save], resolve)
                snap.readers["nft"] = nft_save
            except FactError as exc:
                snap.unavailable["nft"] = str(exc)
        else:
            snap.unavailable["nft"] = f"{nft_save} is not installed"
        if not legacy_names:
            snap.tables["legacy"] = {}
            snap.readers["legacy"] = "/proc/net/" + ("ip" if family == 4 else "ip6") + "_tables_names (no legacy tables)"
        else:
            done = False
            if use_iptc and facts.is_local:
                try:
                    snap.tables["legacy"] = read_legacy_iptc(legacy_names, family, resolve)
                    snap.readers["legacy"] = "python-iptables"
                    done = True
                except ImportError:
                    pass  # fall back to iptables-legacy-save below
            if not done:
                legacy_save = _cmd(family, "legacy")
                snap.tables["legacy"] = _run_save(facts, [legacy_save], resolve)
                snap.readers["legacy"] = legacy_save
    if "nft" in snap.unavailable and not legacy_names:
        # Without the nft reader an empty legacy side proves nothing: fail closed.
        raise FactError(f"the firewall could not be read: {snap.unavailable['nft']}")
    return snap
