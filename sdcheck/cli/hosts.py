"""``report --hosts``: the same checks on several testinfra hosts, in parallel, in one report."""

from __future__ import annotations

from sdcheck.errors import UsageError

MAX_HOSTS_AT_ONCE = 32


def report_hosts(args, opts, fmt) -> tuple[str, list]:
    """(the report's text, the hosts' Runs). ``fmt`` is the formatter module: one that can
    combine hosts has ``render_hosts(runs, options)``; text puts a header over each host."""
    from concurrent.futures import ThreadPoolExecutor

    from sdcheck.host.specs import HostSpecError, expand_specs
    from sdcheck.session import HostOptions, execute_on_host

    if getattr(fmt, "SINGLE_HOST", False):
        raise UsageError(f"--format {args.format} covers one host; with --hosts use text, json or junit")
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
    if hasattr(fmt, "render_hosts"):
        return fmt.render_hosts(runs, opts), runs
    return "\n".join(f"===== {run.host} =====\n" + fmt.render(run, opts) for run in runs), runs
