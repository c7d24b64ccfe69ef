"""pytest plugin: sdcheck's checks as pytest tests, on testinfra hosts.

``pytest --sdcheck --hosts ssh://root@app,ssh://root@mon`` adds one test per sdcheck check
and host (named ``sdcheck[<host>-<check id>]``, marked ``sdcheck``: ``-m sdcheck`` selects
them, ``--strict-markers`` knows the marker); a failing check fails its test with the
findings as the message. It sits next to a suite's own testinfra tests. The fixture
``sdcheck`` runs the checks on a testinfra host for custom assertions::

    def test_no_firewall_drift(host, sdcheck):
        run = sdcheck(host, only=["iptables"])
        assert not run.problems, run

The fixture returns a ``session.Run``: its findings are redacted like every output of
sdcheck's, and so is every failure text this plugin writes (terminal, JUnit XML).

Options: ``--sdcheck-profile``, ``--sdcheck-vars``, ``--sdcheck-baseline``,
``--sdcheck-waivers``, ``--sdcheck-fail-on`` (each also an ini option: ``sdcheck_profile = app``
under ``[pytest]``; the command line wins), ``--sdcheck-only``/``--sdcheck-skip``
(repeatable; one that names no check is a usage error), ``--sdcheck-sudo``, and
``--sdcheck-inventory FILE`` (YAML ``{host spec: {profile: app, vars: FILE}}``) for
per-host profiles and variables. Without ``--hosts`` the local host is checked.
"""

from __future__ import annotations

import threading

import pytest


_SETTINGS = (  # (name, help): a command-line option --sdcheck-NAME and an ini option sdcheck_NAME
    ("profile", "app or mon (default: detected on each host)"),
    ("vars", "site variables file (SecureDrop's site-specific works)"),
    ("baseline", "baseline file instead of the bundled one"),
    ("waivers", "waivers file: accepted deviations, as for 'sdcheck report --waivers'"),
    ("fail_on", "low, medium, high or critical: a check whose problems are all below it is an xfail "
                "(default low: every problem fails)"),
)
SEVERITIES = ("low", "medium", "high", "critical")


def pytest_addoption(parser):
    group = parser.getgroup("sdcheck", "sdcheck compliance checks")
    group.addoption("--sdcheck", action="store_true", help="add one test per sdcheck check and host")
    for name, text in _SETTINGS:
        group.addoption(f"--sdcheck-{name.replace('_', '-')}", dest=f"sdcheck_{name}", help=text)
        parser.addini(f"sdcheck_{name}", text)
    group.addoption("--sdcheck-only", action="append", default=[], help="check id prefix to run")
    group.addoption("--sdcheck-skip", action="append", default=[], help="check id prefix to leave out")
    group.addoption("--sdcheck-sudo", action="store_true", help="run commands on the hosts through sudo")
    group.addoption("--sdcheck-inventory", help="YAML: {host spec: {profile: ..., vars: FILE}}")


def pytest_configure(config):
    config.addinivalue_line("markers", "sdcheck: one of sdcheck's checks on one host (added by --sdcheck)")
    profile, fail_on = _setting(config, "profile"), _setting(config, "fail_on")
    if profile and profile not in ("app", "mon"):
        raise pytest.UsageError(f"sdcheck: unknown profile {profile!r} (--sdcheck-profile or sdcheck_profile: "
                                "app or mon)")
    if fail_on and fail_on not in SEVERITIES:
        raise pytest.UsageError(f"sdcheck: --sdcheck-fail-on (or sdcheck_fail_on) must be one of "
                                f"{', '.join(SEVERITIES)}, not {fail_on!r}")


def _setting(config, name: str):
    """The command line's value, else the ini file's, else None."""
    value = config.getoption(f"sdcheck_{name}")
    return value or (config.getini(f"sdcheck_{name}") or None)


class _Runs:
    """One sdcheck run per (host spec, options), shared by that host's tests."""

    def __init__(self):
        self._lock = threading.Lock()
        self._done: dict = {}

    def get(self, key, compute):
        with self._lock:
            if key not in self._done:
                try:
                    self._done[key] = (True, compute())
                except Exception as exc:  # noqa: BLE001 - re-raised to each test of the host
                    self._done[key] = (False, exc)
        ok, value = self._done[key]
        if not ok:
            raise value
        return value


_RUNS = _Runs()


def run_on(host, *, profile=None, vars_path=None, baseline=None, only=(), skip=(), sudo=False,
           name: str | None = None, waivers=None):
    """Run sdcheck's checks on a testinfra host; return the Run (findings redacted).
    --sdcheck-fail-on is applied by each test (SdcheckItem), not here."""
    from sdcheck.host.testinfra import TestinfraFacts
    from sdcheck.session import Options, execute

    opts = Options(command="report", profile=profile, baseline=baseline, vars=vars_path, only=only, skip=skip,
                   waivers=waivers)
    facts = TestinfraFacts(host, name=name, sudo=sudo)
    try:
        return execute(opts, facts)
    finally:
        facts.close()


def _settings(config, spec: str) -> dict:
    inventory: dict = {}
    path = config.getoption("sdcheck_inventory")
    if path:
        import yaml

        with open(path, encoding="utf-8") as fh:
            inventory = (yaml.safe_load(fh) or {}).get(spec, {}) if path else {}
    return {"profile": inventory.get("profile") or _setting(config, "profile"),
            "vars_path": inventory.get("vars") or _setting(config, "vars"),
            "baseline": inventory.get("baseline") or _setting(config, "baseline"),
            "waivers": inventory.get("waivers") or _setting(config, "waivers"),
            "fail_on": _setting(config, "fail_on"),
            "only": tuple(config.getoption("sdcheck_only")), "skip": tuple(config.getoption("sdcheck_skip")),
            "sudo": config.getoption("sdcheck_sudo")}


def _host(config, spec: str):
    import testinfra

    kw = {}
    for opt, key in (("ssh_config", "ssh_config"), ("ssh_identity_file", "ssh_identity_file"),
                     ("ansible_inventory", "ansible_inventory"), ("sudo", "sudo")):
        try:
            value = config.getoption(opt)
        except ValueError:
            value = None
        if value:
            kw[key] = value
    return testinfra.get_host(spec, **kw)


def _specs(config) -> list[str]:
    try:
        hosts = config.getoption("hosts")
    except ValueError:
        hosts = None
    if not hosts:
        return ["local://"]
    from sdcheck.host.specs import HostSpecError, expand_specs

    specs: list[str] = []
    for h in hosts if isinstance(hosts, list) else [hosts]:
        specs.extend(s.strip() for s in h.split(",") if s.strip())
    try:
        return expand_specs(specs, config.getoption("ansible_inventory", None))
    except HostSpecError as exc:
        raise pytest.UsageError(f"sdcheck: {exc}") from None


class SdcheckItem(pytest.Item):
    def __init__(self, *, spec: str, check_id: str, **kw):
        super().__init__(**kw)
        self.spec, self.check_id = spec, check_id
        self.add_marker("sdcheck")

    def _result(self):
        s = _settings(self.config, self.spec)
        key = (self.spec, tuple(sorted((k, str(v)) for k, v in s.items() if k != "fail_on")))
        s.pop("fail_on")
        return _RUNS.get(key, lambda: run_on(_host(self.config, self.spec), name=self.spec, **s))

    def runtest(self):
        from sdcheck.model import Severity, Status

        run = self._result()
        outcome = next((o for o in run.result.outcomes if o.check_id == self.check_id), None)
        if outcome is None:
            raise SdcheckFailure(f"{self.check_id} did not run on {self.spec}")
        if outcome.status == Status.SKIP:
            pytest.skip(outcome.findings[0].message if outcome.findings else "skipped")
        if outcome.status.is_problem:
            floor = Severity[(_setting(self.config, "fail_on") or "low").upper()]
            problems = [f for f in outcome.findings if f.status.is_problem]
            if all(f.status == Status.FAIL and f.severity < floor for f in problems):
                pytest.xfail(f"{len(problems)} problem(s), all below --sdcheck-fail-on {floor}")
            raise SdcheckFailure(_describe(outcome, run.redact))

    def repr_failure(self, excinfo):
        if isinstance(excinfo.value, SdcheckFailure):
            return str(excinfo.value)
        return super().repr_failure(excinfo)

    def reportinfo(self):
        return self.path, None, self.name


class SdcheckFailure(Exception):
    pass


def _describe(outcome, red) -> str:
    """A failing check's text for pytest: every host value through the run's redactor."""
    from sdcheck.formatters import clean

    lines = [f"{outcome.check_id} [{outcome.severity}] {outcome.status.value.upper()}: {outcome.title}"]
    for f in outcome.findings:
        if not f.status.is_problem:
            continue
        lines.append(f"- {clean(f.message, red)}")
        for label, value in (("where", f.resource), ("expected", f.expected), ("actual", f.actual),
                             ("fix", f.remedy)):
            if value:
                lines.append(f"    {label}: {clean(value, red)}")
    return "\n".join(lines)


def _check_ids(config, spec: str) -> list[str]:
    """The checks that will run on ``spec``: from its baseline, --only/--skip applied."""
    from sdcheck.baseline import bundled_path, load_baseline
    from sdcheck.errors import BaselineError
    from sdcheck.host.base import FactError
    from sdcheck.registry import select
    from sdcheck.session import did_you_mean

    s = _settings(config, spec)
    path = s["baseline"]
    if not path:
        profile = s["profile"]
        if not profile:
            from sdcheck.host.testinfra import TestinfraFacts
            from sdcheck.profile import detect_profile

            from sdcheck.errors import ProfileError

            facts = TestinfraFacts(_host(config, spec), name=spec, sudo=s["sudo"])
            try:
                profile, _marker = detect_profile(facts)
            except (ProfileError, FactError) as exc:
                raise pytest.UsageError(f"sdcheck: cannot tell the profile of {spec} ({exc}); give "
                                        "--sdcheck-profile app|mon, or sdcheck_profile in the ini file") from None
            finally:
                facts.close()
        path = bundled_path(profile)
    try:
        ids = list(load_baseline(path).checks)
    except BaselineError as exc:
        raise pytest.UsageError(f"sdcheck: {exc}") from None
    known = sorted(ids)
    for flag, given in (("--sdcheck-only", s["only"]), ("--sdcheck-skip", s["skip"])):
        for text in given:
            if not any(cid.startswith(text) for cid in known):
                raise pytest.UsageError(f"sdcheck: {flag} {text} matches no check of {spec}"
                                        f"{did_you_mean([text], known)}")
    return select(ids, list(s["only"]), list(s["skip"]))


def pytest_collection_modifyitems(session, config, items):
    if not config.getoption("sdcheck"):
        return
    for spec in _specs(config):
        for check_id in _check_ids(config, spec):
            name = f"sdcheck[{spec}-{check_id}]"
            # a node id of its own (pytest would make it '::' + name under the session)
            items.append(SdcheckItem.from_parent(session, name=name, nodeid=name, spec=spec, check_id=check_id))


@pytest.fixture
def sdcheck(request):
    """``sdcheck(host, only=[...], profile=..., vars_path=...)`` -> RunResult for that
    testinfra host (a suite's ``host`` fixture), with this run's --sdcheck-* options as defaults."""
    config = request.config

    def run(host, **overrides):
        spec = getattr(getattr(host, "backend", None), "hostname", None) or "host"
        s = _settings(config, str(spec))
        s.pop("fail_on")
        s.update(overrides)
        return run_on(host, name=str(spec), **s)
    return run
