"""The check-plugin API.

A check is a small class: metadata as class attributes, options it accepts from the
baseline, and ``run(ctx)`` yielding findings. A check never prints, never decides the
exit code and reaches the host only through ``ctx.facts``.
"""

from __future__ import annotations

import _thread  # threading's Lock, without importing threading (start-up)
import re

from sdcheck.host.base import Facts
from sdcheck.model import Finding, Severity, Status
from sdcheck.options import Option
from sdcheck.startup import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any, Callable, ClassVar, Iterable

__all__ = ["ID_RE", "Check", "Context", "Option"]

ID_RE = re.compile(r"^[a-z][a-z0-9]*(\.[a-z0-9]+(-[a-z0-9]+)*)+$")


class Context:
    """What a check gets: the host, the variables and its baseline options, plus a
    per-run memo so checks that need the same live data (one firewall dump) share it."""

    def __init__(self, facts: Facts, profile: str, variables: dict[str, Any],
                 options: dict[str, dict[str, Any]] | None = None, redact=None):
        self.facts = facts
        self._redact = redact  # the run's Redactor: add_secret() feeds it
        self.detail_limit = 50  # names a check keeps for the report (report --limit)
        self.progress = None    # callable(done, total) on a terminal (report), else None
        self.online = False     # report --online: checks that contact other hosts may run
        self.profile = profile
        self.vars = variables
        self._options = options or {}
        self.settings: dict[str, Any] = {}
        self._memo: dict[str, Any] = {}
        self._locks: dict[str, Any] = {}
        self._guard = _thread.allocate_lock()
        self._local: Facts | None = None

    @property
    def local(self) -> Facts:
        """This machine, for work on copies of host data (gpg on a copied keyring): the
        checked host itself when it is this machine."""
        if self.facts.is_local:
            return self.facts
        with self._guard:
            if self._local is None:
                from sdcheck.host.local import LocalFacts

                self._local = LocalFacts()
            return self._local

    def fact(self, name: str) -> str | None:
        """A host fact for ``${fact:NAME}`` (see baseline.HOST_FACTS); None when the host
        cannot tell (no default route). Raises KeyError for a name that is not a fact."""
        from sdcheck.baseline import HOST_FACTS

        if name not in HOST_FACTS:
            raise KeyError(name)
        return self.memo(f"fact:{name}", getattr(self.facts, name))

    def add_secret(self, *values: str) -> None:
        """Secrets read from the host: redacted from every output from now on."""
        if self._redact is not None:
            with self._guard:
                self._redact.add(*[v for v in values if v])

    def planned_options(self) -> dict[str, dict[str, Any]]:
        """The resolved options of every check this run plans, by check id."""
        return dict(self._options)

    def setting(self, name: str, declared: dict[str, Option]) -> Any:
        """A plugin setting (a site variable its plugin declares in ``declared``, its
        SETTINGS): checked and defaulted when the run was planned; the declared default in a
        context made without a plan (a capture)."""
        return self.settings[name] if name in self.settings else declared[name].default

    def options(self, check_id: str) -> dict[str, Any]:
        return self._options.get(check_id, {})

    def memo(self, key: str, compute: Callable[[], Any]) -> Any:
        """Compute once per run, even when several checks ask at the same time. A failure
        is remembered too, and raised to every check that asks."""
        with self._guard:
            lock = self._locks.setdefault(key, _thread.allocate_lock())
        with lock:
            if key not in self._memo:
                try:
                    self._memo[key] = (True, compute())
                except Exception as exc:  # noqa: BLE001 - re-raised to each caller
                    self._memo[key] = (False, exc)
            ok, value = self._memo[key]
        if ok:
            return value
        raise value

    def concurrently(self, *calls: Callable[[], Any]) -> list[tuple[bool, Any]]:
        """Run independent calls (commands on the host, mostly waiting) at the same time:
        ``(True, result)`` or ``(False, exception)`` for each, in order."""
        import threading

        results: list[tuple[bool, Any]] = [(False, RuntimeError("did not run"))] * len(calls)

        def work(i: int, call) -> None:
            try:
                results[i] = (True, call())
            except Exception as exc:  # noqa: BLE001 - handed to the caller
                results[i] = (False, exc)

        threads = [threading.Thread(target=work, args=(i, c), daemon=True) for i, c in enumerate(calls[1:], 1)]
        for t in threads:
            t.start()
        if calls:
            work(0, calls[0])  # the first in this thread
        for t in threads:
            t.join()
        return results

    def computed(self, prefix: str) -> dict[str, Any]:
        """Memo values computed successfully so far whose key starts with ``prefix``."""
        with self._guard:
            items = [(k, v) for k, v in self._memo.items() if k.startswith(prefix)]
        return {k: value for k, (ok, value) in sorted(items) if ok}


class Check:
    id: ClassVar[str] = ""
    title: ClassVar[str] = ""          # one line for `sdcheck list`
    details: ClassVar[str] = ""        # what exactly is verified (sdcheck explain, docs/checks.md)
    severity: ClassVar[Severity] = Severity.HIGH
    remedy: ClassVar[str] = ""          # what an admin does when it fails
    why: ClassVar[str] = ""             # why it matters (for `sdcheck explain`)
    options: ClassVar[dict[str, Option]] = {}
    timeout: ClassVar[float] = 60.0
    # what the check reads whatever the variables say, in its plugin's terms (the iptables
    # plugin prefetches these dumps): declared beside the code that reads them
    reads: ClassVar[tuple] = ()
    # called once, in the main thread, before any check of the run starts (imports that must
    # not happen first in a thread); None for most checks
    main_thread_setup: ClassVar[Callable[[], None] | None] = None

    # Optional: ``prepare_options(cls, resolved, raw, fail)`` checks and pre-parses the
    # options once, when the baseline is loaded; ``fail(message, line)`` raises the
    # baseline error (exit 2) pointing at the baseline's file and line.

    # Findings about one rule carry its canonical text (``Finding.subject``); such a check sets
    # ``pins_subjects`` and turns a waiver's ``rule`` into that form (ValueError: why it cannot).
    pins_subjects: ClassVar[bool] = False

    @classmethod
    def waiver_subject(cls, text: str) -> str:
        raise ValueError(f"{cls.id} findings name no rule")

    def __init__(self, ctx: Context):
        self.ctx = ctx
        self.opts = ctx.options(self.id)

    def run(self) -> Iterable[Finding]:
        raise NotImplementedError

    # helpers -----------------------------------------------------------------------
    def finding(self, status: Status, message: str, *, resource: str = "",
                expected: Any = None, actual: Any = None, severity: Severity | None = None,
                remedy: str | None = None, group: str = "",
                detail: Iterable[str] = (), subject: str = "", widens: bool = False) -> Finding:
        return Finding(
            check_id=self.id,
            status=status,
            severity=severity or self.severity,
            message=message,
            resource=resource,
            expected=None if expected is None else str(expected),
            actual=None if actual is None else str(actual),
            remedy=self.remedy if remedy is None else remedy,
            group=group,
            detail=tuple(detail),
            subject=subject,
            widens=widens,
        )

    def fail(self, message: str, **kw) -> Finding:
        return self.finding(Status.FAIL, message, **kw)

    def passed(self, message: str, **kw) -> Finding:
        kw.setdefault("remedy", "")
        return self.finding(Status.PASS, message, **kw)

    def skip(self, message: str, **kw) -> Finding:
        kw.setdefault("remedy", "")
        return self.finding(Status.SKIP, message, **kw)

    def error(self, message: str, **kw) -> Finding:
        return self.finding(Status.ERROR, message, **kw)
