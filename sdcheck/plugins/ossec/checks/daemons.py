"""ossec.daemons: the OSSEC daemons SecureDrop runs are up, from OSSEC's own directory, as
OSSEC's users; on the Monitor Server every agent is connected; client.keys is private."""

from __future__ import annotations

from sdcheck.check import Check, Option
from sdcheck.host.base import FactError
from sdcheck.model import Finding, Severity
from sdcheck.plugins.ossec.alerts import agent_names
from sdcheck.plugins.ossec.base import OSSEC_DIR
from sdcheck.startup import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Iterable

SERVER = {"ossec-maild": "ossecm", "ossec-analysisd": "ossec", "ossec-remoted": "ossecr",
          "ossec-logcollector": "root", "ossec-syscheckd": "root", "ossec-monitord": "ossec"}
AGENT = {"ossec-agentd": "ossec", "ossec-logcollector": "root", "ossec-syscheckd": "root"}
def _octal(value) -> bool:
    return isinstance(value, str) and len(value) == 4 and all(c in "01234567" for c in value)


def _valid(value) -> bool:
    return isinstance(value, dict) and bool(value) and all(isinstance(k, str) and isinstance(v, str)
                                                           for k, v in value.items())


class Daemons(Check):
    id = "ossec.daemons"
    title = "OSSEC's daemons run as OSSEC's users; agents are connected; client.keys is private"
    # what exactly is verified (docs/checks.md, sdcheck explain)
    details = ("(both) each daemon in `daemons` (mon: maild, analysisd, remoted, logcollector, syscheckd, "
               "monitord; app: agentd, logcollector, syscheckd) has a process of that name whose program is "
               "`<ossec_dir>/bin/<name>` and whose real and effective user is the one OSSEC uses (ossecm for "
               "maild, ossecr for remoted, ossec for analysisd, monitord and agentd, root for logcollector and "
               "syscheckd). With `check_agents` (mon), `bin/list_agents -c` lists every agent of "
               "`etc/client.keys` as active (heard from within 30 minutes). `etc/client.keys` is a regular "
               "file of root, in `keys_groups`, mode `keys_mode_max` at most (mon: ossec, 0640 as OSSEC installs "
               "it; app: ossec or root, 0644 as SecureDrop's agent-auth step leaves it); the keys are never "
               "printed.")
    severity = Severity.CRITICAL
    why = ("Without maild nothing is mailed; without analysisd nothing is judged; without logcollector "
           "sdcheck never runs; a disconnected agent's events never reach the Monitor Server. A daemon "
           "started from elsewhere or as another user is not OSSEC's. Anyone who reads client.keys can pose "
           "as the agent.")
    remedy = ("Restart OSSEC ('systemctl restart ossec') and read /var/ossec/logs/ossec.log for why a daemon "
              "stopped; for an agent, check its connection to the Monitor Server (port 1514/udp) and its key.")
    options = {
        "ossec_dir": OSSEC_DIR,
        "daemons": Option(dict, SERVER, help="daemon name: the user it runs as", check=_valid),
        "check_agents": Option(bool, False, help="(mon) every registered agent must be connected"),
        # OSSEC installs client.keys 0640 root:ossec and ossec-authd appends to it (the server
        # keeps that); on the agent, SecureDrop's register role deletes it and agent-auth
        # writes a new one under root's umask: 0644, group root (SecureDrop's own test
        # expects 0644)
        "keys_mode_max": Option(str, "0640", help="the widest mode client.keys may have (octal)", check=_octal),
        "keys_groups": Option(list, ["ossec"], help="groups client.keys may belong to"),
    }

    def run(self) -> Iterable[Finding]:
        base = self.opts["ossec_dir"].rstrip("/")
        facts = self.ctx.facts
        found = []
        for name, user in self.opts["daemons"].items():
            want = facts.user_id(user)
            try:
                procs = facts.processes(name)
            except FactError as exc:
                yield self.error(str(exc), resource="processes")
                return
            if not procs:
                found.append(self.fail(f"OSSEC's {name} is not running", resource=name, expected="running",
                                       actual="not running", group="daemon", subject=f"{name} not running"))
                continue
            for pid, exe, ruid, euid in procs:
                if exe.split(" ", 1)[0] != f"{base}/bin/{name}":
                    found.append(self.fail(f"a process called {name} (pid {pid}) runs {exe}, not {base}/bin/{name}",
                                           resource=name, expected=f"{base}/bin/{name}", actual=exe,
                                           group="daemon", subject=f"{name} program"))
                elif want is None or ruid != want or euid != want:
                    have = facts.user_name(euid) or str(euid)
                    found.append(self.fail(f"OSSEC's {name} (pid {pid}) runs as {have}, not {user}", resource=name,
                                           expected=user, actual=have, severity=Severity.HIGH, group="daemon",
                                           subject=f"{name} user"))
        keys = f"{base}/etc/client.keys"
        found += self._keys(keys)
        if self.opts["check_agents"] and facts.lstat(keys) is not None:  # a missing file is said above
            found += self._agents(base, keys)
        yield from found or [self.passed(f"{len(self.opts['daemons'])} OSSEC daemons run as OSSEC's users",
                                         resource=base)]

    def _keys(self, keys: str) -> list[Finding]:
        facts = self.ctx.facts
        st = facts.lstat(keys)
        if st is None:
            return [self.fail(f"{keys} does not exist: no agent can connect", resource=keys,
                              expected="present", actual="missing", group="keys")]
        gids = {facts.group_id(g) for g in self.opts["keys_groups"]} - {None}
        too_wide = st.mode & 0o7777 & ~int(self.opts["keys_mode_max"], 8)
        if not st.is_file or st.uid != 0 or st.gid not in gids or too_wide:
            owner = f"{facts.user_name(st.uid) or st.uid}:{facts.group_name(st.gid) or st.gid}"
            return [self.fail(f"{keys} is {'a regular file' if st.is_file else 'not a regular file'} of {owner}, "
                              f"mode {st.mode & 0o7777:04o}: expected root, group "
                              f"{' or '.join(self.opts['keys_groups'])}, mode {self.opts['keys_mode_max']} at most",
                              resource=keys,
                              expected=f"root {self.opts['keys_mode_max']}", actual=f"{owner} {st.mode & 0o7777:04o}",
                              severity=Severity.HIGH, group="keys")]
        return []

    def _agents(self, base: str, keys: str) -> list[Finding]:
        facts = self.ctx.facts
        try:
            names = agent_names(facts.read_text(keys, 1 << 20))
            res = facts.run([f"{base}/bin/list_agents", "-c"], timeout=20)
        except FactError as exc:
            return [self.error(f"the agents' connections cannot be listed: {exc}", resource=keys)]
        # "<name>-<ip> is active." for each agent heard from in the last half hour (its
        # queue/agent-info file, which ossec-remoted refreshes on every keep-alive)
        up = {line[: -len(" is active.")].rsplit("-", 1)[0]
              for line in res.stdout.decode("utf-8", "replace").splitlines() if line.endswith(" is active.")}
        return [self.fail(f"the OSSEC agent {name} is not connected: its events, sdcheck's included, do not "
                          "reach this server", resource=f"agent/{name}", expected="connected",
                          actual="not connected", group="agents", subject=f"agent {name}")
                for name in names if name not in up]
