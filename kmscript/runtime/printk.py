"""The kernel log (printk/dmesg) and the simulated clock.

Every message carries a dmesg-style timestamp from a deterministic simulated clock, so
the same script always prints the same log.  The clock advances only when the runtime
says so (``Clock.advance``): each allocator operation costs a fixed, small number of
nanoseconds, so timestamps grow with the work done, not with wall time.

Each record has a *kind* so that scripts can test for events (``expect oom { ... }``):

- ``info``      ordinary messages
- ``warn``      a WARNING/warn_alloc-style report (includes page allocation failure)
- ``alloc_fail`` an allocation failure report (also counted as ``warn``)
- ``bug``       a BUG report (bad page state, SLUB debug reports, sleeping in atomic)
- ``oom``       an OOM kill
- ``panic``     a kernel panic

Listeners (the CLI printing as things happen, the REPL colouring them) subscribe with
``add_listener``.  The log itself keeps every record for ``show dmesg``.

After-report hooks (``add_report_hook``) run once a record has reached every listener:
they are what the kernel does after printing a report (oops_end, check_panic_on_warn) and
may end the operation by raising (a panic, the death of the task that oopsed).  A hook
never runs before the report it reacts to has been shown.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

KINDS = ("info", "warn", "alloc_fail", "bug", "oom", "panic", "fault")


class Clock:
    """Monotonic simulated time in nanoseconds."""

    __slots__ = ("ns",)

    def __init__(self) -> None:
        self.ns = 0

    def advance(self, ns: int) -> None:
        self.ns += ns

    def timestamp(self) -> str:
        """The dmesg prefix: ``[    1.234567]``."""
        sec, rem = divmod(self.ns, 1_000_000_000)
        return f"[{sec:5d}.{rem // 1000:06d}]"


@dataclass(frozen=True, slots=True)
class LogRecord:
    ns: int
    kind: str
    text: str  # may hold several lines (a whole report)
    timestamp: str

    def lines(self) -> list[str]:
        """The record as dmesg prints it: each line carries the timestamp."""
        return [f"{self.timestamp} {line}" if line else self.timestamp for line in self.text.split("\n")]


Listener = Callable[[LogRecord], None]


@dataclass
class KernelLog:
    clock: Clock
    records: list[LogRecord] = field(default_factory=list)
    _listeners: list[Listener] = field(default_factory=list)
    _report_hooks: list[Listener] = field(default_factory=list)

    def printk(self, text: str, kind: str = "info") -> LogRecord:
        if kind not in KINDS:
            raise ValueError(f"unknown log record kind {kind!r}")
        rec = LogRecord(self.clock.ns, kind, text, self.clock.timestamp())
        self.records.append(rec)
        for listener in self._listeners:
            listener(rec)
        # printing costs time too, so two messages never share a timestamp
        self.clock.advance(1000)
        for hook in self._report_hooks:
            hook(rec)
        return rec

    def add_report_hook(self, hook: Listener) -> None:
        """Run *hook* after each record has been shown (see the module docstring)."""
        self._report_hooks.append(hook)

    def add_listener(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def remove_listener(self, listener: Listener) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def dmesg(self) -> str:
        return "\n".join(line for rec in self.records for line in rec.lines())

    def contains(self, needle: str) -> bool:
        return any(needle in rec.text for rec in self.records)
