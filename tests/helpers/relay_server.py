"""A test SMTP relay (aiosmtpd) that misbehaves in one chosen way, for Postfix to fail
against in tests/test_maillog_postfix.py.

usage: relay_server.py MODE PORT CERT KEY
MODE: ok | untrusted (serves CERT, which the client does not trust) | nostarttls |
      sasl-fail | relay-denied | sender-rejected
Prints "ready" when listening; serves until killed.
"""

import ssl
import sys
import time

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult


class Handler:
    def __init__(self, mode):
        self.mode = mode

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        if self.mode == "sender-rejected":
            return f"553 5.7.1 <{address}>: Sender address rejected: not owned by user alerts@news.example"
        envelope.mail_from = address
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.mode == "relay-denied":
            return f"554 5.7.1 <{address}>: Relay access denied"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        return "250 2.0.0 OK queued"


def main():
    mode, port, cert, key = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]

    def authenticator(server, session, envelope, mechanism, auth_data):
        return AuthResult(success=mode != "sasl-fail", handled=False)

    kwargs = {}
    if mode != "nostarttls":
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(cert, key)
        kwargs = dict(tls_context=ctx, require_starttls=True, authenticator=authenticator,
                      auth_require_tls=True)
    controller = Controller(Handler(mode), hostname="127.0.0.1", port=port, server_hostname="relay.test",
                            **kwargs)
    controller.start()
    print("ready", flush=True)
    while True:
        time.sleep(60)


if __name__ == "__main__":
    main()
