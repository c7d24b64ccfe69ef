"""An SMTP sink (aiosmtpd) on 127.0.0.1:25 of the network namespace it runs in, for
ossec-maild to mail to: each message is saved as DIR/<n>.eml with its envelope on top.

usage: smtp_sink.py DIR      prints "ready" when listening; serves until killed.
"""

import sys
import time
from pathlib import Path

from aiosmtpd.controller import Controller


class Sink:
    def __init__(self, out: Path):
        self.out, self.count = out, 0

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        head = f"X-Envelope-From: {envelope.mail_from}\nX-Envelope-To: {', '.join(envelope.rcpt_tos)}\n"
        tmp = self.out / f".{self.count}.tmp"
        tmp.write_bytes(head.encode() + envelope.original_content)
        tmp.rename(self.out / f"{self.count}.eml")
        return "250 2.0.0 OK queued"


def main():
    out = Path(sys.argv[1])
    controller = Controller(Sink(out), hostname="127.0.0.1", port=25)
    controller.start()
    print("ready", flush=True)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
