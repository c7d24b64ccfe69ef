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
