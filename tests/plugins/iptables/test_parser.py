"""Canonical iptables rules: equivalent spellings compare equal, different ones do not."""

from __future__ import annotations

import random

import pytest
from helpers.all import SD, render
from helpers.iptables import groups
from hypothesis import given, settings
from hypothesis import strategies as st

from sdcheck.plugins.iptables.rules import ParseError
from sdcheck.plugins.iptables.save_parser import parse_rule, parse_save
from sdcheck.plugins.iptables.subjects import format_rule


def resolve(kind, name):
    return {"user": {"debian-tor": "0", "www-data": "33", "root": "0", "postfix": "0"},
            "group": {"ssh": "0"}}[kind].get(name)


EQUIVALENT = [
    ("-A INPUT -s 1.2.3.4 -p tcp --dport 22 -j ACCEPT",
     "-A INPUT -s 1.2.3.4/32 -p tcp -m tcp --dport 22 -j ACCEPT"),
    ("-A INPUT -p tcp -m state --state ESTABLISHED,RELATED -j ACCEPT -m comment --comment x",
     "-A INPUT -p tcp -m state --state RELATED,ESTABLISHED -m comment --comment x -j ACCEPT"),
    ("-A OUTPUT -o eth0 -p tcp -m owner --uid-owner root --sport 22 -j ACCEPT",
     "-A OUTPUT -o eth0 -p tcp -m owner --uid-owner 0 -m tcp --sport 22 -j ACCEPT"),
    ("-A INPUT -i lo -p all -j ACCEPT", "-A INPUT -i lo -j ACCEPT"),
    ("-A LOGNDROP -p tcp -m limit --limit 5/minute -j LOG --log-ip-options --log-tcp-options --log-uid --log-level 4",
     "-A LOGNDROP -p tcp -m limit --limit 5/min -j LOG --log-tcp-options --log-ip-options --log-uid"),
    ("-A INPUT -p tcp --match multiport --sports 443,80,8080 -j ACCEPT",
     "-A INPUT -p tcp -m multiport --sports 80,8080,443 -j ACCEPT"),
    ("-A INPUT -p 6 -m limit --limit 3/min --limit-burst 5 -j ACCEPT",
     "-A INPUT -p tcp -m limit --limit 3/min -j ACCEPT"),
    ("-A INPUT -d 10.0.0.0/255.255.0.0 -j REJECT",
     "-A INPUT -d 10.0.0.0/16 -j REJECT --reject-with icmp-port-unreachable"),
]

DIFFERENT = [
    ("-A INPUT -p tcp --dport 22 -j ACCEPT", "-A INPUT -p tcp --dport 23 -j ACCEPT"),
    ("-A INPUT -p tcp --dport 22 -j ACCEPT", "-A INPUT -p tcp ! --dport 22 -j ACCEPT"),
    ("-A INPUT -s 1.2.3.4 -j ACCEPT", "-A INPUT -s 1.2.3.5 -j ACCEPT"),
    ("-A INPUT -s 1.2.3.4 -j ACCEPT", "-A INPUT -d 1.2.3.4 -j ACCEPT"),
    ("-A INPUT -j LOGNDROP", "-A INPUT -g LOGNDROP"),
    ("-A OUTPUT -m owner --uid-owner 33 -j LOGNDROP", "-A OUTPUT -m owner --gid-owner 33 -j LOGNDROP"),
    ("-A INPUT -p tcp -j ACCEPT", "-A INPUT -p udp -j ACCEPT"),
    ("-A INPUT -j DROP", "-A INPUT -j ACCEPT"),
]


@pytest.mark.parametrize("a,b", EQUIVALENT)
def test_equivalent_spellings(a, b):
    assert parse_rule(a, resolve).key == parse_rule(b, resolve).key


@pytest.mark.parametrize("a,b", DIFFERENT)
def test_different_rules(a, b):
    assert parse_rule(a, resolve).key != parse_rule(b, resolve).key


def test_comment_is_kept_apart_from_the_key():
    a = parse_rule('-A INPUT -m comment --comment "one two" -j ACCEPT')
    b = parse_rule('-A INPUT -m comment --comment other -j ACCEPT')
    assert a.key == b.key and a.comment == "one two" and b.comment == "other"


def test_testinfra_and_ansible_spellings_of_securedrop_agree():
    """The rules_v4 Ansible template and the testinfra expectation describe one ruleset."""
    import jinja2
    v4 = (SD / "rules_v4").read_text().replace("{{ monitor_hostname }}", "10.20.3.2")
    ansible = jinja2.Template(v4).render(enable_ssh_over_tor=True, group_names=["securedrop_application_server"],
                                         dns_server=["8.8.8.8"], time_service_user="root")
    expected = parse_save(render("iptables-app-prod.j2", dns_server=["8.8.8.8"], securedrop_user_id=33), resolve)
    got = parse_save(ansible, resolve)
    for chain in ("LOGNDROP",):
        assert [r.key for r in got["filter"].chains[chain].rules] == \
            [r.key for r in expected["filter"].chains[chain].rules]
    assert {c: ch.policy for c, ch in got["filter"].chains.items()} == \
        {c: ch.policy for c, ch in expected["filter"].chains.items()}


def test_format_rule_round_trips():
    text = render("iptables-app-prod.j2")
    for chain in parse_save(text)["filter"].chains.values():
        for rule in chain.rules:
            again = parse_rule(format_rule(rule))
            assert again.key == rule.key and again.comment == rule.comment


@pytest.mark.parametrize("bad,where", [
    ("-A INPUT -j ACCEPT\n", 1),
    ("*filter\n:INPUT DROP\n", 0),
    # a quote that never closes swallows the rest, COMMIT included (iptables-save escapes quotes
    # inside values, so only broken output does this)
    ('*filter\n:INPUT DROP\n-A INPUT -m comment --comment "open\nCOMMIT\n', 0),
])
def test_structure_errors_name_the_line(bad, where):
    with pytest.raises(ParseError) as exc:
        parse_save(bad)
    assert exc.value.line == where


@pytest.mark.parametrize("text,chain", [
    ("*filter\n:INPUT DROP\n-A FOO -j ACCEPT\n-A INPUT -j DROP\nCOMMIT\n", "FOO"),  # never declared
    ("*filter\n:INPUT DROP\n-A INPUT -p\n-A INPUT -j DROP\nCOMMIT\n", "INPUT"),     # does not parse
])
def test_an_odd_rule_is_kept_in_place_and_the_rest_is_read(text, chain):
    """An odd rule is one rule of its chain that never equals a baseline rule and may accept;
    the other rules are read as usual."""
    tables = parse_save(text)
    rules = tables["filter"].chains[chain].rules
    odd = [r for r in rules if r.conditions and r.conditions[0][0] == "odd"]
    if chain == "INPUT":
        assert len(odd) == 1 and odd[0].line == 3 and odd[0].target == "?"
    assert tables["filter"].chains["INPUT"].rules[-1].target == "DROP"


# -- property: permuting a rule's option groups never changes its meaning ---------------

ALL_RULES = [r.text for name in ("iptables-app-prod.j2", "iptables-mon-prod.j2")
             for c in parse_save(render(name))["filter"].chains.values() for r in c.rules]


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(ALL_RULES), st.randoms(use_true_random=False), st.booleans())
def test_permuted_and_respelled_rules_are_equal(text, rnd: random.Random, respell):
    import shlex
    chain, parts = groups(text)
    # -p must stay before the protocol's own match options (iptables requires it)
    proto = [g for g in parts if g[0] == "-p"]
    others = [g for g in parts if g[0] != "-p"]
    rnd.shuffle(others)
    tokens = [t for g in proto + others for t in g]
    if respell:
        tokens = [t.replace("/32", "") if t.endswith("/32") else t for t in tokens]
        tokens = ["--match" if t == "-m" else t for t in tokens]
        tokens = [",".join(reversed(t.split(","))) if t in ("RELATED,ESTABLISHED", "NEW,RELATED,ESTABLISHED") else t
                  for t in tokens]
    permuted = "-A " + chain + " " + " ".join(shlex.quote(t) for t in tokens)
    a, b = parse_rule(text, resolve), parse_rule(permuted, resolve)
    assert a.key == b.key and a.comment == b.comment


def test_comment_with_newline_continues_on_next_line():
    text = '*filter\n:INPUT DROP [0:0]\n-A INPUT -m comment --comment "a\nb \\" c" -j ACCEPT\n-A INPUT -j DROP\nCOMMIT\n'
    rules = parse_save(text)["filter"].chains["INPUT"].rules
    assert [r.target for r in rules] == ["ACCEPT", "DROP"]
    assert rules[0].comment == 'a\nb " c'


@settings(max_examples=400, deadline=None)
@given(st.lists(st.text(min_size=1, max_size=20), min_size=1, max_size=8), st.lists(st.booleans(), min_size=8, max_size=8))
def test_fast_tokenizer_agrees_with_shlex(words, quote):
    """iptables-save writes a word bare or in double quotes with \\" and \\\\ escaped; the fast
    tokenizer must split exactly as a POSIX shell would, or step aside (None)."""
    import shlex

    from sdcheck.plugins.iptables.save_parser import _fast_split, split_rule
    parts = []
    for word, q in zip(words, quote):
        if q or any(c in word for c in " \t\n\"'\\"):
            parts.append('"' + word.replace("\\", "\\\\").replace('"', '\\"') + '"')
        else:
            parts.append(word)
    text = " ".join(parts)
    fast = _fast_split(text)
    try:
        expected = shlex.split(text)
    except ValueError:
        expected = None
    if fast is not None:
        assert fast == expected
    if expected is not None:
        assert split_rule(text) == expected
