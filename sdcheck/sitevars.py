"""Site variables: the values only the site can give (its addresses, relay, admins), which a
baseline lists under ``site:``. A check that would compare the host with a baseline's example
instead is held back, and one finding (``sdcheck.vars``) says which are missing."""

from __future__ import annotations

DEFAULT_VARS = "/etc/sdcheck/vars.yml"


def needs_site(baseline, wanted: list[str], given: set[str]) -> dict[str, list[str]]:
    """{check id: the site variables its options use that the site did not give}: such a
    check would compare the host with the baseline's example values."""
    import re

    unset = [n for n in baseline.site if n not in given]
    if not unset:
        return {}
    pattern = re.compile(r"\$\{(" + "|".join(map(re.escape, unset)) + r")\}")

    def names(value) -> set[str]:
        if isinstance(value, str):
            return set(pattern.findall(value))
        if isinstance(value, dict):
            return set().union(*(names(v) for v in value.values())) if value else set()
        if isinstance(value, list):
            return set().union(*(names(v) for v in value)) if value else set()
        return set()

    return {cid: sorted(found) for cid in wanted if (found := names(baseline.checks[cid]))}


def site_outcomes(held: dict[str, list[str]], vars_path: str | None) -> list:
    """One finding for every check held back for want of site variables, and a SKIP for each."""
    from sdcheck.model import CheckOutcome, Finding, Severity, Status

    if not held:
        return []
    missing = sorted({n for names in held.values() for n in names})
    where = (f"the vars file {vars_path} does not set them" if vars_path else
             f"no vars file was read ({DEFAULT_VARS} does not exist)")
    finding = Finding("sdcheck.vars", Status.FAIL, Severity.HIGH,
                      f"site variables not set: {', '.join(missing)}; {where}, so {len(held)} checks that compare "
                      f"against them did not run ({', '.join(sorted(held))})", vars_path or DEFAULT_VARS,
                      expected="the site's values", actual="not set", subject=f"site variables: {', '.join(missing)}",
                      remedy=f"Write the site's values in {DEFAULT_VARS} (mode 0600): 'sdcheck vars init' prints a "
                             "start read from this server, to check against the site's records (SecureDrop's "
                             "site-specific file holds them, and works as it is with --vars).")
    out = [CheckOutcome("sdcheck.vars", "The site's variables are set", Severity.HIGH, [finding])]
    for cid, names in sorted(held.items()):
        out.append(CheckOutcome(cid, "not run", Severity.HIGH, [Finding(
            cid, Status.SKIP, Severity.HIGH, f"not run: needs the site variable(s) {', '.join(names)}", cid)]))
    return out
