"""One module per check, named after its id (see sdcheck/docs.py)."""
