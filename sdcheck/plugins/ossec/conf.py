"""ossec.conf as OSSEC reads it, reduced to comparable items (pure: text in, items out).

OSSEC merges every ``<ossec_config>`` block of the file, and within one it applies each
section's children in order, so the file reduces to a multiset of items:
- a child of a section that configures one thing (``global``, ``syscheck``, ``alerts``...):
  ``section/tag[attr=value,...] = text``, one item per child;
- a section that is one entry of a list (``localfile``, ``email_alerts``, ``reports``,
  ``command``, ``active-response``...): the whole block as one item,
  ``section: tag=text; tag=text``, children sorted.
Blank runs inside a value are folded to one space; comments do not count. A value holding
any of ``;={}[]"\\`` (or a comma in an attribute) or a character outside printable ASCII is written as a JSON string, so
two different files never reduce to the same items.
"""

from __future__ import annotations

import json
import re
from xml.parsers import expat

BLOCKS = frozenset({"localfile", "email_alerts", "reports", "command", "active-response", "agentless",
                    "database_output", "syslog_output"})
_DECL = re.compile(r"^\s*<\?xml[^>]*\?>")
_SPECIAL = re.compile(r'[;={}\[\]"\\]')
MAX_DEPTH = 16


class ConfError(ValueError):
    """The file is not XML OSSEC could read; the message says where."""


class Element:
    __slots__ = ("tag", "attrs", "text", "children", "line")

    def __init__(self, tag: str, attrs: dict, line: int):
        self.tag, self.attrs, self.line = tag, attrs, line
        self.text: list[str] = []
        self.children: list[Element] = []


def quote(value: str, also: str = "") -> str:
    special = _SPECIAL.search(value) or any(c in also for c in value)
    return json.dumps(value) if special or not value.isascii() or not value.isprintable() else value


def parse(text: str) -> Element:
    """The file's elements under one synthetic root, each with its line."""
    body = _DECL.sub(lambda m: "\n" * m.group(0).count("\n"), text, count=1)
    root = Element("", {}, 1)
    stack = [root]
    parser = expat.ParserCreate()

    def start(tag, attrs):
        if len(stack) > MAX_DEPTH:
            raise ConfError(f"elements nested deeper than {MAX_DEPTH} at line {parser.CurrentLineNumber}")
        el = Element(tag, attrs, parser.CurrentLineNumber)
        stack[-1].children.append(el)
        stack.append(el)

    def end(tag):
        stack.pop()

    def data(chunk):
        stack[-1].text.append(chunk)

    parser.StartElementHandler, parser.EndElementHandler, parser.CharacterDataHandler = start, end, data
    try:
        parser.Parse("<sdcheck-root>" + body + "</sdcheck-root>", True)
    except expat.ExpatError as exc:
        raise ConfError(f"not well-formed XML at line {exc.lineno}, column {exc.offset}") from None
    return root


def _text(el: Element) -> str:
    return quote(" ".join("".join(el.text).split()))


def _attrs(el: Element) -> str:
    if not el.attrs:
        return ""
    pairs = (f"{quote(k, ',')}={quote(' '.join(v.split()), ',')}" for k, v in sorted(el.attrs.items()))
    return "[" + ",".join(pairs) + "]"


def _block(el: Element) -> str:
    parts = [f"{c.tag}{_attrs(c)}=" + ("{" + _block(c) + "}" if c.children else _text(c)) for c in el.children]
    return "; ".join(sorted(parts))


def items(text: str) -> list[tuple[str, int]]:
    """(item, line) for every comparable item of an ossec.conf, in file order."""
    out: list[tuple[str, int]] = []
    (top,) = parse(text).children  # the synthetic root
    for config in top.children:
        if config.tag != "ossec_config":  # OSSEC reads only <ossec_config>; anything else is shown as is
            out.append((f"{config.tag}{_attrs(config)}: {_block(config) if config.children else _text(config)}",
                        config.line))
            continue
        for section in config.children:
            head = f"{section.tag}{_attrs(section)}"
            if section.tag in BLOCKS or not section.children:
                out.append((f"{head}: {_block(section) if section.children else _text(section)}", section.line))
                continue
            for child in section.children:
                value = "{" + _block(child) + "}" if child.children else _text(child)
                out.append((f"{head}/{child.tag}{_attrs(child)} = {value}", child.line))
    return out


def section_of(item: str) -> str:
    """The section an item belongs to (``global``, ``localfile``...)."""
    return re.split(r"[/:\[ =]", item, maxsplit=1)[0]


def key_of(item: str) -> str:
    """What an item sets: ``global/email_to`` for a child item; the whole item for a block."""
    return item.split(" = ", 1)[0] if " = " in item and ": " not in item.split(" = ", 1)[0] else item


if __name__ == "__main__":  # python -m sdcheck.plugins.ossec.conf < FILE: the items, as a baseline's list
    import sys

    import yaml

    print(yaml.safe_dump([item for item, _ in items(sys.stdin.read())], width=10000, sort_keys=False), end="")
