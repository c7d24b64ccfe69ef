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


def prefetch(check_ids: list[str]) -> list[tuple[list[str], float]]:
    """The dumps the selected checks read whatever the variables say (see session._prefetch)."""
    from sdcheck.plugins.iptables.checks import NFT_JSON, SAVE_TIMEOUT

    mine = [c for c in check_ids if c.startswith("iptables.")]
    commands = []
    if any(c != "iptables.nft-native" for c in mine):
        commands += [(["iptables-nft-save"], SAVE_TIMEOUT), (["ip6tables-nft-save"], SAVE_TIMEOUT)]
    if "iptables.nft-native" in mine or "iptables.nft-kernel" in mine:
        commands.append((NFT_JSON, 20.0))
    return commands


def capture(ctx, family: int = 4, backend: str | None = None) -> str:
    """``sdcheck baseline capture iptables``: the live ruleset as a baseline to review."""
    from sdcheck.plugins.iptables.capture import capture_iptables

    return capture_iptables(ctx, family, backend)


__all__ = ["CHECKS", "SETTINGS", "capture", "prefetch", "report_info"]
