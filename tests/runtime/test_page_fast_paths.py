"""The inlined alloc_pages/free_pages fast paths (orders 0-3 from and to the pcp lists)
against the generic paths they shortcut.

The fast paths step aside whenever tracing is on (trace.py), so a machine that records its
trace events runs every allocation and free through the generic path
(get_page_from_freelist -> rmqueue -> rmqueue_pcplist; free_frozen_pages ->
free_frozen_page_commit).  Random sequences of allocations and frees of orders 0-3 with
various GFP flags, CPU switches, pcp drains, second references (get_page), bursts that push the zones below their
watermarks, double and wrong-order frees, fail-nth fault injection, atomic context and
explained allocations run on two machines, one without tracing (fast paths taken) and one
recording its trace (generic paths only); every observable result must be the same: the
returned pfns, the page contents __GFP_ZERO clears, free lists, pcp lists and their
counters, the state bytes (owner and order of every page), vmstat, zoneinfo/buddyinfo/
pagetypeinfo, the kernel log, the fault-injection statistics and the explain records.
The recorded trace must name exactly the pages the untraced machine handed out and took
back, in the same order."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from kmscript.runtime import procfs
from kmscript.runtime.errors import KernelFault
from kmscript.runtime.explain import recording_to_json
from kmscript.runtime.gfp import (GFP_ATOMIC, GFP_HIGHUSER_MOVABLE, GFP_KERNEL, GFP_NOWAIT, MIGRATE_TYPES,
                                  __GFP_COMP, __GFP_DIRECT_RECLAIM, __GFP_DMA, __GFP_DMA32, __GFP_MOVABLE,
                                  __GFP_NORETRY, __GFP_NOWARN,
                                  __GFP_ZERO)
from kmscript.runtime.machine import Machine, MachineConfig
from kmscript.runtime.mm_types import NR_PAGE_ORDERS, PAGE_SHIFT

GFPS = [GFP_KERNEL, GFP_KERNEL | __GFP_ZERO, GFP_ATOMIC, GFP_NOWAIT | __GFP_NOWARN, GFP_HIGHUSER_MOVABLE,
        GFP_KERNEL | __GFP_DMA32, GFP_KERNEL | __GFP_DMA | __GFP_NOWARN, GFP_KERNEL | __GFP_COMP,
        GFP_HIGHUSER_MOVABLE | __GFP_ZERO | __GFP_NOWARN,
        __GFP_NOWARN, __GFP_MOVABLE | __GFP_NOWARN]   # no __GFP_KSWAPD_RECLAIM: a boost stays set
# bursts cannot reclaim (no OOM kill on a machine without tasks)
BURST_GFPS = [GFP_NOWAIT | __GFP_NOWARN, __GFP_NOWARN, __GFP_MOVABLE | __GFP_NOWARN]
# (machine, pages per unit of a burst or release): small zones whose watermarks random
# sequences reach; the pcp batch is 1 on the first two and 7 on DMA32 of the third
CONFIGS = [(dict(mem=64 << 20, cpus=2), 40),   # DMA and DMA32 share the first memory section
           (dict(cpus=2, dma_pages=3840, dma32_pages=6000, normal_pages=9000), 40),
           (dict(cpus=2, dma_pages=3840, dma32_pages=30000, normal_pages=0), 200)]

Op = tuple[str, int, int, int]


def state(m: Machine) -> tuple[Any, ...]:
    pa = m.page_alloc
    zones = []
    for z in pa.populated:
        pcps = [([list(lst) for lst in p.lists], p.count, p.high, p.high_min, p.high_max, p.batch, p.free_count,
                 p.alloc_factor, p.flags) for p in z.pcp]
        zones.append((z.name, z.free_pages, z.nr_free, list(z.nr_list), z.nr_free_highatomic,
                      z.nr_reserved_highatomic, z.below_high, z.boosted_watermark, z.watermark_boost,
                      z.reclaim_active, z.numa_hit, z.pgalloc, pcps,
                      [z.free_list(o, t) for o in range(NR_PAGE_ORDERS) for t in range(MIGRATE_TYPES)]))
    f = m.faults.fail_page_alloc
    return (zones, [None if s is None else bytes(s) for s in pa.memmap.sections], bytes(pa.memmap.pageblock_mt),
            sorted(pa.compound), m.vmstat.as_dict(), procfs.zoneinfo(pa), procfs.buddyinfo(pa),
            procfs.pagetypeinfo(pa), m.log.dmesg(), (m.faults.calls, m.faults.injected, f.calls, f.injected,
                                                    dict(f.skipped)))


def zone_counters(m: Machine) -> tuple[Any, ...]:
    """What the fast paths read and write, after every step."""
    return tuple((z.free_pages, z.below_high, z.boosted_watermark, z.watermark_boost, z.numa_hit, z.pgalloc,
                  tuple((p.count, p.high, p.free_count, p.alloc_factor, p.flags) for p in z.pcp))
                 for z in m.page_alloc.populated)


def run(config: tuple[dict[str, int], int], ops: list[Op], traced: bool, noretry: bool = False) -> tuple[Any, ...]:
    """The ops on a fresh machine; *noretry* adds __GFP_NORETRY to the requests that may
    reclaim (the slow path then fails instead of reaching the OOM killer, which on a
    machine without tasks panics and ends the run)."""
    cfg, unit = config
    m = Machine(MachineConfig(**cfg))
    pa, ctx, phys = m.page_alloc, m.ctx, m.phys
    if traced:
        m.tracer.record(True)
    live: list[tuple[int, int]] = []
    freed: list[tuple[int, int]] = []
    results: list[Any] = []       # what each call returned or raised, and what it saw
    allocated: list[int] = []     # pfns handed out, in order (0 for a failure)
    released: list[int] = []      # blocks given back that the allocator accepted

    def traced_as(pfn: int | None, injected_before: int) -> None:
        # a failure fault injection made in prepare_alloc_pages returns before the
        # mm_page_alloc tracepoint (mm/page_alloc.c: __alloc_frozen_pages_noprof)
        if pfn is not None or m.faults.injected == injected_before:
            allocated.append(0 if pfn is None else pfn)

    def alloc(gfp: int, order: int) -> int | None:
        if noretry and gfp & __GFP_DIRECT_RECLAIM:
            gfp |= __GFP_NORETRY
        injected = m.faults.injected
        pfn = pa.alloc_pages(gfp, order)
        traced_as(pfn, injected)
        if pfn is not None:
            live.append((pfn, order))
            # what __GFP_ZERO cleared (or not): the first bytes of the block's last page
            results.append(phys.read((pfn + (1 << order) - 1) << PAGE_SHIFT, 8))
            phys.write(pfn << PAGE_SHIFT, bytes([pfn & 0xFF]) * 8)
        return pfn

    try:
        for kind, a, b, cpu in ops:
            ctx.cpu = cpu
            if kind == "alloc":
                results.append(alloc(GFPS[b], a))
            elif kind == "free" and live:
                pfn, order = live.pop(b % len(live))
                pa.free_pages(pfn, order)
                freed.append((pfn, order))
                released.append(pfn)
            elif kind == "bad" and freed:
                pfn, order = freed[b % len(freed)]
                if all(p != pfn for p, _ in live):
                    # a double free, or a free with the wrong order (bad_page either way)
                    pa.free_pages(pfn, order if a % 2 else (order + 1) % 4)
            elif kind == "burst":
                for _ in range(a * unit):
                    if alloc(BURST_GFPS[b % len(BURST_GFPS)], 0) is None:
                        break
            elif kind == "release":
                for _ in range(min(a * unit, len(live))):
                    pfn, order = live.pop()
                    pa.free_pages(pfn, order)
                    released.append(pfn)
            elif kind == "get" and live:
                # a second reference: the free drops it and the block stays allocated
                k = b % len(live)
                pfn, order = live[k]
                pa.get_page(pfn)
                pa.free_pages(pfn, order)
                if order and pfn not in pa.compound:
                    # ___free_pages: a non-compound block whose head is still referenced
                    # loses its tail halves now, the head stays as an order-0 page
                    released.extend(pfn + (1 << o) for o in reversed(range(order)))
                    live[k] = (pfn, 0)
            elif kind == "drain":
                pa.drain_all_pages()
            elif kind == "failnth":
                m.faults.set_task_fail_nth(a % 4)
            elif kind == "atomic":
                ctx.preempt_disable()
                results.append(alloc(GFPS[b], a % 4))
                ctx.preempt_enable()
            elif kind == "explain":
                injected = m.faults.injected
                pfn, rec = m.tracer.explain.record(lambda: pa.alloc_pages(GFPS[b], a % 4))
                traced_as(pfn, injected)
                if pfn is not None:
                    live.append((pfn, a % 4))
                results.append((pfn, recording_to_json(rec)))
            results.append(zone_counters(m))
    except KernelFault as e:   # e.g. a __GFP_NOFAIL-like end: the same on both machines
        results.append(repr(e))
    events = m.tracer.events
    if traced:
        # the trace names exactly the pages handed out and taken back, in order
        assert [int(re.search(r"pfn=(0x[0-9a-f]+)", f)[1], 16)   # type: ignore[index]
                for e, f in events if e == "mm_page_alloc"] == allocated
        assert [int(re.search(r"pfn=(0x[0-9a-f]+)", f)[1], 16)   # type: ignore[index]
                for e, f in events if e == "mm_page_free"] == released
    else:
        assert events == []
    return results, live, state(m)


op = st.one_of(
    st.tuples(st.just("alloc"), st.integers(0, 3), st.integers(0, len(GFPS) - 1), st.integers(0, 1)),
    st.tuples(st.just("alloc"), st.just(0), st.integers(0, len(GFPS) - 1), st.integers(0, 1)),
    st.tuples(st.just("free"), st.just(0), st.integers(0, 10_000), st.integers(0, 1)),
    st.tuples(st.sampled_from(["bad", "get", "burst", "release", "drain", "failnth", "atomic", "explain"]),
              st.integers(0, 60), st.integers(0, 10_000), st.integers(0, 1)),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(range(len(CONFIGS))), st.lists(op, min_size=1, max_size=120))
def test_pcp_fast_paths_match_the_generic_paths(ci: int, ops: list[Op]) -> None:
    ops = [(k, a, b % len(GFPS) if k in ("alloc", "atomic", "explain") else b, c) for k, a, b, c in ops]
    assert run(CONFIGS[ci], ops, traced=False) == run(CONFIGS[ci], ops, traced=True)


def walk_ops(seed: int, n: int) -> list[Op]:
    """Small bursts between single allocations and frees: the zones step down through
    their high, low and min marks (where ZONE_BELOW_HIGH is set and the fast paths must
    step aside at the right call) and, with the releases, back up."""
    import random
    rnd = random.Random(seed)
    ops: list[Op] = []
    for _ in range(n):
        r = rnd.random()
        if r < 0.25:
            cpu = rnd.randrange(2)
            ops.append(("burst", rnd.randrange(1, 6), rnd.randrange(len(BURST_GFPS)), cpu))
            # pcp hits right after the refill that took the zone under a mark
            ops += [("alloc", 0, rnd.randrange(len(GFPS)), cpu) for _ in range(3)]
        elif r < 0.37:
            ops.append(("release", rnd.randrange(1, 8), 0, rnd.randrange(2)))
        elif r < 0.65:
            ops.append(("alloc", rnd.choice([0, 0, 0, 1, 2, 3]), rnd.randrange(len(GFPS)), rnd.randrange(2)))
        elif r < 0.95:
            ops.append(("free", 0, rnd.randrange(10_000), rnd.randrange(2)))
        else:
            ops.append((rnd.choice(["bad", "get", "drain", "failnth", "atomic", "explain"]), rnd.randrange(60),
                        rnd.randrange(len(GFPS)), rnd.randrange(2)))
    return ops


@pytest.mark.parametrize("ci", range(len(CONFIGS)))
@pytest.mark.parametrize("seed", range(3))
def test_watermark_walks_match(ci: int, seed: int) -> None:
    ops = walk_ops(seed, 500)
    fast = run(CONFIGS[ci], ops, traced=False, noretry=True)
    assert not any(isinstance(r, str) for r in fast[0])   # the whole walk ran
    assert fast == run(CONFIGS[ci], ops, traced=True, noretry=True)


def test_a_long_mixed_run_matches_and_takes_the_fast_paths() -> None:
    """A fixed sequence through watermark trouble and back: the same outcome on both
    machines, and the untraced machine really served most order 0-3 requests from its
    fast paths (counted as the calls that reach the generic entry points)."""
    import random
    import sys
    rnd = random.Random(20)
    ops: list[Op] = []
    for _ in range(3000):
        r = rnd.random()
        if r < 0.45:
            ops.append(("alloc", rnd.choice([0, 0, 0, 1, 2, 3]), rnd.randrange(len(GFPS)), rnd.randrange(2)))
        elif r < 0.9:
            ops.append(("free", 0, rnd.randrange(10_000), rnd.randrange(2)))
        else:
            # bursts down to the watermarks, and releases that bring the zones back
            ops.append((rnd.choice(["bad", "get", "burst", "release", "release", "release", "drain", "failnth", "atomic",
                                    "explain"]), rnd.randrange(20), rnd.randrange(len(GFPS)), rnd.randrange(2)))
    generic_calls = {"alloc_pages": 0, "free_pages": 0, "get_page_from_freelist": 0, "free_frozen_page_commit": 0}
    commit = "_" + "free_frozen_page_commit"

    def count(frame: Any, event: str, arg: Any) -> None:
        name = frame.f_code.co_name
        if event == "call" and name in ("alloc_pages", "free_pages", "get_page_from_freelist", commit):
            generic_calls[name.lstrip("_")] += 1

    for cfg in CONFIGS:
        generic = run(cfg, ops, traced=True)
        for k in generic_calls:
            generic_calls[k] = 0
        sys.setprofile(count)
        try:
            fast = run(cfg, ops, traced=False)
        finally:
            sys.setprofile(None)
        assert fast == generic
        assert not any(isinstance(r, str) for r in fast[0])   # the whole sequence ran
        n_alloc = sum(1 for r in fast[0] if r is None or isinstance(r, int))
        assert n_alloc > 1000
        # without the fast paths every call would reach the generic entry points
        assert generic_calls["get_page_from_freelist"] < generic_calls["alloc_pages"] // 2, generic_calls
        assert generic_calls["free_frozen_page_commit"] < generic_calls["free_pages"] // 2, generic_calls


@pytest.mark.parametrize("arch", ["x86_64", "i386"])
def test_allocated_page_is_the_page_that_pfn_to_page_gives(arch: str) -> None:
    # allocated_page() skips page()'s pfn_valid checks for pfns alloc_pages returned: every
    # attribute a script can read must be the same through both, in every zone.
    from kmscript.runtime import gfp as g
    m = Machine(MachineConfig(mem=(8 if arch == "x86_64" else 2) << 30, cpus=2, arch=arch))
    pa = m.page_alloc
    masks = [GFP_KERNEL, GFP_ATOMIC, GFP_HIGHUSER_MOVABLE, g.GFP_DMA, g.GFP_HIGHUSER, GFP_KERNEL | g.__GFP_DMA32]
    seen_zones = set()
    for gfp in masks:
        for order in (0, 1, 3, 5):
            pfn = pa.alloc_pages(gfp, order)
            if pfn is None:
                continue
            fast, slow = pa.allocated_page(pfn), pa.page(pfn)
            assert fast == slow
            for name in sorted(type(slow).KMS_ATTRS):
                assert getattr(fast, name) == getattr(slow, name), name
            seen_zones.add(str(slow.zone))
    assert {"DMA", "Normal"} <= seen_zones and ("HighMem" in seen_zones) == (arch == "i386")
