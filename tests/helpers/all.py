"""Everything most tests want, from one place."""

from helpers.netns import Netns
from helpers.programs import PACKAGES_TXT, declared_programs, installed, need
from helpers.securedrop import (
                                ACCOUNTS,
                                DATA,
                                SD,
                                SITE_VARS,
                                TEMPLATE_VARS,
                                render,
                                render_rules_v4,
                                write_vars,
)

__all__ = ["ACCOUNTS", "DATA", "PACKAGES_TXT", "SD", "SITE_VARS", "TEMPLATE_VARS", "Netns", "declared_programs",
           "installed", "need", "render", "render_rules_v4", "write_vars"]
