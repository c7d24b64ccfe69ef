"""The postfix plugin: Postfix's effective configuration on the Monitor Server."""

from sdcheck.plugins.postfix.checks import CHECKS, SETTINGS, secrets

__all__ = ["CHECKS", "SETTINGS", "secrets"]
