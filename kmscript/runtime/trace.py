"""Trace events in the kernel's tracepoint formats (the ftrace ``trace`` file).

Allocators call ``Tracer.emit(event, fields)`` where *fields* is the text after the
event name exactly as the kernel's TP_printk formats it, e.g.
``emit("kmalloc", "call_site=... ptr=ffff888100001000 bytes_req=50 bytes_alloc=64 gfp_flags=GFP_ATOMIC")``.

Emitting is cheap when nobody listens: callers check ``tracer.enabled`` before building
the field string, so a hot allocation loop pays one attribute test.

The tracer also carries the decision log (explain.py), so every subsystem that gets the
tracer in its constructor can record its decisions through ``tracer.explain``.  While a
recording is on, ``enabled`` is true: the allocation fast paths, which are gated on it,
step aside and every allocation takes the generic path where the decisions are recorded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from .explain import DecisionLog

TraceListener = Callable[[str, str], None]


@dataclass
class Tracer:
    enabled: bool = False
    _listeners: list[TraceListener] = field(default_factory=list)
    events: list[tuple[str, str]] = field(default_factory=list)
    keep: bool = False  # keep events in memory (tests, --json)
    explain: DecisionLog = field(init=False)

    def __post_init__(self) -> None:
        self.explain = DecisionLog(self._explaining)

    def _explaining(self, on: bool) -> None:
        self.enabled = bool(self._listeners) or self.keep or on

    def emit(self, event: str, fields: str) -> None:
        if self.keep:
            self.events.append((event, fields))
        for listener in self._listeners:
            listener(event, fields)

    def add_listener(self, listener: TraceListener) -> None:
        self._listeners.append(listener)
        self.enabled = True

    def remove_listener(self, listener: TraceListener) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)
        self.enabled = bool(self._listeners) or self.keep or self.explain.on

    def record(self, on: bool = True) -> None:
        """Keep events in ``events`` (used by tests and ``--json``)."""
        self.keep = on
        self.enabled = bool(self._listeners) or on or self.explain.on


def format_line(event: str, fields: str, comm: str = "kmscript", pid: int = 1, cpu: int = 0,
                ts: str = "0.000000", flags: str = ".....") -> str:
    """One line as /sys/kernel/tracing/trace shows it; ``flags`` is the irqs-off /
    need-resched / hardirq-softirq / preempt-depth / migrate-disable column
    (ExecContext.trace_flags)."""
    return f"{comm:>16}-{pid:<7} [{cpu:03d}] {flags} {ts:>12}: {event}: {fields}"
