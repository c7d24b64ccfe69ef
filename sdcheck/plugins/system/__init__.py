"""The system plugin: what SecureDrop's own test suite checks on its servers beyond the firewall,
Postfix and the store: for now, the application's data directory, keys and database."""

from sdcheck.plugins.system.checks.app_data import AppData

CHECKS = [AppData]

__all__ = ["CHECKS"]
