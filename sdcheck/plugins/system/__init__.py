"""The system plugin: what SecureDrop's own test suite checks on its servers beyond the firewall,
Postfix and the store: for now, the application's data directory, keys and database."""

from sdcheck.plugins.system.checks.app_data import AppData
from sdcheck.plugins.system.checks.ipv6_addresses import Ipv6Addresses
from sdcheck.plugins.system.checks.listeners import Listeners
from sdcheck.plugins.system.checks.services import Services
from sdcheck.plugins.system.checks.sysctl import Sysctl

CHECKS = [AppData, Sysctl, Ipv6Addresses, Listeners, Services]

__all__ = ["CHECKS"]
