"""No secret leaves: a matrix of where the relay password comes from, what it looks like,
the state of the configuration, and every output sdcheck writes.

Policy under test (README "Secrets"): secrets are learned before any check runs (vars file,
--var, the sasl_passwd table, static:/inline: maps in main.cf, master.cf -o overrides);
host and user text is redacted, then cut, then escaped; sdcheck's own frame (the OSSEC
prefix, check ids, titles, the OK line) is fixed text and never rewritten. So no 6-character
piece of a secret appears outside the frame; a secret equal to a word of the frame still
leaves the frame intact.
"""

from __future__ import annotations

import json
import re

import pytest
from helpers import cli
from helpers.cli import PREFIX
from helpers.postfix import PASSWORD, PORT, RELAY, Site

OK_LINE = re.compile(r"^sdcheck: OK: \d+ checks passed(, \d+ (skip|waived))* \(profile mon\)$")

SHAPES = {
    "colon": "pa:ss:w0rd-Xq",
    "spaces": "s3cr3t qxz plover",
    "unicode": "p\u00e4ssw\u00f6rd\u2713\u00fc9",
    "six": "Ab3$x9",
    "forty": "Zq8#vL2@mN5!pR7&tY4*wK1%hG6^dF3(sA9)eB0x",
    "contract-word": "configuration",   # a word of the OSSEC prefix
}
SOURCES = ("vars", "var-file", "sasl_passwd", "static", "inline", "master-o", "pasted")
STATES = ("pass", "fail", "broken")
SENDER = "alerts@news.example"


def _frame_words() -> list[str]:
    """sdcheck's fixed text: check ids and titles (from 'sdcheck list'), the prefix."""
    res = cli.sdcheck("list", timeout=60)
    words = [PREFIX.strip(), "sdcheck: OK:"]
    for line in res.stdout.splitlines():
        cid, _sev, rest = line.split(None, 2)
        words += [cid, rest.rsplit("  (profiles:", 1)[0]]
    return sorted(words, key=len, reverse=True)


FRAME = _frame_words()


def _outside_frame(text: str) -> str:
    for word in FRAME:
        text = text.replace(word, " ")
    return text


def _configure(site: Site, source: str, secret: str) -> tuple[list[str], dict]:
    """Put ``secret`` where ``source`` says; return extra CLI args and vars."""
    braced = "{" + f"{SENDER}:{secret}" + "}"
    extra_vars: dict = {"sasl_password": ""}
    args: list[str] = []
    if source == "vars":
        extra_vars = {"sasl_password": secret}
    elif source == "var-file":  # the command line names a file; the file holds the secret
        secret_file = site.dir.parent / f"secret-{len(secret)}"
        secret_file.write_text(secret + "\n")
        args = ["--var-file", f"sasl_password={secret_file}"]
    elif source == "sasl_passwd":
        site.write_sasl(f"[{RELAY}]:{PORT} {SENDER}:{secret}\n")
    elif source == "static":
        site.main_cf(f"smtp_sasl_password_maps = static:{braced}")
    elif source == "inline":
        site.main_cf(f"smtp_sasl_password_maps = inline:{{ [{RELAY}]:{PORT}={braced} }}")
    elif source == "master-o":
        master = site.dir / "master.cf"
        text = master.read_text().replace(
            "\nsmtp      unix  -       -       y       -       -       smtp\n",
            f"\nsmtp      unix  -       -       y       -       -       smtp\n"
            f"  -o {{ smtp_sasl_password_maps = static:{braced} }}\n", 1)
        assert "smtp_sasl_password_maps" in text, "master.cf layout changed"
        master.write_text(text)
    elif source == "pasted":  # an admin pasted the password into main.cf by mistake
        site.main_cf(secret)
    return args, extra_vars


def _break(site: Site, state: str) -> None:
    if state == "fail":
        site.main_cf("smtp_tls_security_level = may")
        (site.dir / "sasl_passwd").chmod(0o644)
    elif state == "broken":
        (site.dir / "sasl_passwd.db").write_bytes(b"\0garbage" * 64)


def _outputs(site: Site, args: list[str], extra_vars: dict, tmp) -> tuple[str, list[str]]:
    texts, run_lines = [], []
    for command in (["run"], ["report", "--debug", "--verbose"], ["report", "--format", "json"],
                    ["report", "--format", "junit"], ["report", "--format", "html", "--output", str(tmp / "r.html")]):
        res = site.sdcheck(*command, *args, **extra_vars)
        assert res.returncode in (0, 1, 2), res.stderr
        texts += [res.stdout, res.stderr]
        if command == ["run"]:
            run_lines = res.stdout.splitlines()
        if "json" in command and res.returncode != 2:
            texts.append(json.dumps(json.loads(res.stdout), ensure_ascii=False))
    texts.append((tmp / "r.html").read_text() if (tmp / "r.html").exists() else "")
    return "\n".join(texts), run_lines


CASES = [(source, shape, STATES[(i + j) % 3]) for i, source in enumerate(SOURCES) for j, shape in enumerate(SHAPES)]


@pytest.mark.parametrize("source,shape,state", CASES)
def test_no_piece_of_a_secret_leaves(tmp_path, source, shape, state):
    secret = SHAPES[shape]
    site = Site(tmp_path, "system", password=PASSWORD if source != "sasl_passwd" else secret)
    args, extra_vars = _configure(site, source, secret)
    _break(site, state)
    text, run_lines = _outputs(site, args, extra_vars, tmp_path)
    outside = _outside_frame(text)
    if shape == "contract-word":
        # sdcheck's own wording may hold the word: the secret must add no occurrence of it
        # (the same configuration with a neutral secret of the same length is the measure)
        neutral = "q" * len(secret)
        site2 = Site(tmp_path / "neutral", "system", password=PASSWORD if source != "sasl_passwd" else neutral)
        args2, vars2 = _configure(site2, source, neutral)
        _break(site2, state)
        (tmp_path / "neutral" / "out").mkdir()
        text2, _lines = _outputs(site2, args2, vars2, tmp_path / "neutral" / "out")
        norm = str(tmp_path / "neutral")
        assert outside.replace(str(tmp_path), "").count(secret) <= \
            _outside_frame(text2).replace(norm, "").count(secret)
    else:
        pieces = {secret[i:i + 6] for i in range(len(secret) - 5)}
        leaked = sorted(p for p in pieces if p in outside)
        assert not leaked, f"pieces of the secret printed: {leaked}"
    # the frame is intact: every line of 'run' is an alert line or the OK line
    assert run_lines and all(ln.startswith(PREFIX + "[") or OK_LINE.match(ln) for ln in run_lines), run_lines


@pytest.mark.parametrize("word", ["OK", "error", "sdcheck", "System", "configuration error", "postfix.relay", "mon"])
def test_a_secret_equal_to_a_word_of_the_contract_leaves_the_frame_intact(tmp_path, word):
    site = Site(tmp_path, "system")
    (tmp_path / "pw").write_text(word)
    res = site.sdcheck("run", "--var-file", f"sasl_password={tmp_path / 'pw'}")
    lines = res.stdout.splitlines()
    # the table's password differs from the vars': one finding of postfix.sasl-passwd, nothing else
    assert res.returncode == 1, lines
    assert all(ln.startswith(PREFIX + "[postfix.") for ln in lines), lines
    (line,) = lines
    assert line.startswith(f"{PREFIX}[postfix.sasl-passwd] (")


def test_the_ok_line_survives_a_secret_equal_to_ok(tmp_path):
    site = Site(tmp_path, "system", password="OK")
    (tmp_path / "pw").write_text("OK\n")
    res = site.sdcheck("run", "--var-file", f"sasl_password={tmp_path / 'pw'}")
    assert res.returncode == 0, res.stdout
    assert len(res.stdout.splitlines()) == 1 and OK_LINE.match(res.stdout.strip())


def test_two_thousand_sasl_entries_name_the_real_problem_quickly(tmp_path):
    import time

    site = Site(tmp_path, "system")
    lines = [f"[relay{i}.example]:587 user{i}@news.example:Pw-{i:05d}-longenough" for i in range(2000)]
    site.write_sasl("\n".join([f"[{RELAY}]:{PORT} {SENDER}:{PASSWORD}"] + lines) + "\n")
    start = time.monotonic()
    res = site.sdcheck("run")
    took = time.monotonic() - start
    assert took < 60
    sasl = [ln for ln in res.stdout.splitlines() if ln.startswith(f"{PREFIX}[postfix.sasl-passwd]")]
    assert sasl and "holds 2001 entries" in sasl[0], res.stdout
    assert "Pw-0" not in res.stdout + res.stderr and "longenough" not in res.stdout


def test_a_secret_from_the_environment_is_compared_and_never_printed(tmp_path):
    import os

    site = Site(tmp_path, "system")
    secret = "Env-Secret-42x"
    for value, want in ((secret, 1), (PASSWORD, 0)):
        res = cli.sdcheck("run", "--profile", "mon", "--vars", site.vars_file(), "--only", "postfix",
                          "--skip", "postfix.anchors", env=dict(os.environ, SDCHECK_SASL_PASSWORD=value), timeout=60)
        assert res.returncode == want, res.stdout
        assert value not in res.stdout + res.stderr
    res = cli.sdcheck("report", "--profile", "mon", "--vars", site.vars_file(), "--only", "postfix.sasl-passwd",
                      env=dict(os.environ, SDCHECK_SASL_PASSWORD=secret), timeout=60)
    assert "differs from sasl_password" in res.stdout and secret not in res.stdout + res.stderr
