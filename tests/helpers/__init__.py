"""Helpers shared by the tests (tests never import each other)."""
