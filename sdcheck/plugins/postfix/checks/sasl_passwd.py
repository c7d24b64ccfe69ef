"""postfix.sasl-passwd: the relay password map holds one entry for the relay, compiled,
readable by root only."""

from __future__ import annotations

from sdcheck.check import Option
from sdcheck.model import Finding, Severity
from sdcheck.plugins.postfix.base import SETTINGS, PostfixCheck
from sdcheck.plugins.postfix.live import COMPILED, PostfixConfig, table_entries
from sdcheck.plugins.postfix.parse import secret_parts, table_refs
from sdcheck.startup import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Iterable


class SaslPasswd(PostfixCheck):
    id = "postfix.sasl-passwd"
    title = "sasl_passwd: root-only, compiled with postmap, one entry keyed by the relayhost"
    # what exactly is verified (docs/checks.md, sdcheck explain)
    details = ("(mon) the source file exists, is not a symlink, is root's and 0600 or stricter; the compiled table "
               "(`.db`/`.lmdb`/`.cdb` by the table type) exists, is not older than the source and not readable by "
               "others; listed with `postmap -s`, it holds exactly one entry, keyed by the relayhost string, whose "
               "user is `sasl_username@sasl_domain`; with `sasl_password` in the vars file the passwords are "
               "compared in constant time. No password is ever shown")
    severity = Severity.HIGH
    why = ("Postfix looks the password up by the exact relayhost string. A key that differs "
           "(brackets, port), a table not re-compiled after an edit, or a missing .db means "
           "'Authentication failure' and no alerts. The file holds the relay password, so only "
           "root may read it.")
    remedy = ("Edit {where} so it holds one line '[smtp_relay]:port user@domain:password', make it "
              "root-owned with mode 0600, run 'postmap {where}', then 'postfix reload' "
              "(or re-run 'securedrop-admin install').")
    options = dict(PostfixCheck.options, **{
        "sasl_passwd": Option(str, "/etc/postfix/sasl_passwd"),
        "relayhost": Option(str, required=True),
        "sasl_username": Option(str, ""),
        "sasl_domain": Option(str, ""),
    })
    ok_message = "sasl_passwd is root-only, compiled, and keyed by the relayhost"

    def judge(self, cf: PostfixConfig) -> Iterable[Finding]:
        o = self.opts
        path = o["sasl_passwd"]
        remedy = self.remedy.replace("{where}", path)
        facts = self.ctx.facts
        kind = next((t for t, p in table_refs(cf.get("smtp_sasl_password_maps")) if p == path and t), "")
        kind = kind or cf.get("default_database_type") or "hash"
        st = facts.lstat(path)
        if st is None:
            yield self.fail(f"{path} does not exist", resource=path, expected="the SASL password table",
                            actual="missing", remedy=remedy, group="source")
        elif st.is_symlink or not st.is_file:
            yield self.fail(f"{path} is {'a symlink' if st.is_symlink else 'not a regular file'}; sdcheck "
                            "does not follow it and Postfix should not either", resource=path,
                            expected="a regular file", actual="symlink" if st.is_symlink else "other",
                            remedy=remedy, group="source")
            st = None
        else:
            if st.uid != 0:
                yield self.fail(f"{path} is owned by uid {st.uid}, not root", resource=path,
                                expected="owner root", actual=f"uid {st.uid}", remedy=remedy, group="source")
            if st.mode & 0o077:
                yield self.fail(f"{path} has mode {st.mode:04o}: other users can read the relay password",
                                resource=path, expected="0600 or stricter", actual=f"{st.mode:04o}",
                                remedy=remedy, group="source")
        suffix = COMPILED.get(kind)
        if suffix is None:
            # texthash and the like: Postfix reads the source itself, there is no compiled file;
            # the entries are judged through postmap all the same
            yield from self._entries(cf, kind, path, remedy)
            return
        compiled = path + suffix
        cst = facts.lstat(compiled)
        if cst is None:
            yield self.fail(f"{compiled} does not exist: 'postmap {kind}:{path}' was not run, so Postfix "
                            "has no password", resource=compiled, expected=f"{kind} table", actual="missing",
                            remedy=remedy, group="compiled")
            return
        if st is not None and cst.mtime < st.mtime:
            yield self.fail(f"{path} was changed after {compiled} was built: run 'postmap {kind}:{path}' "
                            "(Postfix still uses the old entries)", resource=compiled,
                            expected=f"newer than {path}", actual="older", remedy=remedy, group="compiled")
        if cst.mode & 0o077:
            yield self.fail(f"{compiled} has mode {cst.mode:04o}: other users can read the relay password",
                            resource=compiled, expected="0600 or stricter", actual=f"{cst.mode:04o}",
                            remedy=remedy, group="compiled")
        yield from self._entries(cf, kind, path, remedy)

    def _entries(self, cf: PostfixConfig, kind: str, path: str, remedy: str) -> Iterable[Finding]:
        """The table's entries as Postfix lists them. Neither part of an entry is ever put in a
        finding (swapped fields put the password where the user belongs), nor a key other than
        the one expected (a malformed line can put the password there)."""
        o = self.opts
        got = table_entries(self.ctx, cf.directory, kind, path)
        if not isinstance(got, list):
            yield self.error(f"'postmap -s {kind}:{path}' failed (exit {got}); the table could not be listed",
                             resource=path, group="entries")
            return
        for key, value in got:  # already learned before the checks ran; again, to be sure
            self.ctx.add_secret(*secret_parts(value))
        want_key = o["relayhost"]
        match = [value for key, value in got if key == want_key]
        if len(got) != 1:
            yield self.fail(f"{path} holds {len(got)} entries ({len(match)} for {want_key}), expected exactly "
                            f"one, for {want_key}", resource=path, expected=f"1 entry: {want_key}",
                            actual=f"{len(got)} entries", remedy=remedy, group="entries")
        if not match:
            relay = cf.get("relayhost")
            yield self.fail(f"{path} has no entry for {want_key} (relayhost is {relay}; the table's "
                            f"{len(got)} key(s) are not shown, 'postmap -s {kind}:{path}' lists them): Postfix "
                            "finds no password and the relay answers 'Authentication failure' or refuses to "
                            "relay", resource=path, expected=want_key, actual=f"no entry for {want_key}",
                            remedy=remedy, group="key", severity=Severity.CRITICAL)
            return
        user, colon, password = match[0].partition(":")
        if not colon:
            yield self.fail(f"the entry for {want_key} in {path} is not of the form user:password",
                            resource=path, expected="user:password", actual="no ':' in the value",
                            remedy=remedy, group="value")
            return
        want_user = f"{o['sasl_username']}@{o['sasl_domain']}" if o["sasl_domain"] else o["sasl_username"]
        if want_user and user != want_user:
            yield self.fail(f"the entry for {want_key} in {path} authenticates as another user than "
                            f"{want_user} (sasl_username@sasl_domain; the entry is not shown)", resource=path,
                            expected=want_user, actual="another user (not shown)", remedy=remedy, group="value")
        if not password:
            yield self.fail(f"the entry for {want_key} in {path} has an empty password", resource=path,
                            expected="a password", actual="empty", remedy=remedy, group="value")
            return
        known = str(self.ctx.setting("sasl_password", SETTINGS) or "")
        if known:
            import hmac

            if not hmac.compare_digest(known.encode("utf-8", "surrogateescape"),
                                       password.encode("utf-8", "surrogateescape")):
                yield self.fail(f"the password in {path} differs from sasl_password in the vars file "
                                "(neither is shown)", resource=path, expected="the site's sasl_password",
                                actual="a different password", remedy=remedy, group="value")
