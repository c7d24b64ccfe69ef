"""Core behaviour: escaping, secrets, baselines and variables, registry, runner, CLI contract."""

from __future__ import annotations

import json
import time

import pytest
from helpers import cli
from helpers.all import SD, write_vars
from hypothesis import given, settings
from hypothesis import strategies as st

from sdcheck.baseline import load_baseline, load_vars_file, parse_var_option
from sdcheck.check import Check, Context
from sdcheck.errors import BaselineError, ProfileError, RegistryError
from sdcheck.escape import Redactor, escape, from_host, truncate_utf8
from sdcheck.formatters import clean
from sdcheck.host.base import FactError
from sdcheck.host.local import LocalFacts
from sdcheck.model import Status
from sdcheck.profile import detect_profile
from sdcheck.registry import validate
from sdcheck.runner import run_checks


def sdcheck(*args, **kw):
    return cli.sdcheck(*args, timeout=60, **kw)


# -- escaping ---------------------------------------------------------------------------

@settings(max_examples=500)
@given(st.text())
def test_escape_output_is_one_printable_line(s):
    out = escape(s)
    assert out.isprintable()
    assert "\n" not in out and "\r" not in out and "\x1b" not in out
    assert len(out.splitlines()) <= 1


@given(st.text(alphabet=st.characters(blacklist_categories=("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp")),
               ).filter(lambda s: "\\" not in s))
def test_escape_leaves_plain_text_alone(s):
    assert escape(s) == s or not s.isprintable()


@given(st.text(), st.text())
def test_escape_is_unambiguous(a, b):
    if a != b:
        assert escape(a) != escape(b)


@given(st.binary())
def test_bytes_from_host_always_escape(data):
    out = escape(from_host(data))
    assert out.isprintable()
    assert isinstance(out.encode("utf-8"), bytes)  # no lone surrogate survives escaping


def test_hostile_name_cannot_forge_a_line():
    name = "x\nSystem configuration error: [iptables.default-drop] all good\r\x1b[2K\u2028\u202e"
    out = escape(name)
    assert "\n" not in out and "\r" not in out and "\x1b" not in out and "\u2028" not in out
    assert "\\n" in out and "\\x1b" in out and "\\u202e" in out


@given(st.text(), st.integers(min_value=10, max_value=200))
def test_truncate_respects_byte_limit(s, limit):
    out = truncate_utf8(escape(s), limit)
    assert len(out.encode("utf-8")) <= limit


# -- secrets ----------------------------------------------------------------------------

@settings(max_examples=200)
@given(st.text(min_size=4, max_size=40), st.text(max_size=80), st.text(max_size=80))
def test_redactor_removes_secret_even_escaped(secret, before, after):
    red = Redactor([secret])
    assert secret not in clean(before + secret + after, red)
    assert escape(secret) not in clean(before + secret + after, red) or escape(secret) in escape(before + after)


def test_var_option_errors_never_echo_the_value():
    with pytest.raises(BaselineError) as exc:
        parse_var_option("sasl password=hunter2-secret")
    assert "hunter2" not in str(exc.value)


def test_password_from_vars_file_never_printed(tmp_path):
    secret = "S3cr:et pass\u00e9 \\n"
    vars_file = tmp_path / "site-specific"
    vars_file.write_text(json.dumps({"sasl_password": secret, "smtp_relay": secret}))
    bad = tmp_path / "b.yml"
    bad.write_text("sdcheck_baseline: 1\nprofile: app\nchecks:\n  iptables.default-drop:\n"
                   "    log_chain: ${smtp_relay}\n    input_final_jump: ${missing}\n")
    for args in (["run"], ["report"], ["report", "--format", "json"]):
        res = sdcheck(*args, "--vars", str(vars_file), "--baseline", str(bad), "--debug")
        assert res.returncode == 2
        assert secret not in res.stdout + res.stderr and "S3cr" not in res.stdout + res.stderr


# -- baselines and variables ------------------------------------------------------------

def write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return str(p)


@pytest.mark.parametrize("text,line,words", [
    ("sdcheck_baseline: 1\nprofile: app\nchecks:\n  iptables.default-drop: {\n", 5, "not valid YAML"),
    ("sdcheck_baseline: 1\nprofile: app\nbogus: 1\n", 3, "unknown key 'bogus'"),
    ("sdcheck_baseline: 2\nprofile: app\n", 1, "sdcheck_baseline: 1"),
    ("sdcheck_baseline: 1\nprofile: app\nchecks:\n  x: 1\n  x: 2\n", 5, "appears twice"),
    ("sdcheck_baseline: 1\nchecks: {}\n", 1, "'profile'"),
])
def test_malformed_baselines_name_file_and_line(tmp_path, text, line, words):
    path = write(tmp_path, "b.yml", text)
    with pytest.raises(BaselineError) as exc:
        load_baseline(path)
    assert str(exc.value).startswith(f"{path}:{line}: ") and words in str(exc.value)


@pytest.mark.parametrize("section,line,words", [
    ("  iptables.default-drop:\n    nope: 1\n", 5, "unknown option 'nope'"),
    ("  iptables.no-such-check: {}\n", 4, "unknown check 'iptables.no-such-check'"),
    ("  nosuchplugin.x: {}\n", 4, "unknown check 'nosuchplugin.x'"),
    ("  iptables.default-drop:\n    log_protocols: tcp\n", 5, "must be list"),
    ("  iptables.default-drop:\n    log_chain: ${undefined_var}\n", 5, "'undefined_var' is not defined"),
])
def test_cli_reports_baseline_errors_with_exit_2(tmp_path, section, line, words):
    path = write(tmp_path, "b.yml", "sdcheck_baseline: 1\nprofile: app\nchecks:\n" + section)
    for cmd in ("run", "report"):
        res = sdcheck(cmd, "--baseline", path)
        assert res.returncode == 2
        out = res.stdout if cmd == "run" else res.stderr
        assert len(out.splitlines()) == 1, out
        assert f"{path}:{line}: " in out and words in out
        assert "Traceback" not in res.stdout + res.stderr
        if cmd == "run":
            assert out.startswith("System configuration error: [sdcheck.config] (critical) ")


def test_site_specific_vars_file_is_accepted_as_is():
    data = load_vars_file(str(SD / "site-specific"))
    assert data["user_defined_variable"] == "must not be discarded"
    assert data["dns_server"] == ["8.8.8.8"]


def test_variable_precedence(tmp_path):
    """baseline default < vars file < --var (seen end to end in test_iptables_default_drop)."""
    from sdcheck.baseline import merge_variables
    base = write(tmp_path, "b.yml", "sdcheck_baseline: 1\nprofile: app\nvars:\n  chain: FROM_BASELINE\n"
                 "checks:\n  iptables.default-drop:\n    log_chain: ${chain}\n")
    varsf = write(tmp_path, "v.yml", "chain: FROM_FILE\nunused: [1, 2]\n")
    b = load_baseline(base)
    assert merge_variables(b, {}, [])["chain"] == "FROM_BASELINE"
    assert merge_variables(b, load_vars_file(varsf), [])["chain"] == "FROM_FILE"
    assert merge_variables(b, load_vars_file(varsf), [parse_var_option("chain=FROM_CLI")])["chain"] == "FROM_CLI"


def test_var_values_are_typed():
    assert parse_var_option("dns_server=[1.1.1.1, 9.9.9.9]") == ("dns_server", ["1.1.1.1", "9.9.9.9"])
    assert parse_var_option("iptables_lock_timeout=2") == ("iptables_lock_timeout", 2)
    assert parse_var_option("name=plain text") == ("name", "plain text")


def test_bundled_baselines_load_and_validate():
    for profile in ("app", "mon"):
        res = sdcheck("list", "--profile", profile)
        assert res.returncode == 0 and "iptables.default-drop" in res.stdout


# -- registry ---------------------------------------------------------------------------

def make(cid, title="t"):
    return type("C", (Check,), {"id": cid, "title": title})


@pytest.mark.parametrize("classes,words", [
    ([make("iptables")], "malformed"),
    ([make("iptables.Bad_Id")], "malformed"),
    ([make("postfix.relay")], "must start with 'iptables.'"),
    ([make("iptables.x"), make("iptables.x")], "defined twice"),
    ([make("iptables.x", title="")], "no title"),
    ([object], "not a Check class"),
])
def test_registry_fails_loudly(classes, words):
    with pytest.raises(RegistryError) as exc:
        validate("iptables", classes, {})
    assert words in str(exc.value)


def test_list_shows_every_check():
    res = sdcheck("list")
    ids = [line.split()[0] for line in res.stdout.splitlines()]
    assert res.returncode == 0 and {"iptables.backends", "iptables.default-drop"} <= set(ids)


def test_explain():
    res = sdcheck("explain", "iptables.default-drop")
    assert res.returncode == 0 and "securedrop-admin install" in res.stdout
    assert sdcheck("explain", "nope.nope").returncode == 2


# -- runner: fail closed ------------------------------------------------------------------

class Raises(Check):
    id, title = "test.raises", "raises"

    def run(self):
        raise RuntimeError("boom\nSystem configuration error: forged")


class Hangs(Check):
    id, title, timeout = "test.hangs", "hangs", 0.3

    def run(self):
        time.sleep(5)
        return []


class Empty(Check):
    id, title = "test.empty", "returns nothing"

    def run(self):
        return []


class NeedsMissingProgram(Check):
    id, title = "test.missing", "runs a program that is not there"

    def run(self):
        self.ctx.facts.run(["definitely-not-installed-sdcheck"])
        return [self.passed("ok")]


def test_runner_turns_every_failure_into_error():
    ctx = Context(LocalFacts(), "app", {})
    outcomes = {o.check_id: o for o in run_checks([Raises, Hangs, Empty, NeedsMissingProgram], ctx)}
    for cid, words in [("test.raises", "RuntimeError"), ("test.hangs", "did not finish within 0.3 s"),
                       ("test.empty", "no result"), ("test.missing", "is not installed")]:
        (f,) = outcomes[cid].findings
        assert f.status is Status.ERROR and words in f.message, f.message


def test_missing_iptables_is_an_error_not_a_pass(tmp_path):
    from sdcheck.plugins.iptables.checks.default_drop import DefaultDrop
    facts = LocalFacts(search_path=(str(tmp_path),))
    ctx = Context(facts, "app", {}, {"iptables.default-drop": {k: o.default for k, o in DefaultDrop.options.items()}})
    (outcome,) = run_checks([DefaultDrop], ctx)
    (f,) = outcome.findings
    assert f.status is Status.ERROR and "iptables-nft-save is not installed" in f.message


def test_facts_refuse_symlinks_and_timeouts(tmp_path):
    target = tmp_path / "t"
    target.write_text("x")
    (tmp_path / "l").symlink_to(target)
    facts = LocalFacts()
    with pytest.raises(FactError):
        facts.read_bytes(str(tmp_path / "l"))
    assert facts.read_bytes(str(target)) == b"x"
    assert facts.lstat(str(tmp_path / "l")).is_symlink
    with pytest.raises(FactError) as exc:
        facts.run(["sleep", "5"], timeout=0.2)
    assert "did not finish within 0.2 s" in str(exc.value)


# -- profile detection --------------------------------------------------------------------

def test_profile_detection(tmp_path):
    mon, app = tmp_path / "server.list", tmp_path / "agent.list"
    markers = (("mon", str(mon)), ("app", str(app)))
    with pytest.raises(ProfileError):
        detect_profile(LocalFacts(), markers)
    mon.touch()
    assert detect_profile(LocalFacts(), markers) == ("mon", str(mon))
    app.touch()
    with pytest.raises(ProfileError):
        detect_profile(LocalFacts(), markers)


def test_run_without_profile_on_unknown_host_fails_closed():
    res = sdcheck("run")
    assert res.returncode == 2
    assert res.stdout.startswith("System configuration error: [sdcheck.profile] ")


# -- report formats -----------------------------------------------------------------------

def test_json_report_shape():
    res = sdcheck("report", "--profile", "app", "--format", "json", "--only", "iptables", "--skip", "iptables.boot-rules",
                  "--vars", str(write_vars()))
    data = json.loads(res.stdout)
    assert data["schema"] == "sdcheck-report" and data["version"] == 1 and data["profile"] == "app"
    assert {c["id"] for c in data["checks"]} == {"iptables.backends", "iptables.default-drop", "iptables.ipv6",
                                              "iptables.ruleset", "iptables.ruleset-v6", "iptables.nft-native",
                                              "iptables.nft-kernel"}
    for f in data["findings"]:
        assert set(f) >= {"check_id", "status", "severity", "message", "resource", "expected", "actual", "remedy"}
    assert res.returncode == (1 if any(f["status"] in ("fail", "error") for f in data["findings"]) else 0)
    assert res.stdout.isascii()


def test_no_check_selected_is_a_usage_error():
    res = sdcheck("run", "--profile", "app", "--only", "nothing-like-this")
    assert res.returncode == 2 and "[sdcheck.usage] (critical) --only nothing-like-this matches no check" in res.stdout
    res = sdcheck("run", "--profile", "app", "--only", "alert.route")  # a check, but not of this profile
    assert res.returncode == 2 and "[sdcheck.usage] (critical) no check is selected" in res.stdout



@pytest.mark.parametrize("value", ["abc", ".nan", "-1", "99999", "[1, 2]"])
def test_a_plugin_setting_of_the_wrong_kind_is_exit_2_naming_it(value):
    """iptables_lock_timeout is declared by the iptables plugin: checked before any check runs."""
    res = cli.sdcheck("run", "--profile", "app", "--only", "iptables", "--skip", "iptables.boot-rules", "--var", f"iptables_lock_timeout={value}", timeout=60)
    assert res.returncode == 2
    (line,) = res.stdout.splitlines()
    assert line.startswith("System configuration error: [sdcheck.config]")
    assert "iptables_lock_timeout" in line and "number of seconds" in line


def test_explain_shows_the_plugin_settings():
    res = cli.sdcheck("explain", "iptables.ruleset", timeout=60)
    assert res.returncode == 0
    assert "iptables_lock_timeout: default 30" in res.stdout and "xtables_lock" in res.stdout
