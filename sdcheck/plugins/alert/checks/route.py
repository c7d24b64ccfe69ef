"""alert.route: every file that decides where an alert goes on the Monitor Server, compared as
a whole with what SecureDrop installs."""

from __future__ import annotations

from sdcheck.check import Check, Option
from sdcheck.host.base import FactError
from sdcheck.model import Finding, Severity
from sdcheck.plugins.alert.route import alias_db_entries, alias_file_entries, differences, has_directives
from sdcheck.startup import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Iterable

# files that must not exist: each one can divert, copy or drop every alert
ABSENT = ("/etc/procmailrc", "/etc/mailutils.conf", "/etc/mailutils.d")
# /etc/mail.rc as Debian's bsd-mailx ships it (a server may have that package): only these
# display settings; anything else there (an alias, a record file, another sendmail) is a finding
MAIL_RC_SAFE_SET = frozenset({"ask", "askcc", "append", "dot", "save", "crt"})
HOME_ABSENT = (".forward", ".mailrc", ".mailutils", ".muttrc")
GNUPG_OPTIONS = ("gpg.conf", "gpg-agent.conf", "dirmngr.conf", "common.conf", "gpg.conf-2", "gpg.conf-2.2")
GROUP_OTHER_WRITE = 0o022


class Route(Check):
    id = "alert.route"
    title = "Every file on the local alert path is SecureDrop's: aliases, procmail, alarm script, mail, GnuPG"
    # what exactly is verified (docs/checks.md, sdcheck explain)
    details = ("(mon) /etc/aliases as Postfix uses it (`postalias -s` of its database) and as the next "
               "newaliases would build it (the file) holds exactly `root: ossec`; the ossec user's .forward, "
               ".mailrc, .mailutils and .muttrc, /etc/procmailrc and /etc/mailutils.conf do not exist, and "
               "/etc/mail.rc holds no more than Debian's bsd-mailx display settings; "
               "`<ossec_home>/.procmailrc` and `send_encrypted_alarm.sh` are, line for line, SecureDrop's "
               "(the script rendered with the site's ossec_alert_email and ossec_gpg_fpr), owned by root and "
               "writable by nobody else (the generic map's every entry is `postfix.local`'s); the header_checks "
               "file is SecureDrop's, owned by root, writable by nobody else; the GnuPG home has no option file "
               "that sets anything (gpg.conf, gpg-agent.conf, dirmngr.conf, common.conf) and it and its keyring "
               "belong to the ossec user, private to it. A finding names the file, the line and what differs.")
    severity = Severity.CRITICAL
    why = ("Each of these files alone decides where every alert goes or who can read it. One line in any of them "
           "diverts, copies or drops all alerts, and nothing else on the server changes.")
    remedy = ("Restore SecureDrop's file (re-run 'securedrop-admin install'), delete the files that must not "
              "exist, and find out who changed them: the server may be compromised.")
    options = {
        "ossec_user": Option(str, "ossec"),
        "ossec_home": Option(str, "/var/ossec", check=lambda v: v.startswith("/")),
        "config_dir": Option(str, "/etc/postfix", check=lambda v: v.startswith("/")),
        "aliases": Option(str, "/etc/aliases", check=lambda v: v.startswith("/")),
        "alias_entries": Option(dict, {"root": "ossec"}, help="what /etc/aliases holds"),
        "procmailrc": Option(str, "", help="SecureDrop's .procmailrc (text)"),
        "alarm_script": Option(str, "", help="SecureDrop's send_encrypted_alarm.sh, rendered (text)"),
        "header_checks": Option(str, "", help="SecureDrop's header_checks (text)"),
        "homedir": Option(str, "/var/ossec/.gnupg", check=lambda v: v.startswith("/")),
    }
    timeout = 60.0

    def run(self) -> Iterable[Finding]:
        found: list[Finding] = []
        for step in (self._aliases, self._absent, self._mail_rc, self._home_files, self._header_checks,
                     self._gnupg):
            try:
                found.extend(step())
            except FactError as exc:
                found.append(self.error(str(exc), resource=step.__name__.strip("_")))
        found.sort(key=lambda f: -int(f.severity))
        yield from found or [self.passed("aliases, procmail, the alarm script, mail, header_checks "
                                         "and GnuPG's files are SecureDrop's", resource=self.opts["ossec_home"])]

    # -- pieces ------------------------------------------------------------------------
    def _aliases(self) -> list[Finding]:
        o, facts = self.opts, self.ctx.facts
        want = sorted((k, " ".join(str(v).split())) for k, v in o["alias_entries"].items())
        out = []
        st = facts.lstat(o["aliases"])
        if st is None or not st.is_file:
            return [self.fail(f"{o['aliases']} does not exist: root's mail (OSSEC's alerts) reaches no one",
                              resource=o["aliases"], expected="root: ossec", actual="missing", group="aliases")]
        text_entries = sorted(alias_file_entries(facts.read_text(o["aliases"], 1 << 20)))
        if text_entries != want:
            out.append(self._entries_finding(o["aliases"], want, text_entries, "the file"))
        res = facts.run(["postalias", "-c", o["config_dir"], "-s", f"hash:{o['aliases']}"], timeout=20)
        if not res.ok:
            out.append(self.fail(f"{o['aliases']}.db cannot be read (postalias exit {res.returncode}): Postfix "
                                 "cannot deliver root's mail; run 'newaliases'", resource=o["aliases"] + ".db",
                                 expected="a database", actual="unreadable", group="aliases"))
        else:
            db = sorted(alias_db_entries(res.stdout.decode("utf-8", "replace")))
            if db != want:
                out.append(self._entries_finding(o["aliases"] + ".db", want, db, "the database Postfix uses"))
        return out

    def _entries_finding(self, where: str, want, have, what: str) -> Finding:
        extra = [f"{k}: {v}" for k, v in have if (k, v) not in want]
        missing = [f"{k}: {v}" for k, v in want if (k, v) not in have]
        parts = ([f"has {'; '.join(extra)}"] if extra else []) + ([f"lacks {'; '.join(missing)}"] if missing else [])
        return self.fail(f"{where} ({what}) {' and '.join(parts)}: it decides who receives root's mail, OSSEC's "
                         "alerts", resource=where, expected="; ".join(f"{k}: {v}" for k, v in want),
                         actual="; ".join(f"{k}: {v}" for k, v in have) or "empty", group="aliases",
                         subject=f"{where}: {'; '.join(extra + missing)}")

    def _absent(self) -> list[Finding]:
        home = self.opts["ossec_home"].rstrip("/")
        paths = list(ABSENT) + [f"{home}/{name}" for name in HOME_ABSENT]
        out = []
        for path in paths:
            if self.ctx.facts.lstat(path) is not None:
                out.append(self.fail(f"{path} exists: SecureDrop installs no such file, and it can divert, copy or "
                                     "drop every alert", resource=path, expected="absent", actual="present",
                                     group="absent", subject=path))
        return out

    def _mail_rc(self) -> list[Finding]:
        path = "/etc/mail.rc"
        st = self.ctx.facts.lstat(path)
        if st is None:
            return []
        text = self.ctx.facts.read_text(path, 1 << 20) if st.is_file else "(not a regular file)"
        for n, line in enumerate(text.splitlines(), 1):
            words = line.split()
            if not words or words[0].startswith("#") or words[0] == "ignore":
                continue
            if words[0] == "set" and set(words[1:]) <= MAIL_RC_SAFE_SET:
                continue
            return [self.fail(f"{path}:{n}: {line.strip()[:120]!r}: the mail program reads this file before it "
                              "sends each alert; only Debian's display settings are expected there",
                              resource=f"{path}:{n}", expected="no directive that routes mail", actual=line.strip(),
                              group="absent", subject=f"{path}: {line.strip()}")]
        return []

    def _home_files(self) -> list[Finding]:
        home = self.opts["ossec_home"].rstrip("/")
        return (self._whole(f"{home}/.procmailrc", self.opts["procmailrc"], "ossec's procmail recipes")
                + self._whole(f"{home}/send_encrypted_alarm.sh", self.opts["alarm_script"], "the alarm script"))

    def _whole(self, path: str, expected: str, what: str, severity=Severity.CRITICAL) -> list[Finding]:
        facts = self.ctx.facts
        if not expected:
            return [self.error(f"the baseline has no expected text for {path}", resource=path)]
        st = facts.lstat(path)
        if st is None or not st.is_file:
            return [self.fail(f"{path} ({what}) {'is not a regular file' if st else 'does not exist'}: alerts stop "
                              "there", resource=path, expected="SecureDrop's file", actual="missing", group="files",
                              severity=severity)]
        out = []
        for line, want, have in differences(expected, facts.read_text(path, 1 << 20)):
            text = (f"{path}:{line}: has {have!r}, SecureDrop's has {want!r}" if want and have else
                    f"{path}:{line}: has {have!r}, which SecureDrop's does not" if have else
                    f"{path}:{line}: lacks SecureDrop's {want!r}")
            out.append(self.fail(f"{text} ({what})", resource=f"{path}:{line}", expected=want or "nothing",
                                 actual=have or "nothing", group="files", severity=severity,
                                 subject=f"{path}: {have or '-'} / {want or '-'}"))
        if st.uid != 0 or st.mode & GROUP_OTHER_WRITE:
            owner = facts.user_name(st.uid) or str(st.uid)
            out.append(self.fail(f"{path} belongs to {owner} with mode {st.mode & 0o7777:04o}: someone other than "
                                 "root can rewrite it", resource=path, expected="root, not group/other writable",
                                 actual=f"{owner} {st.mode & 0o7777:04o}", severity=Severity.HIGH, group="files",
                                 subject=f"{path} mode"))
        return out

    def _header_checks(self) -> list[Finding]:
        path = f"{self.opts['config_dir'].rstrip('/')}/header_checks"
        if not self.opts["header_checks"]:
            return []
        return self._whole(path, self.opts["header_checks"], "headers stripped from alerts", Severity.HIGH)

    def _gnupg(self) -> list[Finding]:
        o, facts = self.opts, self.ctx.facts
        home = o["homedir"].rstrip("/")
        uid = facts.user_id(o["ossec_user"])
        out = []
        for name in GNUPG_OPTIONS:
            path = f"{home}/{name}"
            st = facts.lstat(path)
            if st is not None and (not st.is_file or has_directives(facts.read_text(path, 1 << 20))):
                out.append(self.fail(f"{path} sets GnuPG options: a 'group', 'recipient' or 'hidden-encrypt-to' "
                                     "line there changes who can read every alert; SecureDrop installs none",
                                     resource=path, expected="absent", actual="options set", group="gnupg",
                                     subject=path))
        st = facts.lstat(home)
        if st is None:
            return out  # alert.gpg reports a missing keyring
        for path in [home] + [f"{home}/{n}" for n in ("pubring.kbx", "pubring.gpg", "trustdb.gpg")]:
            fst = st if path == home else facts.lstat(path)
            if fst is None:
                continue
            owner = facts.user_name(fst.uid) or str(fst.uid)
            readable = fst.uid == uid and fst.mode & 0o400
            private = not fst.mode & (0o077 if path == home else 0o022)
            if not readable or not private or fst.is_symlink:
                out.append(self.fail(f"{path} belongs to {owner} with mode {fst.mode & 0o7777:04o}: the keyring must "
                                     f"be {o['ossec_user']}'s own (the alarm script runs gpg as {o['ossec_user']}; "
                                     "SecureDrop's postinst sets ossec:ossec, 0700 and 0600)", resource=path,
                                     expected=f"{o['ossec_user']}, private", actual=f"{owner} {fst.mode & 0o7777:04o}",
                                     group="gnupg", subject=f"{path} owner"))
        return out
