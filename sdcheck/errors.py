"""sdcheck's own failures. Each kind of error carries the name of its exit kind, so the
command line decides the exit code and the ``sdcheck.<kind>`` alert line from the error
itself (``isinstance``), never from a table of exact classes: a subclass keeps its kind.

Every expected failure ends as exit 2 and one line; anything else is ``internal``.
"""

from __future__ import annotations

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2


class SdcheckError(Exception):
    """A failure sdcheck expects and explains in one line (exit 2)."""

    kind = "internal"


class UsageError(SdcheckError):
    """The request cannot be carried out as given (``sdcheck.usage``)."""

    kind = "usage"


class BaselineError(SdcheckError):
    """A malformed baseline, vars or waivers file or option (``sdcheck.config``), printed as
    one line ``file:line: message``."""

    kind = "config"

    def __init__(self, path: str, line: int | None, message: str):
        self.path, self.line, self.message = path, line, message
        super().__init__(f"{path}:{line}: {message}" if line else f"{path}: {message}")


class RegistryError(SdcheckError):
    """A check plugin that cannot be loaded or is malformed (``sdcheck.plugins``)."""

    kind = "plugins"


class ProfileError(SdcheckError):
    """The host's profile (app or mon) cannot be told (``sdcheck.profile``)."""

    kind = "profile"


def kind_of(exc: BaseException) -> str:
    """The exit kind of ``exc``: its class's ``kind``, or ``internal``."""
    return exc.kind if isinstance(exc, SdcheckError) else "internal"
