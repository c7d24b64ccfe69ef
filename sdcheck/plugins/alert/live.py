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
