"""Fault injection with the kernel's knobs (Documentation/fault-injection/fault-injection.rst).

What it models
--------------
Two fault attributes, as in the kernel:

- ``failslab`` (mm/failslab.c): asked by SLUB before every object allocation
  (``should_failslab(cache_name, gfp, is_kmalloc)``).  Extra knobs: ``ignore-gfp-wait``
  (default Y: allocations that may enter direct reclaim are never failed) and
  ``cache-filter`` (only caches flagged ``SLAB_FAILSLAB`` -- here: the set of cache names
  given with ``fail slab cache=...``).
- ``fail_page_alloc`` (mm/fail_page_alloc.c): asked by the page allocator before every
  attempt (``should_fail_alloc_page(gfp, order)``).  Extra knobs: ``ignore-gfp-wait`` (Y),
  ``ignore-gfp-highmem`` (Y), ``min-order`` (1).

Each attribute is a :class:`FaultAttr` with the generic knobs of ``struct fault_attr``
(include/linux/fault-inject.h, FAULT_ATTR_INITIALIZER): ``probability`` (percent, 0),
``interval`` (1), ``times`` (1; -1 = unlimited), ``space`` (0), ``verbose`` (2),
``task-filter`` (N).  The decision is ``should_fail_ex`` of lib/fault-inject.c, in the
kernel's order of tests: fail-nth, probability == 0, task filter, times == 0, space,
interval, probability.  An injected failure prints ``fail_dump``'s text as one log record
of kind ``fault`` (with ``verbose > 1`` followed by a dump_stack-style trace) unless the
caller passed __GFP_NOWARN (FAULT_NOWARN), then decrements ``times`` unless it is -1.

fail-nth (/proc/self/fail-nth, Documentation/fault-injection/fault-injection.rst "Fault
injection via fail-nth"): ``task_fail_nth`` counts down on every call that reaches
``should_fail_ex`` of *any* attribute and fails the call that brings it to zero.  As a
simulator extension each attribute also has its own ``nth`` counter (``fail kmalloc
nth=3``: the third eligible kmalloc call fails), evaluated the same way.

Faults that never fire
----------------------
Each attribute counts, since it was last armed (``FaultAttr.rearm``), the calls that the
facility's filters kept from becoming candidates and why (``skipped``: ignore-gfp-wait,
the cache filter, min-order ...), and the candidate calls ``should_fail_ex`` declined
(times exhausted, space, interval, probability).  ``unfired_notes()`` explains each armed
attribute that injected nothing -- the classic trap being ``fail slab caches=inode`` with
the default ignore-gfp-wait=Y and GFP_KERNEL allocations, which is faithful and silent.

Invariants
----------
- With nothing armed both queries return False after one attribute test (``active``).
- Every random decision uses ``self.rng``, a ``random.Random`` seeded from the machine's
  seed (independent of ``machine.rng`` so that arming a fault never shifts other random
  choices of the run): the same script and seed inject the same failures.
- ``calls`` counts every call that reached ``should_fail_ex``; ``injected`` every failure.

Simplifications
---------------
- No stacktrace filter (require/reject-start/end, stacktrace-depth) and no verbose
  ratelimit (the kernel's default state is RATELIMIT_STATE_INIT_DISABLED anyway).
- The SLUB bootstrap cache ``kmem_cache`` is exempt, as in __should_failslab.
- Without an object size from the caller, failslab's ``space`` accounting charges 1 byte
  per call (SLUB may pass ``object_size=``).
- The static keys that make the kernel skip the query entirely when probability is 0 are
  modelled by ``active``; fail-nth works regardless of them.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, Callable

from .gfp import __GFP_DIRECT_RECLAIM, __GFP_HIGHMEM, __GFP_NOFAIL, __GFP_NOWARN

# include/linux/gfp_types.h bits (gfp.py is a leaf module); a __GFP_ name in a class body
# is name-mangled, hence the aliases
_GFP_HIGHMEM = __GFP_HIGHMEM
_GFP_DIRECT_RECLAIM = __GFP_DIRECT_RECLAIM
_GFP_NOWARN = __GFP_NOWARN
_GFP_NOFAIL = __GFP_NOFAIL

FAILSLAB = "failslab"
FAIL_PAGE_ALLOC = "fail_page_alloc"


@dataclass
class FaultAttr:
    """``struct fault_attr`` plus the owning facility's extra knobs."""

    name: str
    probability: int = 0
    interval: int = 1
    times: int = 1
    space: int = 0
    verbose: int = 2
    task_filter: bool = False
    count: int = 0  # calls seen while interval > 1 (attr->count)
    nth: int = 0  # simulator extension: per-attribute fail-nth countdown
    ignore_gfp_wait: bool = True
    # failslab only
    cache_filter: bool = False
    failslab_caches: set[str] = field(default_factory=set)
    kmalloc_only: bool = False
    # fail_page_alloc only
    ignore_gfp_highmem: bool = True
    min_order: int = 1
    # statistics
    calls: int = 0
    injected: int = 0
    # since the attribute was last armed: calls the filters skipped, by reason, and the
    # candidate calls and injections
    skipped: dict[str, int] = field(default_factory=dict)
    armed_calls: int = 0
    armed_injected: int = 0

    def armed(self) -> bool:
        return self.probability > 0 or self.nth > 0

    def rearm(self) -> None:
        """Start the "did it fire?" accounting afresh (after its knobs were written)."""
        self.skipped = {}
        self.armed_calls = 0
        self.armed_injected = 0

    def skip(self, reason: str) -> bool:
        """Count a call kept from being a candidate; returns False (no failure)."""
        self.skipped[reason] = self.skipped.get(reason, 0) + 1
        return False

    def knobs(self) -> dict[str, Any]:
        """The debugfs files of this attribute and their values, in debugfs order."""
        d: dict[str, Any] = {"probability": self.probability, "interval": self.interval, "times": self.times,
                             "space": self.space, "verbose": self.verbose,
                             "task-filter": "Y" if self.task_filter else "N",
                             "ignore-gfp-wait": "Y" if self.ignore_gfp_wait else "N"}
        if self.name == FAILSLAB:
            d["cache-filter"] = "Y" if self.cache_filter else "N"
        else:
            d["ignore-gfp-highmem"] = "Y" if self.ignore_gfp_highmem else "N"
            d["min-order"] = self.min_order
        return d


Printk = Callable[[str, str], Any]


class FaultInjector:
    """The machine's fault attributes; queried by the allocators before each attempt."""

    def __init__(self, printk: Printk | None = None, seed: int = 0, ctx: Any = None) -> None:
        self.printk = printk
        self.ctx = ctx  # ExecContext: current task and in_task() for the task filter / fail-nth
        # Independent stream: arming a fault must not shift the machine's other randomness.
        self.rng = random.Random(0xFA17_0000 ^ seed)
        self.failslab = FaultAttr(FAILSLAB)
        self.fail_page_alloc = FaultAttr(FAIL_PAGE_ALLOC)
        self.task_fail_nth = 0  # /proc/self/fail-nth of the script's task
        self.make_it_fail: set[int] = set()  # pids with /proc/<pid>/make-it-fail = 1
        self.calls = 0  # calls that reached should_fail_ex (fail-nth counts these)
        self.injected = 0
        self.sites: list[str] = []  # "attr site" of each injected failure, in order
        # Called as on_inject(attr_name, site) after each injected failure (the test runner
        # records where in the script it happened).
        self.on_inject: Callable[[str, str], None] | None = None
        self.active = False

    # -- configuration -----------------------------------------------------------------------
    def attr(self, name: str) -> FaultAttr:
        if name == FAILSLAB:
            return self.failslab
        if name == FAIL_PAGE_ALLOC:
            return self.fail_page_alloc
        raise KeyError(name)

    def update_active(self) -> None:
        self.active = self.task_fail_nth > 0 or self.failslab.armed() or self.fail_page_alloc.armed()

    def set_task_fail_nth(self, n: int) -> None:
        """Write /proc/self/fail-nth: the n-th following fault-injection point fails."""
        if n < 0:
            raise ValueError("fail-nth must not be negative")
        self.task_fail_nth = n
        self.update_active()

    def disable(self, name: str | None = None) -> None:
        """Disarm one attribute (probability 0, no nth countdown), or with no name put every
        knob back to its boot default (the statistics are kept)."""
        if name is None:
            for old in (self.failslab, self.fail_page_alloc):
                new = FaultAttr(old.name, calls=old.calls, injected=old.injected)
                setattr(self, "failslab" if old.name == FAILSLAB else "fail_page_alloc", new)
            self.task_fail_nth = 0
            self.make_it_fail.clear()
        else:
            a = self.attr(name)
            a.probability = 0
            a.nth = 0
        self.update_active()

    # -- the allocators' queries ---------------------------------------------------------------
    def should_fail_alloc_page(self, gfp: int, order: int) -> bool:
        """mm/fail_page_alloc.c: __should_fail_alloc_page."""
        if not self.active:
            return False
        a = self.fail_page_alloc
        if order < a.min_order:
            return a.skip("min_order")
        if gfp & _GFP_NOFAIL:
            return a.skip("nofail")
        if a.ignore_gfp_highmem and gfp & _GFP_HIGHMEM:
            return a.skip("ignore_gfp_highmem")
        if a.ignore_gfp_wait and gfp & _GFP_DIRECT_RECLAIM:
            return a.skip("ignore_gfp_wait")
        return self.should_fail_ex(a, 1 << order, nowarn=bool(gfp & _GFP_NOWARN),
                                   site=f"__alloc_pages_noprof order:{order}")

    def should_failslab(self, cache_name: str, gfp: int, is_kmalloc: bool,
                        object_size: int | None = None) -> bool:
        """mm/failslab.c: __should_failslab."""
        if not self.active:
            return False
        if cache_name == "kmem_cache":  # no fault injection for the bootstrap cache
            return False
        a = self.failslab
        if gfp & _GFP_NOFAIL:
            return a.skip("nofail")
        if a.ignore_gfp_wait and gfp & _GFP_DIRECT_RECLAIM:
            return a.skip("ignore_gfp_wait")
        if a.cache_filter and cache_name not in a.failslab_caches:
            return a.skip("cache_filter")
        if a.kmalloc_only and not is_kmalloc:
            return a.skip("kmalloc_only")
        return self.should_fail_ex(a, object_size if object_size is not None else 1,
                                   nowarn=bool(gfp & _GFP_NOWARN),
                                   site=f"{'__kmalloc_cache_noprof' if is_kmalloc else 'kmem_cache_alloc_noprof'} "
                                        f"{cache_name}")

    # -- lib/fault-inject.c --------------------------------------------------------------------
    def _in_task(self) -> bool:
        return self.ctx is None or bool(self.ctx.in_task())

    def should_fail_ex(self, a: FaultAttr, size: int, *, nowarn: bool = False, site: str = "") -> bool:
        self.calls += 1
        a.calls += 1
        a.armed_calls += 1
        if self._in_task() and self.task_fail_nth:
            self.task_fail_nth -= 1
            if self.task_fail_nth == 0:
                self.update_active()
                return self._fail(a, nowarn, site)
            return False
        if a.nth:
            a.nth -= 1
            if a.nth == 0:
                self.update_active()
                return self._fail(a, nowarn, site)
            return False
        if a.probability == 0:
            return False
        if a.task_filter and not self._fail_task():
            return a.skip("task_filter")
        if a.times == 0:
            return a.skip("times")
        if a.space > size:
            a.space -= size
            return a.skip("space")
        if a.interval > 1:
            a.count += 1
            if a.count % a.interval:
                return a.skip("interval")
        if a.probability <= self.rng.randrange(100):
            return a.skip("probability")
        return self._fail(a, nowarn, site)

    def _fail_task(self) -> bool:
        if not self._in_task() or self.ctx is None:
            return False
        return self.ctx.current.pid in self.make_it_fail

    def _fail(self, a: FaultAttr, nowarn: bool, site: str) -> bool:
        if not nowarn:
            self._fail_dump(a, site)
        if a.times != -1 and a.times != 0:
            a.times -= 1
        a.injected += 1
        a.armed_injected += 1
        self.injected += 1
        self.sites.append(f"{a.name}: {site}" if site else a.name)
        if self.on_inject is not None:
            self.on_inject(a.name, site)
        return True

    def _fail_dump(self, a: FaultAttr, site: str) -> None:
        if a.verbose <= 0 or self.printk is None:
            return
        lines = ["FAULT_INJECTION: forcing a failure.",
                 f"name {a.name}, interval {a.interval}, probability {a.probability}, "
                 f"space {a.space}, times {a.times}"]
        if a.verbose > 1:
            cpu = self.ctx.cpu if self.ctx is not None else 0
            cur = self.ctx.current if self.ctx is not None else None
            pid = cur.pid if cur is not None else 0
            comm = cur.comm if cur is not None else "swapper/0"
            query = "should_failslab" if a.name == FAILSLAB else "should_fail_alloc_page"
            lines += [f"CPU: {cpu} UID: 0 PID: {pid} Comm: {comm} Not tainted",
                      "Call Trace:", " <TASK>", " dump_stack_lvl", " should_fail_ex", f" {query}"]
            if site:
                lines.append(f" {site.split(' ')[0]}")
            lines.append(" </TASK>")
        self.printk("\n".join(lines), "fault")

    # -- faults that never fired ---------------------------------------------------------------
    # Why calls were not failed, as noun phrases around the count ({n}: "3 allocations").
    _WHY = {
        "ignore_gfp_wait": "ignore-gfp-wait=Y (the default) skipped {n} that may sleep (GFP_KERNEL); "
                           "ignore_gfp_wait=false includes them",
        "cache_filter": "the cache filter ({caches}) skipped {n} from other caches",
        "kmalloc_only": "kmalloc-only skipped {n} from caches that are not kmalloc-*",
        "min_order": "min-order={min_order} skipped {n} of lower order (min_order=0 includes them)",
        "ignore_gfp_highmem": "ignore-gfp-highmem=Y skipped {n} with __GFP_HIGHMEM",
        "nofail": "__GFP_NOFAIL exempted {n}",
        "task_filter": "task-filter=Y skipped {n} (the task is not marked make_it_fail)",
        "times": "times ran out before {n}",
        "space": "space absorbed {n}",
        "interval": "interval={interval} skipped {n}",
        "probability": "probability={probability}% passed over {n}",
    }
    # the facility's filters, asked before should_fail_ex (which counts armed_calls)
    _FILTERS = ("ignore_gfp_wait", "cache_filter", "kmalloc_only", "min_order", "ignore_gfp_highmem", "nofail")

    def unfired_notes(self) -> list[str]:
        """One note per armed attribute that has injected nothing since it was armed."""
        notes = []
        for a in (self.failslab, self.fail_page_alloc):
            if not a.armed() or a.armed_injected:
                continue
            what = "allocation" if a.name == FAILSLAB else "page allocation"

            def n(k: int) -> str:
                return f"{k} {what}{'s' if k != 1 else ''}"
            seen = a.armed_calls + sum(k for r, k in a.skipped.items() if r in self._FILTERS)
            if not seen:
                notes.append(f"{a.name} was armed but never fired: no {what} was made after it was armed")
                continue
            why = [self._WHY[r].format(n=n(k), caches=", ".join(sorted(a.failslab_caches)) or "none",
                                       min_order=a.min_order, interval=a.interval, probability=a.probability)
                   for r, k in sorted(a.skipped.items(), key=lambda kv: -kv[1])]
            if a.nth:
                why.append(f"nth={a.nth} has {a.nth} eligible call{'s' if a.nth != 1 else ''} to go")
            notes.append(f"{a.name} was armed but never fired ({n(seen)} after it was armed): " + "; ".join(why))
        return notes

    # -- views -----------------------------------------------------------------------------------
    def render(self) -> str:
        """The debugfs knobs of both attributes and the injection counters (``show faults``)."""
        out = []
        for a in (self.failslab, self.fail_page_alloc):
            out.append(f"/sys/kernel/debug/{a.name}/")
            for k, v in a.knobs().items():
                out.append(f"  {k:<20} {v}")
            if a.name == FAILSLAB and a.failslab_caches:
                out.append(f"  {'caches (failslab)':<20} {' '.join(sorted(a.failslab_caches))}")
            if a.kmalloc_only:
                out.append(f"  {'kmalloc-only':<20} Y")
            if a.nth:
                out.append(f"  {'nth':<20} {a.nth}")
            out.append(f"  {'calls':<20} {a.calls}")
            out.append(f"  {'injected':<20} {a.injected}")
        out.append(f"/proc/self/fail-nth   {self.task_fail_nth}")
        return "\n".join(out)
