"""Ordered comparison of two rule lists (expected vs actual), for one chain.

Pure functions over canonical ``Rule`` objects: rules compare by ``key`` (what the
kernel acts on), comments separately. The result says, with 1-based positions on both
sides, which rules are missing, unexpected, moved, changed in place, or differ only in
their comment; and it renders a unified-diff-like view for the admin's report.
"""

from __future__ import annotations

from collections import namedtuple

from sdcheck.startup import TYPE_CHECKING

if TYPE_CHECKING:
    from sdcheck.plugins.iptables.rules import Rule


# kind: missing | unexpected | moved | changed | comment
# exp_pos/act_pos: 1-based positions (0 when the rule is absent on that side)
Change = namedtuple("Change", "kind exp_pos act_pos expected actual")


def _opcodes(a: list, b: list) -> list:
    from difflib import SequenceMatcher

    return SequenceMatcher(None, a, b, autojunk=False).get_opcodes()


def diff_rules(expected: list[Rule], actual: list[Rule]) -> list[Change]:
    """Differences between two ordered rule lists, in expected-position order."""
    ek = [r.key for r in expected]
    ak = [r.key for r in actual]
    changes: list[Change] = []
    if ek == ak:
        pairs = list(zip(range(len(ek)), range(len(ak))))
    else:
        pairs = []
        missing: list[int] = []      # indexes into expected
        unexpected: list[int] = []   # indexes into actual
        blocks: list[tuple[list[int], list[int]]] = []
        for tag, i1, i2, j1, j2 in _opcodes(ek, ak):
            if tag == "equal":
                pairs.extend(zip(range(i1, i2), range(j1, j2)))
            else:
                blocks.append((list(range(i1, i2)), list(range(j1, j2))))
                missing.extend(range(i1, i2))
                unexpected.extend(range(j1, j2))
        # the same rule on both sides, elsewhere: moved
        waiting: dict[tuple, list[int]] = {}
        for j in unexpected:
            waiting.setdefault(ak[j], []).append(j)
        moved_e: set[int] = set()
        moved_a: set[int] = set()
        for i in missing:
            js = waiting.get(ek[i])
            if js:
                j = js.pop(0)
                moved_e.add(i)
                moved_a.add(j)
                changes.append(Change("moved", i + 1, j + 1, expected[i], actual[j]))
                pairs.append((i, j))
        # what is left of a replaced block, paired in order: changed in place
        for es, as_ in blocks:
            es = [i for i in es if i not in moved_e]
            as_ = [j for j in as_ if j not in moved_a]
            for i, j in zip(es, as_):
                changes.append(Change("changed", i + 1, j + 1, expected[i], actual[j]))
            for i in es[len(as_):]:
                changes.append(Change("missing", i + 1, 0, expected[i], None))
            for j in as_[len(es):]:
                changes.append(Change("unexpected", 0, j + 1, None, actual[j]))
    for i, j in pairs:
        if expected[i].comment != actual[j].comment:
            changes.append(Change("comment", i + 1, j + 1, expected[i], actual[j]))
    changes.sort(key=lambda c: (c.exp_pos or c.act_pos, c.act_pos, c.kind))
    return changes


def unified(expected: list[Rule], actual: list[Rule], show, context: int = 1,
            labels: tuple[str, str] = ("expected", "actual"), limit: int = 200) -> list[str]:
    """A unified-diff-like view: ``-`` expected only, ``+`` actual only, with both
    positions on every line. ``show(rule)`` spells a rule. At most ``limit`` lines."""
    from difflib import SequenceMatcher

    ek = [(r.key, r.comment) for r in expected]
    ak = [(r.key, r.comment) for r in actual]
    if ek == ak:
        return []
    out = [f"--- {labels[0]}", f"+++ {labels[1]}"]
    matcher = SequenceMatcher(None, ek, ak, autojunk=False)
    for group in matcher.get_grouped_opcodes(context):
        i1, i2, j1, j2 = group[0][1], group[-1][2], group[0][3], group[-1][4]
        out.append(f"@@ {labels[0]} #{i1 + 1}-{i2}, {labels[1]} #{j1 + 1}-{j2} @@")
        for tag, a1, a2, b1, b2 in group:
            if tag == "equal":
                for i, j in zip(range(a1, a2), range(b1, b2)):
                    out.append(f"  {i + 1:>4} {j + 1:>4}  {show(expected[i])}")
                continue
            for i in range(a1, a2):
                out.append(f"- {i + 1:>4} {'':>4}  {show(expected[i])}")
            for j in range(b1, b2):
                out.append(f"+ {'':>4} {j + 1:>4}  {show(actual[j])}")
        if len(out) > limit:
            return out[:limit] + [f"... diff cut at {limit} lines"]
    return out
