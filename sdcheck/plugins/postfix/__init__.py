"""The postfix plugin: Postfix's effective configuration on the Monitor Server."""

from sdcheck.plugins.postfix.checks import CHECKS as _SPOT, SETTINGS, secrets
from sdcheck.plugins.postfix.whole import WholeConfig

CHECKS = [*_SPOT, WholeConfig]

__all__ = ["CHECKS", "SETTINGS", "secrets"]
