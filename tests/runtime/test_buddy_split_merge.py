"""Buddy split (expand) and merge (__free_one_page) order, head/tail insertion, fallback."""

from __future__ import annotations

from kmscript.runtime.buddy import BUDDY_TAIL, BuddyZone, Memmap
from kmscript.runtime.gfp import (GFP_DMA, GFP_KERNEL, MIGRATE_MOVABLE, MIGRATE_UNMOVABLE, __GFP_MOVABLE,
                                  __GFP_NOWARN)
from kmscript.runtime.machine import Machine, MachineConfig

MOVABLE_DMA = GFP_DMA | __GFP_MOVABLE | 0xCC0   # gfp_zone(DMA|MOVABLE) == DMA, MIGRATE_MOVABLE
UNMOVABLE_DMA = GFP_DMA | GFP_KERNEL             # DMA, MIGRATE_UNMOVABLE


def small_zone(pages: int = 4096) -> BuddyZone:
    return BuddyZone(0, Memmap(pages, 9), 0, pages)


def free(z: BuddyZone, pfn: int, order: int, mt: int = MIGRATE_MOVABLE) -> int:
    z.memmap.set_block(pfn, order, BUDDY_TAIL, BUDDY_TAIL)
    return z.free_one_page(pfn, order, mt)


def test_expand_keeps_lowest_part_and_puts_upper_halves_at_list_heads() -> None:
    z = small_zone()
    free(z, 0, 3)
    assert z.free_list(3, MIGRATE_MOVABLE) == [0]
    pfn, taken_from = z.rmqueue_smallest(0, MIGRATE_MOVABLE)  # type: ignore[misc]
    assert (pfn, taken_from) == (0, 3)
    assert z.free_list(2, MIGRATE_MOVABLE) == [4]
    assert z.free_list(1, MIGRATE_MOVABLE) == [2]
    assert z.free_list(0, MIGRATE_MOVABLE) == [1]
    assert z.free_pages == 7


def test_merge_as_far_as_possible() -> None:
    z = small_zone()
    free(z, 0, 3)
    z.rmqueue_smallest(0, MIGRATE_MOVABLE)
    assert free(z, 0, 0) == 3
    assert z.free_list(3, MIGRATE_MOVABLE) == [0]
    assert [z.free_list(o, MIGRATE_MOVABLE) for o in range(3)] == [[], [], []]
    assert z.free_pages == 8


def test_buddy_merge_likely_inserts_at_tail() -> None:
    z = small_zone()
    free(z, 2, 1)          # parent's buddy (4, order 2) not free -> head
    free(z, 8, 0)          # -> head
    assert z.free_list(0, MIGRATE_MOVABLE) == [8]
    free(z, 0, 0)          # buddy 1 busy; the parent block's buddy (2, order 1) is free -> tail
    assert z.free_list(0, MIGRATE_MOVABLE) == [8, 0]
    free(z, 12, 0)         # parent 12's buddy (14, order 1) not free -> head
    assert z.free_list(0, MIGRATE_MOVABLE) == [12, 8, 0]
    free(z, 1, 0)          # merges 0+1 -> 0/1, with 2/1 -> 0/2; buddy 4/2 is busy
    assert z.free_list(2, MIGRATE_MOVABLE) == [0]
    assert z.free_list(0, MIGRATE_MOVABLE) == [12, 8]


def test_merge_stops_at_max_order() -> None:
    z = small_zone()
    free(z, 0, 10)
    assert free(z, 1024, 10) == 10
    assert z.free_list(10, MIGRATE_MOVABLE) == [1024, 0]


def test_dma_zone_split_order_through_the_allocator() -> None:
    """DMA's first pageblock is Unmovable (memmap_init_range never marks it: the zone starts
    at pfn 1), so its order-8 block is on the Unmovable list and serves GFP_KERNEL|GFP_DMA."""
    m = Machine(MachineConfig(mem=1 << 30, cpus=2))
    pa = m.page_alloc
    dma = pa.zone_by_name("DMA")
    assert dma.nr_free == [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 3]
    assert dma.free_list(8, MIGRATE_UNMOVABLE) == [256]
    assert dma.free_list(8, MIGRATE_MOVABLE) == []
    pfn = pa.alloc_pages(UNMOVABLE_DMA, 4)
    assert pfn == 256
    assert [dma.free_list(o, MIGRATE_UNMOVABLE) for o in (4, 5, 6, 7)] == [[272], [288], [320], [384]]
    # DMA's pcp batch is 1: an order-0 page comes straight from the smallest block
    p0 = pa.alloc_pages(UNMOVABLE_DMA, 0)
    assert p0 == 272
    assert [dma.free_list(o, MIGRATE_UNMOVABLE) for o in range(4)] == [[273], [274], [276], [280]]
    pa.free_pages(p0, 0)
    pa.drain_all_pages()
    pa.free_pages(pfn, 4)
    assert dma.nr_free == [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 3]
    # a movable request uses the Movable lists: the order-9 block at 512
    mv = pa.alloc_pages(MOVABLE_DMA, 4)
    assert mv == 512
    pa.free_pages(mv, 4)
    pa.drain_all_pages()
    pa.check_invariants()


def test_unmovable_request_claims_a_whole_max_order_block() -> None:
    m = Machine(MachineConfig(mem=1 << 30, cpus=2))
    pa = m.page_alloc
    dma = pa.zone_by_name("DMA")
    pfn = pa.alloc_pages(UNMOVABLE_DMA, 9)       # larger than the Unmovable order-8 block -> __rmqueue_claim
    assert pfn == 1024                          # largest fallback block first: the first order-10 block
    assert m.page_alloc.pfn_to_page(1024).migratetype == "Unmovable"
    assert m.page_alloc.pfn_to_page(1536).migratetype == "Unmovable"   # change_pageblock_range over both blocks
    assert dma.free_list(9, MIGRATE_UNMOVABLE) == [1536]
    pa.free_pages(pfn, 9)
    assert dma.free_list(10, MIGRATE_UNMOVABLE) == [1024]
    pa.check_invariants()


def test_order_above_max_warns_once_and_fails() -> None:
    m = Machine(MachineConfig(mem=1 << 30, cpus=2))
    assert m.page_alloc.alloc_pages(GFP_KERNEL, 11) is None
    assert m.page_alloc.alloc_pages(GFP_KERNEL, 11) is None
    warns = [r for r in m.log.records if r.kind == "warn" and "at mm/page_alloc.c:5187 __alloc_frozen_pages_noprof" in r.text]
    assert len(warns) == 1
    assert m.page_alloc.alloc_pages(GFP_KERNEL | __GFP_NOWARN, 12) is None


def test_nofragment_prefers_lower_zone_over_fragmenting_normal() -> None:
    """ALLOC_NOFRAGMENT (preferred zone Normal): a fallback may only claim whole pageblocks,
    so with Normal fragmented a reclaimable request is served from DMA32 on the first pass
    instead of stealing a single page of a movable block in Normal."""
    from kmscript.runtime.gfp import GFP_HIGHUSER_MOVABLE, __GFP_RECLAIMABLE
    m = Machine(MachineConfig(cpus=1, dma_pages=3840, dma32_pages=20000, normal_pages=4096))
    pa = m.page_alloc
    pa.reclaim = None
    normal = pa.zone_by_name("Normal")
    pages = []
    while True:
        p = pa.alloc_pages(GFP_HIGHUSER_MOVABLE | __GFP_NOWARN, 0)
        if p is None or pa.zone_of(p) is not normal:
            if p is not None:
                pa.free_pages(p, 0)
            break
        pages.append(p)
    for p in pages[::2]:                      # every other page: Normal is free but fragmented
        pa.free_pages(p, 0)
    pa.drain_all_pages()
    assert normal.free_pages > normal.high and normal.nr_free[9] == normal.nr_free[10] == 0
    q = pa.alloc_pages(GFP_KERNEL | __GFP_RECLAIMABLE, 0)
    assert pa.zone_of(q).name == "DMA32"
    pa.check_invariants()


def test_without_a_lower_zone_the_second_pass_steals() -> None:
    """Normal as the only zone, full of user (LRU, movable) pages with every fourth page free:
    the NOFRAGMENT pass fails, the retry cannot claim a block (free 128 + compatible 0 <
    half a pageblock) and so steals one free page (__rmqueue_steal) without changing the
    pageblock's type."""
    from kmscript.runtime.gfp import GFP_HIGHUSER_MOVABLE, __GFP_MEMALLOC, __GFP_RECLAIMABLE
    from kmscript.runtime.mm_types import OWNER_USER
    m = Machine(MachineConfig(cpus=1, normal_pages=8192))
    pa = m.page_alloc
    pa.reclaim = None
    normal = pa.zone_by_name("Normal")
    pages = []
    # __GFP_MEMALLOC (ALLOC_NO_WATERMARKS) empties the zone completely
    while (p := pa.alloc_pages(GFP_HIGHUSER_MOVABLE | __GFP_MEMALLOC | __GFP_NOWARN, 0, owner=OWNER_USER)) is not None:
        pages.append(p)
    pa.drain_all_pages()
    while (p := pa.alloc_pages(GFP_HIGHUSER_MOVABLE | __GFP_MEMALLOC | __GFP_NOWARN, 0, owner=OWNER_USER)) is not None:
        pages.append(p)
    assert normal.free_pages == 0
    for p in pages[::4]:
        pa.free_pages(p, 0)
    pa.drain_all_pages()
    assert normal.nr_free[9] == normal.nr_free[10] == 0
    m.tracer.record()

    class Kswapd:
        woken: list[tuple[int, int]] = []

        def wakeup_kswapd(self, order: int, highest_zoneidx: int) -> None:
            self.woken.append((order, highest_zoneidx))

    pa.reclaim = Kswapd()  # type: ignore[assignment]
    q = pa.alloc_pages(GFP_KERNEL | __GFP_RECLAIMABLE, 0)
    assert q is not None and pa.zone_of(q) is normal
    assert m.page_alloc.pfn_to_page(q).migratetype == "Movable"
    extfrag = [f for e, f in m.tracer.events if e == "mm_page_alloc_extfrag"]
    assert extfrag and "fallback_migratetype=1" in extfrag[-1] and "change_ownership=0" in extfrag[-1]
    # the failed claim boosted the watermark (boost_watermark) and rmqueue woke kswapd for it
    assert normal.boost == 512 and Kswapd.woken == [(0, normal.idx)]
    pa.check_invariants()
