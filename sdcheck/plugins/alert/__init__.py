"""The alert path itself (Monitor Server): the OSSEC GPG key, the SMTP relay's TLS (online
only), and what Postfix's mail log says about recent alert deliveries.

These automate the troubleshooting in SecureDrop's admin documentation: "Failed to encrypt
OSSEC alert", "Connection timed out", "Server certificate not verified", "Authentication
failure", "Sender address rejected".
"""

from sdcheck.plugins.alert.gpg import AlertGpg
from sdcheck.plugins.alert.maillog import AlertMaillog
from sdcheck.plugins.alert.relay import AlertRelay

CHECKS = [AlertGpg, AlertRelay, AlertMaillog]
