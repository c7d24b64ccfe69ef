"""Every parser of host text takes linear time on hostile input: 4 MiB of what each one finds
hardest (long lines, endless quotes, separators, nesting) within a bound far above the
normal cost, so a slow parser fails here rather than silencing a run."""

from __future__ import annotations

import json
import time

import pytest

from sdcheck.plugins.alert.keys import parse_colons
from sdcheck.plugins.alert.mail_log import diagnose, procmail_failures
from sdcheck.plugins.iptables.nft import tables_of
from sdcheck.plugins.iptables.save_parser import parse_save
from sdcheck.plugins.postfix.parse import (
    main_cf_lines,
    map_parts,
    parse_postconf,
    parse_services_full,
    read_main_cf,
)

MIB = 1 << 20
HEAD = "*filter\n:INPUT DROP [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT DROP [0:0]\n"

CASES = {
    "iptables-save: a comment of 4 MiB of newlines": lambda: parse_save(
        HEAD + '-A INPUT -m comment --comment "' + "x\n" * (2 * MIB) + '" -j DROP\nCOMMIT\n'),
    "iptables-save: a never-closed quote": lambda: _maybe(parse_save, HEAD + '-A INPUT -m comment --comment "'
                                                          + "a " * (2 * MIB)),
    "iptables-save: many rules with quotes in chain names": lambda: parse_save(
        HEAD + "".join(f'-A a"b{i % 7} -j DROP\n' for i in range(100_000)) + "COMMIT\n"),
    "postconf: one long value with separators": lambda: parse_postconf("a = " + "x, " * (MIB // 2) + "\n"),
    "postconf: many continuation lines": lambda: parse_postconf("a = b\n" + " c\n" * MIB),
    "main.cf: a 4 MiB line": lambda: main_cf_lines("a = " + "=" * (4 * MIB)),
    "main.cf: a million continuation lines": lambda: read_main_cf("a = b\n" + " \vc\t\n" * MIB),
    "master.cf listing: braces never closed": lambda: parse_services_full("s unix - - n - - smtp -o {" * 200_000),
    "password maps: deep braces": lambda: map_parts("inline:{" * 50_000 + "}" * 50_000),
    "password maps: many words": lambda: map_parts("hash:/x, " * 200_000),
    "gpg colons: 100,000 keys": lambda: parse_colons("pub:u:255:22:K:1:::::::::\nfpr:::::::::" + "A" * 40
                                                   + ":\n" * 100_000),
    "nft JSON: 100,000 rules": lambda: tables_of(json.dumps({"nftables": [
        {"rule": {"family": "ip", "table": "filter", "chain": "INPUT", "expr": [{"accept": None}]}}] * 100_000}),
        "ip"),
    "mail log: a 4 MiB line of status fields": lambda: diagnose("Nov 22 09:00:01 mon postfix/smtp[1]: Q1: to=<a>, "
                                                                + "status=sent, " * 300_000),
    "procmail log: 4 MiB of From lines": lambda: procmail_failures("From x\n failed to encrypt\n" * 150_000),
}


def _maybe(parser, text):
    try:
        parser(text)
    except ValueError:
        pass  # refusing is fine; taking long is not


@pytest.mark.parametrize("case", sorted(CASES))
def test_parsers_take_linear_time(case):
    start = time.monotonic()
    CASES[case]()
    assert time.monotonic() - start < 20, case
