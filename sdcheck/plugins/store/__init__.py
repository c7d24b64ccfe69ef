"""The store plugin: the submission store on disk against its SQLite database."""

from sdcheck.plugins.store.checks.claims import Claims
from sdcheck.plugins.store.checks.leftovers import Leftovers
from sdcheck.plugins.store.checks.misplaced import Misplaced
from sdcheck.plugins.store.checks.missing_files import MissingFiles
from sdcheck.plugins.store.checks.orphan_files import OrphanFiles
from sdcheck.plugins.store.checks.permissions import Permissions
from sdcheck.plugins.store.checks.size import Size
from sdcheck.plugins.store.checks.unexpected import Unexpected
from sdcheck.plugins.store.checks.unknown_sources import UnknownSources

CHECKS = [MissingFiles, OrphanFiles, Misplaced, Size, Unexpected, UnknownSources, Permissions, Leftovers,
          Claims]

__all__ = ["CHECKS"]
