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


def capture(ctx, family: int = 4, backend: str | None = None) -> str:
    """``sdcheck baseline capture iptables``: the live ruleset as a baseline to review."""
    from sdcheck.plugins.iptables.capture import capture_iptables

    return capture_iptables(ctx, family, backend)


__all__ = ["CHECKS", "SETTINGS", "capture", "report_info"]
