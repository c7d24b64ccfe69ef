"""``sdcheck baseline capture iptables``: the live ruleset written as a baseline.

Like goss's ``add``: an admin captures a host known to be good, reviews the YAML, and
uses it with ``--baseline``. The capture is an overlay: it ``extends`` the profile and
replaces only the ruleset check it captured, so every other check of the profile still runs. Owner ids are
turned back into user and group names where the host has them, so the capture is
portable between hosts whose system accounts have different ids.
"""

from __future__ import annotations

import time

from sdcheck.errors import UsageError
from sdcheck.plugins.iptables.base import BUILTIN_CHAINS, snapshot
from sdcheck.plugins.iptables.rules import is_owner_id, rebind
from sdcheck.plugins.iptables.subjects import format_rule


class CaptureError(UsageError):
    pass


def _named(facts, rule):
    def change(module: str, option: str, value: str) -> str:
        if option in ("uid-owner", "gid-owner") and is_owner_id(value) and "-" not in value:
            name = facts.user_name(int(value)) if option == "uid-owner" else facts.group_name(int(value))
            return name or value
        return value
    return rebind(rule, change)


def capture_iptables(ctx, family: int = 4, backend: str | None = None, profile: str = "app") -> str:
    snap = snapshot(ctx, family)
    effective = dict(snap.effective())
    if not effective:
        reasons = "; ".join(snap.unavailable.values()) or "no backend could be read"
        raise CaptureError(f"the ruleset could not be read: {reasons}")
    if backend is None:
        if len(effective) > 1:
            raise CaptureError("rules are loaded in both the nft and the legacy backend; "
                               "choose one with --backend")
        backend = next(iter(effective))
    if backend not in snap.tables:
        raise CaptureError(f"the {backend} backend holds no ruleset to capture")
    tables = {}
    for tname, table in snap.tables[backend].items():
        if tname != "filter" and table.is_empty():
            continue
        builtins = BUILTIN_CHAINS.get(tname, ())
        policies = {c.name: c.policy for c in table.chains.values() if c.builtin and c.policy != "ACCEPT"}
        chains = {}
        for chain in table.chains.values():
            if chain.builtin and not chain.rules and chain.name in builtins:
                continue
            # '${' in a rule (a comment) is written '$${', so loading never interpolates it
            chains[chain.name] = [format_rule(_named(ctx.facts, r)).split(" ", 2)[2].replace("${", "$${")
                                  for r in chain.rules]
        tables[tname] = {"policies": policies, "chains": chains}
    import yaml

    check_id = "iptables.ruleset" if family == 4 else "iptables.ruleset-v6"
    doc = {
        "sdcheck_baseline": 1,
        "profile": profile,
        "description": f"the {profile} profile with the iptables ruleset captured from {ctx.facts.name} "
                       f"({backend} backend)",
        "extends": profile,
        "checks": {check_id: {"family": family, "tables": tables}},
    }
    stamp = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    head = (f"# Captured by 'sdcheck baseline capture iptables' on {stamp}.\n"
            "# Review it before use: it holds what the host does now, not what it should do.\n"
            f"# It extends the bundled {profile} profile and replaces only {check_id}: every other\n"
            f"# check of {profile} still runs ('sdcheck baseline render --baseline FILE' shows them).\n")
    return head + yaml.safe_dump(doc, sort_keys=False, width=1 << 16, allow_unicode=False)
