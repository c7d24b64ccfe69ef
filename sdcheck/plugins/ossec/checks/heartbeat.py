"""ossec.heartbeat: the Monitor Server has heard from sdcheck, its own and each agent's, within
the last run_max_age_hours."""

from __future__ import annotations

import time

from sdcheck.check import Check, Option
from sdcheck.host.base import FactError
from sdcheck.model import Finding, Severity
from sdcheck.plugins.ossec.alerts import agent_names, first_alert_time, scan_alerts, source_of
from sdcheck.plugins.ossec.base import OSSEC_DIR
from sdcheck.startup import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Iterable

OURS = range(401100, 401200)
LOG_LIMIT = 64 << 20     # the tail of a day's alerts read at most
MONTHS = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()


def _gunzip(data: bytes, limit: int) -> bytes:
    """The last ``limit`` bytes of a gzip file's content (the newest alerts are at its end),
    decompressing at most 8 x ``limit`` in all (a bomb ends the read, keeping what it got)."""
    import zlib

    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    kept, total, pending = b"", 0, data
    while total < 8 * limit:
        try:
            chunk = d.decompress(pending, 1 << 20)  # output zlib holds back comes with empty input too
        except zlib.error as exc:
            raise FactError(f"an archived alerts file is not gzip data ({exc})") from None
        pending = d.unconsumed_tail
        if not chunk and not pending:
            break
        total += len(chunk)
        kept = (kept + chunk)[-limit:]
    return kept


class Heartbeat(Check):
    id = "ossec.heartbeat"
    title = "sdcheck has run on the Monitor Server and on each agent within run_max_age_hours"
    # what exactly is verified (docs/checks.md, sdcheck explain)
    details = ("(mon) OSSEC's alerts of today (`logs/alerts/alerts.log`) and yesterday (the archived "
               "`logs/alerts/YYYY/Mon/ossec-alerts-DD.log`, or .gz) are read, the last 64 MiB of each. Every "
               "alert of sdcheck's rules (401100-401199) whose location is the <localfile> alias `sdcheck` "
               "counts as a sign of life: from the server itself (`host->sdcheck`) or from an agent "
               "(`(name) ip->sdcheck`). The server and every agent registered in `etc/client.keys` need one "
               "within `max_age_hours`; a missing one is a finding naming the host. Grace for a fresh "
               "install: when the oldest alert read is younger than `max_age_hours` and no archive of "
               "yesterday exists, a missing sign is reported as skipped, not failed. The OK line is logged "
               "only with this sdcheck's rules (level 1; earlier ones used level 0).")
    severity = Severity.CRITICAL
    why = ("sdcheck prints nothing to the admins when all is well. If it stops running on a server (removed "
           "from ossec.conf, the agent disconnected, the program broken before its first line), that "
           "silence looks exactly like health unless the Monitor Server notices the missing OK line.")
    remedy = ("On the server named, run 'sdcheck report'; check that sdcheck's <localfile> is in "
              "/var/ossec/etc/ossec.conf and OSSEC is running ('systemctl status ossec'); for an agent, check "
              "that it is connected ('/var/ossec/bin/list_agents -c' on the Monitor Server).")
    options = {
        "ossec_dir": OSSEC_DIR,
        "alias": Option(str, "sdcheck", help="the <alias> of sdcheck's <localfile>"),
        "max_age_hours": Option(float, 26.0, help="hours within which each host's sdcheck must be heard from",
                                check=lambda v: 1 <= v <= 24 * 30),
        "agents": Option(list, [], help="agent names that must be heard from (default: those in client.keys)",
                         check=lambda v: all(isinstance(x, str) and x for x in v)),
    }

    def _day_file(self, base: str, when: float) -> str:
        t = time.localtime(when)
        return f"{base}/logs/alerts/{t.tm_year}/{MONTHS[t.tm_mon - 1]}/ossec-alerts-{t.tm_mday:02d}.log"

    def _read_log(self, path: str) -> str | None:
        facts = self.ctx.facts
        if facts.lstat(path) is not None:
            return facts.read_tail(path, LOG_LIMIT).decode("utf-8", "replace")
        if facts.lstat(path + ".gz") is not None:
            return _gunzip(facts.read_bytes(path + ".gz", LOG_LIMIT), LOG_LIMIT).decode("utf-8", "replace")
        return None

    def run(self) -> Iterable[Finding]:
        base, alias = self.opts["ossec_dir"].rstrip("/"), self.opts["alias"]
        now = time.time()
        today = f"{base}/logs/alerts/alerts.log"
        try:
            texts = [self._read_log(today), self._read_log(self._day_file(base, now - 86400))]
            agents = self.opts["agents"] or agent_names(self.ctx.facts.read_text(f"{base}/etc/client.keys", 1 << 20)
                                                       if self.ctx.facts.lstat(f"{base}/etc/client.keys") else "")
        except (FactError, OSError, EOFError) as exc:
            yield self.error(f"OSSEC's alerts cannot be read: {exc}", resource=today)
            return
        if texts[0] is None:
            yield self.fail(f"{today} does not exist: OSSEC's analysisd is not logging alerts", resource=today,
                            expected="alerts.log", actual="missing", group="heartbeat")
            return
        newest: dict[str, int] = {}
        for text in texts:
            for alert in scan_alerts(text or "", OURS):
                src = source_of(alert.location, alias)
                if src is not None and alert.time > newest.get(src, 0):
                    newest[src] = alert.time
        oldest = min((t for t in (first_alert_time(x) for x in texts if x) if t), default=now)
        young = texts[1] is None and now - oldest < self.opts["max_age_hours"] * 3600
        found = []
        for src in [""] + agents:
            who = "this Monitor Server" if not src else f"the agent {src}"
            seen = newest.get(src)
            hours = self.opts["max_age_hours"]
            if seen is not None and now - seen <= hours * 3600:
                continue
            last = (f"last heard {time.strftime('%Y-%m-%d %H:%M', time.localtime(seen))}" if seen
                    else "not heard from in the alerts read")
            if young and seen is None:
                found.append(self.skip(f"no sdcheck line from {who} yet; OSSEC's alert history starts "
                                       f"{(now - oldest) / 3600:.1f} h ago, within the {hours:g} h grace of a fresh "
                                       "install", resource=src or "localhost"))
                continue
            found.append(self.fail(f"sdcheck has not reported from {who} within {hours:g} h ({last}): it is not "
                                   "running there, or its lines do not reach this server", resource=src or "localhost",
                                   expected=f"an sdcheck line within {hours:g} h", actual=last, group="heartbeat",
                                   subject=f"host {src or 'localhost'}"))
        yield from found or [self.passed(f"sdcheck reported within {self.opts['max_age_hours']:g} h from this "
                                         f"server and {len(agents)} agent(s)", resource=today)]
