"""The freeing side of the page allocator: mm/page_alloc.c and mm/swap.c.

What it models: __free_pages -> free_frozen_pages -> free_frozen_page_commit (nr_pcp_high,
nr_pcp_free, free_pcppages_bulk) or free_one_page -> __free_one_page (buddy.py); the
pcp drains (drain_pages_zone, drain_all_pages); get_page/put_page on the block's head
(folio_get/folio_put), freeing the block when the last reference goes.

Invariant: a block returns to the allocator only with the order recorded in its head
byte; a wrong order, a double free, a tail or a reserved page goes to bad_page instead.
"""

from __future__ import annotations

from .buddy import BUDDY_TAIL, K_BUDDY, K_PCP, SECTION_MASK, SECTION_SHIFT, TAIL
from .errors import KernelFault
from .gfp import MIGRATE_ISOLATE, MIGRATE_MOVABLE, MIGRATE_PCPTYPES, MIGRATETYPE_NAMES, ZONE_MOVABLE
from .internal import PCP_TAIL_BYTES, order_to_pindex, pindex_to_order, zone_watermark_ok
from .mm_types import (MAX_PAGE_ORDER, PAGE_ALLOC_COSTLY_ORDER, PAGE_SIZE, OWNER_KERNEL)
from .zone import PCP_BATCH_SCALE_MAX, PCPF_FREE_HIGH_BATCH, PCPF_PREV_FREE_HIGH_ORDER, PerCpuPages, Zone
from .mm_init import PB_ZONE_MIXED
from .show_mem import ShowMem

_PCP_HEAD_ORDER0 = K_PCP << 4   # the state byte of an order-0 page on a pcp list
_NOT_PREV_FREE_HIGH_ORDER = ~PCPF_PREV_FREE_HIGH_ORDER
# the state bytes of an allocated order-0 page (an owner kind, order 0): what release_pages'
# fast path takes
_ALLOCATED_ORDER0 = bytes(range(0x40, 0xC0, 0x10))


class PageFree(ShowMem):
    """Freeing pages back to the pcp lists and the buddy free lists."""

    # =====================================================================================
    # Freeing (mm/page_alloc.c: __free_pages, free_frozen_pages, free_pcppages_bulk)
    # =====================================================================================
    def free_pages_addr(self, addr: int, order: int) -> None:
        """free_pages(addr, order): free by direct-map address (addr 0 is ignored, as
        mm/page_alloc.c free_pages() does)."""
        if addr == 0:
            return
        page_offset = self.arch.page_offset
        # the direct map ends at the end of RAM, or of lowmem on a highmem kernel (high_memory)
        if addr < page_offset or addr >= page_offset + min(self.phys_max, self.arch.direct_map_size):
            raise KernelFault(f"free_pages({addr:#x}): not a direct-map address")
        if addr & (PAGE_SIZE - 1):
            raise KernelFault(f"free_pages({addr:#x}): address is not page aligned")
        self.free_pages(self.arch.virt_to_pfn(addr), order)

    def free_pages(self, pfn: int, order: int) -> None:
        """__free_pages(page, order): drop a reference; the block returns to the allocator at 0."""
        if order:
            if 0 < order <= PAGE_ALLOC_COSTLY_ORDER and pfn >= 0 and not self.tracer.enabled:
                # orders 1-3: free_frozen_page_commit without a bulk free, decided before any
                # state changes (free_high, the pcp high limit) so the full path can still run
                memmap = self.memmap
                pb = pfn >> memmap.pageblock_order
                try:
                    sec = memmap.sections[pfn >> SECTION_SHIFT]
                    zi = self.pageblock_zone[pb]
                except IndexError:
                    sec, zi = None, PB_ZONE_MIXED
                if sec is not None and zi != PB_ZONE_MIXED:
                    zone = self.zones[zi]
                    i = pfn & SECTION_MASK
                    b = sec[i]
                    mt = memmap.pageblock_mt[pb]
                    if (0x40 <= b < 0xC0 and b & 0x0F == order and mt < MIGRATE_PCPTYPES and pfn not in self._refcount
                            and not zone.below_high and not zone.reclaim_active):
                        pcp = zone.pcp[self.ctx.cpu]
                        high = pcp.high
                        batch = pcp.batch
                        nr = 1 << order
                        free_high = (pcp.free_count >= batch + pcp.high_min // 2
                                     and bool(pcp.flags & PCPF_PREV_FREE_HIGH_ORDER)
                                     and (not pcp.flags & PCPF_FREE_HIGH_BATCH or pcp.count >= batch))
                        if not free_high and pcp.high_min <= high <= pcp.high_max and pcp.count + nr < high:
                            if self.mapcount:
                                self.mapcount.pop(pfn, None)
                            self.compound.discard(pfn)
                            pcp.alloc_factor >>= 1
                            pcp.lists[MIGRATE_PCPTYPES * order + mt].appendleft(pfn)
                            pcp.count += nr
                            sec[i + 1:i + nr] = PCP_TAIL_BYTES[order]
                            sec[i] = (K_PCP << 4) | order
                            pcp.flags |= PCPF_PREV_FREE_HIGH_ORDER
                            if pcp.free_count < (batch << PCP_BATCH_SCALE_MAX):
                                pcp.free_count += nr
                            return
            self._free_pages(pfn, order)
            return
        # free_frozen_pages -> free_frozen_page_commit for a plain order-0 page that stays
        # below pcp->high, inlined; every other case takes the full path.  Written as guard
        # clauses: a failed test reaches the full path by a short jump, and CPython 3.11
        # specialises a comparison only when a short conditional jump follows it.
        if pfn < 0 or self.tracer.enabled:
            self._free_pages(pfn, 0)
            return
        memmap = self.memmap
        pb = pfn >> memmap.pageblock_order
        try:
            sec = memmap.sections[pfn >> SECTION_SHIFT]
            zi = self.pageblock_zone[pb]
        except IndexError:
            sec, zi = None, PB_ZONE_MIXED
        if sec is None or zi == PB_ZONE_MIXED:
            self._free_pages(pfn, 0)
            return
        i = pfn & SECTION_MASK
        b = sec[i]
        mt = memmap.pageblock_mt[pb]   # as long as pageblock_zone (mm_init)
        zone = self.zones[zi]
        if not (0x40 <= b < 0xC0 and not b & 0x0F and mt < MIGRATE_PCPTYPES and pfn not in self._refcount
                and not zone.below_high and not zone.reclaim_active):
            self._free_pages(pfn, 0)
            return
        pcp = zone.pcp[self.ctx.cpu]
        high = pcp.high
        if not (pcp.high_min <= high <= pcp.high_max and pcp.count + 1 < high):
            self._free_pages(pfn, 0)
            return
        if self.mapcount:
            self.mapcount.pop(pfn, None)
        pcp.alloc_factor >>= 1
        pcp.lists[mt].appendleft(pfn)
        pcp.count += 1
        sec[i] = _PCP_HEAD_ORDER0
        pcp.flags &= _NOT_PREV_FREE_HIGH_ORDER
        if pcp.free_count < (pcp.batch << PCP_BATCH_SCALE_MAX):
            pcp.free_count += 1

    def release_pages(self, pfns: list[int]) -> None:
        """mm/swap.c: release_pages -> folios_put_refs -> free_unref_folios: drop one
        reference on each order-0 page of a batch and free the ones that reach zero, in
        the batch's order.  The result is free_pages(pfn, 0) on each page in turn (the
        kernel's batch takes the pcp lock once; the pages reach the pcp list one by one
        through free_frozen_page_commit all the same).  The loop is free_pages' order-0
        fast path over runs of pages of one zone: the pcp's counters are kept in locals
        during a run (only the run itself changes them) and written back before any page
        goes through free_pages, which every page the fast path does not cover does (a
        bulk free to the buddy among them); while tracing every page does.  A plain
        order-0 page the fast path does not take because of its zone's state (the pcp list
        at its high mark, ZONE_RECLAIM_ACTIVE, below the high watermark) goes to
        _free_frozen_page_commit directly: the checks free_pages would make on the way
        there are the ones made here."""
        free_pages = self.free_pages
        if self.tracer.enabled:
            for pfn in pfns:
                free_pages(pfn, 0)
            return
        sections = self.memmap.sections
        pb_zone = self.pageblock_zone
        pb_mt = self.memmap.pageblock_mt
        pb_order = self.memmap.pageblock_order
        zones = self.zones
        refcount = self._refcount
        mapcount = self.mapcount
        cpu = self.ctx.cpu
        nsec = len(sections)
        npb = len(pb_zone)
        k_pcp = K_PCP << 4
        total = len(pfns)
        i = 0
        while i < total:
            pfn = pfns[i]
            pb = pfn >> pb_order
            zi = pb_zone[pb] if 0 <= pb < npb else PB_ZONE_MIXED
            zone = zones[zi] if zi != PB_ZONE_MIXED else None
            done = 0
            if zone is not None and not zone.below_high and not zone.reclaim_active:
                pcp = zone.pcp[cpu]
                high = pcp.high
                if pcp.high_min <= high <= pcp.high_max:
                    lists = pcp.lists
                    count = pcp.count
                    free_count = pcp.free_count
                    fc_max = pcp.batch << PCP_BATCH_SCALE_MAX
                    while i < total and count + 1 < high:
                        pfn = pfns[i]
                        key = pfn >> SECTION_SHIFT
                        pb = pfn >> pb_order
                        if pfn < 0 or key >= nsec or pb >= npb or pb_zone[pb] != zi:
                            break
                        sec = sections[key]
                        if sec is None:
                            break
                        off = pfn & SECTION_MASK
                        b = sec[off]
                        mt = pb_mt[pb]
                        # consecutive pfns of one pageblock (a task's pages in the order it
                        # faulted them): the loop's steps for each, as slices, when every one
                        # of them would take this path and the list stays below high
                        k = min(high - 1 - count, total - i, ((pb + 1) << pb_order) - pfn)
                        if (k > 8 and mt < MIGRATE_PCPTYPES and pfns[i + k - 1] == pfn + k - 1
                                and not sec[off:off + k].translate(None, _ALLOCATED_ORDER0)
                                and pfns[i:i + k] == list(range(pfn, pfn + k))
                                and not (refcount and any(p in refcount for p in range(pfn, pfn + k)))):
                            if mapcount:
                                for p in range(pfn, pfn + k):
                                    mapcount.pop(p, None)
                            lists[mt].extendleft(range(pfn, pfn + k))
                            count += k
                            sec[off:off + k] = bytes((k_pcp,)) * k
                            if free_count < fc_max:
                                free_count = min(free_count + k, fc_max)
                            done += k
                            i += k
                            continue
                        if not (0x40 <= b < 0xC0 and not b & 0x0F and mt < MIGRATE_PCPTYPES) or pfn in refcount:
                            break
                        if mapcount:
                            mapcount.pop(pfn, None)
                        lists[mt].appendleft(pfn)
                        count += 1
                        sec[off] = k_pcp
                        if free_count < fc_max:
                            free_count += 1
                        done += 1
                        i += 1
                    if done:
                        pcp.count = count
                        pcp.free_count = free_count
                        pcp.alloc_factor >>= done
                        pcp.flags &= ~PCPF_PREV_FREE_HIGH_ORDER
            if not done:
                pfn = pfns[i]
                i += 1
                key = pfn >> SECTION_SHIFT
                sec = sections[key] if zone is not None and 0 <= key < nsec else None
                mt = pb_mt[pfn >> pb_order] if sec is not None else MIGRATE_PCPTYPES
                b = sec[pfn & SECTION_MASK] if sec is not None else 0
                if mt < MIGRATE_PCPTYPES and 0x40 <= b < 0xC0 and not b & 0x0F and pfn not in refcount:
                    # a plain order-0 page whose pcp list is at its high mark, or of a zone
                    # kswapd is reclaiming (reclaim_active) or below its high watermark:
                    # free_frozen_page_commit with nr_pcp_high and a bulk free when the
                    # list reaches it, where free_pages' full path gets after these checks
                    assert zone is not None
                    if mapcount:
                        mapcount.pop(pfn, None)
                    self._free_frozen_page_commit(zone, zone.pcp[cpu], pfn, mt, 0)
                else:
                    # anything else (a bad free, an extra reference): the full path
                    free_pages(pfn, 0)

    def _free_pages(self, pfn: int, order: int) -> None:
        if order < 0 or order > MAX_PAGE_ORDER:
            raise KernelFault(f"order {order}: an order is 0..{MAX_PAGE_ORDER}")
        if not 0 <= pfn < self.memmap.max_pfn:
            raise KernelFault(f"pfn {pfn:#x} is outside RAM: there is no struct page to free")
        sec = self.memmap.sections[pfn >> SECTION_SHIFT]
        b = sec[pfn & SECTION_MASK] if sec is not None else 0
        kind = b >> 4
        if kind < OWNER_KERNEL or kind >= K_BUDDY or b & TAIL == TAIL or b & TAIL != order:
            self._bad_free(pfn, order, b)
            return
        rc = self._refcount.get(pfn)
        if rc is not None:
            if rc - 1 > 0:
                self._refcount[pfn] = rc - 1
                if pfn not in self.compound and order:
                    # ___free_pages: a non-compound high-order block whose head is still
                    # referenced loses its tail halves now; the head page stays (order 0).
                    self.memmap.set(pfn, (kind << 4) | 0)
                    o = order
                    while o > 0:
                        o -= 1
                        tail = pfn + (1 << o)
                        self.memmap.set_block(tail, o, (kind << 4) | o, (kind << 4) | TAIL)
                        self._free_frozen_pages(tail, o)
                return
            del self._refcount[pfn]
        self._free_frozen_pages(pfn, order)

    def _free_frozen_pages(self, pfn: int, order: int) -> None:
        step = None
        if self.tracer.enabled:
            self.tracer.emit("mm_page_free", f"page={self.arch.pfn_to_struct_page(pfn):0{self.arch.ptr_digits}x} pfn={pfn:#x} order={order}")
            if self.tracer.explain.on:
                step = self.tracer.explain.begin("free_frozen_pages", pfn=f"{pfn:#x}", order=order)
        try:
            if order:
                self.compound.discard(pfn)
            if self.mapcount:
                self.mapcount.pop(pfn, None)
            zone = self.zone_of(pfn)
            assert zone is not None
            memmap = self.memmap
            mt = memmap.pageblock_mt[pfn >> memmap.pageblock_order]
            if order <= PAGE_ALLOC_COSTLY_ORDER or (order == self.hpage_pmd_order and self.thp_enabled):
                if mt >= MIGRATE_PCPTYPES:
                    if mt == MIGRATE_ISOLATE:
                        self._buddy_free(zone, pfn, order, mt)
                        return
                    mt = MIGRATE_MOVABLE
                self._free_frozen_page_commit(zone, zone.pcp[self.ctx.cpu], pfn, mt, order)
            else:
                self._buddy_free(zone, pfn, order, mt)
        finally:
            if step is not None:
                self.tracer.explain.end(step)

    def _buddy_free(self, zone: Zone, pfn: int, order: int, mt: int) -> None:
        """free_one_page: the block's bytes become free tails, then __free_one_page."""
        sec = self.memmap.sections[pfn >> SECTION_SHIFT]
        assert sec is not None
        i = pfn & SECTION_MASK
        if order:
            sec[i:i + (1 << order)] = bytes((BUDDY_TAIL,)) * (1 << order)
        else:
            sec[i] = BUDDY_TAIL
        final = zone.free_one_page(pfn, order, mt)
        if self.tracer.enabled and self.tracer.explain.on:
            self.tracer.explain.note(
                "__free_one_page", (f"merged with its buddies into an order-{final} block" if final > order
                                    else "no free buddy to merge with"),
                zone=zone.name, pfn=f"{pfn:#x}", order=order, migratetype=MIGRATETYPE_NAMES[mt], final_order=final)

    def _free_frozen_page_commit(self, zone: Zone, pcp: PerCpuPages, pfn: int, mt: int, order: int) -> None:
        pcp.alloc_factor >>= 1
        pindex = order_to_pindex(mt, order) if order else mt
        pcp.lists[pindex].appendleft(pfn)
        nr = 1 << order
        pcp.count += nr
        sec = self.memmap.sections[pfn >> SECTION_SHIFT]
        assert sec is not None
        i = pfn & SECTION_MASK
        if order:
            sec[i + 1:i + nr] = bytes(((K_PCP << 4) | TAIL,)) * (nr - 1)
        sec[i] = (K_PCP << 4) | order
        batch = pcp.batch
        free_high = False
        if order and order <= PAGE_ALLOC_COSTLY_ORDER:
            free_high = (pcp.free_count >= batch + pcp.high_min // 2
                         and bool(pcp.flags & PCPF_PREV_FREE_HIGH_ORDER)
                         and (not pcp.flags & PCPF_FREE_HIGH_BATCH or pcp.count >= batch))
            pcp.flags |= PCPF_PREV_FREE_HIGH_ORDER
        elif pcp.flags & PCPF_PREV_FREE_HIGH_ORDER:
            pcp.flags &= ~PCPF_PREV_FREE_HIGH_ORDER
        if pcp.free_count < (batch << PCP_BATCH_SCALE_MAX):
            pcp.free_count += nr
        high = self._nr_pcp_high(pcp, zone, batch, free_high)
        ex = self.tracer.explain
        if ex.on:
            ex.note("free_frozen_page_commit", "onto the pcp list" + (": count reached high, free a batch to the buddy"
                                                                      if pcp.count >= high else ""),
                    zone=zone.name, cpu=self.ctx.cpu, migratetype=MIGRATETYPE_NAMES[mt], pcp_count=pcp.count,
                    pcp_high=high, pcp_batch=batch)
        if pcp.count >= high:
            if ex.on:
                nr = self._nr_pcp_free(pcp, batch, high, free_high)
                step = ex.begin("free_pcppages_bulk", count=nr)
                self.free_pcppages_bulk(zone, nr, pcp, pindex)
                ex.end(step)
            else:
                self.free_pcppages_bulk(zone, self._nr_pcp_free(pcp, batch, high, free_high), pcp, pindex)
            if zone.below_high and zone_watermark_ok(zone, 0, zone.high, ZONE_MOVABLE, 0):
                zone.below_high = False

    @staticmethod
    def _nr_pcp_free(pcp: PerCpuPages, batch: int, high: int, free_high: bool) -> int:
        if free_high:
            return min(pcp.count, batch << PCP_BATCH_SCALE_MAX)
        lo, hi = batch, high - batch
        # clamp_t(int, free_count, lo, hi) as include/linux/minmax.h: __clamp evaluates it
        val = pcp.free_count
        return hi if val >= hi else (lo if val <= lo else val)

    def _nr_pcp_high(self, pcp: PerCpuPages, zone: Zone, batch: int, free_high: bool) -> int:
        high_min = pcp.high_min
        high_max = pcp.high_max
        high = pcp.high = min(max(pcp.high, high_min), high_max)
        if not high:
            return 0
        if free_high:
            pcp.high = max(high - (batch << PCP_BATCH_SCALE_MAX), high_min)
            return 0
        if zone.reclaim_active:
            free_count = max(pcp.free_count, batch)
            pcp.high = max(high - free_count, high_min)
            return min(batch << 2, pcp.high)
        if high_min == high_max:
            return high
        if zone.below_high:
            free_count = max(pcp.free_count, batch)
            pcp.high = max(high - free_count, high_min)
            high = max(pcp.count, high_min)
        elif pcp.count >= high:
            need_high = pcp.free_count + batch
            if pcp.high < need_high:
                pcp.high = min(max(need_high, high_min), high_max)
        return high

    def free_pcppages_bulk(self, zone: Zone, count: int, pcp: PerCpuPages, pindex: int) -> None:
        """Return ``count`` pages to the buddy, the requested list first, each list from its tail."""
        count = min(pcp.count, count)
        pindex -= 1
        lists = pcp.lists
        memmap = self.memmap
        sections = memmap.sections
        pageblock_mt = memmap.pageblock_mt
        pb_order = memmap.pageblock_order
        free_one_page = zone.free_one_page
        tracing = self.tracer.enabled
        while count > 0:
            while True:
                pindex += 1
                if pindex > len(lists) - 1:
                    pindex = 0
                if lists[pindex]:
                    break
            lst = lists[pindex]
            order = pindex_to_order(pindex, self.hpage_pmd_order)
            nr = 1 << order
            if not order and not tracing:
                # the order-0 pages this list gives, from its tail, in one run
                k = min(count, len(lst))
                run = [lst.pop() for _ in range(k)]
                count -= k
                pcp.count -= k
                zone.free_pcp_run(run)
                continue
            while True:
                pfn = lst.pop()
                mt = pageblock_mt[pfn >> pb_order]
                count -= nr
                pcp.count -= nr
                if tracing:
                    self._buddy_free(zone, pfn, order, mt)
                    self.tracer.emit("mm_page_pcpu_drain", f"page={self.arch.pfn_to_struct_page(pfn):0{self.arch.ptr_digits}x} pfn={pfn:#x} "
                                     f"order={order} migratetype={mt}")
                else:
                    # _buddy_free without the decision log (on only while tracing), inlined
                    sec = sections[pfn >> SECTION_SHIFT]
                    assert sec is not None
                    i = pfn & SECTION_MASK
                    if order:
                        sec[i:i + nr] = bytes((BUDDY_TAIL,)) * nr
                    else:
                        sec[i] = BUDDY_TAIL
                    free_one_page(pfn, order, mt)
                if count <= 0 or not lst:
                    break

    def drain_pages_zone(self, cpu: int, zone: Zone) -> None:
        pcp = zone.pcp[cpu]
        while pcp.count:
            self.free_pcppages_bulk(zone, min(pcp.count, pcp.batch << PCP_BATCH_SCALE_MAX), pcp, 0)

    def drain_all_pages(self, zone: Zone | None = None) -> None:
        """drain_all_pages(zone): empty every CPU's pcp lists (of one zone or all)."""
        zones = [zone] if zone is not None else self.populated
        for cpu in range(self.nr_cpus):
            for z in zones:
                self.drain_pages_zone(cpu, z)

    def get_page(self, pfn: int) -> None:
        """get_page/folio_get: one more reference on the block (its compound head)."""
        head = self._allocated_head(pfn, "get_page", "VM_BUG_ON_FOLIO(folio_ref_zero_or_close_to_overflow(folio))")
        if head is not None:
            self._refcount[head] = self._refcount.get(head, 1) + 1

    def put_page(self, pfn: int) -> None:
        """put_page: drop a reference on the (compound head of the) block; free it at zero."""
        head = self._allocated_head(pfn, "put_page", "VM_BUG_ON_PAGE(page_ref_count(page) == 0)")
        if head is None:
            return
        rc = self._refcount.get(head, 1) - 1
        if rc > 0:
            self._refcount[head] = rc
            return
        self._refcount.pop(head, None)
        b = self.memmap.get(head)
        order = (b & TAIL) if head in self.compound else 0
        if order == 0 and b & TAIL:
            # a non-compound block: the page itself is an order-0 folio (its tails were
            # freed already or leak as in the kernel); re-tag it as an order-0 block
            self.memmap.set(head, b & 0xF0)
        self._free_frozen_pages(head, order)

    def _allocated_head(self, pfn: int, what: str, vm_bug: str) -> int | None:
        """The pfn whose refcount get_page/put_page changes, or None after a report.

        A page with refcount 0 (free, on a pcp list, or a tail of a non-compound block)
        has no reference to take or drop: CONFIG_DEBUG_VM's VM_BUG_ON fires in the kernel;
        here the report is printed and nothing changes.
        """
        st = self.page_state(pfn)
        if st[0] == "absent":
            raise KernelFault(f"{what}: pfn {pfn:#x} has no struct page")
        if st[0] == "reserved":
            raise KernelFault(f"{what}: pfn {pfn:#x} is a reserved page, not one from the page allocator")
        head = self.block_head(pfn)
        if st[0] in ("buddy", "pcp") or head is None or (not st[1] and head[0] not in self.compound):
            self.bad_page(pfn, vm_bug, what, refcount=0)
            return None
        return head[0]
