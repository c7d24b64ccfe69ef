"""The postfix plugin's readers: postconf and postmap run on the host, memoised per run;
and the secrets hook (every password the relay maps hold, learned before any output)."""

from __future__ import annotations

from sdcheck.check import Context
from sdcheck.host.base import FactError
from sdcheck.plugins.postfix.parse import main_cf_lines, map_parts, parse_postconf, parse_service_params, secret_parts

COMPILED = {"hash": ".db", "btree": ".db", "lmdb": ".lmdb", "cdb": ".cdb", "dbm": ".pag", "sdbm": ".pag"}


TIMEOUT = 15.0


class PostfixConfig:
    """What postconf says about one configuration directory."""

    def __init__(self, directory: str, params: dict[str, str], lines: dict[str, int]):
        self.directory, self.params, self.lines = directory, params, lines

    def get(self, name: str) -> str:
        return self.params.get(name, "")

    def where(self, name: str) -> str:
        line = self.lines.get(name)
        main = f"{self.directory}/main.cf"
        return f"{main}:{line}" if line else f"{main} (not set: Postfix's default applies)"


def postconf(ctx: Context, directory: str, *flags: str) -> str:
    return ctx.memo(f"postconf:{directory}:{' '.join(flags)}", lambda: _run_postconf(ctx, directory, flags))


def _run_postconf(ctx: Context, directory: str, flags) -> str:
    res = ctx.facts.run(["postconf", "-c", directory, *flags], timeout=TIMEOUT)
    if not res.ok:
        # postconf's complaint quotes main.cf lines, which may hold a password: never relay
        # it; say where, in sdcheck's own words
        raise FactError(f"postconf {' '.join(flags)} failed for {directory} (exit {res.returncode}): Postfix "
                        f"cannot read its configuration{_where(res.stderr)}; run 'postconf {' '.join(flags)}' "
                        "on the server to see Postfix's own message")
    return res.stdout.decode("utf-8", "surrogateescape")


def _where(stderr: bytes) -> str:
    """' (main.cf, line 12)' from a Postfix error message, and nothing else of it."""
    import re

    m = re.search(rb"(/[^\s,:]{1,255}), line (\d{1,9})", stderr[-4096:])
    return f" ({m.group(1).decode('utf-8', 'surrogateescape')}, line {int(m.group(2))})" if m else ""


def config(ctx: Context, directory: str) -> PostfixConfig:
    def read() -> PostfixConfig:
        st = ctx.facts.lstat(f"{directory}/main.cf")
        if st is None or not st.is_file:
            raise FactError(f"{directory}/main.cf does not exist or is not a regular file: is Postfix "
                            "installed and configured? (the variable postfix_dir names the directory)")
        params = parse_postconf(postconf(ctx, directory, "-x"))
        lines = main_cf_lines(ctx.facts.read_text(f"{directory}/main.cf"))
        return PostfixConfig(directory, params, lines)
    return ctx.memo(f"postfix:{directory}", read)


def table_entries(ctx: Context, directory: str, kind: str, path: str) -> list[tuple[str, str]] | int:
    """[(key, value)] of a map, listed by Postfix itself (``postmap -s``), or postmap's exit
    status when it cannot list it. Its output is never shown: it holds passwords."""
    def read():
        res = ctx.facts.run(["postmap", "-c", directory, "-s", f"{kind}:{path}"], timeout=TIMEOUT)
        if not res.ok:
            return res.returncode
        entries = []
        for raw in res.stdout.decode("utf-8", "surrogateescape").split("\n"):
            if not raw.strip():
                continue
            key, sep, value = raw.partition("\t")
            if not sep:
                key, _sep, value = raw.partition(" ")
            entries.append((key.strip(), value.strip()))
        return entries
    return ctx.memo(f"postmap-s:{directory}:{kind}:{path}", read)


PASSWORD_MAPS = ("_password_maps", "_passwd_maps")


def secrets(ctx: Context) -> list[str]:
    """Every value a SASL password map of the checked configurations can return (main.cf and
    master.cf ``-o`` overrides; static:, inline:, and the tables they name), learned before
    any check runs so that no output can show one."""
    dirs = {o["config_dir"] for cid, o in ctx.planned_options().items()
            if cid.startswith("postfix.") and o.get("config_dir")}
    found: list[str] = []
    for directory in sorted(dirs):
        try:
            cf = config(ctx, directory)
            values = [(v, cf) for k, v in cf.params.items() if k.endswith(PASSWORD_MAPS)]
            values += [(v, cf) for _s, _t, k, v in parse_service_params(postconf(ctx, directory, "-P"))
                       if k.endswith(PASSWORD_MAPS)]
        except FactError:
            continue  # the checks say why the configuration cannot be read
        for value, cf in values:
            literals, tables = map_parts(value)
            for literal in literals:
                found += secret_parts(literal)
            for kind, path in tables:
                got = table_entries(ctx, directory, kind or cf.get("default_database_type") or "hash", path)
                for _key, result in got if isinstance(got, list) else ():
                    found += secret_parts(result)
    return found
