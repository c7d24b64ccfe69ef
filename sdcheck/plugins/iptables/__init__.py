"""The iptables plugin: the firewall as the kernel holds it, against the baseline."""

from sdcheck.plugins.iptables.checks import CHECKS, SETTINGS



def report_info(ctx) -> dict:
    """For the report's header: which firewall backend was read, and how."""
    info = {}
    for snap in ctx.computed("iptables:").values():
        name = "iptables" if snap.family == 4 else "ip6tables"
        readers = ", ".join(f"{b} via {how}" for b, how in snap.readers.items())
        info[f"{name} backend"] = (f"the '{name}' command uses {snap.selected or 'unknown'}; "
                                   f"holding rules: {', '.join(snap.loaded()) or 'none'}; read: {readers}")
    return info


# what each check reads whatever the variables say: save dumps by family, and "nft" for
# 'nft -j list ruleset' (a baseline may give iptables.ruleset another family: the prefetched
# dump then goes unused and the right one is read as usual)
_READS = {"iptables.backends": (4, 6), "iptables.default-drop": (4,), "iptables.ipv6": (6,),
          "iptables.ruleset": (4,), "iptables.ruleset-v6": (6,), "iptables.nft-native": ("nft",),
          "iptables.nft-kernel": (4, 6, "nft")}


def prefetch(check_ids: list[str]) -> list[tuple[list[str], float]]:
    """The dumps the selected checks read whatever the variables say (see session.plan)."""
    from sdcheck.plugins.iptables.checks import NFT_JSON, SAVE_TIMEOUT

    reads = {r for c in check_ids for r in _READS.get(c, ())}
    commands = [([f"{'ip' if f == 4 else 'ip6'}tables-nft-save"], SAVE_TIMEOUT) for f in (4, 6) if f in reads]
    if "nft" in reads:
        commands.append((NFT_JSON, 20.0))
    return commands


def capture(ctx, family: int = 4, backend: str | None = None) -> str:
    """``sdcheck baseline capture iptables``: the live ruleset as a baseline to review."""
    from sdcheck.plugins.iptables.capture import capture_iptables

    return capture_iptables(ctx, family, backend)


__all__ = ["CHECKS", "SETTINGS", "capture", "prefetch", "report_info"]
