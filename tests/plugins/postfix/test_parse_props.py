"""sdcheck reads main.cf as Postfix does: lines end only at \\n, whatever control characters a
value holds (hypothesis against Debian's postconf)."""

from __future__ import annotations

import subprocess

from helpers.all import need
from helpers.postfix import settle
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from sdcheck.plugins.postfix.parse import parse_postconf, read_main_cf

# parameters postconf knows (an unknown one is neither shown by -n nor by -h)
# (not inet_interfaces or mynetworks: postconf resolves their values, a second a name)
NAMES = ["relayhost", "smtpd_banner", "smtp_tls_security_level", "myhostname", "always_bcc", "mailbox_command",
         "default_transport", "header_checks", "smtp_tls_CAfile", "transport_maps"]
# separators and control characters Python's str.splitlines() and str.split() break on but
# Postfix does not, and the ones Postfix does treat as white space
ODD = ["\v", "\f", "\r", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029", "\t", " ", "#", "=", ","]
# (no '$': a stray one is a fatal macro error, which makes postconf, and the check, fail)
WORD = st.text(st.sampled_from(list("abz[]:._-01") + ODD), min_size=0, max_size=12)
LINE_START = st.sampled_from([" ", "\t", "  ", "\v", "\f", "\r", "\t\v", " \f"])


@st.composite
def main_cf(draw):
    lines = ["mydomain = example.org"]  # else postconf looks the host's domain up (a second, offline)
    for _ in range(draw(st.integers(1, 8))):
        name = draw(st.sampled_from(NAMES))
        lines.append(name + draw(st.sampled_from([" = ", "=", "  =\t", " ="])) + draw(WORD))
        for _ in range(draw(st.integers(0, 2))):  # continuation, comment or blank lines
            lines.append(draw(LINE_START) + draw(WORD) if draw(st.booleans()) else draw(st.sampled_from(
                ["", "  # a comment", "# a comment", " "])))
    return "\n".join(lines) + draw(st.sampled_from(["\n", "", "\r\n"]))


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=main_cf())
def test_sdcheck_reads_every_parameter_as_postconf_does(tmp_path_factory, text):
    need("postconf", root=False)
    d = tmp_path_factory.mktemp("pf")
    (d / "main.cf").write_text(text, encoding="utf-8", errors="surrogateescape")
    (d / "master.cf").write_text("")
    settle(d / "main.cf")
    settle(d / "master.cf")

    def postconf(*args: str) -> str:
        res = subprocess.run(["postconf", "-c", str(d), *args], capture_output=True, timeout=30)
        # a value Postfix refuses (a lone '$') fails postconf, and with it the check: an ERROR
        assume(res.returncode == 0)
        return res.stdout.decode("utf-8", "surrogateescape")

    shown = parse_postconf(postconf("-n"))  # what postfix.config compares
    mine = read_main_cf(text)               # where sdcheck points (file:line)
    names = sorted(mine)
    truths = postconf("-h", *names).split("\n")  # one value a line: a value holds no \n
    assert truths[-1] == "" and len(truths) == len(names) + 1, truths
    for name, truth in zip(names, truths):
        assert shown.get(name) == truth, (name, text)
        assert mine[name] == truth, (name, text)
    assert set(shown) - {"config_directory"} == set(mine), text


TABLE_WORD = st.text(st.sampled_from(list("abzAZ@._-01") + ["\u00e9", "\u00c9"] + ODD), min_size=0, max_size=10)


@st.composite
def table_source(draw):
    lines = []
    for _ in range(draw(st.integers(1, 8))):
        lines.append(draw(TABLE_WORD) + draw(st.sampled_from([" ", "\t", "  ", " \t"])) + draw(TABLE_WORD))
        for _ in range(draw(st.integers(0, 2))):
            lines.append(draw(LINE_START) + draw(TABLE_WORD) if draw(st.booleans()) else draw(st.sampled_from(
                ["", "  # a comment", "# a comment", " "])))
    return "\n".join(lines) + draw(st.sampled_from(["\n", ""]))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=table_source())
def test_a_lookup_table_source_reads_as_postmap_compiles_it(tmp_path, text):
    """map_source_entries against Debian's postmap: compile the source, list it with -s."""
    from sdcheck.plugins.postfix.parse import map_source_entries

    need("postmap")
    (tmp_path / "main.cf").write_text("setgid_group = postdrop\nmydomain = example.org\n")
    source = tmp_path / "generic"
    source.write_bytes(text.encode("utf-8"))
    made = subprocess.run(["postmap", "-c", str(tmp_path), f"hash:{source}"], capture_output=True, timeout=30)
    assert made.returncode == 0, made.stderr
    listed = subprocess.run(["postmap", "-c", str(tmp_path), "-s", f"hash:{source}"], capture_output=True,
                            timeout=30)
    assert listed.returncode == 0, listed.stderr
    compiled = dict(line.split("\t", 1) for line in listed.stdout.decode("utf-8").split("\n") if line)
    assert map_source_entries(text) == compiled
