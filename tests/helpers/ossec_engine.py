"""A small evaluator of OSSEC rule trees for tests: if_sid children, <match> with OS_Match
and <regex> with OS_Regex (through wazuhregex, which emulates OSSEC's C matchers).

OSSEC semantics followed: a rule matches when all its conditions hold; after a rule
matches, its children (rules naming it in <if_sid>, in file order) are tried and the first
child that matches replaces it, recursively. Rule 530 is OSSEC's own parent of
command-monitor events (ossec_rules.xml: <match>^ossec: output: </match>).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from wazuhregex import WazuhRegex

OSSEC_530 = {"id": 530, "level": 0, "if_sid": [], "match": "^ossec: output: ", "regex": None}


def load_rules(path: Path) -> list[dict]:
    root = ET.fromstring("<root>" + path.read_text() + "</root>")
    rules = []
    for group in root.findall("group"):
        for rule in group.findall("rule"):
            def text(tag):
                el = rule.find(tag)
                return el.text if el is not None else None
            rules.append({
                "id": int(rule.get("id")),
                "level": int(rule.get("level")),
                "if_sid": [int(x) for x in (text("if_sid") or "").replace(",", " ").split()],
                "match": text("match"),
                "regex": text("regex"),
                "description": text("description"),
                "options": text("options"),
                "elements": [child.tag for child in rule],
            })
    return rules


def _holds(rule: dict, event: str) -> bool:
    if rule["match"] is not None and not WazuhRegex(rule["match"]).os_match(event)[0]:
        return False
    if rule["regex"] is not None and not WazuhRegex(rule["regex"]).os_regex(event)[0]:
        return False
    return True


def evaluate(rules: list[dict], event: str) -> dict | None:
    """The rule OSSEC would report for ``event`` (None when not even 530 matches)."""
    everything = [OSSEC_530] + rules

    def descend(rule):
        for child in everything:
            if rule["id"] in child["if_sid"] and _holds(child, event):
                return descend(child)
        return rule

    if not _holds(OSSEC_530, event):
        return None
    return descend(OSSEC_530)


def event_for(line: str, alias: str = "sdcheck") -> str:
    return f"ossec: output: '{alias}': {line}"
