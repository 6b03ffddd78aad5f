"""Taking pages off the free lists: rmqueue and __rmqueue of mm/page_alloc.c (Linux 6.18).

What it models
--------------
rmqueue() takes an allocation's pages from the zone once get_page_from_freelist has chosen
it: orders 0-3 and the THP order from the CPU's pcp list (rmqueue_pcplist, refilled by
rmqueue_bulk with nr_pcp_alloc pages), the rest from the buddy lists under the zone lock
(rmqueue_buddy, which may use the MIGRATE_HIGHATOMIC reserve).  __rmqueue walks the
modes of 6.18: __rmqueue_smallest of the wanted migratetype (RMQUEUE_NORMAL), then
claiming a whole pageblock of a fallback type (__rmqueue_claim: try_to_claim_block,
boost_watermark, the mm_page_alloc_extfrag event), then stealing a single block
(__rmqueue_steal).  reserve_highatomic_pageblock and unreserve_highatomic_pageblock
keep the highatomic reserve.

Invariants
----------
- A page leaves a free list only here, with its migratetype's free count and the
  zone's NR_FREE_PAGES updated together (the buddy layer's del_page_from_free_list).
- Pageblock migratetypes change only by whole pageblocks (or the MAX_PAGE_ORDER block
  spanning several), as move_freepages_block and change_pageblock_range do.
- nr_free_highatomic counts exactly the free pages of MIGRATE_HIGHATOMIC blocks.

This layer sits between migrate.py (compaction primitives) and page_alloc.py (the
allocation fast and slow paths), which inherits it.
"""

from __future__ import annotations

from typing import Any

from .buddy import BUDDY_MIN, FALLBACKS, K_BUDDY, K_PCP, SECTION_MASK, TAIL, migratetype_is_mergeable
from .gfp import MIGRATE_HIGHATOMIC, MIGRATE_MOVABLE, MIGRATE_PCPTYPES, MIGRATE_TYPES, MIGRATETYPE_NAMES
from .explain import pfn_or_null
from .internal import (PCP_BLOCK_BYTES, ALLOC_OOM, ALLOC_NON_BLOCK, ALLOC_NOFRAGMENT, ALLOC_HIGHATOMIC,
                       ALLOC_KSWAPD, order_to_pindex, should_try_claim_block)
from .migrate import Migrate
from .mm_types import (MAX_PAGE_ORDER, NR_PAGE_ORDERS, PAGE_ALLOC_COSTLY_ORDER,
                       OWNERS_MOVABLE)
from .zone import PCP_BATCH_SCALE_MAX, WMARK_HIGH, PerCpuPages, Zone


class Rmqueue(Migrate):
    """rmqueue and __rmqueue (mm/page_alloc.c): the pcp and buddy removal paths, the
    migratetype fallbacks and the highatomic reserve (see the module docstring)."""

    def _wakeup_kswapd(self, order: int, hz: int) -> None:
        """wakeup_kswapd (mm/vmscan.c) through the installed slow-path hooks; rmqueue calls
        it for a boosted zone, the slow path for every allowed zone."""
        hooks = self.reclaim
        if hooks is not None:
            hooks.wakeup_kswapd(order, hz)
            return
        # No reclaim engine: kswapd has nothing to reclaim, and balance_pgdat() still drops
        # the boost when it finishes (mm/vmscan.c), so the boost does not stay forever.
        for z in self.zones:
            if z.idx <= hz:
                z.watermark_boost = 0

    def _rmqueue(self, zone: Zone, order: int, gfp: int, alloc_flags: int, mt: int) -> int | None:
        pfn: int | None = None
        if order <= PAGE_ALLOC_COSTLY_ORDER or (order == self.hpage_pmd_order and self.thp_enabled):
            pfn = self._rmqueue_pcplist(zone, order, mt, alloc_flags)
        if pfn is None:
            pfn = self._rmqueue_buddy(zone, order, alloc_flags, mt)
            if pfn is None:
                return None
        zone.numa_hit += 1
        zone.pgalloc += 1 << order
        if alloc_flags & ALLOC_KSWAPD and zone.boosted_watermark:
            zone.boosted_watermark = False
            if self.tracer.explain.on:
                self.tracer.explain.note("rmqueue", "ZONE_BOOSTED_WATERMARK was set: wake kswapd",
                                         zone=zone.name, watermark_boost=zone.watermark_boost)
            self._wakeup_kswapd(0, zone.idx)
        return pfn

    def _rmqueue_pcplist(self, zone: Zone, order: int, mt: int, alloc_flags: int) -> int | None:
        pcp = zone.pcp[self.ctx.cpu]
        pcp.free_count >>= 1
        lst = pcp.lists[order_to_pindex(mt, order) if order else mt]
        ex = self.tracer.explain
        if not lst:
            step = None
            if ex.on:
                step = ex.begin("rmqueue_pcplist", zone=zone.name, cpu=self.ctx.cpu, order=order,
                                migratetype=MIGRATETYPE_NAMES[mt], list_pages=0, pcp_count=pcp.count,
                                pcp_high=pcp.high, pcp_batch=pcp.batch, alloc_factor=pcp.alloc_factor)
            batch = self._nr_pcp_alloc(pcp, zone, order)
            rstep = None
            if ex.on:
                # nr_pcp_alloc: batch << alloc_factor (order 0), capped by high - count - batch
                rstep = ex.begin("rmqueue_bulk", batch=batch)
            n = self._rmqueue_bulk(zone, order, batch, lst, mt, alloc_flags)
            pcp.count += n << order
            if rstep is not None:
                ex.end(rstep, f"{n} block{'s' if n != 1 else ''} of order {order} moved to the pcp list",
                       taken=n)
            if not lst:
                if step is not None:
                    ex.end(step, "empty: the buddy lists could not refill it")
                return None
            pfn: int = lst.popleft()
            pcp.count -= 1 << order
            if step is not None:
                ex.end(step, f"refilled, took pfn {pfn:#x}", pcp_count=pcp.count)
            return pfn
        pcp.count -= 1 << order
        pfn = lst.popleft()
        if ex.on:
            ex.note("rmqueue_pcplist", f"hit: pfn {pfn:#x}", zone=zone.name, cpu=self.ctx.cpu, order=order,
                    migratetype=MIGRATETYPE_NAMES[mt], list_pages=len(lst) + 1, pcp_count=pcp.count + (1 << order))
        return pfn

    def _nr_pcp_alloc(self, pcp: PerCpuPages, zone: Zone, order: int) -> int:
        base_batch = pcp.batch
        high_min = pcp.high_min
        high_max = pcp.high_max
        high = pcp.high = min(max(pcp.high, high_min), high_max)
        if high < base_batch:
            return 1
        batch = base_batch if order else base_batch << pcp.alloc_factor
        if high_min != high_max and not zone.below_high:
            high = pcp.high = min(high + batch, high_max)
        if not order:
            max_nr_alloc = max(high - pcp.count - base_batch, base_batch)
            if batch <= max_nr_alloc and pcp.alloc_factor < PCP_BATCH_SCALE_MAX:
                pcp.alloc_factor += 1
            batch = min(batch, max_nr_alloc)
        if batch > 1:
            batch = max(batch >> order, 2)
        return batch

    def _rmqueue_bulk(self, zone: Zone, order: int, count: int, lst: Any, mt: int, alloc_flags: int) -> int:
        """rmqueue_bulk: refill a pcp list (pages appended at the tail, in pfn order)."""
        mode = [0]
        memmap = self.memmap
        head = (K_PCP << 4) | order
        i = 0
        if not self.tracer.enabled:
            # the __rmqueue_smallest calls of this loop, a block at a time (without the
            # per-page mm_page_alloc_zone_locked events; with tracing on, page by page)
            pattern = (PCP_BLOCK_BYTES[order] if order <= PAGE_ALLOC_COSTLY_ORDER
                       else bytes((head,)) + bytes(((K_PCP << 4) | TAIL,)) * ((1 << order) - 1))
            step = 1 << order
            while i < count:
                run = zone.rmqueue_smallest_run(order, mt, count - i)
                if run is None:
                    break
                first, t = run
                sec = memmap.section(first)
                off = first & SECTION_MASK
                sec[off:off + (t << order)] = pattern * t
                lst.extend(range(first, first + (t << order), step))
                i += t
        while i < count:
            pfn = self._rmqueue_mode(zone, order, mt, alloc_flags, mode)
            if pfn is None:
                break
            memmap.set_block(pfn, order, head, (K_PCP << 4) | TAIL)
            lst.append(pfn)
            i += 1
        return i

    def _rmqueue_buddy(self, zone: Zone, order: int, alloc_flags: int, mt: int) -> int | None:
        ex = self.tracer.explain
        step = ex.begin("rmqueue_buddy", zone=zone.name, order=order) if ex.on else None
        pfn = None
        if alloc_flags & ALLOC_HIGHATOMIC:
            pfn = self._rmqueue_smallest(zone, order, MIGRATE_HIGHATOMIC)
        if pfn is None:
            pfn = self._rmqueue_mode(zone, order, mt, alloc_flags, [0])
            if pfn is None and alloc_flags & (ALLOC_OOM | ALLOC_NON_BLOCK):
                if step is not None:
                    ex.note("rmqueue_buddy", "ALLOC_OOM/ALLOC_NON_BLOCK: try the HighAtomic reserve")
                pfn = self._rmqueue_smallest(zone, order, MIGRATE_HIGHATOMIC)
        if step is not None:
            ex.end(step, pfn_or_null(pfn))
        return pfn

    def _rmqueue_smallest(self, zone: Zone, order: int, mt: int) -> int | None:
        ex = self.tracer.explain
        if ex.on:
            halves: list[tuple[int, int]] = []
            r = zone.rmqueue_smallest(order, mt, halves)
            if r is None:
                ex.note("__rmqueue_smallest", f"no free block of order >= {order}", order=order,
                        migratetype=MIGRATETYPE_NAMES[mt])
            elif r[1] > order:
                # expand(): the order-k block is split, the upper halves go back to the lists
                ex.note("__rmqueue_smallest", f"split order-{r[1]} block at pfn {r[0]:#x}: keeps order-{order} at "
                        f"{r[0]:#x}, frees " + ", ".join(f"order-{o} at {p:#x}" for p, o in halves),
                        order=order, migratetype=MIGRATETYPE_NAMES[mt], from_order=r[1])
        else:
            r = zone.rmqueue_smallest(order, mt)
        if r is None:
            return None
        if self.tracer.enabled:
            refill = int((order <= PAGE_ALLOC_COSTLY_ORDER or (order == self.hpage_pmd_order and self.thp_enabled))
                         and mt < MIGRATE_PCPTYPES)
            self.tracer.emit("mm_page_alloc_zone_locked",
                             f"page={self.arch.pfn_to_struct_page(r[0]):0{self.arch.ptr_digits}x} pfn={r[0]:#x} order={order} "
                             f"migratetype={mt} percpu_refill={refill}")
        return r[0]

    # __rmqueue with enum rmqueue_mode: 0 NORMAL, 1 CLAIM, 2 STEAL (no CMA)
    def _rmqueue_mode(self, zone: Zone, order: int, mt: int, alloc_flags: int, mode: list[int]) -> int | None:
        if mode[0] == 0:
            pfn = self._rmqueue_smallest(zone, order, mt)
            if pfn is not None:
                return pfn
        if mode[0] <= 1:
            pfn = self._rmqueue_claim(zone, order, mt, alloc_flags)
            if pfn is not None:
                mode[0] = 0
                return pfn
        if not alloc_flags & ALLOC_NOFRAGMENT:
            pfn = self._rmqueue_steal(zone, order, mt)
            if pfn is not None:
                mode[0] = 2
                return pfn
        return None

    def _find_suitable_fallback(self, zone: Zone, order: int, mt: int, claimable: bool) -> int:
        if claimable and not should_try_claim_block(order, mt, self.pageblock_order):
            return -2
        if not zone.free_area_nr[order]:
            return -1
        for fmt in FALLBACKS[mt]:
            if zone.nr_list[order * MIGRATE_TYPES + fmt]:
                return fmt
        return -1

    def _rmqueue_claim(self, zone: Zone, order: int, start_mt: int, alloc_flags: int) -> int | None:
        if start_mt >= MIGRATE_PCPTYPES:
            return None
        min_order = order
        if order < self.pageblock_order and alloc_flags & ALLOC_NOFRAGMENT:
            min_order = self.pageblock_order
        for current in range(MAX_PAGE_ORDER, min_order - 1, -1):
            fmt = self._find_suitable_fallback(zone, current, start_mt, True)
            if fmt == -1:
                continue
            if fmt == -2:
                break
            page = zone.first_free(current, fmt)
            assert page is not None
            pfn = self._try_to_claim_block(zone, page, current, order, start_mt, fmt, alloc_flags)
            if self.tracer.explain.on:
                self.tracer.explain.note(
                    "__rmqueue_claim", f"claimed the pageblock of pfn {page:#x}" if pfn is not None
                    else f"did not claim the pageblock of pfn {page:#x}", order=order,
                    start_migratetype=MIGRATETYPE_NAMES[start_mt], fallback_migratetype=MIGRATETYPE_NAMES[fmt],
                    fallback_order=current)
            if pfn is not None:
                self._trace_extfrag(pfn, order, current, start_mt, fmt)
                return pfn
        return None

    def _rmqueue_steal(self, zone: Zone, order: int, start_mt: int) -> int | None:
        if start_mt >= MIGRATE_PCPTYPES:
            return None
        for current in range(order, NR_PAGE_ORDERS):
            fmt = self._find_suitable_fallback(zone, current, start_mt, False)
            if fmt == -1:
                continue
            page = zone.first_free(current, fmt)
            assert page is not None
            zone.page_del_and_expand(page, order, current, fmt)
            if self.tracer.explain.on:
                self.tracer.explain.note(
                    "__rmqueue_steal", f"stole order-{order} at pfn {page:#x} from a {MIGRATETYPE_NAMES[fmt]} "
                    f"order-{current} block (the pageblock keeps its type)", order=order,
                    start_migratetype=MIGRATETYPE_NAMES[start_mt], fallback_migratetype=MIGRATETYPE_NAMES[fmt],
                    fallback_order=current)
            self._trace_extfrag(page, order, current, start_mt, fmt)
            return page
        return None

    def _trace_extfrag(self, pfn: int, order: int, current: int, start_mt: int, fmt: int) -> None:
        if self.tracer.enabled:
            change = int(self.memmap.pageblock_mt[pfn >> self.pageblock_order] == start_mt)
            self.tracer.emit("mm_page_alloc_extfrag",
                             f"page={self.arch.pfn_to_struct_page(pfn):0{self.arch.ptr_digits}x} pfn={pfn:#x} alloc_order={order} "
                             f"fallback_order={current} pageblock_order={self.pageblock_order} "
                             f"alloc_migratetype={start_mt} fallback_migratetype={fmt} "
                             f"fragmenting={int(current < self.pageblock_order)} change_ownership={change}")

    def _change_pageblock_range(self, pfn: int, order: int, mt: int) -> None:
        nr_blocks = max(1, 1 << (order - self.pageblock_order)) if order >= self.pageblock_order else 1
        first = pfn >> self.pageblock_order
        for b in range(first, first + nr_blocks):
            self.memmap.pageblock_mt[b] = mt

    def _try_to_claim_block(self, zone: Zone, pfn: int, current: int, order: int, start_mt: int,
                            block_mt: int, alloc_flags: int) -> int | None:
        if current >= self.pageblock_order:
            zone.del_from_free_list(pfn, current, block_mt)
            zone.account_freepages(-(1 << current), block_mt)
            self._change_pageblock_range(pfn, current, start_mt)
            added = zone.expand(pfn, order, current, start_mt)
            zone.account_freepages(added, start_mt)
            return pfn
        if self._boost_watermark(zone) and alloc_flags & ALLOC_KSWAPD:
            zone.boosted_watermark = True
        info = self._prep_move_freepages_block(zone, pfn)
        if info is None:
            return None
        start_pfn, free_pages, movable_pages = info
        if start_mt == MIGRATE_MOVABLE:
            alike = movable_pages
        elif block_mt == MIGRATE_MOVABLE:
            alike = self.pageblock_nr_pages - (free_pages + movable_pages)
        else:
            alike = 0
        if self.tracer.explain.on:
            self.tracer.explain.note(
                "try_to_claim_block", "claim" if free_pages + alike >= (1 << (self.pageblock_order - 1)) else "no claim",
                pageblock=f"{start_pfn:#x}", free_pages=free_pages, alike_pages=alike,
                threshold=1 << (self.pageblock_order - 1))
        if free_pages + alike >= (1 << (self.pageblock_order - 1)):
            self._move_freepages_block_range(zone, start_pfn, block_mt, start_mt)
            return self._rmqueue_smallest(zone, order, start_mt)
        return None

    def _boost_watermark(self, zone: Zone) -> bool:
        if not self.watermark_boost_factor:
            return False
        if self.pageblock_nr_pages * 4 > zone.managed_pages:
            return False
        high = zone.watermarks[WMARK_HIGH]
        max_boost = (high // 10000) * self.watermark_boost_factor + \
            ((high % 10000) * self.watermark_boost_factor) // 10000   # mult_frac
        if not max_boost:
            return False
        max_boost = max(self.pageblock_nr_pages, max_boost)
        zone.watermark_boost = min(zone.watermark_boost + self.pageblock_nr_pages, max_boost)
        return True

    def _prep_move_freepages_block(self, zone: Zone, pfn: int) -> tuple[int, int, int] | None:
        """prep_move_freepages_block: (start_pfn, free pages, movable pages) of pfn's pageblock."""
        start = pfn & ~(self.pageblock_nr_pages - 1)
        end = start + self.pageblock_nr_pages
        if start < zone.zone_start_pfn or end > zone.zone_end_pfn:
            return None
        free = movable = 0
        p = start
        get = self.memmap.get
        while p < end:
            b = get(p)
            if b >= BUDDY_MIN and b & TAIL != TAIL:
                n = 1 << (b & TAIL)
                free += n
                p += n
                continue
            if b == 0 and zone.buddy_order(p) >= 0:
                n = 1 << MAX_PAGE_ORDER
                free += min(n, end - p)
                p += n
                continue
            if (b >> 4) in OWNERS_MOVABLE:
                movable += 1
            p += 1
        return start, free, movable

    def _move_freepages_block_range(self, zone: Zone, start: int, old_mt: int, new_mt: int) -> int:
        """__move_freepages_block: move every free block of the pageblock to new_mt (tail)."""
        end = start + self.pageblock_nr_pages
        moved = 0
        p = start
        get = self.memmap.get
        while p < end:
            b = get(p)
            if b >= BUDDY_MIN and b & TAIL != TAIL:
                order = b & TAIL
                cur_mt = (b >> 4) - K_BUDDY
                self._move_to_free_list(zone, p, order, cur_mt, new_mt)
                moved += 1 << order
                p += 1 << order
                continue
            p += 1
        self.memmap.pageblock_mt[start >> self.pageblock_order] = new_mt
        return moved

    def _move_to_free_list(self, zone: Zone, pfn: int, order: int, old_mt: int, new_mt: int) -> None:
        zone.del_from_free_list(pfn, order, old_mt)
        zone.add_to_free_list(pfn, order, new_mt, True)
        zone.account_freepages(-(1 << order), old_mt)
        zone.account_freepages(1 << order, new_mt)

    def _reserve_highatomic_pageblock(self, pfn: int, order: int, zone: Zone) -> None:
        if zone.managed_pages // 100 < self.pageblock_nr_pages:
            return
        max_managed = -(-(zone.managed_pages // 100) // self.pageblock_nr_pages) * self.pageblock_nr_pages
        if zone.nr_reserved_highatomic >= max_managed:
            return
        mt = self.memmap.pageblock_mt[pfn >> self.pageblock_order]
        if not migratetype_is_mergeable(mt):
            return
        if order < self.pageblock_order:
            start = pfn & ~(self.pageblock_nr_pages - 1)
            if start < zone.zone_start_pfn or start + self.pageblock_nr_pages > zone.zone_end_pfn:
                return
            self._move_freepages_block_range(zone, start, mt, MIGRATE_HIGHATOMIC)
            zone.nr_reserved_highatomic += self.pageblock_nr_pages
        else:
            self._change_pageblock_range(pfn, order, MIGRATE_HIGHATOMIC)
            zone.nr_reserved_highatomic += 1 << order

    def unreserve_highatomic_pageblock(self, zonelist: tuple[Zone, ...], mt: int, force: bool) -> bool:
        """unreserve_highatomic_pageblock: give one highatomic block back to ``mt``."""
        for zone in zonelist:
            if not force and zone.nr_reserved_highatomic <= self.pageblock_nr_pages:
                continue
            for order in range(NR_PAGE_ORDERS):
                pfn = zone.first_free(order, MIGRATE_HIGHATOMIC)
                if pfn is None:
                    continue
                size = min(max(self.pageblock_nr_pages, 1 << order), zone.nr_reserved_highatomic)
                zone.nr_reserved_highatomic -= size
                if order < self.pageblock_order:
                    self._move_freepages_block_range(zone, pfn & ~(self.pageblock_nr_pages - 1),
                                                     MIGRATE_HIGHATOMIC, mt)
                else:
                    self._change_pageblock_range(pfn, order, mt)
                    self._move_to_free_list(zone, pfn, order, MIGRATE_HIGHATOMIC, mt)
                return True
        return False
