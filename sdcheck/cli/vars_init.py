"""``sdcheck vars init``: a vars file to start from, with every site variable of the profile.

What the server says is read where it can be (the OSSEC manager's address, the relay, the
alert address and key in the alarm script): marked "read from ..., check it", because a
value read from a server that was tampered with would make the tampering the baseline.
Everything else is the example, commented out. No secret is read: the relay password stays
for the admin to put in the file (or SDCHECK_SASL_PASSWORD)."""

from __future__ import annotations

import json
import re

HEAD = """\
# sdcheck site variables ({profile} profile), started by 'sdcheck vars init' on {host}.
# Check every value against the site's records: SecureDrop's site-specific file (on the
# Admin Workstation) holds them all and can be used as it is: --vars site-specific.
# Values "read from" this server are what it does now, not necessarily what it should do.
# Keep this file private (mode 0600): it may hold sasl_password.
"""


def _read(facts, profile: str) -> dict[str, tuple[object, str]]:
    from sdcheck.host.base import FactError

    found: dict[str, tuple[object, str]] = {}

    def text(path: str) -> str:
        try:
            return facts.read_text(path, 1 << 20)
        except FactError:
            return ""

    conf = text("/var/ossec/etc/ossec.conf")
    if profile == "app":
        m = re.search(r"<(?:server-ip|address)>\s*([0-9.]+)\s*<", conf)
        if m:
            found["monitor_ip"] = (m.group(1), "/var/ossec/etc/ossec.conf (the OSSEC server)")
    else:
        for line in text("/var/ossec/etc/client.keys").splitlines():  # ID NAME IP KEY: never the key
            fields = line.split()
            if len(fields) >= 3 and re.fullmatch(r"[0-9.]+", fields[2]):
                found["app_ip"] = (fields[2], "/var/ossec/etc/client.keys (the agent's address)")
                break
        try:
            res = facts.run(["postconf", "-h", "relayhost"], timeout=10)
            m = re.fullmatch(r"\[?([^\]\s:]+)\]?(?::(\d+))?", res.stdout.decode("utf-8", "replace").strip())
            if res.ok and m:
                found["smtp_relay"] = (m.group(1), "postconf relayhost")
                if m.group(2):
                    found["smtp_relay_port"] = (int(m.group(2)), "postconf relayhost")
        except FactError:
            pass
        alarm = text("/var/ossec/send_encrypted_alarm.sh")
        for name, pattern in (("ossec_alert_email", r"OSSEC_EMAIL='([^']+)'"),
                              ("ossec_gpg_fpr", r"gpg_fpr='([0-9A-Fa-f]{40})'")):
            m = re.search(pattern, alarm)
            if m:
                found[name] = (m.group(1), "/var/ossec/send_encrypted_alarm.sh")
    return found


def vars_init(args) -> str:
    from sdcheck.baseline import bundled_path, load_baseline
    from sdcheck.escape import escape
    from sdcheck.host.local import LocalFacts
    from sdcheck.profile import chosen_profile

    facts = LocalFacts()
    profile = chosen_profile(args.profile, facts)
    baseline = load_baseline(bundled_path(profile))
    found = _read(facts, profile)
    names = list(baseline.site) + [n for n in ("smtp_relay_port",) if n in found]
    import socket

    out = [HEAD.format(profile=profile, host=escape(socket.gethostname()))]
    for name in names:
        if name in found:
            value, where = found[name]
            out.append(f"{name}: {json.dumps(value)}  # read from {escape(where)}: check it")
        else:
            out.append(f"# {name}: {json.dumps(baseline.variables.get(name, ''))}  # the example: set the site's")
    if profile == "mon":
        out.append("# sasl_password: ...  # optional; or SDCHECK_SASL_PASSWORD, or --var-file sasl_password=PATH")
    return "\n".join(out) + "\n"
