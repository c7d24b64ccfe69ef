"""OSSEC's alerts log (alerts.log and its daily archives) and client.keys, read for what the
heartbeat needs (pure: text in, records out)."""

from __future__ import annotations

import re
from collections import namedtuple

Alert = namedtuple("Alert", "time location rule level")

_HEAD = re.compile(r"^\*\* Alert (\d{1,12})\.\d+:")
_LOC = re.compile(r"^\d{4} \w{3} \d{1,2} \d\d:\d\d:\d\d (.*)$")
_RULE = re.compile(r"^Rule: (\d{1,9}) \(level (\d{1,3})\)")


def scan_alerts(text: str, rules: range) -> list[Alert]:
    """The alerts of rules in ``rules``: when, where from (OSSEC's location: ``host->alias``
    for the server's own, ``(agent) ip->alias`` for an agent's) and which rule."""
    out = []
    lines = text.split("\n")
    for i, line in enumerate(lines):
        head = _HEAD.match(line)
        if not head or i + 2 >= len(lines):
            continue
        loc, rule = _LOC.match(lines[i + 1]), _RULE.match(lines[i + 2])
        if loc and rule and int(rule.group(1)) in rules:
            out.append(Alert(int(head.group(1)), loc.group(1), int(rule.group(1)), int(rule.group(2))))
    return out


def first_alert_time(text: str) -> int | None:
    for line in text.split("\n", 200)[:200]:
        head = _HEAD.match(line)
        if head:
            return int(head.group(1))
    return None


def agent_names(client_keys: str) -> list[str]:
    """Names of the agents registered in client.keys (``id name ip key``), removed ones
    (``#`` or ``!`` before the name) left out. Only the name is kept: the key is a secret."""
    names = []
    for line in client_keys.split("\n"):
        parts = line.split()
        if len(parts) >= 4 and not line.lstrip().startswith("#") and parts[1][0] not in "#!":
            names.append(parts[1])
    return names


def source_of(location: str, alias: str) -> str | None:
    """``(app) 10.0.0.2->sdcheck`` -> ``app``; ``mon->sdcheck`` -> ``""`` (the server itself);
    None when the location is not sdcheck's."""
    if not location.endswith("->" + alias):
        return None
    where = location[: -len(alias) - 2]
    m = re.match(r"^\((.+?)\) \S+$", where)
    if m:
        return m.group(1)
    return "" if where and "(" not in where and " " not in where else None
