"""The ossec plugin: OSSEC itself, as the start of the alert path. Its configuration against
SecureDrop's package file, its rules as the host's ossec-logtest evaluates them, its daemons,
and (on the Monitor Server) the sign of life from each server's sdcheck."""

from sdcheck.plugins.ossec.checks.config import Config
from sdcheck.plugins.ossec.checks.daemons import Daemons
from sdcheck.plugins.ossec.checks.heartbeat import Heartbeat
from sdcheck.plugins.ossec.checks.rules import Rules

CHECKS = [Config, Rules, Daemons, Heartbeat]

__all__ = ["CHECKS"]
