"""The timeline: memory state sampled on the simulated clock, with reclaim, compaction,
OOM and allocation-failure events.

What it models
--------------
The kernel's own periodic look at its counters is vmstat_update (mm/vmstat.c), delayed
work that runs every sysctl_stat_interval (HZ) and folds the per-cpu deltas into the
zone and node counters; tools such as ``sar -B``/``vmstat 1`` then sample /proc/vmstat
and /proc/zoneinfo at a fixed period.  The timeline is such a sampler living inside the
machine: a self-rescheduling work item on the one event queue (events.py) that, each
``period_ns`` of simulated time, records

- per populated zone: NR_FREE_PAGES and the min/low/high watermarks (boost included, as
  /proc/zoneinfo prints them),
- node counters: page cache (nr_file_pages), anonymous pages, slab reclaimable and
  unreclaimable (pages), vmalloc pages,
- the resident set of the largest live tasks (at most ``TOP_TASKS``),

and turns the change of the reclaim, compaction and OOM counters since the previous
sample into events: ``kswapd`` (pageoutrun, pgsteal_kswapd), ``direct_reclaim``
(allocstall, pgsteal_direct), ``compaction`` (compact_stall, success/fail).  OOM kills
and page allocation failures are taken from the kernel log as they are printed (exact
time, victim named); the sampler also records the state at the moment of an OOM kill,
before the victim's memory is reaped.

Cost
----
Nothing runs on the allocators' fast paths: the sampler runs only where deferred work
runs (events.py: after a fault, a read/write, fork, drop_caches, at the start of direct
reclaim) and the log listener only on printk.  So a sample costs O(zones + tasks) once per
period at most, never per page.

Bounded memory
--------------
At most ``cap`` samples are kept.  When the buffer is full every other sample is dropped
and the period doubles (decimation): a long run keeps an even, coarser picture of its
whole history, in at most ``cap`` samples.  Events are capped at ``cap`` too: when full,
adjacent events of the same kind are merged (times of the first, pages and counts
summed).

Invariants: samples are in non-decreasing time order; every sample has one entry per
populated zone, in zone order; ``len(samples) <= cap`` and ``len(events) <= cap``.

Simplification: what happens between two samples is seen only through the counters'
change (several direct reclaims in one period are one event with their sum), and the
simulated clock advances only with work that takes time in the model (faults, I/O,
reclaim scans, printk, msleep), so a run of pure kmalloc calls is one instant.
"""

from __future__ import annotations

import bisect
import heapq
from typing import Callable, Iterator, NamedTuple, Protocol

from .events import NORMAL, Clock, EventQueue
from .internal import SlowPathHooks
from .mm_types import PAGE_SHIFT
from .printk import KernelLog, LogRecord
from .vmstat import VmStat

DEFAULT_PERIOD_NS = 100_000      # 0.1 ms of simulated time between samples at first
DEFAULT_CAP = 1024               # samples (and events) kept at most
TOP_TASKS = 6                    # tasks whose RSS a sample keeps (the largest)


class ZoneLike(Protocol):
    """What a sample reads of a zone (zone.Zone)."""

    @property
    def name(self) -> str: ...
    @property
    def nr_free_pages(self) -> int: ...
    @property
    def min(self) -> int: ...
    @property
    def low(self) -> int: ...
    @property
    def high(self) -> int: ...


class SampledTask(Protocol):
    """What the timeline samples of a task (task.Task): its pid, comm and RSS."""

    pid: int
    comm: str

    @property
    def rss(self) -> int: ...


class TaskSource(Protocol):
    """The task list (task.TaskTable): live tasks in creation order."""

    def __iter__(self) -> Iterator[SampledTask]: ...


class ReclaimCounters(Protocol):
    """Reclaim's and compaction's own counters (reclaim.Reclaim.kswapd_runs is
    /proc/vmstat pageoutrun; compaction.Compaction.compact_stall)."""

    kswapd_runs: int


class CompactionCounters(Protocol):
    compact_stall: int


class ZoneSample(NamedTuple):
    free: int
    min: int
    low: int
    high: int


class Sample(NamedTuple):
    t_ns: int
    zones: tuple[ZoneSample, ...]
    file: int                  # nr_file_pages
    anon: int                  # nr_anon_pages
    slab_reclaimable: int      # pages (NR_SLAB_RECLAIMABLE_B / PAGE_SIZE)
    slab_unreclaimable: int    # pages
    vmalloc: int               # nr_vmalloc_pages
    rss: tuple[tuple[int, int], ...]   # (pid, resident pages) of the largest live tasks


class Event(NamedTuple):
    t_ns: int
    kind: str                  # kswapd | direct_reclaim | compaction | oom_kill | alloc_fail
    text: str
    pages: int = 0             # pages reclaimed / freed (0 when not applicable)
    nr: int = 1                # how many occurrences this entry stands for

    def label(self) -> str:
        return self.text if self.nr == 1 else f"{self.text} (x{self.nr})"


EVENT_KINDS = ("kswapd", "direct_reclaim", "compaction", "oom_kill", "alloc_fail")

# counters whose change since the last sample becomes an event
_C_PAGEOUTRUN, _C_STEAL_KSWAPD, _C_ALLOCSTALL, _C_STEAL_DIRECT, _C_COMPACT_STALL, _C_COMPACT_OK = range(6)


class Timeline:
    """The sampler (see the module docstring).  Constructed by the machine after the
    reclaim layer; reads the zones, node counters, tasks and the reclaim/compaction
    counters it is given, and schedules itself on the event queue."""

    def __init__(self, *, zones: list[ZoneLike], vmstat: VmStat, tasks: TaskSource, reclaim: ReclaimCounters,
                 compaction: CompactionCounters, clock: Clock, events: EventQueue, log: KernelLog,
                 period_ns: int = DEFAULT_PERIOD_NS, cap: int = DEFAULT_CAP) -> None:
        if period_ns <= 0 or cap < 4:
            raise ValueError("a timeline needs a positive period and room for at least 4 samples")
        self._zones = list(zones)
        self.zone_names: tuple[str, ...] = tuple(z.name for z in self._zones)
        self._vmstat = vmstat
        self._tasks = tasks
        self._reclaim = reclaim
        self._compaction = compaction
        self._clock = clock
        self._events = events
        self.period_ns = period_ns
        self.cap = cap
        self.enabled = True
        self._samples: list[Sample] = []
        self._event_list: list[Event] = []
        self.comms: dict[int, str] = {}       # pid -> comm of every task a sample has shown
        self.decimations = 0                  # how often the period was doubled
        self._counters = self._read_counters()
        self._next_ns = 0
        log.add_listener(self._on_log)
        self.sample()
        self._schedule()

    # -- sampling ---------------------------------------------------------------------------
    def _schedule(self) -> None:
        # vmstat_update is queued delayed work: one pending instance at a time
        self._events.schedule(self.period_ns, NORMAL, "timeline_sample", self._tick, once=True)

    def poll(self) -> None:
        """Sample if a period has passed since the last sample (the slow-path hooks and
        msleep call this; it costs one comparison when nothing is due)."""
        if self.enabled and self._clock.ns >= self._next_ns:
            self.sample()

    def _tick(self) -> None:
        if not self.enabled:
            return  # disabled: the work item is not requeued (set_enabled(True) requeues it)
        self.sample()
        self._schedule()

    def set_enabled(self, on: bool) -> None:
        """Start or stop sampling (stopping keeps what was recorded)."""
        if on and not self.enabled:
            self.enabled = True
            if not self._events.pending("timeline_sample"):
                self._schedule()
        elif not on:
            self.enabled = False

    def _read_counters(self) -> tuple[int, int, int, int, int, int]:
        vm = self._vmstat
        return (self._reclaim.kswapd_runs, vm.pgsteal_kswapd, vm.allocstall, vm.pgsteal_direct,
                self._compaction.compact_stall, vm.compact_success)

    def sample(self) -> Sample:
        """Record the state now (and the reclaim/compaction events since the last sample)."""
        now = self._clock.ns
        vm = self._vmstat
        zones = tuple(ZoneSample(z.nr_free_pages, z.min, z.low, z.high) for z in self._zones)
        live = [(t.rss >> PAGE_SHIFT, t.pid, t) for t in self._tasks if t.pid != 1]
        top = heapq.nlargest(TOP_TASKS, live, key=lambda e: (e[0], -e[1]))
        comms = self.comms
        for _pages, pid, t in top:
            if pid not in comms:
                comms[pid] = t.comm
        rss = tuple(sorted((pid, pages) for pages, pid, _t in top))
        s = Sample(now, zones, vm.nr_file_pages, vm.nr_anon_pages, vm.nr_slab_reclaimable_b >> PAGE_SHIFT,
                   vm.nr_slab_unreclaimable_b >> PAGE_SHIFT, vm.nr_vmalloc_pages, rss)
        self._counter_events(now)
        samples = self._samples
        if samples and samples[-1].t_ns == now:
            samples[-1] = s        # two looks at one instant: the later one stands
        else:
            samples.append(s)
            if len(samples) > self.cap:
                self._decimate()
        self._next_ns = now + self.period_ns
        return s

    def _decimate(self) -> None:
        """Keep every other sample (the newest always) and double the period."""
        s = self._samples
        last = s[-1]
        kept = s[:-1:2]
        kept.append(last)
        self._samples = kept
        self.period_ns *= 2
        self.decimations += 1

    def _counter_events(self, now: int) -> None:
        new = self._read_counters()
        old = self._counters
        if new == old:
            return
        self._counters = new
        runs = new[_C_PAGEOUTRUN] - old[_C_PAGEOUTRUN]
        if runs:
            got = new[_C_STEAL_KSWAPD] - old[_C_STEAL_KSWAPD]
            self._add_event(Event(now, "kswapd", f"kswapd0 reclaimed {got} pages", got, runs))
        stalls = new[_C_ALLOCSTALL] - old[_C_ALLOCSTALL]
        if stalls:
            got = new[_C_STEAL_DIRECT] - old[_C_STEAL_DIRECT]
            self._add_event(Event(now, "direct_reclaim", f"direct reclaim: {got} pages", got, stalls))
        compact = new[_C_COMPACT_STALL] - old[_C_COMPACT_STALL]
        if compact:
            ok = new[_C_COMPACT_OK] - old[_C_COMPACT_OK]
            self._add_event(Event(now, "compaction", f"compaction: {ok} of {compact} succeeded", 0, compact))

    def _on_log(self, rec: LogRecord) -> None:
        """OOM kills and allocation failures, at the time the kernel prints them."""
        if rec.kind == "oom" and "Killed process" in rec.text:
            first = rec.text.split("\n", 1)[0]
            victim = first.split("Killed process ", 1)[1].split(")", 1)[0] + ")"
            pages = 0
            if "anon-rss:" in first:
                kb = first.split("anon-rss:", 1)[1].split("kB", 1)[0]
                pages = int(kb) // 4 if kb.isdigit() else 0
            self._add_event(Event(rec.ns, "oom_kill", f"OOM kill {victim}", pages))
            if self.enabled:
                self.sample()   # the state at the kill, before the reaper frees the victim's memory
        elif rec.kind == "alloc_fail":
            first = rec.text.split("\n", 1)[0]
            what = first.split(": ", 1)[1] if ": " in first else first
            self._add_event(Event(rec.ns, "alloc_fail", what.split(", mode:", 1)[0]))

    def _add_event(self, e: Event) -> None:
        ev = self._event_list
        ev.append(e)
        if len(ev) > self.cap:
            # merge neighbours of one kind pairwise; if nothing merges, drop the oldest
            merged: list[Event] = []
            pair_open = False
            for x in ev:
                if pair_open and merged[-1].kind == x.kind:
                    merged[-1] = _merge(merged[-1], x)
                    pair_open = False
                else:
                    merged.append(x)
                    pair_open = True
            self._event_list = merged[len(merged) - self.cap:] if len(merged) > self.cap else merged

    # -- reading ------------------------------------------------------------------------------
    def samples(self) -> list[Sample]:
        return list(self._samples)

    def events(self) -> list[Event]:
        return list(self._event_list)

    def comm(self, pid: int) -> str:
        return self.comms.get(pid, str(pid))

    def render_text(self, width: int = 64) -> str:
        """``show timeline``: the terminal chart (render_text below)."""
        return render_text(self, width)


# -- the terminal view (show timeline) ---------------------------------------------------------
SPARK = " ▁▂▃▄▅▆▇█"
_EVENT_CHAR = {"kswapd": "k", "direct_reclaim": "d", "compaction": "c", "alloc_fail": "x", "oom_kill": "O"}
_EVENT_RANK = {"kswapd": 0, "compaction": 1, "direct_reclaim": 2, "alloc_fail": 3, "oom_kill": 4}


def _at(samples: list[Sample], times: list[int], t: float, get: Callable[[Sample], int]) -> float:
    """A series' value at time t, linear between the samples around it."""
    i = bisect.bisect_right(times, t)
    if i == 0:
        return float(get(samples[0]))
    if i == len(samples):
        return float(get(samples[-1]))
    a, b = samples[i - 1], samples[i]
    if b.t_ns == a.t_ns:
        return float(get(b))
    f = (t - a.t_ns) / (b.t_ns - a.t_ns)
    return get(a) + f * (get(b) - get(a))


def _columns(samples: list[Sample], times: list[int], width: int, get: Callable[[Sample], int],
             low: bool) -> list[float]:
    """One value per column: the series at the column's middle and at every sample inside
    it, the lowest (free pages: the dips show) or the highest (usage: the peaks show)."""
    t0, t1 = times[0], times[-1]
    span = max(1, t1 - t0)
    out = []
    for c in range(width):
        a = t0 + span * c / width
        b = t0 + span * (c + 1) / width
        vals = [_at(samples, times, (a + b) / 2, get)]
        lo = bisect.bisect_left(times, a)
        hi = bisect.bisect_right(times, b) if c == width - 1 else bisect.bisect_left(times, b)
        vals += [float(get(samples[i])) for i in range(lo, hi)]
        out.append(min(vals) if low else max(vals))
    return out


def sparkline(values: list[float], top: float) -> str:
    """Eight-level bars, 0 .. top."""
    if top <= 0:
        return SPARK[0] * len(values)
    n = len(SPARK) - 1
    return "".join(SPARK[min(n, max(0, round(v / top * n)))] if v > 0 else SPARK[0] for v in values)


def _secs(ns: int) -> str:
    sec, rem = divmod(ns, 1_000_000_000)
    return f"{sec}.{rem // 1000:06d}"


def render_text(tl: Timeline, width: int = 64) -> str:
    """``show timeline``: sparklines per series against simulated time, the free pages of
    each zone with a row saying where they stood against the watermarks, an event row,
    and the events as a log."""
    samples = tl.samples()
    times = [s.t_ns for s in samples]
    t0, t1 = times[0], times[-1]
    width = max(8, width)
    col = (t1 - t0) / width
    lines = [f"Timeline: {len(samples)} samples over {_secs(t0)} .. {_secs(t1)} s of simulated time "
             f"(one every {tl.period_ns / 1e6:g} ms at most; a column is {col / 1e6:.3f} ms)"]
    label_w = 18

    def row(label: str, body: str, tail: str = "") -> None:
        lines.append(f"{label:<{label_w}}|{body}| {tail}".rstrip())

    for zi, name in enumerate(tl.zone_names):
        def free(s: Sample, zi: int = zi) -> int:
            return s.zones[zi].free
        vals = _columns(samples, times, width, free, low=True)
        top = max(max(vals), max(s.zones[zi].high for s in samples), 1)
        last = samples[-1].zones[zi]
        row(f"{name} free", sparkline(vals, top), f"{last.free} pages (max {int(max(vals))})")
        marks = []
        for c in range(width):
            t = t0 + (t1 - t0) * (c + 0.5) / width
            i = max(0, bisect.bisect_right(times, t) - 1)
            z = samples[i].zones[zi]
            v = vals[c]
            marks.append(" " if v >= z.high else "-" if v >= z.low else "l" if v >= z.min else "M")
        row("  vs watermarks", "".join(marks), f"min {last.min} low {last.low} high {last.high}")
    series: list[tuple[str, Callable[[Sample], int]]] = [
        ("page cache", lambda s: s.file), ("anon", lambda s: s.anon),
        ("slab reclaimable", lambda s: s.slab_reclaimable), ("slab unreclaim.", lambda s: s.slab_unreclaimable),
        ("vmalloc", lambda s: s.vmalloc)]
    for label, get in series:
        vals = _columns(samples, times, width, get, low=False)
        row(label, sparkline(vals, max(vals)), f"{get(samples[-1])} pages (max {int(max(vals))})")
    peaks: dict[int, int] = {}
    for s in samples:
        for pid, pages in s.rss:
            peaks[pid] = max(peaks.get(pid, 0), pages)
    for pid in sorted(peaks, key=lambda p: (-peaks[p], p))[:TOP_TASKS]:
        def rss(s: Sample, pid: int = pid) -> int:
            return dict(s.rss).get(pid, 0)
        vals = _columns(samples, times, width, rss, low=False)
        row(f"rss {tl.comm(pid)[:9]} {pid}", sparkline(vals, max(vals)), f"{rss(samples[-1])} pages (max {peaks[pid]})")
    events = tl.events()
    marks = [" "] * width
    for e in events:
        c = min(width - 1, int((e.t_ns - t0) / col)) if col else width - 1
        old = marks[c]
        if old == " " or _EVENT_RANK[e.kind] > _EVENT_RANK[next(k for k, v in _EVENT_CHAR.items() if v == old)]:
            marks[c] = _EVENT_CHAR[e.kind]
    row("events", "".join(marks), "k kswapd  d direct reclaim  c compaction  x alloc failure  O OOM kill")
    lines.append(f"{'':<{label_w}} {_secs(t0):<{width // 2}}{_secs(t1):>{width - width // 2}}")
    if events:
        shown = events[-12:]
        if len(events) > len(shown):
            lines.append(f"... {len(events) - len(shown)} earlier events")
        lines += [f"[{_secs(e.t_ns):>12}] {e.label()}" for e in shown]
    return "\n".join(lines)


class SampledHooks:
    """The page allocator's slow-path hooks (internal.SlowPathHooks) with the timeline
    polled on the way through: below the low watermark every allocation passes here, so
    a long fault or read is sampled while it runs, at no cost to the fast path."""

    def __init__(self, inner: SlowPathHooks, timeline: Timeline) -> None:
        self._inner = inner
        self._poll = timeline.poll

    def wakeup_kswapd(self, order: int, highest_zoneidx: int) -> None:
        self._poll()
        self._inner.wakeup_kswapd(order, highest_zoneidx)

    def try_to_free_pages(self, gfp: int, order: int) -> int:
        got = self._inner.try_to_free_pages(gfp, order)
        self._poll()
        return got

    def try_to_compact_pages(self, gfp: int, order: int) -> bool:
        ok = self._inner.try_to_compact_pages(gfp, order)
        self._poll()
        return ok

    def out_of_memory(self, gfp: int, order: int) -> bool:
        killed = self._inner.out_of_memory(gfp, order)
        self._poll()
        return killed

    def zone_reclaimable_pages(self, zone_idx: int) -> int:
        return self._inner.zone_reclaimable_pages(zone_idx)


def _merge(a: Event, b: Event) -> Event:
    """One entry for two neighbouring events of one kind (the bounded event list)."""
    pages, nr = a.pages + b.pages, a.nr + b.nr
    text = {"kswapd": f"kswapd0 reclaimed {pages} pages", "direct_reclaim": f"direct reclaim: {pages} pages",
            "compaction": "compaction"}.get(a.kind, a.text)
    return Event(a.t_ns, a.kind, text, pages, nr)


__all__ = ["Timeline", "Sample", "ZoneSample", "Event", "EVENT_KINDS", "DEFAULT_PERIOD_NS", "DEFAULT_CAP", "TOP_TASKS", "SampledHooks", "render_text", "sparkline"]
