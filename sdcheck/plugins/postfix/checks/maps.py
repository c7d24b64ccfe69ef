"""postfix.maps: every lookup table main.cf names is root's, writable by root alone, and an
indexed one holds exactly what its source says (no edit waiting for the next postmap)."""

from __future__ import annotations

from sdcheck.host.base import FactError
from sdcheck.model import Finding, Severity
from sdcheck.plugins.postfix.base import PostfixCheck
from sdcheck.plugins.postfix.live import COMPILED, PASSWORD_MAPS, PostfixConfig, table_entries
from sdcheck.plugins.postfix.parse import map_source_entries, table_refs
from sdcheck.startup import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Iterable

# tables whose source Postfix reads itself, and tables compiled by postmap (COMPILED)
READ_AS_IS = ("regexp", "pcre", "cidr", "texthash")
# judged elsewhere: the password maps (postfix.sasl-passwd) and the alias maps (postalias's format)
NOT_HERE = ("alias_maps", "alias_database")
MAX_SOURCE = 4 << 20


class Maps(PostfixCheck):
    id = "postfix.maps"
    title = "Postfix's lookup tables are root's alone, and each compiled one holds what its source says"
    # what exactly is verified (docs/checks.md, sdcheck explain)
    details = ("(mon) every file a `*_maps` or `*_checks` parameter set in main.cf names (SecureDrop: "
               "`smtp_header_checks`, `smtp_generic_maps`), except the password maps (`postfix.sasl-passwd`) "
               "and the alias maps, is a "
               "regular file (not a symlink) of root that neither group nor other can write (SecureDrop's "
               "header_checks is 0644, as its test requires). For an indexed table (hash, lmdb, cdb...) the "
               "compiled file exists, is root's and not writable by others, and `postmap -s` lists exactly the "
               "entries its source holds, read as postmap reads it (a source edited but not compiled is what "
               "Postfix will use after the next `postmap`).")
    severity = Severity.CRITICAL
    why = ("These tables rewrite the alert's sender and recipient and strip the headers that identify the "
           "server. Writable by another user, they can send alerts elsewhere; a source that differs from "
           "its compiled table means the rewriting in force is not the one anyone reviews, and the next "
           "postmap, run for any reason, silently changes it.")
    remedy = ("Make {where} root-owned and not writable by group or other, check its contents against "
              "SecureDrop's, and run 'postmap {where}' (or re-run 'securedrop-admin install').")
    ok_message = "Postfix's lookup tables are root's alone and compiled from their sources"

    def judge(self, cf: PostfixConfig) -> Iterable[Finding]:
        seen = set()
        # the parameters main.cf sets: Postfix's defaults name tables it creates on demand, and
        # postfix.config reports any parameter SecureDrop's main.cf does not set
        for name in sorted(cf.lines):
            if not name.endswith(("_maps", "_checks")) or name.endswith(PASSWORD_MAPS) or name in NOT_HERE:
                continue
            for kind, path in table_refs(cf.get(name)):
                kind = kind or cf.get("default_database_type") or "hash"
                if not path.startswith("/") or (kind, path) in seen:
                    continue
                if kind in READ_AS_IS or kind in COMPILED:
                    seen.add((kind, path))
                    yield from self._table(cf, name, kind, path)

    def _file(self, path: str, what: str, remedy: str):
        """(FileStat or None, [findings]) for one file a table is made of."""
        st = self.ctx.facts.lstat(path)
        if st is None:
            return None, [self.fail(f"{path} ({what}) does not exist", resource=path, expected="a file of root",
                                    actual="missing", remedy=remedy, group=path)]
        if st.is_symlink or not st.is_file:
            return None, [self.fail(f"{path} ({what}) is {'a symlink' if st.is_symlink else 'not a regular file'}",
                                    resource=path, expected="a regular file of root", actual="other",
                                    remedy=remedy, group=path)]
        wrong = ([f"owned by uid {st.uid}"] if st.uid != 0 else []) + (
            [f"mode {st.mode & 0o7777:04o}"] if st.mode & 0o7022 else [])
        if wrong:
            return st, [self.fail(f"{path} ({what}) is {' and '.join(wrong)}: another user can change it",
                                  resource=path, expected="root's, not writable by group or other",
                                  actual=f"uid {st.uid}, mode {st.mode & 0o7777:04o}", remedy=remedy,
                                  group=path)]
        return st, []

    def _table(self, cf: PostfixConfig, name: str, kind: str, path: str) -> Iterable[Finding]:
        remedy = self.remedy.replace("{where}", path)
        st, found = self._file(path, f"{name}, {kind}", remedy)
        yield from found
        if kind in READ_AS_IS or st is None:
            return
        compiled = path + COMPILED[kind]
        cst, found = self._file(compiled, f"{name}, compiled", remedy)
        yield from found
        if cst is None:
            return
        try:
            source = map_source_entries(self.ctx.facts.read_text(path, MAX_SOURCE))
        except FactError as exc:
            yield self.error(f"{path} cannot be read: {exc}", resource=path, group=path)
            return
        listed = table_entries(self.ctx, cf.directory, kind, path)
        if isinstance(listed, int):
            yield self.error(f"postmap cannot list {kind}:{path} (exit {listed})", resource=compiled, group=path)
            return
        compiled_entries = dict(listed)
        differ = sorted(k for k in set(source) | set(compiled_entries) if source.get(k) != compiled_entries.get(k))
        if differ:
            shown = ", ".join(differ[:5]) + (f" and {len(differ) - 5} more" if len(differ) > 5 else "")
            yield self.fail(f"{kind}:{path} ({name}) is not what its source says for {len(differ)} key(s): "
                            f"{shown}; Postfix uses the compiled table until the next postmap changes it",
                            resource=compiled, expected=f"compiled from {path}", actual=f"{len(differ)} key(s) differ",
                            remedy=remedy, group=path, detail=differ[:50])
