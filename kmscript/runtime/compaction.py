"""Memory compaction (mm/compaction.c): direct compaction from the allocator's slow path
and ``compact_memory()`` (echo 1 > /proc/sys/vm/compact_memory).

What it models
--------------
try_to_compact_pages(gfp, order): nothing for order 0, nor without __GFP_IO or
__GFP_DIRECT_RECLAIM (gfp_compaction_allowed; the slow path only compacts for callers that
may block).  Then, for each zone of the zonelist at or below gfp_zone(gfp), highest first:

1. compaction_suit_allocation_order: if the zone already passes its min watermark at
   the requested order, compaction is not needed (COMPACT_SUCCESS without work);
2. compaction_suitable: __compaction_suitable requires the order-0 watermark
   ``(order > PAGE_ALLOC_COSTLY_ORDER ? low : min) + compact_gap(order)`` (compact_gap =
   2 << order, room for the migration targets) with ALLOC_CMA, against lowmem_reserve of
   the request's highest zone; and for costly orders (> 3) the fragmentation index must
   be outside [0, sysctl_extfrag_threshold = 500]: an index towards 0 means the failure
   is due to lack of memory (reclaim, not compaction, helps), towards 1000 that it is due
   to fragmentation; -1000 means a suitable block exists.
   fragmentation_index = 1000 - (1000 + free_pages * 1000 / 2^order) / free_blocks_total
   (__fragmentation_index, integer arithmetic, 0 when nothing is free);
3. compact_zone: the migration scanner walks pageblocks upward from the zone start, the
   free scanner pageblocks downward from the zone end.  The migration scanner isolates
   every movable page (anonymous and page cache pages on the LRU) of its pageblock; the
   free scanner isolates free buddy pages in MOVABLE pageblocks (suitable_migration_target)
   and splits them to order-0 targets.  Each isolated page is migrated (contents copied,
   the owning pte / page-cache slot and the LRU entry repointed) and the source page
   freed; per-cpu lists are drained when the scanner leaves a block (as
   lru_add_drain_cpu_zone does), so freed pages merge in the buddy allocator.  After each
   pageblock __compact_finished checks for a free block of at least the requested order
   on the request's migratetype list, or on a fallback list whose block the request
   could claim (should_try_claim_block).  The scanners meeting ends the pass
   (COMPACT_COMPLETE).  Unused targets are freed again.

Any page that is not free and not movable (slab, page tables, kernel stacks, plain
alloc_pages) pins its pageblock region: compaction cannot empty a block holding one.

vmstat: compact_stall, compact_success and compact_fail per direct compaction,
compact_isolated (pages isolated by both scanners) and pgmigrate_success (pages migrated).

Simplifications relative to mm/compaction.c
-------------------------------------------
- One synchronous pass per call (no async/sync-light/sync-full priorities, no deferral,
  no compaction_capture, no skip bits, no kcompactd, no proactive compaction).
- The migration scanner considers every pageblock (sync mode); the free scanner only
  MOVABLE pageblocks.
- Migration always succeeds for a movable page (no pinned or locked pages).
"""

from __future__ import annotations

from typing import Any

from .buddy import FALLBACKS
from .gfp import MIGRATE_MOVABLE, __GFP_DIRECT_RECLAIM, gfp_compaction_allowed, gfp_migratetype
from .internal import ALLOC_CMA, should_try_claim_block
from .mm_types import MAX_PAGE_ORDER, PAGE_ALLOC_COSTLY_ORDER, PAGE_SIZE
from .page_alloc import PageAllocator
from .pagecache import File, LruVec, PageCache, Rmap
from .physmem import PhysMem
from .sysctl import SysctlTable
from .limits import PAGE_WORK, WorkMeter
from .task import TaskTable
from .vma import AnonVma
from .trace import Tracer
from .vmstat import VmStat
from .zone import Zone
from .zone_access import ZoneAccess

EXTFRAG_THRESHOLD_DEFAULT = 500
_GFP_DIRECT_RECLAIM = __GFP_DIRECT_RECLAIM  # (a __GFP_ name in a class body is name-mangled)



def compact_gap(order: int) -> int:
    """include/linux/compaction.h: room for the free pages migration needs."""
    return 2 << order


def fragmentation_index_of(nr_free: list[int], order: int) -> int:
    """mm/vmstat.c: fill_contig_page_info + __fragmentation_index."""
    requested = 1 << order
    free_blocks_total = 0
    free_pages = 0
    free_blocks_suitable = 0
    for o, blocks in enumerate(nr_free):
        free_blocks_total += blocks
        free_pages += blocks << o
        if o >= order:
            free_blocks_suitable += blocks << (o - order)
    if not free_blocks_total:
        return 0
    if free_blocks_suitable:
        return -1000
    return 1000 - (1000 + free_pages * 1000 // requested) // free_blocks_total


class Compaction:
    def __init__(self, *, zones: ZoneAccess, lru: LruVec, rmap: Rmap, tasks: TaskTable, pagecache: PageCache,
                 page_alloc: PageAllocator, phys: PhysMem, vmstat: VmStat, tracer: Tracer,
                 sysctls: SysctlTable, meter: WorkMeter) -> None:
        self.meter = meter
        self.page_alloc = page_alloc
        # the scanners step by pageblock (include/linux/pageblock-flags.h: the arch's order)
        self.pageblock_order = page_alloc.pageblock_order
        self.pageblock_nr_pages = page_alloc.pageblock_nr_pages
        self.phys = phys
        self.vmstat = vmstat
        self.tracer = tracer
        self.zones = zones
        self.lru = lru
        self.rmap = rmap
        self.tasks = tasks
        self.pagecache = pagecache
        self.extfrag_threshold = EXTFRAG_THRESHOLD_DEFAULT
        self.compact_stall = 0
        self.compact_migrated = 0
        self.compact_isolated = 0
        self.last_result = ""
        sysctls.register("vm.extfrag_threshold", lambda: self.extfrag_threshold, self._set_threshold)

    def _set_threshold(self, v: Any) -> None:
        from .errors import KernelFault
        if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= 1000:
            raise KernelFault(f"vm.extfrag_threshold: {v!r} is out of range 0..1000 (-EINVAL)")
        self.extfrag_threshold = v

    # -- suitability -----------------------------------------------------------------------
    def fragmentation_index(self, zone: Zone, order: int) -> int:
        return fragmentation_index_of(self.zones.nr_free(zone), order)

    def compaction_suitable(self, zone: Zone, order: int, highest_zoneidx: int) -> bool:
        za = self.zones
        mark = za.low_wmark(zone) if order > PAGE_ALLOC_COSTLY_ORDER else za.min_wmark(zone)
        mark += compact_gap(order)
        if not za.watermark_ok(zone, 0, mark, highest_zoneidx, ALLOC_CMA):
            self.last_result = "COMPACT_SKIPPED"
            return False
        if order > PAGE_ALLOC_COSTLY_ORDER:
            fragindex = self.fragmentation_index(zone, order)
            if 0 <= fragindex <= self.extfrag_threshold:
                self.last_result = "COMPACT_NOT_SUITABLE_ZONE"
                return False
        return True

    # -- entry points -----------------------------------------------------------------------
    def try_to_compact_pages(self, gfp: int, order: int) -> bool:
        """Direct compaction; True when a block of the order is now free in some zone."""
        if order == 0 or not gfp_compaction_allowed(gfp) or not gfp & _GFP_DIRECT_RECLAIM:
            return False
        za = self.zones
        highest = za.gfp_zone(gfp)
        mt = gfp_migratetype(gfp)
        vm = self.vmstat
        tried = False
        for zone in sorted(za.populated(), key=za.idx, reverse=True):
            if za.idx(zone) > highest:
                continue
            if za.watermark_ok(zone, order, za.min_wmark(zone), highest, 0):
                self.last_result = "COMPACT_SUCCESS"
                return True  # compaction_suit_allocation_order: nothing to do
            if not self.compaction_suitable(zone, order, highest):
                continue
            if not tried:
                self.compact_stall += 1
                tried = True
            if self.compact_zone(zone, order, mt):
                vm.compact_success += 1
                self.last_result = "COMPACT_SUCCESS"
                return True
        if tried:
            vm.compact_fail += 1
            self.last_result = "COMPACT_COMPLETE"
        return False

    def compact_memory(self) -> int:
        """/proc/sys/vm/compact_memory: compact every zone completely; returns pages migrated.

        Called by the script itself, so the work meter may stop it between two pageblocks
        (the isolated free targets are given back first)."""
        before = self.compact_migrated
        for zone in self.zones.populated():
            self.compact_zone(zone, -1, MIGRATE_MOVABLE, stoppable=True)
        return self.compact_migrated - before

    # -- compact_zone ------------------------------------------------------------------------
    def compact_finished(self, zone: Zone, order: int, mt: int) -> bool:
        """__compact_finished: a free block of the order the request could use exists."""
        if order < 0:
            return False  # compact_memory runs until the scanners meet
        za = self.zones
        for o in range(order, MAX_PAGE_ORDER + 1):
            if za.free_list_nonempty(zone, o, mt):
                return True
            for fmt in FALLBACKS[mt]:
                if za.free_list_nonempty(zone, o, fmt) and should_try_claim_block(o, mt, self.pageblock_order):
                    return True
        return False

    def compact_zone(self, zone: Zone, order: int, mt: int, stoppable: bool = False) -> bool:
        """One compaction pass over *zone*.  Each pageblock scanned and each page migrated
        is charged to the work meter; only a *stoppable* pass (compact_memory) raises when
        the budget is gone: direct compaction runs inside an allocation, whose caller
        stops at its next page instead."""
        za = self.zones
        meter = self.meter
        start, end = za.span(zone)
        migrate_pfn = start - (start % self.pageblock_nr_pages)
        free_block = end - 1 - ((end - 1) % self.pageblock_nr_pages)  # last pageblock
        tracer = self.tracer
        if tracer.enabled:
            tracer.emit("mm_compaction_begin", f"zone_start=0x{start:x} migrate_pfn=0x{migrate_pfn:x} "
                        f"free_pfn=0x{free_block:x} zone_end=0x{end:x}, mode=sync")
        migrated_before = self.compact_migrated
        targets: list[int] = []
        success = False
        za.drain_all_pages()
        try:
            success, migrate_pfn, free_block = self._scan(zone, order, mt, stoppable, meter, start, end,
                                                          migrate_pfn, free_block, targets)
        finally:
            for pfn in targets:
                self.page_alloc.free_pages(pfn, 0)
            if targets:
                za.drain_all_pages()
        if not success and order >= 0:
            success = self.compact_finished(zone, order, mt)
        if tracer.enabled:
            tracer.emit("mm_compaction_migratepages",
                        f"nr_migrated={self.compact_migrated - migrated_before} nr_failed=0")
            tracer.emit("mm_compaction_end", f"zone_start=0x{start:x} migrate_pfn=0x{migrate_pfn:x} "
                        f"free_pfn=0x{free_block:x} zone_end=0x{end:x}, mode=sync "
                        f"status={'success' if success else 'complete'}")
        return success

    def _scan(self, zone: Zone, order: int, mt: int, stoppable: bool, meter: WorkMeter, start: int, end: int,
              migrate_pfn: int, free_block: int, targets: list[int]) -> tuple[bool, int, int]:
        """The two scanners of compact_zone: (success, migrate_pfn, free_block).  *targets*
        holds the isolated free pages not used (the caller frees them, also when the meter
        stops the pass)."""
        za = self.zones
        success = False
        while migrate_pfn < free_block:
            meter.left -= PAGE_WORK
            if stoppable and meter.left < 0:
                meter.exhausted()
            block_end = min(migrate_pfn + self.pageblock_nr_pages, end)
            # isolate_migratepages_block: LRU pages only (a page without an rmap owner is not
            # on an LRU list, so it cannot be isolated)
            movable = [p for p in za.movable_pages(zone, max(migrate_pfn, start), block_end)
                       if self.rmap.lookup(p) is not None]
            for src in movable:
                if not targets:
                    while free_block > migrate_pfn and not targets:
                        targets.extend(za.isolate_free_pages(zone, free_block,
                                                             min(free_block + self.pageblock_nr_pages, end)))
                        self.compact_isolated += len(targets)
                        if not targets:
                            free_block -= self.pageblock_nr_pages
                    if not targets:
                        break
                    targets.reverse()  # use the lowest target first (list order of the kernel)
                dst = targets.pop()
                self.migrate_page(src, dst)
            if movable:
                za.drain_all_pages()
            if self.compact_finished(zone, order, mt):
                success = True
                break
            if not targets and free_block <= migrate_pfn:
                break
            migrate_pfn += self.pageblock_nr_pages
        return success, migrate_pfn, free_block

    def migrate_page(self, src: int, dst: int) -> None:
        """migrate_pages for one folio: copy, repoint the owner, keep the LRU list, free src."""
        found = self.rmap.lookup(src)
        if found is None:
            raise AssertionError(f"pfn {src:#x} is movable but has no owner")
        owner, idx = found
        self.zones.set_page_owner(dst, src)
        phys = self.phys
        data = phys.read(src * PAGE_SIZE, PAGE_SIZE)
        if any(data):
            phys.write(dst * PAGE_SIZE, data)
        else:
            phys.clear_pages(dst, 1)
        lru = self.lru
        which = lru.lru_of(src)
        if which >= 0:
            lru.remove(src)
            lru.add(dst, which)  # putback_movable_folio: the new folio goes to the list head
        if lru.young.get(src):
            lru.young.set(dst, 1)
            lru.young.set(src, 0)
        if isinstance(owner, AnonVma):
            self.tasks.migrate_page(owner, idx, src, dst)
        elif isinstance(owner, File):
            if owner.maps:
                self.tasks.spaces.migrate_file_ptes(owner, idx, src, dst)
            self.pagecache.migrate_page(owner, idx, src, dst)
        self.page_alloc.free_pages(src, 0)
        self.compact_migrated += 1
        self.compact_isolated += 1  # COMPACTISOLATED counts migration sources and free targets
