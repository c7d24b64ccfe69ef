"""The postfix plugin: the Monitor Server's Postfix as Postfix itself reads its configuration."""

from sdcheck.plugins.postfix.base import SETTINGS
from sdcheck.plugins.postfix.checks.anchors import Anchors
from sdcheck.plugins.postfix.checks.config import Config
from sdcheck.plugins.postfix.checks.local import Local
from sdcheck.plugins.postfix.checks.maps import Maps
from sdcheck.plugins.postfix.checks.master import Master
from sdcheck.plugins.postfix.checks.relay import Relay
from sdcheck.plugins.postfix.checks.sasl_passwd import SaslPasswd
from sdcheck.plugins.postfix.checks.service import Service
from sdcheck.plugins.postfix.checks.tls import Tls
from sdcheck.plugins.postfix.live import secrets

CHECKS = [Relay, Tls, Anchors, Master, Local, SaslPasswd, Service, Config, Maps]

__all__ = ["CHECKS", "SETTINGS", "secrets"]
