"""``report --hosts``: the same checks on several testinfra hosts, in parallel, in one report."""

from __future__ import annotations

from sdcheck.errors import UsageError

MAX_HOSTS_AT_ONCE = 32


def run_hosts(args, opts, formats) -> list:
    """Every host's Run, the hosts checked in parallel. ``formats``: the formatter modules the
    report will be written in (one that covers a single host is refused first)."""
    from concurrent.futures import ThreadPoolExecutor

    from sdcheck.host.specs import HostSpecError, expand_specs

    for fmt in formats:
        if getattr(fmt, "SINGLE_HOST", False):
            raise UsageError(f"--format {fmt.__name__.rsplit('.', 1)[-1]} covers one host; with --hosts use text, "
                             "json or junit")
    try:
        specs = expand_specs([h.strip() for h in args.hosts.split(",") if h.strip()], args.ansible_inventory)
    except HostSpecError as exc:
        raise UsageError(str(exc)) from None
    how = HostOptions(args.ssh_config, args.ssh_identity_file, args.sudo, args.ansible_inventory)
    # every host at once: each waits mostly on its own network; memory is bounded by the
    # remote budget (sdcheck.host.remote), not by how many hosts there are
    with ThreadPoolExecutor(max_workers=min(MAX_HOSTS_AT_ONCE, len(specs))) as pool:
        runs = list(pool.map(lambda spec: execute_on_host(opts, spec, how), specs))
    for run in runs:
        run.result.info["host"] = run.host
    return runs


def render_hosts(fmt, runs: list, opts) -> str:
    """One report of every host: a formatter that can combine hosts has
    ``render_hosts(runs, options)``; otherwise each host under a header of its own."""
    if hasattr(fmt, "render_hosts"):
        return fmt.render_hosts(runs, opts)
    return "\n".join(f"===== {run.host} =====\n" + fmt.render(run, opts) for run in runs)


# -- other hosts (testinfra) ------------------------------------------------------------------

#: Seconds the first command on a host (which connects) may take on the target; here the
#: host then has DEADLINE_MARGIN (15) more: a host that does not answer is an ERROR in 45 s.
PROBE_TIMEOUT = 30


class HostOptions:
    """How to reach testinfra hosts."""

    def __init__(self, ssh_config=None, ssh_identity_file=None, sudo=False, ansible_inventory=None):
        self.ssh_config, self.ssh_identity_file = ssh_config, ssh_identity_file
        self.sudo, self.ansible_inventory = sudo, ansible_inventory

    def facts(self, spec: str):
        import testinfra

        from sdcheck.host.testinfra import TestinfraFacts

        kw = {}
        if self.ssh_config:
            kw["ssh_config"] = self.ssh_config
        if self.ssh_identity_file:
            kw["ssh_identity_file"] = self.ssh_identity_file
        if self.ansible_inventory and spec.startswith("ansible://"):
            kw["ansible_inventory"] = self.ansible_inventory
        return TestinfraFacts(testinfra.get_host(spec, **kw), name=spec, sudo=self.sudo)


def execute_on_host(opts, spec: str, how: HostOptions):
    """The Run on one testinfra host; a host that cannot be reached is one ERROR finding
    (``sdcheck.host``) and ctx None."""
    from sdcheck.host.base import FactError
    from sdcheck.model import CheckOutcome, Finding, RunResult, Severity, Status
    from sdcheck.session import Run, add_report_info, execute

    facts = None
    try:
        facts = how.facts(spec)
        # alone, first: it opens the connection every later command shares
        probe = facts.run(["true"], timeout=PROBE_TIMEOUT)
        if not probe.ok:
            raise FactError(f"{spec}: a test command failed (exit {probe.returncode}); with --sudo, is sudo "
                            "allowed without a password?")
    except Exception as exc:  # noqa: BLE001 - reported as this host's finding
        from sdcheck.escape import Redactor

        result = RunResult(profile=opts.profile or "?", profile_source="not reached", baseline="-")
        result.outcomes = [CheckOutcome("sdcheck.host", f"{spec} can be reached", Severity.CRITICAL, [Finding(
            "sdcheck.host", Status.ERROR, Severity.CRITICAL, f"{spec} could not be checked: {exc}", spec,
            remedy="Check that the host is up, that SSH (or the testinfra backend) reaches it, and that "
                   "the user may run commands as root (--sudo).")])]
        if facts is not None:
            facts.close()
        return Run(result, Redactor(), None, spec)
    try:
        run = execute(opts, facts)
        run.host = spec
        add_report_info(run)
    finally:
        facts.close()
    return run
