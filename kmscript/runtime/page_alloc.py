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
-> rmqueue.py (taking pages off the pcp and buddy lists: rmqueue, __rmqueue's fallbacks,
highatomic reserves) -> this file (allocation fast and slow paths).  internal.py holds mm/internal.h.

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

from .buddy import SECTION_MASK, SECTION_SHIFT, TAIL
from .bug_sites import ALLOC_ORDER_TOO_LARGE, SLOWPATH_NOFAIL_NOBLOCK, SLOWPATH_NOFAIL_ORDER
from .errors import KernelFault
from .gfp import (__GFP_COMP, __GFP_DIRECT_RECLAIM, __GFP_HARDWALL, __GFP_HIGH, __GFP_HIGHMEM, __GFP_IO,
                  __GFP_KSWAPD_RECLAIM, __GFP_MEMALLOC, __GFP_NOFAIL, __GFP_NOMEMALLOC, __GFP_NORETRY,
                  __GFP_NOWARN, __GFP_RETRY_MAYFAIL, __GFP_THISNODE, __GFP_ZERO, MIGRATE_MOVABLE,
                  MIGRATE_PCPTYPES, MIGRATETYPE_NAMES, format_gfp, gfp_migratetype)
from .explain import DecisionLog, pfn_or_null
from .internal import (ALLOC_WMARK_MIN, ALLOC_WMARK_LOW, ALLOC_WMARK_HIGH, ALLOC_WMARK_MASK,
                       ALLOC_NO_WATERMARKS, ALLOC_OOM, ALLOC_NON_BLOCK, ALLOC_MIN_RESERVE, ALLOC_CPUSET,
                       ALLOC_NOFRAGMENT, ALLOC_HIGHATOMIC, ALLOC_KSWAPD, MAX_RECLAIM_RETRIES,
                       MAX_COMPACT_RETRIES, PF_MEMALLOC, SLOWPATH_LOOP_LIMIT, MAXORDER_LI, TAIL_BYTES,
                       format_alloc_flags, zone_watermark_ok, zone_watermark_fast)
from .mm_types import MAX_PAGE_ORDER, PAGE_ALLOC_COSTLY_ORDER, OWNER_KERNEL
from .zone import WMARK_HIGH, Zone

_WMARK_NAMES = ("min", "low", "high")


from .rmqueue import Rmqueue

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
                > zone.watermarks[1 + (not zone.below_high)] + zone.watermark_boost + zone.lowmem_reserve[hz]):
            return None if zone.boosted_watermark else zone
        if not zone.below_high:
            return None
    return None


class PageAllocator(Rmqueue):
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

    def alloc_pages(self, gfp: int, order: int, owner: int = OWNER_KERNEL,
                    caller: str | None = None) -> int | None:
        """alloc_pages(): the head pfn of 2^order pages, or None (warn_alloc unless __GFP_NOWARN).

        owner and caller are not keyword-only (callers pass them by keyword, as the
        PageAllocator protocol of mm_types.py requires): CPython 3.11 does not specialise a call to a
        function with keyword-only parameters, which cost about 40 ns per call here."""
        ctx = self.ctx
        if (gfp & _GFP_DIRECT_RECLAIM and order <= MAX_PAGE_ORDER
                and (ctx.preempt_count or ctx.irqs_disabled_per_cpu[ctx.cpu] or ctx.rcu_nesting)):
            # prepare_alloc_pages -> might_alloc (the order check comes first in the kernel);
            # might_alloc's own test inlined, so a caller that may sleep pays nothing more
            ctx.might_alloc(gfp, ("__alloc_frozen_pages_noprof", "alloc_pages_mpol", caller or "alloc_pages_noprof"))
        if order == 0 and not self.faults.active and not self.tracer.enabled:
            # The common case of get_page_from_freelist + rmqueue_pcplist, inlined: the
            # zonelist walk of _pcp_fast_zone (same test, same outcome; inlined here because
            # a call costs as much as the rest of the walk), then the pcp list head.
            ac = self._ac_cache.get(gfp)
            if ac is not None:
                hz = ac[0]
                for zone in ac[2]:
                    if (zone.free_pages - zone.nr_free_highatomic
                            > zone.watermarks[1 + (not zone.below_high)] + zone.watermark_boost
                            + zone.lowmem_reserve[hz]):
                        if not zone.boosted_watermark:
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
                        break
                    if not zone.below_high:
                        break
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
                        > zone.watermarks[2] + zone.watermark_boost + zone.lowmem_reserve[ac[0]]
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
        if k == len(lst):
            pfns = list(lst)   # the whole list, head first
            lst.clear()
        else:
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
            ex.end(step, pfn_or_null(pfn))
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
                ex.end(step, pfn_or_null(pfn))

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
            ex.end(step, pfn_or_null(pfn))
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
