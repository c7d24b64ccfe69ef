"""The alert path itself (Monitor Server): the OSSEC GPG key, the SMTP relay's TLS (online
only), and what Postfix's mail log says about recent alert deliveries.

These automate the troubleshooting in SecureDrop's admin documentation: "Failed to encrypt
OSSEC alert", "Connection timed out", "Server certificate not verified", "Authentication
failure", "Sender address rejected".
"""

from sdcheck.plugins.alert.checks.gpg import Gpg
from sdcheck.plugins.alert.checks.maillog import Maillog
from sdcheck.plugins.alert.checks.pipeline import Pipeline
from sdcheck.plugins.alert.checks.relay import Relay
from sdcheck.plugins.alert.checks.route import Route

CHECKS = [Route, Gpg, Pipeline, Relay, Maillog]
