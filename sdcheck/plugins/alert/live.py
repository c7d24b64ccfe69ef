"""The alert plugin's readers on this machine: a scratch GnuPG home for work on a copy of
the OSSEC user's keyring."""

from __future__ import annotations


class GpgHome:
    """A temporary GnuPG home on this machine (the host layer's scratch area), removed, and
    its gpg-agent stopped, on exit."""

    def __init__(self, local):
        self.local = local
        self.scratch = local.scratch()

    def __enter__(self):
        return self.scratch.__enter__()

    def __exit__(self, *exc) -> None:
        try:
            if self.local.which("gpgconf"):
                self.local.run(["gpgconf", "--homedir", self.scratch.path, "--kill", "all"], timeout=10)
        finally:
            self.scratch.__exit__(*exc)


KEYRING_FILES = ("pubring.kbx", "pubring.gpg", "trustdb.gpg")


def copy_keyring(facts, homedir: str, tmp) -> bool:
    """The keyring files of ``homedir`` on the host, copied into ``tmp`` (a GpgHome): gpg may
    write (trustdb, locks, random_seed) and must never do so in the real one. Its options
    (gpg.conf) are not copied. True when a public keyring was found."""
    found = False
    for name in KEYRING_FILES:
        path = f"{homedir.rstrip('/')}/{name}"
        st = facts.lstat(path)
        if st is None or not st.is_file:
            continue
        tmp.write(name, facts.read_bytes(path, 64 << 20))
        found |= name != "trustdb.gpg"
    return found
