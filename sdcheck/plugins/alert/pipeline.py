"""The alert pipeline exercise: the sandbox script that pushes one synthetic OSSEC alert
through the ossec user's real .procmailrc and alarm script, and the pure reading of what it
captured (what was handed to a mailer, and to whom a message is encrypted)."""

from __future__ import annotations

import base64
import re
from collections import namedtuple

Captured = namedtuple("Captured", "argv body")

# Mailer programs an alarm script could hand a message to; each is replaced by the capture
# program inside the sandbox (the ones that exist on the host).
MAILERS = ("/usr/bin/mail", "/usr/bin/mailx", "/usr/bin/mail.mailutils", "/usr/bin/bsd-mailx", "/usr/bin/s-nail",
           "/usr/bin/mutt", "/usr/bin/msmtp", "/usr/sbin/sendmail", "/usr/lib/sendmail", "/usr/sbin/sendmail.postfix",
           "/usr/sbin/postdrop", "/usr/sbin/ssmtp")

# What the capture program does with its arguments and standard input (it runs as the ossec
# user, in the sandbox's /tmp).
CAPTURE = "\n".join([
    "#!/bin/sh",
    "f=$(mktemp /tmp/c/m.XXXXXX) || exit 75",
    "{ printf '%s\\n' \"$0\"; for a in \"$@\"; do printf '%s\\n' \"$a\"; done; }"
    " | head -c 65536 | base64 -w0 > \"$f.argv\"",
    "head -c 4194304 | base64 -w0 > \"$f.body\"",
    "exit 0",
    ""])

# Run as root by `unshare --mount --net --pid --fork --mount-proc --kill-child sh -c SCRIPT sdcheck HOME USER
# GNUPG CAPTURE MAILERS...`. Everything it changes is inside its own mount namespace (tmpfs over
# /tmp, /var/log, /var/mail, /var/spool/postfix, /var/tmp, /dev/shm; the user's home read-only;
# the keyring copied and bound over the real one, and the copy failing ends the script before
# anything runs; every mailer bound to the capture program); it has no network, and its
# processes die with it. The message comes on standard input. It prints "== procmail RC", then
# "== argv B64" and "== body B64" for each capture, and "== log B64" (procmail's log).
SCRIPT = r"""
set -eu
home=$1 user=$2 gnupg=$3 capture=$4
shift 4
mount --make-rprivate /
mount -t tmpfs -o mode=1777,size=64m sdcheck /tmp
mkdir /tmp/c
chown "$user" /tmp/c
chmod 0700 /tmp/c
printf '%s' "$capture" > /tmp/capture
chmod 0755 /tmp/capture
for m in "$@"; do
    if [ -e "$m" ]; then mount --bind /tmp/capture "$m"; fi
done
for d in /var/spool/postfix /var/mail /var/log /var/tmp /dev/shm; do
    if [ -d "$d" ]; then mount -t tmpfs -o mode=1777,size=16m sdcheck "$d"; fi
done
# the user's home read-only: a recipe cannot write there (its keyring copy is bound on top)
mount --bind "$home" "$home"
mount -o remount,bind,ro "$home"
touch /var/log/procmail.log
chown "$user" /var/log/procmail.log
if [ -d "$gnupg" ]; then
    cp -a "$gnupg" /tmp/gnupg
    mount --bind /tmp/gnupg "$gnupg"
fi
set +e
setpriv --reuid="$user" --regid="$(id -g "$user")" --init-groups \
    env -i HOME="$home" LOGNAME="$user" USER="$user" SHELL=/bin/sh PATH=/usr/bin:/bin procmail
rc=$?
# procmail does not wait for a pipe recipe without the w flag: wait (30 s at most) until the
# user runs nothing but GnuPG's helpers (this namespace's own /proc shows only its processes)
i=0
while [ $i -lt 300 ] && [ -n "$(ps -u "$user" -o comm= | grep -v -x -e gpg-agent -e dirmngr -e keyboxd)" ]; do
    sleep 0.1
    i=$((i + 1))
done
echo "== procmail $rc"
for f in /tmp/c/*.argv; do
    [ -e "$f" ] || continue
    printf '== argv %s\n' "$(cat "$f")"
    printf '== body %s\n' "$(cat "${f%.argv}.body")"
done
printf '== log %s\n' "$(tail -c 2000 /var/log/procmail.log | base64 -w0)"
"""


def message(nonce: str, hostname: str) -> bytes:
    """An alert as ossec-maild writes it to root@localhost, as Postfix's local delivery hands
    it to the ossec user's procmail after /etc/aliases."""
    return (f"Return-Path: <ossec@{hostname}>\n"
            f"Delivered-To: ossec@{hostname}\n"
            "To: <root@localhost>\n"
            "From: OSSEC HIDS <ossec@freedom.press>\n"
            f"Subject: OSSEC Notification - {hostname} - Alert level 12\n"
            f"Message-ID: <sdcheck-pipeline-{nonce}@{hostname}>\n\n"
            "OSSEC HIDS Notification.\n\n"
            f"Received From: {hostname}->sdcheck\n"
            "Rule: 401101 fired (level 12) -> \"sdcheck: server differs from its baseline\"\n"
            "Portion of the log(s):\n\n"
            f"ossec: output: 'sdcheck': System configuration error: [alert.pipeline] test {nonce}\n\n"
            " --END OF NOTIFICATION\n").encode()


def _b64(text: str) -> str:
    try:
        return base64.b64decode(text.strip() or b"", validate=True).decode("utf-8", "replace")
    except ValueError:
        return ""


def parse_output(text: str) -> tuple[int | None, list[Captured], str]:
    """(procmail's exit status, the captures, the tail of procmail's log) from SCRIPT's output."""
    rc, captured, log = None, [], ""
    argv = None
    for line in text.splitlines():
        if line.startswith("== procmail "):
            rc = int(line[12:]) if line[12:].strip().isdigit() else None
        elif line.startswith("== argv "):
            argv = _b64(line[8:]).split("\n")[:-1]
        elif line.startswith("== body ") and argv is not None:
            captured.append(Captured(argv, _b64(line[8:])))
            argv = None
        elif line.startswith("== log "):
            log = _b64(line[7:])
    return rc, captured, log


def packet_keyids(listing: str) -> list[str]:
    """Key ids a message is encrypted to (``gpg --list-packets``: ``:pubkey enc packet: ... keyid X``)."""
    return [m.upper() for m in re.findall(r"^:pubkey enc packet:.*\bkeyid ([0-9A-Fa-f]{16})\b", listing, re.M)]
