"""Populating a range (mm/gup.c: __mm_populate, populate_vma_page_range, faultin_page):
the fault loop MAP_POPULATE and the ``populate`` statement run over [start, end).

What it models
--------------
Every page the VMAs allow is faulted in, write faults where the VMA is writable and a write
was asked; the loop stops at the first failure (OOM or a killed task).  A private
anonymous range written for the first time takes a fast path that does what
do_anonymous_page does page by page, with the pages taken ahead from the pcp list
(alloc_pages_pcp_run) so the allocator sees the same calls; tests run it in lockstep
against the generic path.
"""

from __future__ import annotations

from array import array

from .arch.paging import _PAGE_DIRTY, _PAGE_RW
from .buddy import SECTION_MASK, SECTION_PAGES, SECTION_SHIFT
from .limits import PAGE_WORK
from .memory import FAULT_NS, FAULT_OK, GFP_ANON_FAULT, Memory
from .mm_types import PAGE_SHIFT, PAGE_SIZE
from .pagecache import LRU_INACTIVE_ANON
from .pgtable import MM
from .vma import VM_SHARED, VM_WRITE, Vma


class Gup(Memory):
    """__mm_populate and its fast path (see the module docstring)."""

    # -- populate: the fault loop over a range ----------------------------------------------------
    def populate(self, mm: MM, start: int, end: int, write: bool) -> int:
        """__mm_populate / faultin_page over [start, end): fault every page the VMAs allow;
        returns the pages faulted (stops at the first failure: OOM or a killed task)."""
        done = 0
        addr = start
        while addr < end:
            vma = mm.vmas.lookup(addr)
            if vma is None:
                break
            stop = min(end, vma.vm_end)
            w = write and bool(vma.vm_flags & VM_WRITE)
            if self.access_error(vma, w):
                break
            if w and vma.vm_file is None and not vma.vm_flags & VM_SHARED:
                n = self._populate_anon_write(mm, vma, addr, stop)
                done += n
                if addr + (n << PAGE_SHIFT) < stop:
                    break
            else:
                ok = True
                for a in range(addr, stop, PAGE_SIZE):
                    meter = self.meter
                    meter.left -= PAGE_WORK
                    if meter.left < 0:
                        meter.exhausted()
                    if self._fault_in_vma(mm, vma, a, w) != FAULT_OK:
                        ok = False
                        break
                    done += 1
                if not ok:
                    break
            addr = stop
        return done

    def _populate_anon_write(self, mm: MM, vma: Vma, start: int, end: int) -> int:
        """The write-fault loop over a private anonymous range, with the per-page work of
        do_anonymous_page inlined for the runs of empty ptes (the common case: a region
        touched for the first time).  It goes one PTE table at a time: the walk (which
        allocates the missing tables) once per table, then the table's entries in order.
        A pte that is not empty goes through the generic handle_pte_fault.  Pages are
        taken ahead from the pcp list (alloc_pages_pcp_run: what the next alloc_pages
        calls would return), at most to the end of the current PTE table (whose
        successor's tables come first) and within the work meter, so the allocator sees
        the same calls as one page at a time; a run of pages is mapped in one go and the
        counters it changes are added up once per run, before the next allocation (which
        may print them: OOM report, Mem-Info).  The task can only be killed inside an
        allocation, so that is where its death is checked."""
        alloc = self.page_alloc.alloc_pages
        alloc_run = self.page_alloc.alloc_pages_pcp_run
        free = self.page_alloc.free_pages
        owner = self.owner_user
        lru = self.lru
        lru_list = lru.lists[LRU_INACTIVE_ANON]
        lru_nr = lru.nr
        zone_nr = lru.zone_nr
        zone_of = lru.zone_of
        range_zone = lru.range_zone
        rmap_map = self.rmap.map
        state_map = lru.state
        young_map = lru.young
        mc_map = self.mapcount
        av = self._anon_vma_prepare(vma)
        vm = self.vmstat
        clock = self.clock
        meter = self.meter
        ptrs = self.paging.levels[-1].ptrs
        pte_bits = self._pte_prot(vma) | _PAGE_DIRTY | _PAGE_RW
        state = LRU_INACTIVE_ANON + 1

        def maps_of(pfn: int) -> tuple["array[int]", "array[int]", "array[int]", "array[int]", list[int] | None]:
            """The section arrays a page's writes go to (rmap, LRU state, young bit,
            mapcount) and its zone's LRU counts (None: the section spans two zones)."""
            first = (pfn >> SECTION_SHIFT) << SECTION_SHIFT
            z0 = range_zone(first, first + SECTION_MASK + 1)
            return (rmap_map.section(pfn), state_map.section(pfn), young_map.section(pfn), mc_map.section(pfn),
                    zone_nr[z0] if z0 >= 0 else None)
        cur_key = -1
        rsec = ssec = ysec = msec = rmap_map.section(0)
        zcount: list[int] | None = None
        done = present = 0
        nr_total = (end - start) >> PAGE_SHIFT
        # rmap value of the first page: anon_vma id and linear_page_index (folio->index)
        rmap_val = (av.oid << self.rmap.INDEX_BITS) | vma.pgoff_of(start)
        addr = start
        stop = False
        while addr < end and not stop:
            table = self._walk_alloc(mm, addr)
            if table is None or mm.dead:
                break
            entries = table.entries
            first = (addr >> PAGE_SHIFT) & (ptrs - 1)
            last = min(ptrs, first + ((end - addr) >> PAGE_SHIFT))
            i = first
            while i < last:
                meter.left -= PAGE_WORK  # meter.charge, inlined on this hot path
                if meter.left < 0:
                    meter.exhausted()
                if entries[i]:
                    if self._fault_in_vma(mm, vma, addr, True) != FAULT_OK:
                        stop = True
                        break
                    # a present PTE: _fault_in_vma counted the fault if it was one
                    # (do_wp_page); a spurious one is no pgfault, as on the generic path
                    done += 1
                    present += 1
                    addr += PAGE_SIZE
                    rmap_val += 1
                    i += 1
                    continue
                want = min(nr_total - done, last - i, 1 + meter.left // PAGE_WORK)
                if want > 1 and table.used:
                    # only the run of empty PTEs from i: a present PTE further on is
                    # faulted by _fault_in_vma and takes no new page, so pages taken
                    # ahead past it would be pages the page-by-page path never takes
                    j, lim = i + 1, i + want
                    while j < lim and not entries[j]:
                        j += 1
                    want = j - i
                run = alloc_run(GFP_ANON_FAULT, want, owner) if want > 1 else []
                if not run:
                    pfn = alloc(GFP_ANON_FAULT, 0, owner=owner)
                    if pfn is not None:
                        run = [pfn]
                if mm.dead:
                    # killed while allocating: the OOM reaper already tore the mm down;
                    # the page at hand goes back first, then the rest from the last
                    for pfn in run[:1] + run[:0:-1]:
                        free(pfn, 0)
                    stop = True
                    break
                if not run:
                    stop = True
                    break
                # the run of pages maps entries i .. i + k - 1; the meter is charged
                # for its pages after the first now (want kept it from running out)
                k = len(run)
                meter.left -= PAGE_WORK * (k - 1)
                p0 = run[0]
                off = p0 & SECTION_MASK
                if k > 4 and off + k <= SECTION_PAGES and run == list(range(p0, p0 + k)):
                    # consecutive pfns in one section (how the pcp list hands out a refill:
                    # nearly every page): the writes of the loop below, as slices
                    key = p0 >> SECTION_SHIFT
                    if key != cur_key:
                        cur_key = key
                        rsec, ssec, ysec, msec, zcount = maps_of(p0)
                    first_pte = (p0 << PAGE_SHIFT) | pte_bits
                    entries[i:i + k] = range(first_pte, first_pte + (k << PAGE_SHIFT), PAGE_SIZE)
                    i += k
                    rsec[off:off + k] = array(rsec.typecode, range(rmap_val, rmap_val + k))
                    rmap_val += k
                    msec[off:off + k] = array(msec.typecode, (1,)) * k
                    ssec[off:off + k] = array(ssec.typecode, (state,)) * k
                    ysec[off:off + k] = array(ysec.typecode, (1,)) * k
                    if zcount is not None:
                        zcount[LRU_INACTIVE_ANON] += k
                    else:
                        for pfn in run:
                            zone_nr[zone_of(pfn)][LRU_INACTIVE_ANON] += 1
                else:
                    for pfn in run:
                        key = pfn >> SECTION_SHIFT
                        if key != cur_key:
                            cur_key = key
                            rsec, ssec, ysec, msec, zcount = maps_of(pfn)
                        off = pfn & SECTION_MASK
                        entries[i] = (pfn << PAGE_SHIFT) | pte_bits
                        i += 1
                        rsec[off] = rmap_val
                        rmap_val += 1
                        msec[off] = 1
                        # lruvec_add_folio, inlined
                        ssec[off] = state
                        ysec[off] = 1
                        if zcount is not None:
                            zcount[LRU_INACTIVE_ANON] += 1
                        else:
                            zone_nr[zone_of(pfn)][LRU_INACTIVE_ANON] += 1
                # the counters of the whole run: exact again before the next allocation,
                # which may print them (OOM report, Mem-Info)
                table.used += k
                lru_list.extend(run)
                lru_nr[LRU_INACTIVE_ANON] += k
                vm.nr_inactive_anon += k
                vm.nr_anon_pages += k
                mm.anon += k
                mm.min_flt += k
                done += k
                clock.ns += FAULT_NS * k
                addr += PAGE_SIZE * k
        self.pgfault += done - present
        mm.hiwater_rss = max(mm.hiwater_rss, mm.rss)
        return done
