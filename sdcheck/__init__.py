"""sdcheck: host configuration compliance checks for servers watched by OSSEC."""

__version__ = "0.1.0"
