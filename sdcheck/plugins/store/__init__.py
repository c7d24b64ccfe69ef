from sdcheck.plugins.store.checks import CHECKS

__all__ = ["CHECKS"]
