"""Kernel reports: which kernel log records are bug reports, and of what class.

The kernel has no single "this is a bug" flag; tools that watch a kernel (syzkaller's
report parser, KUnit with KASAN, the kernel's own ``trace_error_report_end`` hook) read
the headlines the kernel prints.  This module does the same for the simulator's log: it
classifies one :class:`~.printk.LogRecord` by the headline lines the kernel prints for
each kind of report:

============  =====================================================  ==============================
class         headline (the kernel function that prints it)           a failure in ``kmscript test``
============  =====================================================  ==============================
panic         ``Kernel panic - not syncing: ...`` (kernel/panic.c:    yes
              panic)
oops          a line ``Oops: ...`` after ``kernel BUG at ...`` or     yes
              ``BUG: unable to handle page fault ...``
              (arch/x86/kernel/dumpstack.c: __die)
kasan         ``BUG: KASAN: ...`` (mm/kasan/report.c)                 yes
bad_page      ``BUG: Bad page state in process ...``                  yes
              (mm/page_alloc.c: bad_page)
might_sleep   ``BUG: sleeping function called from invalid            yes
              context`` (kernel/sched/core.c: __might_resched)
atomic_sleep  ``BUG: scheduling while atomic`` (kernel/sched/core.c:  yes
              __schedule_bug)
slub          ``BUG <cache> (<taint>): <reason>`` and ``FIX <cache>:   yes
              ...`` (mm/slub.c: slab_bug, slab_fix)
bug           any other BUG-kind record (kmscript's own notes on a    yes
              misuse the kernel would not detect)
warn          ``WARNING: CPU: N PID: P at FILE:LINE FUNC``            yes
              (kernel/panic.c: __warn)
alloc_fail    ``...: page allocation failure: order:N, mode:...``      no: allocation failure is a
              (mm/page_alloc.c: warn_alloc)                           value scenarios test for
oom           the OOM killer's report (mm/oom_kill.c)                 no
notice        other warning-level messages (pr_warn)                  no
info          everything else                                         no
============  =====================================================  ==============================

Invariants: classification depends only on the record (its kind and text), never on
state, so the same log always gives the same classes; a record has exactly one class,
the first that matches in the order of the table.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .printk import LogRecord

# The classes a regression test fails on unless the report was expected (syzkaller and
# KUnit-with-KASAN fail a run on any of these).
FAILURE_CLASSES = ("panic", "oops", "kasan", "bad_page", "might_sleep", "atomic_sleep", "slub", "bug", "warn")
OTHER_CLASSES = ("alloc_fail", "oom", "notice", "info")
CLASSES = FAILURE_CLASSES + OTHER_CLASSES

_WORDS = {"panic": "kernel panic", "oops": "Oops", "kasan": "KASAN report", "bad_page": "bad page state report",
          "might_sleep": "sleeping-in-atomic report", "atomic_sleep": "scheduling-while-atomic report",
          "slub": "SLUB error report", "bug": "BUG report", "warn": "WARNING", "alloc_fail": "page allocation failure",
          "oom": "OOM kill", "notice": "warning message", "info": "message"}

_SLUB_BUG = re.compile(r"^BUG \S+ \([^)]*\): ")
_SLUB_FIX = re.compile(r"^FIX \S+: ")


@dataclass(frozen=True, slots=True)
class Report:
    """One classified log record: its class and the headline that identifies it."""

    cls: str
    title: str
    record: LogRecord

    @property
    def is_failure(self) -> bool:
        return self.cls in FAILURE_CLASSES

    @property
    def what(self) -> str:
        """The class in words ("an Oops", "a WARNING")."""
        w = _WORDS[self.cls]
        return ("an " if w[0] in "AEIOU" else "a ") + w


def classify(rec: LogRecord) -> Report:
    """The report class and headline of one kernel log record."""
    lines = [ln for ln in rec.text.split("\n") if ln.strip()]
    head = next((ln for ln in lines if not ln.startswith("----") and not ln.startswith("====")), "")
    for ln in lines:
        if ln.startswith("Kernel panic - not syncing"):
            return Report("panic", ln, rec)
    if rec.kind == "panic":
        return Report("panic", head, rec)
    if any(ln.startswith("Oops:") for ln in lines):
        return Report("oops", head, rec)
    for ln in lines:
        if ln.startswith("BUG: KASAN:"):
            return Report("kasan", ln, rec)
        if ln.startswith("BUG: Bad page state"):
            return Report("bad_page", ln, rec)
        if ln.startswith("BUG: sleeping function called from invalid context"):
            return Report("might_sleep", ln, rec)
        if ln.startswith("BUG: scheduling while atomic"):
            return Report("atomic_sleep", ln, rec)
        if _SLUB_BUG.match(ln) or (rec.kind == "bug" and _SLUB_FIX.match(ln)):
            return Report("slub", ln, rec)
    if rec.kind == "bug":
        return Report("bug", head, rec)
    for ln in lines:
        if ln.startswith("WARNING: CPU:"):
            return Report("warn", ln, rec)
    if rec.kind == "alloc_fail" or "page allocation failure" in rec.text:
        return Report("alloc_fail", head, rec)
    if rec.kind == "oom":
        return Report("oom", head, rec)
    if rec.kind == "warn":
        return Report("notice", head, rec)
    return Report("info", head, rec)


def is_failure(rec: LogRecord) -> bool:
    """Whether a regression test fails on this record when nothing expected it."""
    return classify(rec).is_failure
