"""Page reclaim: kswapd, direct reclaim and slab shrinking (mm/vmscan.c), and the hooks
object the page allocator's slow path calls (``page_alloc.install_slowpath_hooks``).

What it models
--------------
``ReclaimHooks`` has exactly the four entry points of the slow path (facts §3.6):
``wakeup_kswapd(order, highest_zoneidx)``, ``try_to_free_pages(gfp, order) -> int``,
``try_to_compact_pages(gfp, order) -> bool`` (compaction.py) and
``out_of_memory(gfp, order) -> bool`` (oom.py).

kswapd.  ``wakeup_kswapd`` records the request (kswapd_order and kswapd_highest_zoneidx
only grow until kswapd runs) and wakes kswapd unless the node is balanced: some zone at
or below highest_zoneidx passes its *high* watermark at that order with no boost pending
(pgdat_balanced) or kswapd has failed MAX_RECLAIM_RETRIES (16) times in a row.
kswapd is a kernel thread on another CPU; the simulator runs it at defined points:

1. when a task or page-cache operation that allocates (``spawn``, ``fault``, ``read``,
   ``write``, ``drop_caches``) returns, if it woke kswapd;
2. when an allocation enters direct reclaim while kswapd is awake: kswapd has been
   running on its CPU while the allocator went from low down to min, so it gets its
   run first, then the task reclaims for itself;
3. when the script calls ``kswapd()``.

Otherwise it does not run in the middle of an operation: a large burst of allocations
shows direct reclaim, and GFP_ATOMIC allocations (which never reclaim) can dip below the
min watermark while kswapd is only woken.  A run (balance_pgdat) reclaims in passes
until the node is balanced, each pass aiming at the sum of the eligible zones' high
watermarks (kswapd_shrink_node: max(high_wmark, SWAP_CLUSTER_MAX) per zone); like
pgdat_balanced it stops as soon as *any* eligible zone meets its high watermark.  While
it runs the zones are flagged ZONE_RECLAIM_ACTIVE, so pages freed to the per-cpu lists
reach the buddy allocator in small batches.  For order > 0 it drops to order 0 once it
has reclaimed compact_gap(order) = 2 << order pages (kswapd_shrink_node), leaving the
rest to compaction.  A run that frees nothing counts a kswapd failure.  At the end the
zones' watermark boosts are cleared, as balance_pgdat does.

Direct reclaim (try_to_free_pages) reclaims nr_to_reclaim = SWAP_CLUSTER_MAX pages for
the allocating task and counts ``allocstall``.  Swapping needs __GFP_IO.  Pages above the
request's highest zone are skipped (sc->reclaim_idx).

Both use one shrink_node, in this order:
1. clean file pages: inactive list from the tail; when it has no clean page left, pages
   are deactivated from the active list's tail (shrink_active_list) and scanned in turn;
2. reclaimable slab caches (shrink_slab): the empty slabs of SLAB_RECLAIM_ACCOUNT caches,
   through the slab layer's kmem_cache_shrink (there are no object shrinkers);
3. dirty file pages, written back first (pageout), inactive before active;
4. anonymous pages to swap while swap has free slots (and the gfp allows I/O), inactive
   before active.  A freshly faulted anonymous page has its pte young bit set, so the
   first scan that meets it activates it (folio_check_references -> FOLIOREF_ACTIVATE);
   the page is reclaimed when met again after deactivation.
Reclaimed page-cache pages are freed as shrink_folio_list frees them: collected on a
folio_batch (PAGEVEC_SIZE = 31) and freed together (free_unref_folios, here
``release_pages``) when it is full and when the shrink_folio_list call ends (every
SWAP_CLUSTER_MAX pages isolated); ``pagecache.batched_free = False`` frees each at once
(the same state: tests/runtime/test_reclaim_free_batch.py).
``pgscan_kswapd/direct`` count pages isolated from inactive lists, ``pgsteal_*`` pages
reclaimed (slab pages are added to the reclaimed count as reclaim_state does, not to
pgsteal).

Simplifications relative to mm/vmscan.c
---------------------------------------
- No get_scan_count proportional scanning, swappiness or scan priorities: the stage order
  above is fixed (the textbook order: cheap clean page cache first, anon last).
- No refault/workingset detection, no MGLRU, no memcg; one node.
- Dirty pages are written back immediately, by kswapd or (for direct reclaim) by the
  flusher the kernel would wake; there is no writeback throttling (reclaim_throttle).
- kswapd runs only at the points listed above; there is no kcompactd (compaction runs
  only as direct compaction from the slow path).
"""

from __future__ import annotations

from typing import Any

from .errors import KernelFault
from .compaction import Compaction
from .events import NORMAL, Clock, EventQueue
from .gfp import MAX_NR_ZONES, ZONE_NAMES, __GFP_IO, format_gfp
from .internal import MAX_RECLAIM_RETRIES
from .mm_types import PAGE_SIZE
from .oom import OomKiller
from .pagecache import (LRU_ACTIVE_ANON, LRU_ACTIVE_FILE, LRU_INACTIVE_ANON, LRU_INACTIVE_FILE, PAGEVEC_SIZE,
                        File, LruVec, PageCache, Rmap)
from .slab import SlabAllocator
from .sysctl import SysctlTable
from .task import TaskTable
from .vma import AnonVma
from .trace import Tracer
from .vmstat import VmStat
from .zone_access import ZoneAccess

SWAP_CLUSTER_MAX = 32
RECLAIM_PAGE_NS = 300  # simulated time to scan and reclaim one page (printk timestamps)
_GFP_IO = __GFP_IO  # (a __GFP_ name in a class body is name-mangled)

_CLEAN, _DIRTY = 0, 1


class Reclaim:
    """Node reclaim state: kswapd and the shrink_node used by kswapd and direct reclaim."""

    def __init__(self, *, zones: ZoneAccess, lru: LruVec, rmap: Rmap, tasks: TaskTable, pagecache: PageCache,
                 compaction: Compaction, slab: SlabAllocator, vmstat: VmStat, tracer: Tracer, clock: Clock,
                 events: EventQueue, sysctls: SysctlTable) -> None:
        self.compaction = compaction
        self.slab = slab
        self.vmstat = vmstat
        self.tracer = tracer
        self.clock = clock
        self.events = events
        self.zones = zones
        self.lru = lru
        self.rmap = rmap
        self.tasks = tasks
        self.pagecache = pagecache
        self.kswapd_woken = False
        self.kswapd_order = 0
        self.kswapd_highest_zoneidx = -1  # -1: not set (the kernel's MAX_NR_ZONES)
        self.kswapd_failures = 0
        self.kswapd_runs = 0  # vmstat pageoutrun
        self.slab_pages_reclaimed = 0
        self._scanned = 0  # pages isolated / reclaimed by the current shrink_node
        self._stolen = 0
        sysctls.register("vm.drop_caches", lambda: pagecache.sysctl_drop_caches, self._sysctl_drop_caches)

    def _sysctl_drop_caches(self, value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 4:
            raise KernelFault(f"vm.drop_caches: {value!r} is out of range 1..4 (-EINVAL)")
        self.drop_caches(value)

    def drop_caches(self, value: int = 1) -> int:
        """``echo VALUE > /proc/sys/vm/drop_caches`` (fs/drop_caches.c: 1 page cache, 2 slab,
        3 both); the deferred work it woke runs before it returns.  Returns the pages freed."""
        n = self.pagecache.drop_caches(value, self.shrink_slab)
        self.events.run_due()
        return n

    # -- kswapd --------------------------------------------------------------------------------
    def pgdat_balanced(self, order: int, highest_zoneidx: int) -> bool:
        """mm/vmscan.c: pgdat_balanced — any eligible zone meets its high watermark."""
        za = self.zones
        any_managed = False
        for z in za.populated():
            if za.idx(z) > highest_zoneidx:
                continue
            any_managed = True
            if za.watermark_ok(z, order, za.high_wmark(z), highest_zoneidx):
                return True
        return not any_managed

    def pgdat_watermark_boosted(self, highest_zoneidx: int) -> bool:
        za = self.zones
        return any(za.boost(z) for z in za.populated() if za.idx(z) <= highest_zoneidx)

    def wakeup_kswapd(self, order: int, highest_zoneidx: int) -> None:
        self.kswapd_order = max(self.kswapd_order, order)
        self.kswapd_highest_zoneidx = max(self.kswapd_highest_zoneidx, highest_zoneidx)
        ex = self.tracer.explain
        if self.kswapd_woken:
            if ex.on:
                ex.note("wakeup_kswapd", "kswapd0 is already awake")
            return
        if self.kswapd_failures >= MAX_RECLAIM_RETRIES:
            if ex.on:
                ex.note("wakeup_kswapd", "not woken: the node is hopeless", kswapd_failures=self.kswapd_failures)
            return  # hopeless node: only direct reclaim can reset this
        if self.pgdat_balanced(order, highest_zoneidx) and not self.pgdat_watermark_boosted(highest_zoneidx):
            if ex.on:
                ex.note("wakeup_kswapd", "not woken: pgdat_balanced (every zone above its high mark)")
            return
        if ex.on:
            ex.note("wakeup_kswapd", "kswapd0 woken: runs from the event queue", order=order)
        self.kswapd_woken = True
        # wake_up_interruptible(&pgdat->kswapd_wait): kswapd runs from the event queue at
        # the next point deferred work runs (events.py); a woken kthread is queued once
        self.events.schedule(0, NORMAL, "kswapd0", self.run_kswapd_if_woken, once=True)

    def run_kswapd_if_woken(self) -> None:
        if self.kswapd_woken:
            self.kswapd()

    def kswapd(self) -> int:
        """Run kswapd now (balance_pgdat); returns the pages it reclaimed."""
        order = self.kswapd_order
        zoneidx = self.kswapd_highest_zoneidx
        if zoneidx < 0:
            zoneidx = self._top_zone_idx()
        self.kswapd_woken = False
        self.kswapd_order = 0
        self.kswapd_highest_zoneidx = -1
        self.kswapd_runs += 1
        tracer = self.tracer
        if tracer.enabled:
            tracer.emit("mm_vmscan_kswapd_wake", f"nid=0 zid={zoneidx} order={order}")
        total = 0
        boosted = self.pgdat_watermark_boosted(zoneidx)
        za = self.zones
        # kswapd_shrink_node: one pass reclaims the high watermarks of the eligible zones
        nr_to_reclaim = sum(max(za.high_wmark(z), SWAP_CLUSTER_MAX)
                            for z in za.populated() if za.idx(z) <= zoneidx)
        # set_reclaim_active: while kswapd works, pages freed to the per-cpu lists go on to
        # the buddy allocator in small batches (nr_pcp_high), so the zone's free count rises
        za.set_reclaim_active(zoneidx, True)
        try:
            while boosted or not self.pgdat_balanced(order, zoneidx):
                got = self.shrink_node(nr_to_reclaim, zoneidx, may_swap=True, is_kswapd=True)
                total += got
                if got == 0:
                    break
                if boosted and self.pgdat_balanced(order, zoneidx):
                    boosted = False
                if order and total >= 2 << order:
                    order = 0  # kswapd_shrink_node: leave the rest to compaction
        finally:
            za.set_reclaim_active(zoneidx, False)
        if total:
            self.kswapd_failures = 0
        elif not self.pgdat_balanced(order, zoneidx):
            self.kswapd_failures += 1
        self.zones.clear_boost()
        if tracer.explain.on:
            tracer.explain.note("balance_pgdat", f"kswapd0 reclaimed {total} pages", order=order,
                                nr_reclaimed=total)
        if tracer.enabled:
            tracer.emit("mm_vmscan_kswapd_sleep", "nid=0")
        return total

    def stats(self) -> str:
        """``show reclaim``: the /proc/vmstat lines of reclaim, compaction and the OOM killer."""
        state = "running" if self.kswapd_woken else "sleeping"
        lines = [f"kswapd0: {state} (order {self.kswapd_order}, failures {self.kswapd_failures})"]
        lines += [f"{name} {value}" for name, value in self.counters()]
        return "\n".join(lines)

    def counters(self) -> list[tuple[str, int]]:
        """The /proc/vmstat items of this area, by their kernel names."""
        vm = self.vmstat
        comp = self.compaction
        rows = [
            ("nr_inactive_anon", vm.nr_inactive_anon), ("nr_active_anon", vm.nr_active_anon),
            ("nr_inactive_file", vm.nr_inactive_file), ("nr_active_file", vm.nr_active_file),
            ("nr_anon_pages", vm.nr_anon_pages), ("nr_file_pages", vm.nr_file_pages),
            ("nr_mapped", vm.nr_mapped), ("nr_dirty", vm.nr_dirty), ("nr_writeback", vm.nr_writeback),
            ("nr_page_table_pages", vm.nr_pagetable_pages),
            ("nr_swap_used", vm.nr_swap_used), ("nr_swap_free", self.tasks.free_swap_pages),
            ("pgscan_kswapd", vm.pgscan_kswapd), ("pgscan_direct", vm.pgscan_direct),
            ("pgsteal_kswapd", vm.pgsteal_kswapd), ("pgsteal_direct", vm.pgsteal_direct),
            ("pageoutrun", self.kswapd_runs), ("allocstall", vm.allocstall),
            ("slab_reclaimed_pages", self.slab_pages_reclaimed),  # the simulator's own count
        ]
        rows += [("compact_stall", comp.compact_stall), ("compact_success", vm.compact_success),
                 ("compact_fail", vm.compact_fail), ("compact_isolated", comp.compact_isolated),
                 ("pgmigrate_success", comp.compact_migrated)]
        rows.append(("oom_kill", vm.oom_kill))
        return rows

    def _top_zone_idx(self) -> int:
        za = self.zones
        return max((za.idx(z) for z in za.populated()), default=0)

    # -- direct reclaim ----------------------------------------------------------------------
    def try_to_free_pages(self, gfp: int, order: int) -> int:
        vm = self.vmstat
        # kswapd, woken when the zone fell below low, has been running on another CPU while
        # this task used up the reserve down to min: let it have its run first (it also
        # clears watermark boosts, which only kswapd does)
        self.events.run_due()
        vm.allocstall += 1
        tracer = self.tracer
        if tracer.enabled:
            tracer.emit("mm_vmscan_direct_reclaim_begin", f"order={order} gfp_flags={format_gfp(gfp)}")
        got = self.shrink_node(SWAP_CLUSTER_MAX, self.zones.gfp_zone(gfp), may_swap=bool(gfp & _GFP_IO),
                               is_kswapd=False)
        if tracer.enabled:
            tracer.emit("mm_vmscan_direct_reclaim_end", f"nr_reclaimed={got}")
        if got:
            self.kswapd_failures = 0
        return got

    # -- shrink_node ----------------------------------------------------------------------------
    def shrink_node(self, nr_to_reclaim: int, reclaim_idx: int, *, may_swap: bool, is_kswapd: bool) -> int:
        """Reclaim up to *nr_to_reclaim* pages in the stage order of the module docstring."""
        self._scanned = 0
        self._stolen = 0
        reclaimed = self._shrink_file(nr_to_reclaim, _CLEAN, reclaim_idx)
        if reclaimed < nr_to_reclaim:
            slab = self.shrink_slab()
            self.slab_pages_reclaimed += slab
            reclaimed += slab
        if reclaimed < nr_to_reclaim:
            reclaimed += self._shrink_file(nr_to_reclaim - reclaimed, _DIRTY, reclaim_idx)
        if reclaimed < nr_to_reclaim and may_swap and self.tasks.free_swap_pages > 0:
            reclaimed += self._shrink_anon(nr_to_reclaim - reclaimed, reclaim_idx)
        vm = self.vmstat
        self.clock.ns += self._scanned * RECLAIM_PAGE_NS
        if is_kswapd:
            vm.pgscan_kswapd += self._scanned
            vm.pgsteal_kswapd += self._stolen
        else:
            vm.pgscan_direct += self._scanned
            vm.pgsteal_direct += self._stolen
        return reclaimed

    def _deactivate(self, active: int, inactive: int, nr: int) -> int:
        """shrink_active_list: move up to *nr* pages from the active tail to the inactive head."""
        lru = self.lru
        moved = 0
        while moved < nr:
            pfn = lru.pop_tail(active)
            if pfn is None:
                break
            lru.add(pfn, inactive)
            moved += 1
        return moved

    def _page_zone_ok(self, pfn: int, reclaim_idx: int) -> bool:
        return self.zones.pfn_zone_idx(pfn) <= reclaim_idx

    def _shrink_file(self, nr: int, mode: int, reclaim_idx: int) -> int:
        """shrink_inactive_list / shrink_folio_list on the file LRU (see the module docstring).

        Freeing (mm/vmscan.c: shrink_folio_list): a reclaimed page leaves the page cache
        (__remove_mapping) and goes on the local ``free_folios`` folio_batch; a full batch
        (PAGEVEC_SIZE) is freed at once (free_unref_folios), and the rest when the
        shrink_folio_list call ends, before the kept pages go back to the LRU.  The kernel
        calls shrink_folio_list on the SWAP_CLUSTER_MAX pages each shrink_inactive_list
        isolates, so here a call ends after every SWAP_CLUSTER_MAX pages taken off the
        inactive list, before the active list is deactivated into it (shrink_active_list
        is a separate call) and when the loop stops.  Nothing in the loop reads the
        allocator, so the state is the same as with each page freed at once (the
        ``pagecache.batched_free = False`` path)."""
        lru = self.lru
        pc = self.pagecache
        dirty = pc.dirty
        batched = pc.batched_free
        got = 0
        set_aside: list[int] = []  # dirty pages met in the clean pass: back at the head later
        kept: list[int] = []       # pages of zones above reclaim_idx: back at the tail
        free_folios: list[int] = []
        isolated = 0               # pages taken off the inactive list by this call
        lru_nr = lru.nr
        vm = self.vmstat
        # _page_zone_ok, inlined: every page is in a zone at or below the highest one
        zone_idx = self.zones.pfn_zone_idx
        any_zone = reclaim_idx >= max(z.idx for z in self.zones.populated())
        clean = mode == _CLEAN
        try:
            while got < nr:
                # (dirty pages set aside are off the lists but still counted in nr_dirty)
                # the clean file pages left
                if clean and (lru_nr[LRU_INACTIVE_FILE] + lru_nr[LRU_ACTIVE_FILE] - int(vm.nr_dirty)
                              + len(set_aside) <= 0):
                    break
                pfn = lru.pop_tail(LRU_INACTIVE_FILE)
                if pfn is None:
                    if free_folios:
                        pc.release_folios(free_folios)  # the shrink_folio_list call ended
                        free_folios = []
                    isolated = 0  # the next shrink_inactive_list isolates a new batch
                    if self._deactivate(LRU_ACTIVE_FILE, LRU_INACTIVE_FILE, max(SWAP_CLUSTER_MAX, nr - got)) == 0:
                        break
                    continue
                self._scanned += 1
                if free_folios and not isolated % SWAP_CLUSTER_MAX:
                    pc.release_folios(free_folios)  # the previous shrink_folio_list call ended
                    free_folios = []
                isolated += 1
                if not any_zone and zone_idx(pfn) > reclaim_idx:
                    kept.append(pfn)
                    continue
                found = self.rmap.lookup(pfn)
                if found is None or not isinstance(found[0], File):
                    continue  # not a page-cache page any more (cannot happen; be safe)
                f, idx = found
                if f.maps and lru.young.get(pfn) and pc.page_mapped(f, idx):
                    # a mapped page whose pte is young: folio_check_references activates it
                    lru.young.set(pfn, 0)
                    lru.add(pfn, LRU_ACTIVE_FILE)
                    continue
                if dirty.get(pfn):
                    if mode == _CLEAN:
                        set_aside.append(pfn)
                        continue
                    pc.writeback_page(f, pfn)
                got += 1
                self._stolen += 1
                if not batched:
                    pc.evict_page(f, idx, pfn)
                    continue
                pc.remove_mapping(f, idx, pfn)
                free_folios.append(pfn)
                if len(free_folios) == PAGEVEC_SIZE:  # folio_batch_add returned 0: the batch is full
                    pc.release_folios(free_folios)
                    free_folios = []
        finally:
            pc.release_folios(free_folios)
        if kept:
            lru.putback_tail(kept, LRU_INACTIVE_FILE)
        for pfn in set_aside:
            lru.add(pfn, LRU_INACTIVE_FILE)
        return got

    def _shrink_anon(self, nr: int, reclaim_idx: int) -> int:
        lru = self.lru
        tasks = self.tasks
        referenced = lru.young
        got = 0
        kept: list[int] = []
        while got < nr and tasks.free_swap_pages > 0:
            pfn = lru.pop_tail(LRU_INACTIVE_ANON)
            if pfn is None:
                if self._deactivate(LRU_ACTIVE_ANON, LRU_INACTIVE_ANON, max(SWAP_CLUSTER_MAX, nr - got)) == 0:
                    break
                continue
            self._scanned += 1
            if not self._page_zone_ok(pfn, reclaim_idx):
                kept.append(pfn)
                continue
            found = self.rmap.lookup(pfn)
            if found is None or not isinstance(found[0], AnonVma):
                continue
            av, vpn = found
            if referenced.get(pfn):
                # young pte: FOLIOREF_ACTIVATE, the page gets a second round on the active list
                referenced.set(pfn, 0)
                lru.add(pfn, LRU_ACTIVE_ANON)
                continue
            if not tasks.swap_out(av, vpn, pfn):
                kept.append(pfn)
                break
            got += 1
            self._stolen += 1
        if kept:
            lru.putback_tail(kept, LRU_INACTIVE_ANON)
        return got

    def shrink_slab(self) -> int:
        """shrink_slab, through the slab layer's public kmem_cache_shrink.

        The kernel's shrinkers (dcache, icache ...) free *objects* of reclaimable caches and
        the emptied slabs go back to the page allocator.  Scripts' objects have no owner
        that could give them up, so this frees what can be freed without one: the empty
        slabs of every SLAB_RECLAIM_ACCOUNT cache.  Returns the pages freed.
        """
        slab = self.slab
        vm = self.vmstat
        before = vm.nr_slab_reclaimable_b
        for cache in list(slab.caches):
            if cache.reclaim_account:
                slab.kmem_cache_shrink(cache)
        return max(0, int(before - vm.nr_slab_reclaimable_b)) // PAGE_SIZE


class ReclaimHooks:
    """The slow path's entry points into reclaim, compaction and the OOM killer
    (internal.SlowPathHooks), installed with ``page_alloc.install_slowpath_hooks``."""

    def __init__(self, reclaim: Reclaim, compaction: Compaction, oom: OomKiller) -> None:
        self.reclaim = reclaim
        self.compaction = compaction
        self.oom = oom

    def wakeup_kswapd(self, order: int, highest_zoneidx: int) -> None:
        self.reclaim.wakeup_kswapd(order, highest_zoneidx)

    def try_to_free_pages(self, gfp: int, order: int) -> int:
        return self.reclaim.try_to_free_pages(gfp, order)

    def try_to_compact_pages(self, gfp: int, order: int) -> bool:
        return self.compaction.try_to_compact_pages(gfp, order)

    def out_of_memory(self, gfp: int, order: int) -> bool:
        return self.oom.out_of_memory(gfp, order)

    def zone_reclaimable_pages(self, zone_idx: int) -> int:
        """mm/vmscan.c: zone_reclaimable_pages — file LRU pages, plus anon ones while swap has room
        (can_reclaim_anon_pages); should_reclaim_retry adds them to the free pages."""
        counts = self.reclaim.lru.zone_nr[zone_idx]
        nr = counts[LRU_INACTIVE_FILE] + counts[LRU_ACTIVE_FILE]
        if self.reclaim.tasks.free_swap_pages > 0:
            nr += counts[LRU_INACTIVE_ANON] + counts[LRU_ACTIVE_ANON]
        return nr



__all__ = ["Reclaim", "ReclaimHooks", "SWAP_CLUSTER_MAX", "MAX_NR_ZONES", "ZONE_NAMES"]
