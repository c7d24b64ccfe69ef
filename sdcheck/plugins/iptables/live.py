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

import os

from sdcheck.escape import escape
from sdcheck.host.base import FactError, Facts
from sdcheck.plugins.iptables.legacy import rule_tokens
from sdcheck.plugins.iptables.rules import Chain, ParseError, Table, rule_from_tokens
from sdcheck.plugins.iptables.save_parser import parse_save
from sdcheck.plugins.iptables.subjects import quote_token
from sdcheck.startup import TYPE_CHECKING

if TYPE_CHECKING:
    from sdcheck.plugins.iptables.rules import Resolver

LOCK_PATH = "/run/xtables.lock"
SAVE_TIMEOUT = 20.0


class Snapshot:
    """What one read of the live firewall found, per backend."""

    def __init__(self, family: int, selected: str | None):
        self.family = family
        self.selected = selected  # backend of the `iptables` command: "nft", "legacy" or None
        self.tables: dict[str, dict[str, Table]] = {}  # backend -> tables
        self.readers: dict[str, str] = {}  # backend -> how it was read
        self.unavailable: dict[str, str] = {}  # backend -> why it was not read
        self.raw: dict[str, str] = {}  # backend -> the save tool's text, as read

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


def legacy_table_names(facts: Facts, family: int = 4) -> list[str]:
    path = "/proc/net/ip_tables_names" if family == 4 else "/proc/net/ip6_tables_names"
    if facts.lstat(path) is None:
        return []  # the legacy module is not loaded: no legacy tables
    # procfs files report size 0; read_bytes reads until EOF
    return sorted(set(facts.read_text(path, 4096).split()))


def _run_save(facts: Facts, argv: list[str], resolve: Resolver | None, raw: dict | None = None,
              backend: str = "") -> dict[str, Table]:
    res = facts.run(argv, timeout=SAVE_TIMEOUT)
    if not res.ok:
        err = res.stderr.decode("utf-8", "replace").strip().splitlines()
        raise FactError(f"{argv[0]} failed (exit {res.returncode}): {escape(err[-1] if err else '')}")
    text = res.stdout.decode("utf-8", "surrogateescape")
    if raw is not None:
        raw[backend] = text
    try:
        return parse_save(text, resolve)
    except ParseError as exc:
        raise FactError(f"cannot understand the output of {argv[0]}: {escape(exc)}") from None


def _read_legacy_iptc(facts: Facts, names: list[str], family: int, resolve: Resolver | None) -> dict[str, Table]:
    """Legacy tables read in-process by python-iptables (through the host layer)."""
    out: dict[str, Table] = {}
    for name, chains in facts.iptc_tables(names, family).items():
        table = Table(name)
        for chain_name, policy, rules in chains:
            chain = Chain(chain_name, policy)
            for pos, entry in enumerate(rules, 1):
                tokens = rule_tokens(entry)
                # shown in canonical form (format_rule), as iptables-legacy-save would print it; this
                # text only names a rule that cannot be parsed
                text = " ".join(quote_token(t) for t in ["-A", chain_name, *tokens])
                try:
                    chain.rules.append(rule_from_tokens(chain_name, tokens, resolve, line=pos))
                except ParseError as exc:
                    raise FactError(f"cannot understand legacy rule {escape(text)}: {escape(exc)}") from None
            table.chains[chain_name] = chain
        out[name] = table
    return out


def read_snapshot(facts: Facts, family: int = 4, lock_path: str = LOCK_PATH,
                  lock_timeout: float = 30.0, resolve: Resolver | None = None,
                  use_iptc: bool = True) -> Snapshot:
    snap = Snapshot(family=family, selected=selected_backend(facts, family))
    legacy_names = legacy_table_names(facts, family)
    # iptables-nft never takes the xtables lock, so the nft read never waits on it
    nft_save = _cmd(family, "nft")
    if facts.which(nft_save):
        try:
            snap.tables["nft"] = _run_save(facts, [nft_save], resolve, snap.raw, "nft")
            snap.readers["nft"] = nft_save
        except FactError as exc:
            snap.unavailable["nft"] = str(exc)
    else:
        snap.unavailable["nft"] = f"{nft_save} is not installed"
    if not legacy_names:
        snap.tables["legacy"] = {}
        snap.readers["legacy"] = "/proc/net/" + ("ip" if family == 4 else "ip6") + "_tables_names (no legacy tables)"
        return _closed(snap, legacy_names)
    # legacy tables exist: read them holding the lock, so half an iptables-legacy change is never read
    with facts.shared_lock(lock_path, lock_timeout, "the xtables lock"):
        done = False
        if use_iptc:
            try:
                snap.tables["legacy"] = _read_legacy_iptc(facts, legacy_names, family, resolve)
                snap.readers["legacy"] = "python-iptables"
                done = True
            except (NotImplementedError, ImportError):
                pass  # a remote host, or no python-iptables: iptables-legacy-save below
        if not done:
            legacy_save = _cmd(family, "legacy")
            snap.tables["legacy"] = _run_save(facts, [legacy_save], resolve, snap.raw, "legacy")
            snap.readers["legacy"] = legacy_save
    return _closed(snap, legacy_names)


def _closed(snap: Snapshot, legacy_names: list[str]) -> Snapshot:
    if "nft" in snap.unavailable and not legacy_names:
        # Without the nft reader an empty legacy side proves nothing: fail closed.
        raise FactError(f"the firewall could not be read: {snap.unavailable['nft']}")
    return snap
