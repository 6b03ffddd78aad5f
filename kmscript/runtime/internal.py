"""mm/internal.h: the page allocator's internal flags and the watermark test.

What it models: the ALLOC_* flags the slow path derives from GFP flags, the retry limits
of __alloc_pages_slowpath, the pcp list index of an (order, migratetype) pair
(order_to_pindex), and __zone_watermark_ok / zone_watermark_fast - one implementation,
used by the allocator, kswapd, direct reclaim and compaction alike.

Invariant: a watermark test never changes state; it reads the zone's counters only.
"""

from __future__ import annotations

from typing import Any, Protocol

from .buddy import K_PCP, TAIL
from .gfp import (MIGRATE_HIGHATOMIC, MIGRATE_MOVABLE, MIGRATE_PCPTYPES, MIGRATE_RECLAIMABLE, MIGRATE_TYPES,
                  MIGRATE_UNMOVABLE)
from .mm_types import MAX_PAGE_ORDER, NR_PAGE_ORDERS, PAGE_ALLOC_COSTLY_ORDER
from .zone import WMARK_MIN, Zone


# mm/internal.h: ALLOC_* flags
ALLOC_WMARK_MIN = 0
ALLOC_WMARK_LOW = 1
ALLOC_WMARK_HIGH = 2
ALLOC_WMARK_MASK = 3
ALLOC_NO_WATERMARKS = 0x04
ALLOC_OOM = 0x08
ALLOC_NON_BLOCK = 0x10
ALLOC_MIN_RESERVE = 0x20
ALLOC_CPUSET = 0x40
ALLOC_CMA = 0x80
ALLOC_NOFRAGMENT = 0x100
ALLOC_HIGHATOMIC = 0x200
ALLOC_TRYLOCK = 0x400
ALLOC_KSWAPD = 0x800
ALLOC_RESERVES = ALLOC_NON_BLOCK | ALLOC_MIN_RESERVE | ALLOC_HIGHATOMIC | ALLOC_OOM

_ALLOC_FLAG_NAMES = ((ALLOC_NO_WATERMARKS, "ALLOC_NO_WATERMARKS"), (ALLOC_OOM, "ALLOC_OOM"),
                     (ALLOC_NON_BLOCK, "ALLOC_NON_BLOCK"), (ALLOC_MIN_RESERVE, "ALLOC_MIN_RESERVE"),
                     (ALLOC_CPUSET, "ALLOC_CPUSET"), (ALLOC_CMA, "ALLOC_CMA"),
                     (ALLOC_NOFRAGMENT, "ALLOC_NOFRAGMENT"), (ALLOC_HIGHATOMIC, "ALLOC_HIGHATOMIC"),
                     (ALLOC_TRYLOCK, "ALLOC_TRYLOCK"), (ALLOC_KSWAPD, "ALLOC_KSWAPD"))
_WMARK_FLAG_NAMES = ("ALLOC_WMARK_MIN", "ALLOC_WMARK_LOW", "ALLOC_WMARK_HIGH", "ALLOC_WMARK_MASK")


def format_alloc_flags(flags: int) -> str:
    """``ALLOC_WMARK_LOW|ALLOC_KSWAPD|ALLOC_NOFRAGMENT``: the watermark selector, then the
    other ALLOC_* bits of mm/internal.h in their numeric order."""
    names = [] if flags & ALLOC_NO_WATERMARKS else [_WMARK_FLAG_NAMES[flags & ALLOC_WMARK_MASK]]
    names += [n for bit, n in _ALLOC_FLAG_NAMES if flags & bit]
    return "|".join(names)


MAX_RECLAIM_RETRIES = 16
MAX_COMPACT_RETRIES = 16
PF_MEMALLOC = 0x00000800
# The kernel loops forever for __GFP_NOFAIL and keeps retrying while the OOM killer
# "makes progress"; the simulation stops after this many slow-path rounds so a script
# can never hang (see _nofail_stuck).
SLOWPATH_LOOP_LIMIT = 64

NR_LOWORDER_PCP_LISTS = MIGRATE_PCPTYPES * (PAGE_ALLOC_COSTLY_ORDER + 1)


def order_to_pindex(mt: int, order: int) -> int:
    """order_to_pindex (CONFIG_TRANSPARENT_HUGEPAGE)."""
    if order > PAGE_ALLOC_COSTLY_ORDER:
        return NR_LOWORDER_PCP_LISTS + (1 if mt == MIGRATE_MOVABLE else 0)
    return MIGRATE_PCPTYPES * order + mt


def pindex_to_order(pindex: int, hpage_pmd_order: int) -> int:
    """pindex_to_order: the THP lists hold blocks of HPAGE_PMD_ORDER (``Arch.hpage_pmd_order``)."""
    if pindex >= NR_LOWORDER_PCP_LISTS:
        return hpage_pmd_order
    return pindex // MIGRATE_PCPTYPES



# precomputed tail-page state bytes of blocks of order 1..3 (fast paths)
MAXORDER_LI = MAX_PAGE_ORDER * MIGRATE_TYPES
TAIL_BYTES = [[bytes(((k << 4) | TAIL,)) * ((1 << o) - 1) for o in range(PAGE_ALLOC_COSTLY_ORDER + 1)]
               for k in range(16)]
PCP_TAIL_BYTES = TAIL_BYTES[K_PCP]
# the state bytes of a whole block of order 0..3 on a pcp list: head, then tails
PCP_BLOCK_BYTES = [bytes(((K_PCP << 4) | o,)) + PCP_TAIL_BYTES[o] for o in range(PAGE_ALLOC_COSTLY_ORDER + 1)]


class SlowPathHooks(Protocol):
    """What __alloc_pages_slowpath calls in the layers above the page allocator
    (mm/vmscan.c, mm/compaction.c, mm/oom_kill.c); installed with install_slowpath_hooks."""

    def wakeup_kswapd(self, order: int, highest_zoneidx: int) -> None: ...
    def try_to_free_pages(self, gfp: int, order: int) -> int: ...
    def try_to_compact_pages(self, gfp: int, order: int) -> bool: ...
    def out_of_memory(self, gfp: int, order: int) -> bool: ...
    def zone_reclaimable_pages(self, zone_idx: int) -> int: ...



def should_try_claim_block(order: int, start_mt: int, pageblock_order: int) -> bool:
    """mm/page_alloc.c: should_try_claim_block - may an allocation of this order and
    migratetype claim a whole fallback pageblock?  (pageblock_order / 2 is 4 on x86_64,
    5 on non-PAE i386.)"""
    if order >= pageblock_order:
        return True
    if order >= pageblock_order // 2:
        return True
    return start_mt in (MIGRATE_RECLAIMABLE, MIGRATE_UNMOVABLE)


def zone_watermark_ok(z: Zone, order: int, mark: int, hz: int, alloc_flags: int,
                      free_pages: int | None = None, why: dict[str, Any] | None = None) -> bool:
    """mm/page_alloc.c: __zone_watermark_ok (linux-mm-facts.md 3.2).  With *why* (explain),
    the numbers the test compared are left in it as it makes them."""
    free = z.free_pages if free_pages is None else free_pages
    free -= (1 << order) - 1
    if not alloc_flags & ALLOC_RESERVES:
        free -= z.nr_free_highatomic
    mn = mark
    if alloc_flags & ALLOC_RESERVES:
        if alloc_flags & ALLOC_MIN_RESERVE:
            mn -= mn // 2
            if alloc_flags & ALLOC_NON_BLOCK:
                mn -= mn // 4
        if alloc_flags & ALLOC_OOM:
            mn -= mn // 2
    if why is not None:
        why.update(free=free, min=mn, lowmem_reserve=z.lowmem_reserve[hz],
                   test=f"{free} > {mn} + {z.lowmem_reserve[hz]}")
    if free <= mn + z.lowmem_reserve[hz]:
        return False
    if not order:
        return True
    nr_list = z.nr_list
    for o in range(order, NR_PAGE_ORDERS):
        if not z.free_area_nr[o]:
            continue
        base = o * MIGRATE_TYPES
        if nr_list[base] or nr_list[base + 1] or nr_list[base + 2]:
            if why is not None:
                why["free_block_order"] = o
            return True
        if alloc_flags & (ALLOC_HIGHATOMIC | ALLOC_OOM) and nr_list[base + MIGRATE_HIGHATOMIC]:
            if why is not None:
                why["free_block_order"] = o
            return True
    if why is not None:
        why["free_block_order"] = "none"
    return False


def zone_watermark_fast(z: Zone, order: int, mark: int, hz: int, alloc_flags: int,
                        why: dict[str, Any] | None = None) -> bool:
    """mm/page_alloc.c: zone_watermark_fast - the order-0 shortcut, then __zone_watermark_ok,
    then the boosted-watermark retry at the min mark.  *why* as for zone_watermark_ok."""
    free = z.free_pages
    if not order:
        reserved = 0 if alloc_flags & ALLOC_RESERVES else z.nr_free_highatomic
        usable = free - min(free, reserved)
        if usable > mark + z.lowmem_reserve[hz]:
            if why is not None:
                why.update(free=usable, min=mark, lowmem_reserve=z.lowmem_reserve[hz],
                           test=f"{usable} > {mark} + {z.lowmem_reserve[hz]}")
            return True
    if zone_watermark_ok(z, order, mark, hz, alloc_flags, free, why):
        return True
    if (not order and alloc_flags & ALLOC_MIN_RESERVE and z.watermark_boost
            and alloc_flags & ALLOC_WMARK_MASK == ALLOC_WMARK_MIN):
        if why is not None:
            # the boosted test failed: keep its numbers, the retry's replace them
            why["boosted_test"] = f"{why['free']} > {why['min']} + {why['lowmem_reserve']}: fail"
            why["retry_at_unboosted_min"] = z.watermarks[WMARK_MIN]
        return zone_watermark_ok(z, order, z.watermarks[WMARK_MIN], hz, alloc_flags, free, why)
    return False
