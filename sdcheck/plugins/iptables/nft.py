"""The kernel's own view of nftables (``nft -j list ruleset``), as plain comparable data:
pure functions of the JSON text."""

from __future__ import annotations

import json

# tables iptables-nft manages, per address family
IPTABLES_TABLES = ("filter", "nat", "mangle", "raw", "security")
FAMILY = {4: "ip", 6: "ip6"}


class NftError(ValueError):
    """The text is not nft's JSON."""


def _norm(value):
    """An expression with what changes by itself left out: counters' values."""
    if isinstance(value, dict):
        return {k: (None if k == "counter" else _norm(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [_norm(v) for v in value]
    return value


def tables_of(text: str | bytes, family: str) -> dict[str, dict]:
    """``{table: {"chains": {name: {"base": ..., "rules": [json]}}, "objects": {(kind, name)}}}``
    for iptables' own tables of ``family`` ("ip" or "ip6") in nft's JSON."""
    try:
        items = json.loads(text or b"{}").get("nftables", [])
    except (ValueError, AttributeError):
        raise NftError("not nft's JSON") from None
    out: dict[str, dict] = {}

    def table(name) -> dict:
        return out.setdefault(str(name), {"chains": {}, "objects": set(), "flags": None})

    for item in items if isinstance(items, list) else ():
        if not isinstance(item, dict):
            continue
        for kind, obj in item.items():
            if not isinstance(obj, dict) or obj.get("family") != family:
                continue
            name = obj.get("table") if kind != "table" else obj.get("name")
            if name not in IPTABLES_TABLES:
                continue
            t = table(name)
            if kind == "chain":
                base = tuple(obj.get(k) for k in ("type", "hook", "prio", "policy", "dev"))
                t["chains"].setdefault(str(obj.get("name")), {"rules": []})["base"] = base
            elif kind == "rule":
                chain = t["chains"].setdefault(str(obj.get("chain")), {"rules": [], "base": None})
                chain["rules"].append(json.dumps(_norm(obj.get("expr", [])), sort_keys=True))
            elif kind == "table":  # flags (dormant switches the whole table off)
                t["flags"] = json.dumps(obj.get("flags"), sort_keys=True) if "flags" in obj else None
            else:  # set, map, flowtable, counter, quota, ct helper ...
                t["objects"].add((kind, str(obj.get("name"))))
    return out


def _changes_nothing(chain: dict) -> bool:
    """A base chain with ACCEPT policy and no rules: holding it or not, the kernel does the
    same. iptables-nft creates the chains a rule needs and nothing more, while
    iptables-nft-save prints every built-in chain of a table (``:INPUT ACCEPT``...)."""
    base = chain.get("base")  # (type, hook, priority, policy, device) of a base chain, else None
    return not chain["rules"] and base is not None and base[1] is not None and base[3] == "accept"


def differences(live: dict[str, dict], expected: dict[str, dict]) -> list[tuple[str, str, int, str]]:
    """How the kernel's tables differ from what iptables-nft makes of the rules it prints:
    ``(table, chain, position (0: the chain itself), what)``, in table and chain order; each
    ``what`` says which way it goes (the kernel enforces something iptables does not show, or
    does not enforce something it shows)."""
    found = []
    for tname in sorted(set(live) | set(expected)):
        have = live.get(tname, {"chains": {}, "objects": set(), "flags": None})
        want = expected.get(tname, {"chains": {}, "objects": set(), "flags": None})
        if have.get("flags") != want.get("flags"):
            found.append((tname, "", 0, "the table's flags differ from what iptables makes (a dormant table "
                                        "filters nothing, whatever iptables shows)"))
        for kind, name in sorted(have["objects"] - want["objects"]):
            found.append((tname, "", 0, f"a {kind} '{name}' that iptables does not show; the kernel holds "
                                        "and may use it"))
        for cname in sorted(set(have["chains"]) | set(want["chains"])):
            hc, wc = have["chains"].get(cname), want["chains"].get(cname)
            if wc is None:
                found.append((tname, cname, 0, f"a chain that iptables does not show ({len(hc['rules'])} rule(s)); "
                                               "the kernel enforces it"))
                continue
            if hc is None:
                if not _changes_nothing(wc):
                    found.append((tname, cname, 0, "a chain iptables shows is not in the kernel; the kernel "
                                                   "enforces neither its policy nor its rules"))
                continue
            if hc.get("base") != wc.get("base"):
                found.append((tname, cname, 0, "its hook, priority or policy differs from what iptables shows; "
                                               "the kernel enforces its own"))
            for pos in range(max(len(hc["rules"]), len(wc["rules"]))):
                h = hc["rules"][pos] if pos < len(hc["rules"]) else None
                w = wc["rules"][pos] if pos < len(wc["rules"]) else None
                if h != w:
                    what = ("a rule that iptables does not show; the kernel enforces it" if w is None else
                            "iptables shows a rule the kernel does not hold; the kernel does not enforce it"
                            if h is None else
                            "the kernel's rule is not what iptables shows; the kernel enforces its own")
                    found.append((tname, cname, pos + 1, what))
    return found
