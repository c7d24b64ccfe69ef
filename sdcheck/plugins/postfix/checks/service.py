"""postfix.service: root's Postfix master runs from daemon_directory and listens on
loopback :25 only."""

from __future__ import annotations

from sdcheck.check import Check, Option
from sdcheck.host.base import FactError
from sdcheck.model import Finding, Severity
from sdcheck.plugins.postfix.live import config
from sdcheck.startup import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Iterable


class Service(Check):
    id = "postfix.service"
    title = "Postfix's own master process runs as root, matches master.pid, and listens only on loopback port 25"
    # what exactly is verified (docs/checks.md, sdcheck explain)
    details = ("(mon) a process runs `$daemon_directory/master` (as postconf names it) with real and effective uid "
               "0, its pid is the one in `$queue_directory/pid/master.pid`, and its TCP sockets are loopback port 25"
               " only; another process named `master` is named in the finding; skipped when `postfix_enable_service`"
               " is false (staging)")
    severity = Severity.HIGH
    why = ("Without a running Postfix no alert leaves the Monitor Server; listening beyond loopback exposes it. "
           "A process merely named 'master' proves nothing: it must be the master program of the "
           "daemon_directory postconf names, run by root, and the pid Postfix recorded in master.pid.")
    remedy = "Start it with 'systemctl enable --now postfix', then check 'ss -ltnp | grep :25'."
    options = {"enabled": Option(bool, True, help="postfix_enable_service (staging may turn it off)"),
               "config_dir": Option(str, "/etc/postfix", help="Postfix configuration directory")}

    def run(self) -> Iterable[Finding]:
        if not self.opts["enabled"]:
            yield self.skip("Postfix is disabled by postfix_enable_service", resource="postfix")
            return
        import posixpath

        facts = self.ctx.facts
        try:
            cf = config(self.ctx, self.opts["config_dir"])
            program = posixpath.normpath(posixpath.join(cf.get("daemon_directory") or "/usr/lib/postfix/sbin",
                                                        "master"))
            procs = facts.processes("master")
        except FactError as exc:
            yield self.error(f"Postfix's service could not be checked: {exc}", resource="postfix")
            return
        real = {pid for pid, exe, ruid, euid in procs if exe == program and ruid == 0 and euid == 0}
        others = [f"pid {pid} runs {exe or 'an unknown program'} as uid {euid}" for pid, exe, _r, euid in procs
                  if pid not in real]
        pid_file = posixpath.join(cf.get("queue_directory") or "/var/spool/postfix", "pid", "master.pid")
        if not real:
            yield self.fail(f"Postfix is not running: no process runs {program} as root, so alerts are not mailed"
                            + (f" (other processes named master: {'; '.join(others[:3])})" if others else ""),
                            resource="postfix", expected=f"{program} as root", actual="not running",
                            severity=Severity.CRITICAL if others else Severity.HIGH)
            return
        try:
            recorded = _strip_pid(facts.read_text(pid_file, 64))
        except FactError as exc:
            recorded, why = None, str(exc)
        else:
            why = f"it holds {recorded!r}" if recorded is not None else "it holds no pid"
        if recorded is None or recorded not in real:
            yield self.fail(f"{pid_file} does not name the running master ({', '.join(map(str, sorted(real)))}): "
                            f"{why}", resource=pid_file, expected=" or ".join(map(str, sorted(real))),
                            actual=str(recorded) if recorded is not None else "no pid", group="pid")
        if others:
            yield self.fail(f"besides Postfix's master, other processes are named master: {'; '.join(others[:3])}",
                            resource="postfix/processes", expected=f"only {program}", actual=f"{len(others)} more",
                            severity=Severity.MEDIUM, group="processes")
        try:
            sockets = facts.listening_sockets()
        except FactError as exc:
            yield self.error(f"the listening sockets could not be read: {exc}", resource="postfix/listen")
            return
        mine = sorted((ip, port) for proto, ip, port, owner in sockets if owner & real and proto == "tcp")
        exposed = [(ip, port) for ip, port in mine if not _loopback(ip) or port != 25]
        if exposed:
            where = ", ".join(f"{ip}:{port}" for ip, port in exposed)
            yield self.fail(f"Postfix listens beyond loopback port 25: {where}", resource="postfix/listen",
                            expected="127.0.0.1:25 only", actual=where,
                            remedy="Set inet_interfaces = loopback-only in /etc/postfix/main.cf, keep master.cf's "
                                   "smtp service on port 25, and run 'systemctl restart postfix'.")
        elif recorded in real and not others:
            yield self.passed(f"Postfix is running ({program}, master pid {', '.join(map(str, sorted(real)))}, as "
                              f"recorded in master.pid), listening on "
                              f"{', '.join(f'{ip}:{port}' for ip, port in mine) or 'no TCP port'}",
                              resource="postfix")


def _strip_pid(text: str) -> int | None:
    text = text.strip(" \t\n")
    return int(text) if text.isdigit() and len(text) < 12 else None


def _loopback(ip: str) -> bool:
    return ip.startswith("127.") or ip in ("::1", "::ffff:127.0.0.1")
