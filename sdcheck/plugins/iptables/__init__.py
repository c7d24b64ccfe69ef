"""The iptables plugin: the firewall as the kernel holds it, against the baseline."""

from sdcheck.host.iptc import preload as preload_iptc
from sdcheck.plugins.iptables.base import SETTINGS
from sdcheck.plugins.iptables.checks.backends import Backends
from sdcheck.plugins.iptables.checks.boot_rules import BootRules
from sdcheck.plugins.iptables.checks.boot_rules_v6 import BootRulesV6
from sdcheck.plugins.iptables.checks.default_drop import DefaultDrop
from sdcheck.plugins.iptables.checks.ipv6 import Ipv6
from sdcheck.plugins.iptables.checks.nft_kernel import NftKernel
from sdcheck.plugins.iptables.checks.nft_native import NftNative
from sdcheck.plugins.iptables.checks.ruleset import Ruleset
from sdcheck.plugins.iptables.checks.ruleset_v6 import RulesetV6

CHECKS = [Backends, DefaultDrop, Ipv6, Ruleset, RulesetV6, BootRules, BootRulesV6, NftNative, NftKernel]
for _cls in CHECKS:  # python-iptables is imported in the main thread, before any check runs
    _cls.main_thread_setup = staticmethod(preload_iptc)


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
    """The dumps the selected checks read whatever the variables say (their ``reads``; see
    session.plan). A baseline may give iptables.ruleset another family: the prefetched dump
    then goes unused and the right one is read as usual."""
    from sdcheck.plugins.iptables.base import NFT_JSON
    from sdcheck.plugins.iptables.live import SAVE_TIMEOUT

    wanted = set(check_ids)
    reads = {r for cls in CHECKS if cls.id in wanted for r in cls.reads}
    commands = [([f"{'ip' if f == 4 else 'ip6'}tables-nft-save"], SAVE_TIMEOUT) for f in (4, 6) if f in reads]
    if "nft" in reads:
        commands.append((NFT_JSON, 20.0))
    return commands


def capture(ctx, family: int = 4, backend: str | None = None, profile: str = "app") -> str:
    """``sdcheck baseline capture iptables``: the live ruleset as an overlay of ``profile``."""
    from sdcheck.plugins.iptables.capture import capture_iptables

    return capture_iptables(ctx, family, backend, profile)


__all__ = ["CHECKS", "SETTINGS", "capture", "prefetch", "report_info"]
