"""Host specs as an admin writes them (``ssh://root@app``, ``ansible://securedrop``), expanded
into one testinfra spec per host."""

from __future__ import annotations

from sdcheck.escape import escape


class HostSpecError(Exception):
    """A host list that cannot be used (no testinfra, no Ansible, a bad inventory)."""


def _ansible_path() -> None:
    """Ansible installed beside sdcheck (its virtualenv's bin) counts as installed, since
    testinfra runs ``ansible-inventory`` through PATH."""
    import os
    import shutil
    import sys

    if shutil.which("ansible-inventory") is None:
        own = os.path.dirname(sys.executable)
        if os.path.exists(os.path.join(own, "ansible-inventory")):
            os.environ["PATH"] = own + os.pathsep + os.environ.get("PATH", "")


def expand_specs(specs: list[str], ansible_inventory: str | None = None) -> list[str]:
    """Host specs with every ``ansible://PATTERN`` (a group, a host, ``all``, a glob) replaced
    by one ``ansible://HOST`` per inventory host it matches, in inventory order."""
    try:
        import testinfra  # noqa: F401 - the 'remote' extra; a server's install has no test runner
    except ImportError:
        import sys

        raise HostSpecError("checking other hosts needs the 'remote' extra (pytest-testinfra), which a server's "
                            f"install leaves out: {sys.prefix}/bin/pip install 'sdcheck[remote]'") from None
    out: list[str] = []
    for spec in specs:
        if not spec.startswith("ansible://"):
            out.append(spec)
            continue
        pattern, sep, query = spec[len("ansible://"):].partition("?")
        _ansible_path()
        from testinfra.backend.ansible import AnsibleBackend

        try:
            names = AnsibleBackend.get_hosts(pattern or "all", ansible_inventory=ansible_inventory)
        except Exception as exc:  # noqa: BLE001 - ansible-inventory fails in many ways
            text = str(exc).strip().splitlines()
            detail = text[0] if text else type(exc).__name__
            if "ansible-inventory" in str(exc) and ("not found" in str(exc) or "No such file" in str(exc)):
                detail = "ansible-inventory is not installed (pip install ansible-core, or apt install ansible)"
            raise HostSpecError(f"cannot read the Ansible inventory"
                                f"{' ' + escape(ansible_inventory) if ansible_inventory else ''}: {detail}") from None
        if not names:
            raise HostSpecError(f"{escape(spec)} matches no host in the Ansible inventory")
        out.extend(f"ansible://{name}{sep}{query}" for name in names)
    return out
