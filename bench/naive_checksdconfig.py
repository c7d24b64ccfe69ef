#!/usr/bin/env python3
"""The naive approach, for comparison: what SecureDrop's checksdconfig.py does.

List the rules with `iptables -S` and compare the tails of the chains as strings.
"""
import subprocess
import sys

LINES = subprocess.run(["iptables", "-S"], capture_output=True, text=True, timeout=30).stdout.splitlines()
POLICIES = ["-P INPUT DROP", "-P FORWARD DROP", "-P OUTPUT DROP"]
TAILS = {"INPUT": "-j LOGNDROP", "OUTPUT": "-j DROP", "LOGNDROP": "-j DROP"}


def last_rule(chain):
    rules = [line for line in LINES if line.startswith(f"-A {chain} ")]
    return rules[-1] if rules else ""


if LINES[:3] == ["-P INPUT ACCEPT", "-P FORWARD ACCEPT", "-P OUTPUT ACCEPT"] and len(LINES) == 3:
    print("System configuration error: The iptables rules have not been configured.")
    sys.exit(0)
if any(p not in LINES for p in POLICIES) or any(not last_rule(c).endswith(t) for c, t in TAILS.items()):
    print("System configuration error: The iptables default drop rules are incorrect.")
