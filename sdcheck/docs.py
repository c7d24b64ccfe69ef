"""A check's documentation, generated from its class: ``sdcheck explain ID`` and
docs/checks.md (``python -m sdcheck.docs > docs/checks.md``; a test keeps it current).

The id is the address: check ``<plugin>.<name>`` lives in
``sdcheck/plugins/<plugin>/checks/<name with _ for ->.py``, its tests in
``tests/plugins/<plugin>/test_<same>.py``, and its entry here under the heading of its id.
"""

from __future__ import annotations

from sdcheck.startup import TYPE_CHECKING

if TYPE_CHECKING:
    from sdcheck.check import Check


def stem(check_id: str) -> tuple[str, str]:
    """(plugin, module name) of a check id: ``iptables.nft-kernel`` -> (iptables, nft_kernel)."""
    plugin, _, name = check_id.partition(".")
    return plugin, name.replace("-", "_")


def module_path(check_id: str) -> str:
    plugin, name = stem(check_id)
    return f"sdcheck/plugins/{plugin}/checks/{name}.py"


def test_path(check_id: str) -> str:
    plugin, name = stem(check_id)
    return f"tests/plugins/{plugin}/test_{name}.py"


def _options(cls: type[Check], variables: bool = False) -> list[str]:
    """One line per option; with ``variables``, the site variables each bundled profile
    feeds it (``app: ${store_dir}``)."""
    fed = _fed_by(cls.id) if variables else {}
    return [f"  {key}: default {opt.default!r}" + (f" ({opt.help})" if opt.help else "")
            + (f"; set from {fed[key]}" if fed.get(key) else "")
            for key, opt in cls.options.items() if not key.startswith("_")]


def _fed_by(check_id: str) -> dict[str, str]:
    """{option: "app: ${a}, ${b}; mon: ${c}"} from the bundled baselines."""
    import re

    from sdcheck.baseline import PROFILES, bundled_path, load_baseline

    found: dict[str, dict[str, list[str]]] = {}
    for profile in PROFILES:
        raw = load_baseline(bundled_path(profile)).checks.get(check_id) or {}
        for key, value in raw.items():
            names = sorted(set(re.findall(r"\$\{([A-Za-z_]\w*)\}", repr(value))))
            if names:
                found.setdefault(key, {})[profile] = names
    return {key: "; ".join(f"{p}: " + ", ".join("${" + n + "}" for n in names) for p, names in by.items())
            for key, by in found.items()}


def _remedy(cls: type[Check]) -> str:
    # a remedy may name the file of the finding ({where}): here there is no finding
    return cls.remedy.replace("{where}", "the file the finding names")


def _settings(cls: type[Check]) -> list[str]:
    from sdcheck.registry import plugin_settings

    plugin = cls.id.split(".")[0]
    return [f"  {name}: default {opt.default!r}" + (f" ({opt.help})" if opt.help else "")
            for name, (owner, opt) in plugin_settings().items() if owner == plugin]


def explain(cls: type[Check]) -> str:
    """``sdcheck explain``: what a check verifies, why, how to fix it, what it accepts."""
    out = [f"{cls.id} [{cls.severity}]", "", f"Verifies: {cls.title}", ""]
    if cls.details:
        out += [f"Exactly: {cls.details}", ""]
    if cls.why:
        out += [f"Why it matters: {cls.why}", ""]
    out += [f"How to fix a failure: {_remedy(cls)}", ""]
    if _options(cls):
        out += ["Baseline options (and the site variables the bundled profiles set them from):",
                *_options(cls, variables=True)]
    if _settings(cls):
        out += ["Site variables its plugin reads (vars file or --var):", *_settings(cls)]
    return "\n".join(out).rstrip("\n") + "\n"


def checks_markdown(classes: dict[str, type[Check]]) -> str:
    """docs/checks.md: every check, by id."""
    out = ["# sdcheck's checks", "",
           "Generated from the check classes by `python -m sdcheck.docs`; do not edit.",
           "Each check's code and tests are found from its id (see sdcheck/docs.py).", ""]
    for cid, cls in classes.items():
        out += [f"## {cid}", "", f"**{cls.title}** (severity: {cls.severity})", ""]
        if cls.details:
            out += [f"Verifies: {cls.details}", ""]
        if cls.why:
            out += [cls.why, ""]
        out += [f"Fix: {_remedy(cls)}", ""]
        if _options(cls):
            out += ["Baseline options:", "", "```", *[o.strip() for o in _options(cls)], "```", ""]
        out += [f"Code: `{module_path(cid)}`; tests: `{test_path(cid)}`", ""]
    return "\n".join(out).rstrip("\n") + "\n"


if __name__ == "__main__":
    import sys

    from sdcheck.registry import load_checks

    sys.stdout.write(checks_markdown(load_checks()))
