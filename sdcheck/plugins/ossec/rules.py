"""OSSEC rule files and ossec-logtest's report, read leniently as OSSEC itself reads them
(pure: text in, records out). OSSEC's stock rule files are not all well-formed XML, so rules
are found as ``<rule ...>...</rule>`` blocks after comments are removed."""

from __future__ import annotations

import re
from collections import namedtuple

Rule = namedtuple("Rule", "id level parents groups options conditions mentions line")
Verdict = namedtuple("Verdict", "event rule level alert")

_COMMENT = re.compile(r"<!--.*?-->", re.S)
_RULE = re.compile(r"<rule\b([^>]*)>(.*?)</rule\s*>", re.S | re.I)
_ATTR = re.compile(r"""([\w-]+)\s*=\s*(?:"([^"]*)"|'([^']*)')""")
_TAG = re.compile(r"<([\w-]+)\b[^>]*>(.*?)</\1\s*>", re.S)
PARENT_TAGS = ("if_sid", "if_matched_sid")
GROUP_TAGS = ("if_group", "if_matched_group")
# conditions logtest cannot exercise for an agent's events (it always reads from "stdin")
PLACE_TAGS = ("location", "hostname", "srcip", "dstip", "user", "program_name", "decoded_as", "time",
              "weekday", "same_location", "different_location", "same_source_ip", "frequency", "timeframe")


def _blank_comments(text: str) -> str:
    return _COMMENT.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), text)


def _numbers(text: str) -> list[int]:
    return [int(n) for n in re.findall(r"\d+", text)]


def scan_rules(text: str) -> list[Rule]:
    """Every rule in one rule file, with the line it starts on."""
    text = _blank_comments(text)
    out = []
    for m in _RULE.finditer(text):
        attrs = {k.lower(): a if a else b for k, a, b in _ATTR.findall(m.group(1))}
        if not attrs.get("id", "").strip().isdigit():
            continue
        body: dict[str, list[str]] = {}
        for tag, value in _TAG.findall(m.group(2)):
            body.setdefault(tag.lower(), []).append(" ".join(value.split()))
        level = attrs.get("level", "0").strip()
        parents = [n for tag in PARENT_TAGS for v in body.get(tag, []) for n in _numbers(v)]
        groups = [g for tag in GROUP_TAGS for v in body.get(tag, []) for g in re.split(r"[,\s]+", v) if g]
        options = {o for v in body.get("options", []) for o in re.split(r"[,\s]+", v) if o}
        conditions = sorted({t for t in body if t in PLACE_TAGS} | {k for k in attrs if k in PLACE_TAGS})
        mentions = "sdcheck" in m.group(2).lower()
        out.append(Rule(int(attrs["id"]), int(level) if level.isdigit() else -1, parents, groups, options,
                        conditions, mentions, text.count("\n", 0, m.start()) + 1))
    return out


_BLOCK = "**Phase 1: Completed pre-decoding."


def parse_logtest(output: str) -> list[Verdict]:
    """One verdict per event ossec-logtest reports, in order: the full event, the rule that
    decided it (None when none matched), its level, and whether an alert is generated."""
    verdicts = []
    for block in output.split(_BLOCK)[1:]:
        event = re.search(r"^\s*full event: '(.*)'\s*$", block, re.M)
        rule = re.findall(r"^\s*Rule id: '(\d+)'", block, re.M)
        level = re.findall(r"^\s*Level: '(\d+)'", block, re.M)
        verdicts.append(Verdict(event.group(1) if event else None, int(rule[-1]) if rule else None,
                                int(level[-1]) if level else None, "**Alert to be generated." in block))
    return verdicts
