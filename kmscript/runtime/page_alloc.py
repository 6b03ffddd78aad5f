"""The zoned buddy page allocator: mm/page_alloc.c of Linux 6.18 (x86_64, one node).

Public API (other allocators code against it)
---------------------------------------------
- ``PageAllocator.alloc_pages(gfp, order, *, owner=OWNER_KERNEL, caller=None) -> int | None``
  returns the head pfn, or None after the kernel's failure handling (slow path, then
  warn_alloc unless __GFP_NOWARN).
- ``PageAllocator.free_pages(pfn, order) -> None`` (__free_pages: drops one reference).
- ``zone_of(pfn)``, ``owner_of(pfn)``, ``set_owner(pfn, nr_pages, owner)``, ``nr_free_pages()``,
  ``zones``/``populated``, ``drain_all_pages()``, ``get_page``/``put_page``, ``page(pfn)``.
- Compaction primitives: ``iter_blocks(start, end)``, ``pageblock_info(pfn)``,
  ``movable_blocks(zone)``, ``migrate_page(pfn) -> new_pfn | None``.
- Slow-path hooks: ``install_slowpath_hooks(hooks)`` (internal.SlowPathHooks: wakeup_kswapd,
  try_to_free_pages, try_to_compact_pages, out_of_memory, zone_reclaimable_pages).
- Owner codes (mm_types.py); direct map ``page_address(pfn) = PAGE_OFFSET + pfn * PAGE_SIZE``.

The class is a stack of layers, one file each, shaped like mm/: mm_init.py (boot, layout,
watermarks, sysctls) -> page_state.py (struct page queries) -> show_mem.py (reports) ->
page_free.py (freeing, pcp drains, get/put_page) -> migrate.py (compaction primitives)
-> this file (allocation fast and slow paths).  internal.py holds mm/internal.h.

What it models
--------------
Allocation: __alloc_frozen_pages_noprof -> get_page_from_freelist (high-watermark fast
test, ZONE_BELOW_HIGH, ALLOC_NOFRAGMENT retry) -> rmqueue (pcp for orders 0-3 and the THP
order, rmqueue_bulk refills with nr_pcp_alloc, or rmqueue_buddy) -> __rmqueue (NORMAL,
CLAIM with watermark boost, STEAL modes) -> the slow path of linux-mm-facts.md 3.6.

Invariants
----------
- Every managed page is in exactly one state: free on a buddy list, on one CPU's pcp
  list, or allocated (head byte holds owner and order).
- NR_FREE_PAGES (``zone.free_pages``) counts only buddy lists; pcp pages are not free.
- An allocated block's order is kept in its head page's state byte, so every free is
  checked against it (wrong order, double free, tail or reserved page -> bad_page).
- Per-page memory is one byte per touched page (per-section bytearrays); refcounts,
  mapcounts and compound heads are sparse (only pages that differ from the default).

Simplifications
---------------
One NUMA node, no CMA, no memory hotplug or isolation users, no page shuffling, no
debug_pagealloc guard pages; per-zone LRU counters are not kept (meminfo uses node
counters); the periodic pcp ``decay_pcp_high`` of vmstat_update is not run; warn_alloc
is rate limited by nopage_rs (10*HZ, burst 1) as in the kernel; ``expect alloc_fail`` also
counts the reports the limit suppressed (KernelLog.suppressed);
a __GFP_NOFAIL request that can never succeed raises KernelFault instead of looping
forever, and the slow path stops after SLOWPATH_LOOP_LIMIT rounds.  Pointer values in
trace events are printed unhashed (as with no_hash_pointers).  get_page/put_page act on
the block's head (the folio), as folio_get/folio_put do.
"""

from __future__ import annotations

from typing import Any

from .buddy import (BUDDY_MIN, FALLBACKS, K_BUDDY, K_PCP, SECTION_MASK, SECTION_SHIFT, TAIL,
                    migratetype_is_mergeable)
from .bug_sites import ALLOC_ORDER_TOO_LARGE, SLOWPATH_NOFAIL_NOBLOCK, SLOWPATH_NOFAIL_ORDER
from .errors import KernelFault
from .gfp import (__GFP_COMP, __GFP_DIRECT_RECLAIM, __GFP_HARDWALL, __GFP_HIGH, __GFP_HIGHMEM, __GFP_IO,
                  __GFP_KSWAPD_RECLAIM, __GFP_MEMALLOC, __GFP_NOFAIL, __GFP_NOMEMALLOC, __GFP_NORETRY,
                  __GFP_NOWARN, __GFP_RETRY_MAYFAIL, __GFP_THISNODE, __GFP_ZERO, MIGRATE_HIGHATOMIC,
                  MIGRATE_MOVABLE, MIGRATE_PCPTYPES, MIGRATE_RECLAIMABLE, MIGRATE_TYPES,
                  MIGRATE_UNMOVABLE, MIGRATETYPE_NAMES, format_gfp,
                  gfp_migratetype)
from .explain import DecisionLog
from .internal import (PCP_BLOCK_BYTES, ALLOC_WMARK_MIN, ALLOC_WMARK_LOW, ALLOC_WMARK_HIGH, ALLOC_WMARK_MASK,
                       ALLOC_NO_WATERMARKS, ALLOC_OOM, ALLOC_NON_BLOCK, ALLOC_MIN_RESERVE, ALLOC_CPUSET,
                       ALLOC_NOFRAGMENT, ALLOC_HIGHATOMIC, ALLOC_KSWAPD, MAX_RECLAIM_RETRIES,
                       MAX_COMPACT_RETRIES, PF_MEMALLOC, SLOWPATH_LOOP_LIMIT, MAXORDER_LI, TAIL_BYTES,
                       format_alloc_flags, order_to_pindex, should_try_claim_block, zone_watermark_ok,
                       zone_watermark_fast)
from .mm_types import (MAX_PAGE_ORDER, NR_PAGE_ORDERS, PAGE_ALLOC_COSTLY_ORDER, PAGEBLOCK_ORDER,
                       PAGEBLOCK_NR_PAGES, OWNER_KERNEL, OWNERS_MOVABLE)
from .zone import PCP_BATCH_SCALE_MAX, WMARK_HIGH, PerCpuPages, Zone

_WMARK_NAMES = ("min", "low", "high")


def _pfn_or_null(pfn: int | None) -> str:
    return "NULL" if pfn is None else f"pfn {pfn:#x}"
from .migrate import Migrate

# __GFP_* names are mangled inside a class body: module-level aliases
_GFP_COMP = __GFP_COMP
_GFP_DIRECT_RECLAIM = __GFP_DIRECT_RECLAIM
_GFP_HARDWALL = __GFP_HARDWALL
_GFP_HIGHMEM = __GFP_HIGHMEM
_GFP_HIGH = __GFP_HIGH
_GFP_IO = __GFP_IO
_GFP_KSWAPD_RECLAIM = __GFP_KSWAPD_RECLAIM
_GFP_MEMALLOC = __GFP_MEMALLOC
_GFP_NOFAIL = __GFP_NOFAIL
_GFP_NOMEMALLOC = __GFP_NOMEMALLOC
_GFP_NORETRY = __GFP_NORETRY
_GFP_NOWARN = __GFP_NOWARN
_GFP_RETRY_MAYFAIL = __GFP_RETRY_MAYFAIL
_GFP_THISNODE = __GFP_THISNODE
_GFP_ZERO = __GFP_ZERO


# A module function rather than a staticmethod: it runs for every order-0 allocation, and
# CPython 3.11 does not specialise loading a staticmethod through self.
def _pcp_fast_zone(ac: tuple[int, int, tuple[Zone, ...], int]) -> Zone | None:
    """The zone get_page_from_freelist would take an order-0 page from, if the walk is
    the common one without side effects: the first zone of the zonelist that passes
    zone_watermark_fast's order-0 test - at the high mark, or, once ZONE_BELOW_HIGH is
    set, at the low mark of ALLOC_WMARK_LOW (the cached contexts' mark) - after zones
    that are below the low mark with ZONE_BELOW_HIGH already set (skipped without a
    trace).  None when the full path must decide: a zone that misses its high mark
    for the first time (the full path sets ZONE_BELOW_HIGH), a boosted zone (rmqueue
    clears the boost and wakes kswapd), or no zone passing."""
    hz = ac[0]
    for zone in ac[2]:
        if (zone.free_pages - zone.nr_free_highatomic
                > zone._watermark[1 + (not zone.below_high)] + zone.watermark_boost + zone.lowmem_reserve[hz]):
            return None if zone.boosted_watermark else zone
        if not zone.below_high:
            return None
    return None


class PageAllocator(Migrate):
    """The zoned page allocator of one machine (mm/page_alloc.c): allocation fast and slow
    paths on top of the layers it inherits (see the module docstring)."""

    # =====================================================================================
    # The allocation fast path (mm/page_alloc.c: __alloc_frozen_pages_noprof)
    # =====================================================================================
    def _alloc_context(self, gfp: int) -> tuple[int, int, tuple[Zone, ...], int]:
        """prepare_alloc_pages + alloc_flags_nofragment, cached per gfp mask."""
        ac = self._ac_cache.get(gfp)
        if ac is None:
            zt = self.zt
            hz = zt.gfp_zone(gfp)
            mt = gfp_migratetype(gfp)
            zonelist = tuple(z for z in reversed(self.populated) if z.idx <= hz and z.idx != zt.DEVICE)
            flags = ALLOC_WMARK_LOW | (gfp & _GFP_KSWAPD_RECLAIM)  # == ALLOC_KSWAPD
            # alloc_flags_nofragment: only under CONFIG_ZONE_DMA32, for a Normal preferred zone
            if zt.DMA32 >= 0 and zonelist and zonelist[0].idx == zt.NORMAL:
                flags |= ALLOC_NOFRAGMENT
            ac = (hz, mt, zonelist, flags)
            if len(self._ac_cache) < 1024:
                self._ac_cache[gfp] = ac
        return ac

    def alloc_pages(self, gfp: int, order: int, *, owner: int = OWNER_KERNEL,
                    caller: str | None = None) -> int | None:
        """alloc_pages(): the head pfn of 2^order pages, or None (warn_alloc unless __GFP_NOWARN)."""
        ctx = self.ctx
        if (gfp & _GFP_DIRECT_RECLAIM and order <= MAX_PAGE_ORDER
                and (ctx.preempt_count or ctx.irqs_disabled_per_cpu[ctx.cpu] or ctx.rcu_nesting)):
            # prepare_alloc_pages -> might_alloc (the order check comes first in the kernel);
            # might_alloc's own test inlined, so a caller that may sleep pays nothing more
            ctx.might_alloc(gfp, ("__alloc_frozen_pages_noprof", "alloc_pages_mpol", caller or "alloc_pages_noprof"))
        if order == 0 and not self.faults.active and not self.tracer.enabled:
            # The common case of get_page_from_freelist + rmqueue_pcplist, inlined.
            ac = self._ac_cache.get(gfp)
            zone = _pcp_fast_zone(ac) if ac is not None else None
            if zone is not None and ac is not None:
                pcp = zone.pcp[ctx.cpu]
                lst = pcp.lists[ac[1]]
                if lst:
                    pcp.free_count >>= 1
                    pcp.count -= 1
                    pfn: int = lst.popleft()
                    zone.numa_hit += 1
                    zone.pgalloc += 1
                    sec = self.memmap.sections[pfn >> SECTION_SHIFT]
                    assert sec is not None   # a page on a pcp list has state bytes
                    sec[pfn & SECTION_MASK] = owner << 4
                    if gfp & _GFP_ZERO:
                        self.phys.clear_pages(pfn, 1)
                    return pfn
        elif 0 < order <= PAGE_ALLOC_COSTLY_ORDER and not self.faults.active and not self.tracer.enabled:
            # The same for orders 1-3: __zone_watermark_ok at the high mark, whose search for
            # a free block of a usable type is answered by the order-10 lists in the common
            # case (otherwise the full path decides).
            ac = self._ac_cache.get(gfp)
            if ac is not None and ac[2]:
                zone = ac[2][0]
                nr_list = zone.nr_list
                if (not zone.below_high and not zone.boosted_watermark
                        and zone.free_pages - ((1 << order) - 1) - zone.nr_free_highatomic
                        > zone._watermark[2] + zone.watermark_boost + zone.lowmem_reserve[ac[0]]
                        and (nr_list[MAXORDER_LI] or nr_list[MAXORDER_LI + 1] or nr_list[MAXORDER_LI + 2])):
                    pcp = zone.pcp[self.ctx.cpu]
                    lst = pcp.lists[MIGRATE_PCPTYPES * order + ac[1]]
                    if lst:
                        pcp.free_count >>= 1
                        nr = 1 << order
                        pcp.count -= nr
                        hpfn: int = lst.popleft()
                        zone.numa_hit += 1
                        zone.pgalloc += nr
                        sec = self.memmap.sections[hpfn >> SECTION_SHIFT]
                        assert sec is not None
                        i = hpfn & SECTION_MASK
                        sec[i + 1:i + nr] = TAIL_BYTES[owner][order]
                        sec[i] = (owner << 4) | order
                        if gfp & _GFP_COMP:
                            self.compound.add(hpfn)
                        if gfp & _GFP_ZERO:
                            self.phys.clear_pages(hpfn, nr)
                        return hpfn
        if self.tracer.enabled and self.tracer.explain.on:
            return self._alloc_pages_explained(gfp, order, owner, caller)
        return self._alloc_pages(gfp, order, owner, caller)

    def get_free_pages(self, gfp: int, order: int, caller: str | None = None) -> int | None:
        """__get_free_pages(gfp, order): the direct-map address of the block, or None.

        mm/page_alloc.c get_free_pages_noprof(): an address cannot represent a highmem page,
        so __GFP_HIGHMEM is cleared before allocating (it shows in the trace)."""
        pfn = self.alloc_pages(gfp & ~_GFP_HIGHMEM, order, caller=caller)
        return None if pfn is None else self.arch.page_address(pfn)

    def get_zeroed_page(self, gfp: int, caller: str | None = None) -> int | None:
        """get_zeroed_page(gfp): __get_free_page(gfp | __GFP_ZERO)."""
        return self.get_free_pages(gfp | _GFP_ZERO, 0, caller)

    def alloc_pages_pcp_run(self, gfp: int, nr: int, owner: int) -> list[int]:
        """The pages nr alloc_pages(gfp, 0) calls in a row would get while each is served by
        the order-0 fast path from this CPU's pcp list: up to nr pfns in allocation order,
        possibly none (the caller then calls alloc_pages, which may refill, reclaim or fail).

        The fast path's choice of zone (_pcp_fast_zone) does not depend on the pcp list,
        so it is the same for every one of the calls; the run is
        only taken when nothing else could differ between the calls: no fault injection,
        no tracing, and a context that may sleep (might_alloc reports nothing).  Used by the
        page-fault loop, which maps the pages one by one afterwards.
        """
        if (self.faults.active or self.tracer.enabled or nr <= 0
                or (gfp & _GFP_DIRECT_RECLAIM and self.ctx.sleep_forbidden())):
            return []
        ac = self._ac_cache.get(gfp)
        zone = _pcp_fast_zone(ac) if ac is not None else None
        if zone is None:
            return []
        assert ac is not None
        pcp = zone.pcp[self.ctx.cpu]
        lst = pcp.lists[ac[1]]
        k = min(nr, len(lst))
        if not k:
            return []
        pcp.free_count >>= k
        pcp.count -= k
        zone.numa_hit += k
        zone.pgalloc += k
        pfns = [lst.popleft() for _ in range(k)]
        sections = self.memmap.sections
        byte = owner << 4
        for pfn in pfns:
            sec = sections[pfn >> SECTION_SHIFT]
            assert sec is not None   # a page on a pcp list has state bytes
            sec[pfn & SECTION_MASK] = byte
        if gfp & _GFP_ZERO:
            for pfn in pfns:
                self.phys.clear_pages(pfn, 1)
        return pfns

    def alloc_pages_bulk(self, gfp: int, nr_pages: int, *, owner: int = OWNER_KERNEL,
                         caller: str | None = None) -> list[int]:
        """mm/page_alloc.c: alloc_pages_bulk_noprof - up to ``nr_pages`` order-0 pages, in
        the order they were taken; fewer (possibly none) when the pcp list runs dry.

        - One page is left to the single-page allocator ("Use the single page allocator
          for one page"), and so is the whole request when no zone of the zonelist passes
          zone_watermark_fast at its low mark plus ``nr_pages`` or the pcp list cannot
          give even one page: then one page comes from __alloc_pages_noprof, with all its
          fallbacks (reclaim, OOM, warn_alloc unless __GFP_NOWARN) and its mm_page_alloc
          event.
        - Otherwise the pages come from the chosen zone's pcp list for the migratetype,
          under one pcp lock, refilled by rmqueue_bulk (nr_pcp_alloc pages at a time, each
          traced as mm_page_alloc_zone_locked with percpu_refill=1) whenever it is empty.
          The bulk path has no tracepoint of its own: its pages emit no mm_page_alloc.
          alloc_flags are prepare_alloc_pages' ALLOC_WMARK_LOW alone (no
          ALLOC_NOFRAGMENT, no ALLOC_KSWAPD: alloc_flags_nofragment is only called by
          __alloc_frozen_pages_noprof), and pcp->free_count is left alone (only
          rmqueue_pcplist halves it).
        - prepare_alloc_pages' fault injection (should_fail_alloc_page) fails the whole
          call: nothing is allocated and the caller falls back.

        Not modelled: memcg accounting (with memcg kmem online a __GFP_ACCOUNT request goes
        to the single-page allocator; the simulation has no memcg), page_owner, cpusets and
        a pcp trylock that fails (the simulation has no concurrent drain)."""
        if nr_pages <= 0:
            return []
        if nr_pages == 1:
            pfn = self.alloc_pages(gfp, 0, owner=owner, caller=caller)
            return [] if pfn is None else [pfn]
        ctx = self.ctx
        if gfp & _GFP_DIRECT_RECLAIM:
            ctx.might_alloc(gfp, ("alloc_pages_bulk_noprof", caller or "alloc_pages_bulk_node_noprof"))
        if self.faults.active and self.faults.should_fail_alloc_page(gfp, 0):
            return []
        hz, mt, zonelist, _ = self._alloc_context(gfp)
        alloc_flags = ALLOC_WMARK_LOW
        ex = self.tracer.explain
        step = ex.begin("alloc_pages_bulk", nr_pages=nr_pages, gfp=format_gfp(gfp)) if ex.on else None
        zone = None
        for z in zonelist:
            # the low mark plus the whole request (zone_watermark_fast at order 0)
            mark = z.wmark_pages(alloc_flags & ALLOC_WMARK_MASK) + nr_pages
            if step is None:
                ok = zone_watermark_fast(z, 0, mark, hz, alloc_flags)
            else:
                why: dict[str, Any] = {}
                ok = zone_watermark_fast(z, 0, mark, hz, alloc_flags, why)
                ex.note("zone_watermark_fast", "pass" if ok else "fail", zone=z.name, order=0, mark="low + nr_pages",
                        mark_pages=mark, nr_free_pages=z.free_pages, **why)
            if ok:
                zone = z
                break
        got: list[int] = []
        if zone is not None:
            pcp = zone.pcp[ctx.cpu]
            lst = pcp.lists[mt]
            while len(got) < nr_pages:
                if not lst:
                    # __rmqueue_pcplist: refill the empty list
                    n = self._rmqueue_bulk(zone, 0, self._nr_pcp_alloc(pcp, zone, 0), lst, mt, alloc_flags)
                    pcp.count += n
                    if not lst:
                        break
                got.append(lst.popleft())
                pcp.count -= 1
            for pfn in got:
                self._prep_new_page(pfn, 0, gfp, owner)
            zone.pgalloc += len(got)      # __count_zid_vm_events(PGALLOC, ...)
            zone.numa_hit += len(got)     # zone_statistics
        if step is not None:
            ex.end(step, f"{len(got)} pages from the {zone.name} pcp list" if got and zone is not None else
                   "no zone passes its low mark + nr_pages, or its pcp list is empty: one page from "
                   "the single-page allocator")
        if not got:
            # failed / failed_irq: try the single-page allocator for one page
            pfn = self.alloc_pages(gfp, 0, owner=owner, caller=caller)
            return [] if pfn is None else [pfn]
        return got

    def _alloc_pages_explained(self, gfp: int, order: int, owner: int, caller: str | None) -> int | None:
        """_alloc_pages inside its record (mm/page_alloc.c: __alloc_frozen_pages_noprof)."""
        ex = self.tracer.explain
        step = ex.begin("__alloc_pages", order=order, gfp=format_gfp(gfp))
        pfn = None
        try:
            pfn = self._alloc_pages(gfp, order, owner, caller)
        finally:
            ex.end(step, _pfn_or_null(pfn))
        return pfn

    def _alloc_pages(self, gfp: int, order: int, owner: int, caller: str | None) -> int | None:
        if order > MAX_PAGE_ORDER or order < 0:
            if order > MAX_PAGE_ORDER and not gfp & _GFP_NOWARN:
                # WARN_ON_ONCE_GFP(order > MAX_PAGE_ORDER, gfp)
                self._warn_on(ALLOC_ORDER_TOO_LARGE, caller, once_key="order > MAX_PAGE_ORDER")
            if order < 0:
                raise KernelFault(f"order {order}: an order is 0..{MAX_PAGE_ORDER}")
            return None
        if self.faults.active and self.faults.should_fail_alloc_page(gfp, order):
            if self.tracer.explain.on:
                self.tracer.explain.note("should_fail_alloc_page", "fail_page_alloc injected a failure")
            return None
        hz, mt, zonelist, alloc_flags = self._alloc_context(gfp)
        if self.tracer.explain.on:
            self.tracer.explain.note(
                "prepare_alloc_pages", highest_zoneidx=self.zt.names[hz], migratetype=MIGRATETYPE_NAMES[mt],
                zonelist=",".join(z.name for z in zonelist) or "empty",
                preferred_zone=zonelist[0].name if zonelist else "none", alloc_flags=format_alloc_flags(alloc_flags))
        if not zonelist:
            pfn = None
        else:
            pfn = self.get_page_from_freelist(gfp, order, alloc_flags, hz, mt, zonelist)
            if pfn is None:
                pfn = self._alloc_pages_slowpath(gfp, order, hz, mt, zonelist, caller)
        if pfn is not None:
            self._prep_new_page(pfn, order, gfp, owner)
        if self.tracer.enabled:
            if pfn is None:
                self.tracer.emit("mm_page_alloc", f"page={0:0{self.arch.ptr_digits}x} pfn=0x0 order={order} "
                                 f"migratetype={mt} gfp_flags={format_gfp(gfp)}")
            else:
                self.tracer.emit("mm_page_alloc", f"page={self.arch.pfn_to_struct_page(pfn):0{self.arch.ptr_digits}x} pfn={pfn:#x} "
                                 f"order={order} migratetype={mt} gfp_flags={format_gfp(gfp)}")
        return pfn

    def _prep_new_page(self, pfn: int, order: int, gfp: int, owner: int) -> None:
        """prep_new_page/post_alloc_hook: refcount 1, owner bytes, __GFP_ZERO, compound."""
        sec = self.memmap.sections[pfn >> SECTION_SHIFT]
        if sec is None:
            sec = self.memmap.section(pfn)
        i = pfn & SECTION_MASK
        if order:
            n = 1 << order
            sec[i + 1:i + n] = bytes(((owner << 4) | TAIL,)) * (n - 1)
            if gfp & _GFP_COMP:
                self.compound.add(pfn)
        sec[i] = (owner << 4) | order
        if gfp & _GFP_ZERO:
            self.phys.clear_pages(pfn, 1 << order)

    def get_page_from_freelist(self, gfp: int, order: int, alloc_flags: int, hz: int, mt: int,
                               zonelist: tuple[Zone, ...]) -> int | None:
        """The zonelist walk; while explaining, each zone's watermark test is recorded
        (_watermark_step calls the same zone_watermark_fast)."""
        ex: DecisionLog | None = None
        step = None
        pfn = None
        if self.tracer.enabled and self.tracer.explain.on:
            ex = self.tracer.explain
            step = ex.begin("get_page_from_freelist", order=order, alloc_flags=format_alloc_flags(alloc_flags))
        try:
            while True:
                for zone in zonelist:
                    if not zone.below_high:
                        if (zone_watermark_fast(zone, order, zone.high, hz, alloc_flags) if ex is None
                                else self._watermark_step(ex, zone, order, WMARK_HIGH, hz, alloc_flags)):
                            pfn = self._rmqueue(zone, order, gfp, alloc_flags, mt)
                            if pfn is not None:
                                if alloc_flags & ALLOC_HIGHATOMIC:
                                    self._reserve_highatomic_pageblock(pfn, order, zone)
                                return pfn
                            continue
                        zone.below_high = True
                        if ex is not None:
                            ex.note("get_page_from_freelist", f"{zone.name} below its high mark: ZONE_BELOW_HIGH set")
                    mark = zone.wmark_pages(alloc_flags & ALLOC_WMARK_MASK)
                    if not (zone_watermark_fast(zone, order, mark, hz, alloc_flags) if ex is None
                            else self._watermark_step(ex, zone, order, alloc_flags & ALLOC_WMARK_MASK, hz,
                                                      alloc_flags)):
                        if not alloc_flags & ALLOC_NO_WATERMARKS:
                            continue
                        if ex is not None:
                            ex.note("get_page_from_freelist", "ALLOC_NO_WATERMARKS: the failed test is ignored",
                                    zone=zone.name)
                    pfn = self._rmqueue(zone, order, gfp, alloc_flags, mt)
                    if pfn is not None:
                        if alloc_flags & ALLOC_HIGHATOMIC:
                            self._reserve_highatomic_pageblock(pfn, order, zone)
                        return pfn
                if alloc_flags & ALLOC_NOFRAGMENT:
                    alloc_flags &= ~ALLOC_NOFRAGMENT
                    if ex is not None:
                        ex.note("get_page_from_freelist", "no zone served without fragmenting: retry without "
                                "ALLOC_NOFRAGMENT", alloc_flags=format_alloc_flags(alloc_flags))
                    continue
                return None
        finally:
            # every return above returns the pfn just taken, or None
            if ex is not None and step is not None:
                ex.end(step, _pfn_or_null(pfn))

    def _watermark_step(self, ex: DecisionLog, zone: Zone, order: int, wmark: int, hz: int,
                        alloc_flags: int) -> bool:
        """zone_watermark_fast at watermark *wmark* (WMARK_MIN/LOW/HIGH) with the numbers it
        compared recorded (explain)."""
        why: dict[str, Any] = {}
        mark = zone.wmark_pages(wmark)
        ok = zone_watermark_fast(zone, order, mark, hz, alloc_flags, why)
        numbers: dict[str, Any] = {"zone": zone.name, "order": order, "mark": _WMARK_NAMES[wmark],
                                   "mark_pages": mark, "nr_free_pages": zone.free_pages}
        if zone.watermark_boost:
            numbers["watermark_boost"] = zone.watermark_boost
        if zone.nr_free_highatomic:
            numbers["nr_free_highatomic"] = zone.nr_free_highatomic
        numbers.update(why)
        numbers["alloc_flags"] = format_alloc_flags(alloc_flags)
        ex.note("zone_watermark_fast", "pass" if ok else "fail", **numbers)
        return ok

    def _rmqueue(self, zone: Zone, order: int, gfp: int, alloc_flags: int, mt: int) -> int | None:
        pfn: int | None = None
        if order <= PAGE_ALLOC_COSTLY_ORDER or (order == PAGEBLOCK_ORDER and self.thp_enabled):
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
            ex.end(step, _pfn_or_null(pfn))
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
            refill = int((order <= PAGE_ALLOC_COSTLY_ORDER or (order == PAGEBLOCK_ORDER and self.thp_enabled))
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
        if claimable and not should_try_claim_block(order, mt):
            return -2
        if not zone._nr_free[order]:
            return -1
        for fmt in FALLBACKS[mt]:
            if zone.nr_list[order * MIGRATE_TYPES + fmt]:
                return fmt
        return -1

    def _rmqueue_claim(self, zone: Zone, order: int, start_mt: int, alloc_flags: int) -> int | None:
        if start_mt >= MIGRATE_PCPTYPES:
            return None
        min_order = order
        if order < PAGEBLOCK_ORDER and alloc_flags & ALLOC_NOFRAGMENT:
            min_order = PAGEBLOCK_ORDER
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
            change = int(self.memmap.pageblock_mt[pfn >> PAGEBLOCK_ORDER] == start_mt)
            self.tracer.emit("mm_page_alloc_extfrag",
                             f"page={self.arch.pfn_to_struct_page(pfn):0{self.arch.ptr_digits}x} pfn={pfn:#x} alloc_order={order} "
                             f"fallback_order={current} pageblock_order={PAGEBLOCK_ORDER} "
                             f"alloc_migratetype={start_mt} fallback_migratetype={fmt} "
                             f"fragmenting={int(current < PAGEBLOCK_ORDER)} change_ownership={change}")

    def _change_pageblock_range(self, pfn: int, order: int, mt: int) -> None:
        nr_blocks = max(1, 1 << (order - PAGEBLOCK_ORDER)) if order >= PAGEBLOCK_ORDER else 1
        first = pfn >> PAGEBLOCK_ORDER
        for b in range(first, first + nr_blocks):
            self.memmap.pageblock_mt[b] = mt

    def _try_to_claim_block(self, zone: Zone, pfn: int, current: int, order: int, start_mt: int,
                            block_mt: int, alloc_flags: int) -> int | None:
        if current >= PAGEBLOCK_ORDER:
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
            alike = PAGEBLOCK_NR_PAGES - (free_pages + movable_pages)
        else:
            alike = 0
        if self.tracer.explain.on:
            self.tracer.explain.note(
                "try_to_claim_block", "claim" if free_pages + alike >= (1 << (PAGEBLOCK_ORDER - 1)) else "no claim",
                pageblock=f"{start_pfn:#x}", free_pages=free_pages, alike_pages=alike,
                threshold=1 << (PAGEBLOCK_ORDER - 1))
        if free_pages + alike >= (1 << (PAGEBLOCK_ORDER - 1)):
            self._move_freepages_block_range(zone, start_pfn, block_mt, start_mt)
            return self._rmqueue_smallest(zone, order, start_mt)
        return None

    def _boost_watermark(self, zone: Zone) -> bool:
        if not self.watermark_boost_factor:
            return False
        if PAGEBLOCK_NR_PAGES * 4 > zone.managed_pages:
            return False
        high = zone._watermark[WMARK_HIGH]
        max_boost = (high // 10000) * self.watermark_boost_factor + \
            ((high % 10000) * self.watermark_boost_factor) // 10000   # mult_frac
        if not max_boost:
            return False
        max_boost = max(PAGEBLOCK_NR_PAGES, max_boost)
        zone.watermark_boost = min(zone.watermark_boost + PAGEBLOCK_NR_PAGES, max_boost)
        return True

    def _prep_move_freepages_block(self, zone: Zone, pfn: int) -> tuple[int, int, int] | None:
        """prep_move_freepages_block: (start_pfn, free pages, movable pages) of pfn's pageblock."""
        start = pfn & ~(PAGEBLOCK_NR_PAGES - 1)
        end = start + PAGEBLOCK_NR_PAGES
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
        end = start + PAGEBLOCK_NR_PAGES
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
        self.memmap.pageblock_mt[start >> PAGEBLOCK_ORDER] = new_mt
        return moved

    def _move_to_free_list(self, zone: Zone, pfn: int, order: int, old_mt: int, new_mt: int) -> None:
        zone.del_from_free_list(pfn, order, old_mt)
        zone.add_to_free_list(pfn, order, new_mt, True)
        zone.account_freepages(-(1 << order), old_mt)
        zone.account_freepages(1 << order, new_mt)

    def _reserve_highatomic_pageblock(self, pfn: int, order: int, zone: Zone) -> None:
        if zone.managed_pages // 100 < PAGEBLOCK_NR_PAGES:
            return
        max_managed = -(-(zone.managed_pages // 100) // PAGEBLOCK_NR_PAGES) * PAGEBLOCK_NR_PAGES
        if zone.nr_reserved_highatomic >= max_managed:
            return
        mt = self.memmap.pageblock_mt[pfn >> PAGEBLOCK_ORDER]
        if not migratetype_is_mergeable(mt):
            return
        if order < PAGEBLOCK_ORDER:
            start = pfn & ~(PAGEBLOCK_NR_PAGES - 1)
            if start < zone.zone_start_pfn or start + PAGEBLOCK_NR_PAGES > zone.zone_end_pfn:
                return
            self._move_freepages_block_range(zone, start, mt, MIGRATE_HIGHATOMIC)
            zone.nr_reserved_highatomic += PAGEBLOCK_NR_PAGES
        else:
            self._change_pageblock_range(pfn, order, MIGRATE_HIGHATOMIC)
            zone.nr_reserved_highatomic += 1 << order

    def unreserve_highatomic_pageblock(self, zonelist: tuple[Zone, ...], mt: int, force: bool) -> bool:
        """unreserve_highatomic_pageblock: give one highatomic block back to ``mt``."""
        for zone in zonelist:
            if not force and zone.nr_reserved_highatomic <= PAGEBLOCK_NR_PAGES:
                continue
            for order in range(NR_PAGE_ORDERS):
                pfn = zone.first_free(order, MIGRATE_HIGHATOMIC)
                if pfn is None:
                    continue
                size = min(max(PAGEBLOCK_NR_PAGES, 1 << order), zone.nr_reserved_highatomic)
                zone.nr_reserved_highatomic -= size
                if order < PAGEBLOCK_ORDER:
                    self._move_freepages_block_range(zone, pfn & ~(PAGEBLOCK_NR_PAGES - 1),
                                                     MIGRATE_HIGHATOMIC, mt)
                else:
                    self._change_pageblock_range(pfn, order, mt)
                    self._move_to_free_list(zone, pfn, order, MIGRATE_HIGHATOMIC, mt)
                return True
        return False

    # =====================================================================================
    # The slow path (mm/page_alloc.c: __alloc_pages_slowpath; linux-mm-facts.md 3.6)
    # =====================================================================================
    def gfp_to_alloc_flags(self, gfp: int, order: int) -> int:
        flags = ALLOC_WMARK_MIN | ALLOC_CPUSET
        flags |= gfp & (_GFP_HIGH | _GFP_KSWAPD_RECLAIM)   # == ALLOC_MIN_RESERVE | ALLOC_KSWAPD
        if not gfp & _GFP_DIRECT_RECLAIM:
            if not gfp & _GFP_NOMEMALLOC:
                flags |= ALLOC_NON_BLOCK
                if order > 0 and flags & ALLOC_MIN_RESERVE:
                    flags |= ALLOC_HIGHATOMIC
            if flags & ALLOC_MIN_RESERVE:
                flags &= ~ALLOC_CPUSET
        elif self.ctx.current.rt and self.ctx.in_task():
            flags |= ALLOC_MIN_RESERVE
        return flags

    def gfp_pfmemalloc_flags(self, gfp: int) -> int:
        """__gfp_pfmemalloc_flags: reserve access that replaces alloc_flags."""
        if gfp & _GFP_NOMEMALLOC:
            return 0
        if gfp & _GFP_MEMALLOC:
            return ALLOC_NO_WATERMARKS
        task = self.ctx.current
        pf = task.flags
        if self.ctx.preempt_count & 0xFF00 and pf & PF_MEMALLOC:   # in_serving_softirq
            return ALLOC_NO_WATERMARKS
        if not self.ctx.in_interrupt():
            if pf & PF_MEMALLOC:
                return ALLOC_NO_WATERMARKS
            if task.oom_victim:
                return ALLOC_OOM
        return 0

    def _wakeup_kswapd(self, order: int, hz: int) -> None:
        hooks = self.reclaim
        if hooks is not None:
            hooks.wakeup_kswapd(order, hz)
            return
        # No reclaim engine: kswapd has nothing to reclaim, and balance_pgdat() still drops
        # the boost when it finishes (mm/vmscan.c), so the boost does not stay forever.
        for z in self.zones:
            if z.idx <= hz:
                z.watermark_boost = 0

    def _alloc_pages_slowpath(self, gfp: int, order: int, hz: int, mt: int, zonelist: tuple[Zone, ...],
                              caller: str | None) -> int | None:
        ex = self.tracer.explain
        if not ex.on:
            return self._slowpath(gfp, order, hz, mt, zonelist, caller, None)
        step = ex.begin("__alloc_pages_slowpath", order=order, gfp=format_gfp(gfp),
                        alloc_flags=format_alloc_flags(self.gfp_to_alloc_flags(gfp, order)))
        pfn = None
        try:
            pfn = self._slowpath(gfp, order, hz, mt, zonelist, caller, ex)
        finally:
            ex.end(step, _pfn_or_null(pfn))
        return pfn

    def _slowpath(self, gfp: int, order: int, hz: int, mt: int, zonelist: tuple[Zone, ...],
                  caller: str | None, ex: DecisionLog | None) -> int | None:
        """__alloc_pages_slowpath; *ex* (explain) records what each stage achieved."""
        can_direct_reclaim = bool(gfp & _GFP_DIRECT_RECLAIM)
        can_compact = bool(gfp & _GFP_IO)
        nofail = bool(gfp & _GFP_NOFAIL)
        costly = order > PAGE_ALLOC_COSTLY_ORDER
        hooks = self.reclaim
        if nofail:
            # mm/page_alloc.c: __alloc_pages_slowpath checks a __GFP_NOFAIL request on entry:
            # WARN_ON_ONCE(order > 1), then WARN_ON_ONCE(!can_direct_reclaim) (the request
            # cannot be honoured without reclaim and fails in the nopage path)
            if order > 1:
                self._warn_on(SLOWPATH_NOFAIL_ORDER, caller, once_key="nofail")
            if not can_direct_reclaim:
                self._warn_on(SLOWPATH_NOFAIL_NOBLOCK, caller, once_key="nofail_noblock")
        compaction_retries = 0
        no_progress_loops = 0
        compact_result_skipped = True
        alloc_flags = self.gfp_to_alloc_flags(gfp, order)
        if alloc_flags & ALLOC_KSWAPD:
            self._wakeup_kswapd(order, hz)
        pfn = self.get_page_from_freelist(gfp, order, alloc_flags, hz, mt, zonelist)
        if pfn is not None:
            return pfn
        if (can_direct_reclaim and can_compact and (costly or (order > 0 and mt != MIGRATE_MOVABLE))
                and not self.gfp_pfmemalloc_flags(gfp) & ALLOC_NO_WATERMARKS):
            if ex is not None:
                ex.note("__alloc_pages_slowpath", "costly or non-movable high-order request: compact first")
            pfn, compact_result_skipped = self._direct_compact(gfp, order, alloc_flags, hz, mt, zonelist)
            if pfn is not None:
                return pfn
            if costly and gfp & _GFP_NORETRY and compact_result_skipped:
                if ex is not None:
                    ex.note("__alloc_pages_slowpath", "costly __GFP_NORETRY request and compaction was skipped: fail")
                return self._nopage(gfp, order, caller, zonelist, hz, mt, can_direct_reclaim, nofail)
        loops = 0
        while True:
            loops += 1
            if loops > SLOWPATH_LOOP_LIMIT:
                break
            if alloc_flags & ALLOC_KSWAPD:
                self._wakeup_kswapd(order, hz)
            reserve_flags = self.gfp_pfmemalloc_flags(gfp)
            if reserve_flags:
                alloc_flags = reserve_flags | (alloc_flags & ALLOC_KSWAPD)
                if ex is not None:
                    ex.note("__gfp_pfmemalloc_flags", "reserve access", alloc_flags=format_alloc_flags(alloc_flags))
            pfn = self.get_page_from_freelist(gfp, order, alloc_flags, hz, mt, zonelist)
            if pfn is not None:
                return pfn
            if not can_direct_reclaim:
                if ex is not None:
                    ex.note("__alloc_pages_slowpath", "no __GFP_DIRECT_RECLAIM: cannot reclaim, give up")
                break
            if self.ctx.current.flags & PF_MEMALLOC:
                if ex is not None:
                    ex.note("__alloc_pages_slowpath", "PF_MEMALLOC: no recursion into reclaim, give up")
                break
            # __alloc_pages_direct_reclaim
            progress = 0
            if hooks is not None:
                if ex is not None:
                    free_before = self.nr_free_pages()
                    rstep = ex.begin("__alloc_pages_direct_reclaim", nr_free_before=free_before)
                    progress = hooks.try_to_free_pages(gfp, order)
                    ex.end(rstep, f"reclaimed {progress} pages", nr_reclaimed=progress,
                           nr_free_after=self.nr_free_pages())
                else:
                    progress = hooks.try_to_free_pages(gfp, order)
                if progress:
                    pfn = self.get_page_from_freelist(gfp, order, alloc_flags, hz, mt, zonelist)
                    if pfn is None:
                        self.unreserve_highatomic_pageblock(zonelist, mt, False)
                        self.drain_all_pages()
                        pfn = self.get_page_from_freelist(gfp, order, alloc_flags, hz, mt, zonelist)
                    if pfn is not None:
                        return pfn
            pfn, compact_result_skipped = self._direct_compact(gfp, order, alloc_flags, hz, mt, zonelist)
            if pfn is not None:
                return pfn
            if gfp & _GFP_NORETRY:
                if ex is not None:
                    ex.note("__alloc_pages_slowpath", "__GFP_NORETRY: no retry, fail")
                break
            if costly and (not can_compact or not gfp & _GFP_RETRY_MAYFAIL):
                if ex is not None:
                    ex.note("__alloc_pages_slowpath", "costly order without __GFP_RETRY_MAYFAIL: no retry, fail")
                break
            retry, no_progress_loops = self._should_reclaim_retry(gfp, order, zonelist, hz, alloc_flags,
                                                                  progress > 0, no_progress_loops, mt)
            if ex is not None:
                ex.note("should_reclaim_retry", "retry" if retry else "no retry", no_progress_loops=no_progress_loops,
                        max_reclaim_retries=MAX_RECLAIM_RETRIES)
            if retry:
                continue
            if progress > 0 and can_compact and not compact_result_skipped \
                    and compaction_retries < MAX_COMPACT_RETRIES:
                compaction_retries += 1
                continue
            # __alloc_pages_may_oom
            if ex is not None:
                free_before = self.nr_free_pages()
                kills_before = self.vmstat.oom_kill
                ostep = ex.begin("__alloc_pages_may_oom")
                pfn, oom_progress = self._may_oom(gfp, order, hz, mt, zonelist)
                kills = self.vmstat.oom_kill - kills_before
                ex.end(ostep, ("got a page at the high mark" if pfn is not None and not kills else
                                                  f"killed {kills} task{'s' if kills != 1 else ''}" if kills else
                                                  "progress without a kill" if oom_progress else
                                                  "the OOM killer may not run for this request"),
                       oom_kills=kills, nr_free_before=free_before, nr_free_after=self.nr_free_pages())
            else:
                pfn, oom_progress = self._may_oom(gfp, order, hz, mt, zonelist)
            if pfn is not None:
                return pfn
            if self.ctx.current.oom_victim and (alloc_flags & ALLOC_OOM or gfp & _GFP_NOMEMALLOC):
                break
            if oom_progress:
                no_progress_loops = 0
                continue
            break
        return self._nopage(gfp, order, caller, zonelist, hz, mt, can_direct_reclaim, nofail)

    def _nopage(self, gfp: int, order: int, caller: str | None, zonelist: tuple[Zone, ...], hz: int, mt: int,
                can_direct_reclaim: bool, nofail: bool) -> int | None:
        if nofail and can_direct_reclaim:
            pfn = self.get_page_from_freelist(gfp, order, ALLOC_MIN_RESERVE, hz, mt, zonelist)
            if pfn is not None:
                return pfn
            # The kernel retries forever here; a simulation cannot wait for memory that will
            # never come, so it refuses the request instead of hanging the script.
            raise KernelFault(f"__GFP_NOFAIL allocation of order {order} ({format_gfp(gfp)}) cannot make "
                              f"progress: the kernel would loop in __alloc_pages_slowpath forever")
        if self.tracer.explain.on:
            self.tracer.explain.note("warn_alloc", "page allocation failure" +
                                     (" (__GFP_NOWARN: not reported)" if gfp & _GFP_NOWARN else ""), order=order)
        self.warn_alloc(gfp, f"page allocation failure: order:{order}",
                        ("__alloc_pages_slowpath", "__alloc_frozen_pages_noprof", "alloc_pages_mpol",
                         caller or "kmscript"))
        return None

    def _direct_compact(self, gfp: int, order: int, alloc_flags: int, hz: int, mt: int,
                        zonelist: tuple[Zone, ...]) -> tuple[int | None, bool]:
        """__alloc_pages_direct_compact: (page, compaction was skipped)."""
        if not order or self.reclaim is None:
            return None, True
        compacted = self.reclaim.try_to_compact_pages(gfp, order)
        if self.tracer.explain.on:
            self.tracer.explain.note("__alloc_pages_direct_compact", "compacted" if compacted else "skipped",
                                     order=order)
        if not compacted:
            return None, True
        return self.get_page_from_freelist(gfp, order, alloc_flags, hz, mt, zonelist), False

    def _should_reclaim_retry(self, gfp: int, order: int, zonelist: tuple[Zone, ...], hz: int, alloc_flags: int,
                              did_some_progress: bool, no_progress_loops: int, mt: int) -> tuple[bool, int]:
        if did_some_progress and order <= PAGE_ALLOC_COSTLY_ORDER:
            no_progress_loops = 0
        else:
            no_progress_loops += 1
        ret = False
        if no_progress_loops <= MAX_RECLAIM_RETRIES:
            hooks = self.reclaim
            for zone in zonelist:
                reclaimable = hooks.zone_reclaimable_pages(zone.idx) if hooks is not None else 0
                available = reclaimable + zone.free_pages
                if zone_watermark_ok(zone, order, zone.min, hz, alloc_flags, available):
                    ret = True
                    break
        if not ret:
            return self.unreserve_highatomic_pageblock(zonelist, mt, True), no_progress_loops
        return ret, no_progress_loops

    def _may_oom(self, gfp: int, order: int, hz: int, mt: int, zonelist: tuple[Zone, ...]) -> tuple[int | None, bool]:
        pfn = self.get_page_from_freelist((gfp | _GFP_HARDWALL) & ~_GFP_DIRECT_RECLAIM, order,
                                          ALLOC_WMARK_HIGH | ALLOC_CPUSET, hz, mt, zonelist)
        if pfn is not None:
            return pfn, False
        if order > PAGE_ALLOC_COSTLY_ORDER:
            return None, False
        if gfp & (_GFP_RETRY_MAYFAIL | _GFP_THISNODE):
            return None, False
        if hz < self.zt.NORMAL:
            return None, False
        if self.reclaim is None:
            return None, False
        ex = self.tracer.explain
        if ex.on:
            # the victim's pages coming back are not decisions of this request: the
            # caller's step records how many there were
            ex.mute(True)
            try:
                killed = self.reclaim.out_of_memory(gfp, order)
            finally:
                ex.mute(False)
        else:
            killed = self.reclaim.out_of_memory(gfp, order)
        if killed or gfp & _GFP_NOFAIL:
            if gfp & _GFP_NOFAIL:
                pfn = self.get_page_from_freelist(gfp, order, ALLOC_NO_WATERMARKS, hz, mt, zonelist)
            return pfn, True
        return None, False
