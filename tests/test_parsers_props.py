"""Properties of the Postfix text parsers, the ordered rule diff and the mail-log
classifier (hypothesis)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from sdcheck.plugins.alert.mail_log import diagnose
from sdcheck.plugins.iptables.diff import diff_rules
from sdcheck.plugins.iptables.save_parser import parse_rule
from sdcheck.plugins.postfix.parse import (
    PROTOCOLS,
    allowed_protocols,
    brace_words,
    main_cf_lines,
    parse_postconf,
    table_refs,
)

names = st.from_regex(r"[a-z][a-z0-9_]{0,20}", fullmatch=True)
values = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp")), max_size=40).map(str.strip)


@given(st.dictionaries(names, values, max_size=12))
def test_postconf_output_round_trips(params):
    text = "".join(f"{k} = {v}\n" for k, v in params.items())
    assert parse_postconf(text) == params


@given(st.dictionaries(names, values, min_size=1, max_size=8), st.integers(0, 3))
def test_main_cf_lines_point_at_the_last_setting(params, repeat):
    lines = []
    for k, v in params.items():
        lines.append(f"# about {k}")
        lines.append(f"{k} = {v}")
        if repeat:
            lines.append(f"    continued {v}")
    name = next(iter(params))
    lines += [f"{name} = again"] * repeat
    got = main_cf_lines("\n".join(lines) + "\n")
    assert set(got) == set(params)
    for k in params:
        assert "\n".join(lines).splitlines()[got[k] - 1].startswith(f"{k} = ")


@given(st.lists(st.sampled_from(PROTOCOLS + tuple("!" + p for p in PROTOCOLS) + (">=TLSv1", ">=TLSv1.2", "<=TLSv1.2")),
                max_size=6), st.sampled_from([" ", ", ", ":"]))
def test_excluded_protocols_are_never_allowed(words, sep):
    got = allowed_protocols(sep.join(words))
    assert got <= set(PROTOCOLS)
    for w in words:
        if w.startswith("!"):
            assert w[1:] not in got
    if any(w == ">=TLSv1.2" for w in words):
        assert not got & {"SSLv2", "SSLv3", "TLSv1", "TLSv1.1"}


@given(st.lists(st.tuples(st.sampled_from(["hash", "lmdb", "cdb", "regexp", ""]),
                          st.from_regex(r"/[a-z/_]{1,30}", fullmatch=True)), min_size=1, max_size=4))
def test_table_refs_round_trip(refs):
    text = ", ".join(f"{k}:{p}" if k else p for k, p in refs)
    assert table_refs(text) == [(k, p) for k, p in refs]


@given(st.lists(st.text(st.sampled_from(list("ab=:-") + [" ", "\t", "\v"]), max_size=8), min_size=1, max_size=6),
       st.lists(st.sampled_from([" ", "\t", "  ", "\v\f"]), min_size=6, max_size=6))
def test_brace_words_keep_braced_groups_whole(groups, seps):
    """'-o {name = a b}' groups stay one word whatever white space they hold; between them
    any white space separates (master.cf's grouping, as postconf -M prints it)."""
    words = ["{" + g + "}" for g in groups]
    text = "".join(w + seps[i % len(seps)] for i, w in enumerate(words))
    assert brace_words(text) == words


RULES = [parse_rule(f"-A INPUT -p tcp --dport {port} -j {target}")
         for port, target in ((22, "ACCEPT"), (80, "ACCEPT"), (443, "DROP"), (8080, "LOGNDROP"), (53, "ACCEPT"),
                              (123, "DROP"), (25, "ACCEPT"))]


@settings(max_examples=200)
@given(st.permutations(RULES), st.integers(0, len(RULES)))
def test_diff_accounts_for_every_rule(perm, cut):
    """Every expected rule is either matched in place, or reported once as missing, moved or
    changed; every actual rule likewise; identical lists give no difference."""
    expected = RULES
    actual = list(perm[:cut])
    assert diff_rules(expected, expected) == []
    changes = diff_rules(expected, actual)
    exp_seen = [c.exp_pos for c in changes if c.exp_pos and c.kind != "comment"]
    act_seen = [c.act_pos for c in changes if c.act_pos and c.kind != "comment"]
    assert len(exp_seen) == len(set(exp_seen)) and len(act_seen) == len(set(act_seen))
    moved_or_changed = sum(c.kind in ("moved", "changed") for c in changes)
    missing = sum(c.kind == "missing" for c in changes)
    unexpected = sum(c.kind == "unexpected" for c in changes)
    assert len(expected) - missing - moved_or_changed == len(actual) - unexpected - moved_or_changed
    if actual != expected:
        assert changes


LOG_LINE = ("Nov 22 10:00:0{n} mon postfix/qmgr[2100]: Q{n}: from=<ossec@mon.example>, size=1, nrcpt=1 (queue active)\n"
            "Nov 22 10:00:0{n} mon postfix/smtp[2101]: Q{n}: to=<a@b.example>, relay=r.example[192.0.2.1]:587, "
            "delay=1, delays=0/0/1/0, dsn={dsn}, status={status} ({why})")


@given(st.lists(st.sampled_from([("2.0.0", "sent", "250 OK"), ("4.4.1", "deferred", "connect to x: Connection timed out"),
                                 ("4.7.8", "deferred", "SASL authentication failed; server said 535")]),
                min_size=1, max_size=9), st.text(max_size=30))
def test_maillog_latest_state_is_the_last_attempt(attempts, noise):
    text = "\n".join([noise.replace("\n", " ")] + [LOG_LINE.format(n=i, dsn=d, status=s, why=w)
                                                   for i, (d, s, w) in enumerate(attempts)])
    state = diagnose(text)
    last = attempts[-1]
    assert state["status"] == last[1] and state["dsn"] == last[0]
    assert state["total"] == len(attempts) and 1 <= state["count"] <= len(attempts)
