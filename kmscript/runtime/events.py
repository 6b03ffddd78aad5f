"""Simulated time and the one deterministic event queue every piece of deferred work runs from.

What it models: the kernel's notion of "later" - kthreads that are woken (kswapd), work
items and timers (the lazy vmap drain work, the OOM reaper), and RCU grace periods with
their callbacks - reduced to one queue ordered the way SimPy's Environment orders its
events: by simulated time, then priority (``URGENT`` before ``NORMAL``), then the order in
which they were scheduled (a sequence number).  Nothing here knows what an event does.

The ``Clock`` is the one simulated clock: dmesg timestamps (printk.py), msleep and the
cost of reclaim and I/O all read and advance it.  Time passes only when the runtime says
so, so the same script always produces the same timestamps.

When events run
---------------
- ``run_due()`` runs every event whose time has come, in (time, priority, sequence) order,
  including events scheduled by the events it runs.  The machine calls it at the points
  where the kernel's deferred work would have had a chance to run: after each operation
  that may have woken a kthread (a page fault, a read or write, fork, drop_caches).
- ``run_due(URGENT)`` runs only the urgent due events: work the current context waits for
  before it continues (the allocator retrying after an OOM kill waits for the reaper;
  ``synchronize_rcu`` waits for its grace period; a vfree that crossed the lazy threshold
  kicks the drain work; irq exit runs the work an interrupt handler queued, such as
  vfree_atomic's).  Normal events (kswapd) stay queued for the next full run point.

Invariants: events never run out of (time, priority, sequence) order; an event runs at
most once; a running event may schedule more events (they join the same order).

``Rcu`` (kernel/rcu/tree.c reduced to what the allocators use): ``call_rcu(cb)`` queues a
callback behind the current grace period; ``synchronize_rcu()`` ends the grace period: it
schedules the grace-period end as an urgent event at the current time, which runs the
callbacks queued before it, in call order (rcu_do_batch).  Grace periods end only when
somebody waits for one (synchronize_rcu, rcu_barrier, kmem_cache_destroy of an RCU cache):
the simulation has no timer tick that would end them on its own.
"""

from __future__ import annotations

import heapq
from typing import Callable

URGENT = 0   # work the current context waits for (SimPy's URGENT)
NORMAL = 1   # woken kthreads and queued work (SimPy's NORMAL)


# CONFIG_HZ=250 on the reference machine (its /proc/config.gz); the one definition of HZ.
HZ = 250
# include/linux/jiffies.h: INITIAL_JIFFIES = (unsigned long)(unsigned int)(-300*HZ): jiffies
# wrap five minutes after boot, to catch wrap-around bugs early.
INITIAL_JIFFIES = (1 << 32) - 300 * HZ


class Clock:
    """Monotonic simulated time in nanoseconds."""

    __slots__ = ("ns",)

    def __init__(self) -> None:
        self.ns = 0

    def advance(self, ns: int) -> None:
        self.ns += ns

    def jiffies(self) -> int:
        """The jiffies counter: INITIAL_JIFFIES plus one tick per 1/HZ of simulated time."""
        return INITIAL_JIFFIES + self.ns * HZ // 1_000_000_000

    def timestamp(self) -> str:
        """The dmesg prefix: ``[    1.234567]``."""
        sec, rem = divmod(self.ns, 1_000_000_000)
        return f"[{sec:5d}.{rem // 1000:06d}]"


Action = Callable[[], None]


class EventQueue:
    """Deferred work ordered by (time, priority, sequence)."""

    __slots__ = ("clock", "_heap", "_seq", "_queued")

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._heap: list[tuple[int, int, int, str, Action]] = []
        self._seq = 0
        self._queued: set[str] = set()   # names of pending events scheduled with once=True

    def schedule(self, delay_ns: int, priority: int, name: str, action: Action, *, once: bool = False) -> bool:
        """Queue *action* to run *delay_ns* from now.  With ``once``, an event of the same
        name that is still pending is not queued twice (a kthread is woken, not forked);
        returns whether the event was queued."""
        if delay_ns < 0:
            raise ValueError("an event cannot be scheduled in the past")
        if once:
            if name in self._queued:
                return False
            self._queued.add(name)
        self._seq += 1
        heapq.heappush(self._heap, (self.clock.ns + delay_ns, priority, self._seq, name if once else "", action))
        return True

    def pending(self, name: str) -> bool:
        """Is an event scheduled with ``once`` under this name still waiting to run?"""
        return name in self._queued

    def __len__(self) -> int:
        return len(self._heap)

    def run_due(self, max_priority: int = NORMAL) -> int:
        """Run the due events of priority <= *max_priority*, in order; returns how many ran."""
        heap = self._heap
        ran = 0
        while heap:
            when, prio, _seq, once_name, action = heap[0]
            if when > self.clock.ns:
                break
            if prio > max_priority:
                # a later urgent event may still be due behind this one: look for it
                nxt = self._first_due_urgent(max_priority)
                if nxt is None:
                    break
                when, prio, _seq, once_name, action = nxt
                heap.remove(nxt)
                heapq.heapify(heap)
            else:
                heapq.heappop(heap)
            if once_name:
                self._queued.discard(once_name)
            action()
            ran += 1
        return ran

    def _first_due_urgent(self, max_priority: int) -> tuple[int, int, int, str, Action] | None:
        now = self.clock.ns
        best = None
        for ev in self._heap:
            if ev[0] <= now and ev[1] <= max_priority and (best is None or ev[:3] < best[:3]):
                best = ev
        return best


class Rcu:
    """RCU grace periods and callbacks, run from the event queue (see the module docstring)."""

    __slots__ = ("events", "_callbacks", "gp_seq")

    def __init__(self, events: EventQueue) -> None:
        self.events = events
        self._callbacks: list[Action] = []
        self.gp_seq = 0   # completed grace periods (rcu_state.gp_seq, in whole periods)

    def call_rcu(self, callback: Action) -> None:
        """call_rcu(): run *callback* once the current grace period has ended."""
        self._callbacks.append(callback)

    def _gp_end(self) -> None:
        """rcu_gp_cleanup -> rcu_do_batch: the callbacks queued before the period ended."""
        self.gp_seq += 1
        cbs, self._callbacks = self._callbacks, []
        for cb in cbs:
            cb()

    def synchronize_rcu(self) -> None:
        """Wait for a grace period: its end runs as an urgent event at the current time."""
        self.events.schedule(0, URGENT, "rcu_gp", self._gp_end)
        self.events.run_due(URGENT)

    def rcu_barrier(self) -> None:
        """rcu_barrier(): every callback queued so far has run when it returns."""
        self.synchronize_rcu()
