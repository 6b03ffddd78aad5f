"""Property tests: random alloc/free sequences keep the buddy allocator's invariants.

After every operation: pages are conserved (free + pcp + allocated == managed), free blocks
are aligned, inside their zone and non-overlapping, no two free buddies are left unmerged,
list counters equal list contents, NR_FREE_PAGES equals the pages on the buddy lists, and
each pcp count equals its lists.  At the end, freeing everything and draining the pcp lists
gives back exactly the boot state's free page count.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from kmscript.runtime.gfp import GFP_ATOMIC, GFP_DMA32, GFP_HIGHUSER_MOVABLE, GFP_KERNEL, GFP_NOWAIT, __GFP_NOWARN
from kmscript.runtime.machine import Machine, MachineConfig

GFPS = [GFP_KERNEL, GFP_ATOMIC, GFP_NOWAIT, GFP_HIGHUSER_MOVABLE, GFP_KERNEL | GFP_DMA32,
        GFP_KERNEL | 0x10]   # 0x10: __GFP_RECLAIMABLE

op = st.one_of(
    st.tuples(st.just("alloc"), st.integers(0, 10), st.sampled_from(GFPS), st.integers(0, 1)),
    st.tuples(st.just("free"), st.integers(0, 10_000), st.just(0), st.integers(0, 1)),
    st.tuples(st.just("drain"), st.just(0), st.just(0), st.just(0)),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(op, min_size=1, max_size=120))
def test_random_alloc_free_keeps_invariants(ops: list[tuple[str, int, int, int]]) -> None:
    m = Machine(MachineConfig(cpus=2, dma_pages=3840, dma32_pages=6000, normal_pages=9000))
    pa = m.page_alloc
    managed = sum(z.managed for z in pa.zones)
    base_used = managed - pa.nr_free_pages() - pa.nr_pcp_pages()
    live: list[tuple[int, int]] = []
    for i, (kind, a, gfp, cpu) in enumerate(ops):
        m.ctx.cpu = cpu
        if kind == "alloc":
            pfn = pa.alloc_pages(gfp | __GFP_NOWARN, a)
            if pfn is not None:
                assert pfn % (1 << a) == 0
                assert all(pfn + (1 << a) <= q or q + (1 << o) <= pfn for q, o in live)
                live.append((pfn, a))
        elif kind == "free" and live:
            pfn, order = live.pop(a % len(live))
            pa.free_pages(pfn, order)
        else:
            pa.drain_all_pages()
        counts = pa.page_counts()
        assert sum(counts.values()) == managed
        assert counts["free"] == pa.nr_free_pages()
        assert counts["pcp"] == pa.nr_pcp_pages()
        if i % 10 == 0:
            pa.check_invariants()
    pa.check_invariants()
    for pfn, order in live:
        pa.free_pages(pfn, order)
    pa.drain_all_pages()
    pa.check_invariants()
    assert pa.nr_free_pages() == managed - base_used
    assert not any(r.kind == "bug" for r in m.log.records)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(op, min_size=1, max_size=60), st.integers(0, 3), st.integers(1, 300))
def test_bulk_rmqueue_matches_rmqueue_smallest_one_by_one(ops: list[tuple[str, int, int, int]],
                                                          order: int, count: int) -> None:
    """rmqueue_smallest_run (the pcp refill fast path) against rmqueue_smallest called
    block by block, from the same fragmented free lists: same blocks, lists and bytes."""
    import copy

    m = Machine(MachineConfig(cpus=2, dma_pages=3840, dma32_pages=6000, normal_pages=9000))
    pa = m.page_alloc
    live: list[tuple[int, int]] = []
    for kind, a, gfp, cpu in ops:
        m.ctx.cpu = cpu
        if kind == "alloc":
            pfn = pa.alloc_pages(gfp | __GFP_NOWARN, a)
            if pfn is not None:
                live.append((pfn, a))
        elif kind == "free" and live:
            pfn, o = live.pop(a % len(live))
            pa.free_pages(pfn, o)
        else:
            pa.drain_all_pages()
    for zone in pa.populated:
        for mt in range(3):
            bulk, single = copy.deepcopy(zone), copy.deepcopy(zone)
            taken_bulk: list[int] = []
            while len(taken_bulk) < count:
                run = bulk.rmqueue_smallest_run(order, mt, count - len(taken_bulk))
                if run is None:
                    break
                taken_bulk += range(run[0], run[0] + (run[1] << order), 1 << order)
            taken_single: list[int] = []
            while len(taken_single) < count:
                r = single.rmqueue_smallest(order, mt)
                if r is None:
                    break
                taken_single.append(r[0])
            assert taken_bulk == taken_single
            assert bulk.nr_list == single.nr_list and bulk.free_area_nr == single.free_area_nr
            assert (bulk.free_pages, bulk.nr_free_highatomic) == (single.free_pages, single.nr_free_highatomic)
            for o in range(11):
                for t in range(5):
                    assert bulk.free_list(o, t) == single.free_list(o, t)
            # the taken blocks' bytes are the caller's to write (rmqueue_bulk: pcp state)
            for z in (bulk, single):
                for pfn in taken_bulk:
                    z.memmap.set_block(pfn, order, 0x10 | order, 0x1F)
            assert bulk.memmap.sections == single.memmap.sections


def _free_run(pa: Any, zone: Any, pfns: list[int], batched: bool) -> None:
    """free_pcppages_bulk's order-0 run: BuddyZone.free_pcp_run, or the generic path it
    shortcuts (_buddy_free's state byte, then free_one_page, page by page)."""
    from kmscript.runtime.buddy import BUDDY_TAIL, SECTION_MASK, SECTION_SHIFT
    if batched:
        zone.free_pcp_run(pfns)
        return
    for pfn in pfns:
        sec = pa.memmap.sections[pfn >> SECTION_SHIFT]
        assert sec is not None
        sec[pfn & SECTION_MASK] = BUDDY_TAIL
        zone.free_one_page(pfn, 0, pa.memmap.pageblock_mt[pfn >> pa.memmap.pageblock_order])


def _zone_state(pa: Any, zone: Any) -> tuple[object, ...]:
    """The free lists in order, the counters, every state byte and pageblock type."""
    from kmscript.runtime.gfp import MIGRATE_TYPES
    from kmscript.runtime.mm_types import MAX_PAGE_ORDER
    return ([zone.free_list(o, mt) for o in range(MAX_PAGE_ORDER + 1) for mt in range(MIGRATE_TYPES)],
            zone.free_pages, zone.nr_free_highatomic, list(zone.nr_free), list(zone.nr_list),
            [bytes(s or b"") for s in pa.memmap.sections], bytes(pa.memmap.pageblock_mt))


def _mark_pageblocks(zone: Any, pfns: list[int], pb_order: int, marks: list[tuple[int, int]]) -> None:
    """Re-mark some of the pageblocks the pages lie in (so blocks of different types meet)."""
    blocks = sorted({p >> pb_order for p in pfns})
    for block, mt in marks:
        zone.set_pageblock_migratetype(blocks[block % len(blocks)] << pb_order, mt)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from([GFP_KERNEL, GFP_HIGHUSER_MOVABLE, GFP_KERNEL | 0x10, GFP_ATOMIC]), min_size=1,
                max_size=8), st.integers(1, 3000), st.lists(st.tuples(st.integers(0, 15), st.integers(0, 2)), max_size=8),
       st.randoms(use_true_random=False), st.sampled_from(["shuffled", "ascending", "descending"]),
       st.floats(0.05, 1.0))
@example([GFP_HIGHUSER_MOVABLE], 3000, [(0, 0), (1, 2), (3, 0), (4, 1)], __import__("random").Random(1), "shuffled", 1.0)
@example([GFP_HIGHUSER_MOVABLE, GFP_KERNEL], 3000, [(0, 0), (1, 2)], __import__("random").Random(2), "ascending", 0.7)
@example([GFP_HIGHUSER_MOVABLE], 3000, [(1, 1)], __import__("random").Random(3), "ascending", 1.0)
@example([GFP_HIGHUSER_MOVABLE, GFP_HIGHUSER_MOVABLE, GFP_KERNEL], 3000, [], __import__("random").Random(4),
         "ascending", 1.0)
def test_free_pcp_run_is_free_one_page_one_by_one(gfps: list[int], n: int, marks: list[tuple[int, int]],
                                                   rnd: object, order: str, share: float) -> None:
    """BuddyZone.free_pcp_run (free_pcppages_bulk's order-0 run) leaves the zone as
    _buddy_free + free_one_page on each page in turn: the free lists in order, the
    state bytes, the pageblock migratetypes and the counters.  Pages of several
    migratetypes (some pageblocks re-marked before the frees, so whole pageblocks of
    different types merge), a random share of them freed in a random, ascending or
    descending order (ascending runs of whole aligned blocks are freed a block at a time;
    the rest stay allocated, so runs merge with blocks that were free
    before them and stop at pages that are not)."""
    import random
    assert isinstance(rnd, random.Random)
    seed = rnd.random()

    def run(batched: bool) -> tuple[object, ...]:
        m = Machine(MachineConfig(cpus=1, dma_pages=0, dma32_pages=8192))
        pa = m.page_alloc
        got = [pa.alloc_pages(gfps[i % len(gfps)], 0) for i in range(n)]
        pfns = [p for p in got if p is not None]
        pa.drain_all_pages()
        zone = pa.populated[0]
        pb_order = pa.memmap.pageblock_order
        _mark_pageblocks(zone, pfns, pb_order, marks)
        r = random.Random(seed)
        r.shuffle(pfns)
        pfns = pfns[:max(1, int(len(pfns) * share))]
        if order != "shuffled":
            pfns.sort(reverse=order == "descending")
        _free_run(pa, zone, pfns, batched)
        return _zone_state(pa, zone)

    assert run(True) == run(False)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 2 ** 31), st.lists(st.tuples(st.integers(0, 31), st.integers(0, 2)), max_size=10),
       st.lists(st.tuples(st.sampled_from(["swap", "drop", "move"]), st.integers(0, 10 ** 6), st.integers(0, 64)),
                max_size=12),
       st.integers(0, 1))
@example(0, [(1, 1), (2, 0)], [], 0)
@example(0, [], [("swap", 1000, 2), ("drop", 513, 0)], 1)
def test_free_pcp_run_on_nearly_ascending_runs(seed: int, marks: list[tuple[int, int]],
                                               edits: list[tuple[str, int, int]], split: int) -> None:
    """free_pcp_run takes an aligned block given in ascending order as one free: a zone
    whose every page is allocated gets its pages back in ascending order with a few
    swapped, dropped or moved (so a block's first and last pages can be in place while
    its middle is not), in one run or in two, with pageblocks of different migratetypes
    side by side (a block longer than a pageblock would merge across them).  The result
    must be free_one_page page by page."""

    def run(batched: bool) -> tuple[object, ...]:
        m = Machine(MachineConfig(cpus=1, dma_pages=0, dma32_pages=16384))
        pa = m.page_alloc
        pfns = []
        while True:
            pfn = pa.alloc_pages(GFP_ATOMIC | __GFP_NOWARN, 0)   # down to its share of the reserves
            if pfn is None:
                break
            pfns.append(pfn)
        pa.drain_all_pages()
        zone = pa.populated[0]
        pb_order = pa.memmap.pageblock_order
        _mark_pageblocks(zone, pfns, pb_order, marks)
        pfns.sort()
        for kind, a, b in edits:
            i = a % len(pfns)
            j = min(len(pfns) - 1, i + b)
            if kind == "swap":
                pfns[i], pfns[j] = pfns[j], pfns[i]
            elif kind == "drop" and len(pfns) > 1:
                del pfns[i]
            else:
                pfns.insert(j, pfns.pop(i))
        cut = len(pfns) // 3 if split else len(pfns)
        for part in (pfns[:cut], pfns[cut:]):
            _free_run(pa, zone, part, batched)
        return _zone_state(pa, zone)

    assert run(True) == run(False)
