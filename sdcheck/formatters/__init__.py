"""Output formats. A formatter turns a RunResult into text and never touches the host.

Every string that may carry a host value goes through ``clean`` (redact, escape, redact
again), so no secret and no control character reaches the output.
"""

from __future__ import annotations

from sdcheck.escape import Redactor, escape


def clean(value: object, redact: Redactor) -> str:
    text = "" if value is None else str(value)
    if redact:
        text = redact(text)
    text = escape(text)
    return redact(text) if redact else text
