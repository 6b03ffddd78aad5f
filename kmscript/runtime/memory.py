"""Page faults and copy-on-write (mm/memory.c: handle_mm_fault and the handlers below it,
copy_page_range for fork).

What it models
--------------
Faults (mm/memory.c: handle_mm_fault; arch/x86/mm/fault.c: do_user_addr_fault,
access_error): no VMA -> SIGSEGV (SEGV_MAPERR); a write to a VMA without VM_WRITE or any
access to one without VM_READ|VM_WRITE|VM_EXEC -> SIGSEGV (SEGV_ACCERR).  An anonymous read
maps the shared zero page read-only (do_anonymous_page, my_zero_pfn; not counted in RSS);
an anonymous write takes a fresh page (GFP_HIGHUSER_MOVABLE | __GFP_COMP, to the inactive
anon LRU).  A file fault maps the page-cache page (filemap_fault: read in when missing);
a write to a private file mapping copies it into an anonymous page (do_cow_fault); a write
to a shared one dirties the page-cache page.  A write to a present read-only pte of a
writable VMA is do_wp_page: the page is reused when this pte is its only mapping
(wp_can_reuse_anon_folio), copied otherwise (wp_page_copy; the zero page is replaced by a
zeroed page).  A swapped-out pte faults back in (do_swap_page, a major fault).  The fault
path sets pgfault and, for swap-ins, pgmajfault; each mm has its min_flt/maj_flt.

copy_page_range (fork): the ptes of a VMA with an anon_vma are copied, private writable
ones write-protected in both parent and child (copy_present_pte); every mapped page's
mapcount rises; a swap entry's slot gains a reference (swap_duplicate).  A page's
``mapcount`` is the number of ptes mapping it (_mapcount + 1).

Simplifications relative to the kernel
--------------------------------------
- No THP, no huge pages, no KSM, no userfaultfd, no mlock; no fault-around, no
  fault retry (the mmap lock is never dropped).
- Shared anonymous mappings are shmem: their pages live in a per-mapping page-cache file
  (``/dev/zero (deleted)``) and count as MM_SHMEMPAGES; they are not swap-backed.
- A swapped-out page has no swap cache: reclaim frees it at once and a fault reads it back
  into a new page.  Swap slots are counted, not numbered (the swap pte holds the
  page-table entry's offset only for display).
- A swapped-out page shared by several ptes (after fork) comes back as a private copy in
  each address space that touches it (there is no swap cache to share it from).
"""

from __future__ import annotations

from .arch.paging import _PAGE_ACCESSED, _PAGE_DIRTY, _PAGE_PRESENT, _PAGE_RW
from .gfp import GFP_HIGHUSER_MOVABLE, __GFP_COMP, __GFP_ZERO
from .limits import ENOMEM, PAGE_WORK
from .mm_types import PAGE_SHIFT, PAGE_SIZE
from .pagecache import LRU_INACTIVE_ANON, File
from .pgtable import MM, PageTables, Table
from .vma import VM_EXEC, VM_MAYWRITE, VM_READ, VM_SHARED, VM_WRITE, AnonVma, Vma, link_anon_vma


GFP_ANON_FAULT = GFP_HIGHUSER_MOVABLE | __GFP_COMP  # vma_alloc_folio adds __GFP_COMP
# Simulated time (printk timestamps) a page fault costs: the order of a minor anonymous
# fault with page zeroing on current x86_64 hardware.
FAULT_NS = 1000

# fault results (include/linux/mm_types.h: vm_fault_reason, the ones the model returns)
FAULT_OK = 0
VM_FAULT_OOM = 0x1
VM_FAULT_SIGSEGV = 0x40
# arch/x86/include/asm/trap_pf.h: the error code a segfault line prints
X86_PF_PROT, X86_PF_WRITE, X86_PF_USER = 1, 2, 4
_GFP_ZERO = __GFP_ZERO


class Memory(PageTables):
    """The fault handlers and copy_page_range (see the module docstring)."""

    # -- faults ----------------------------------------------------------------------------------
    def access_error(self, vma: Vma, write: bool) -> bool:
        """arch/x86/mm/fault.c: access_error."""
        if write:
            return not vma.vm_flags & VM_WRITE
        return not vma.vm_flags & (VM_READ | VM_WRITE | VM_EXEC)

    def handle_fault(self, mm: MM, addr: int, write: bool) -> int:
        """One user page fault at addr: FAULT_OK, VM_FAULT_SIGSEGV or VM_FAULT_OOM."""
        vma = mm.vmas.lookup(addr)
        if vma is None or self.access_error(vma, write):
            return VM_FAULT_SIGSEGV
        self.meter.charge(PAGE_WORK)
        return self._fault_in_vma(mm, vma, addr & ~(PAGE_SIZE - 1), write)

    def _count_fault(self, mm: MM, major: bool) -> None:
        self.pgfault += 1
        if major:
            self.pgmajfault += 1
            mm.maj_flt += 1
        else:
            mm.min_flt += 1
        self.clock.ns += FAULT_NS

    def _fault_in_vma(self, mm: MM, vma: Vma, addr: int, write: bool) -> int:
        """__handle_mm_fault -> handle_pte_fault for one page of a VMA the access may touch."""
        table = self._walk_alloc(mm, addr)
        if table is None:
            return VM_FAULT_OOM
        i = (addr >> PAGE_SHIFT) & (len(table.entries) - 1)
        pte = table.entries[i]
        if pte & _PAGE_PRESENT:
            if not write or pte & _PAGE_RW:
                # a spurious fault: the pte already allows the access (pte_mkyoung)
                table.entries[i] = pte | _PAGE_ACCESSED | (_PAGE_DIRTY if write else 0)
                return FAULT_OK
            return self._do_wp_page(mm, vma, table, i, addr)
        if pte:
            return self._do_swap_page(mm, vma, table, i, addr, write)
        if vma.vm_file is None:
            return self._do_anonymous_page(mm, vma, table, i, addr, write)
        return self._do_file_fault(mm, vma, table, i, addr, write)

    def _anon_vma_prepare(self, vma: Vma) -> AnonVma:
        """anon_vma_prepare: the first anonymous page of a VMA gives it an anon_vma."""
        if vma.anon_vma is None:
            av = AnonVma(0)
            av.oid = self.rmap.register(av)
            vma.anon_vma = av
            link_anon_vma(vma, av)
        return vma.anon_vma

    def _alloc_user_page(self, mm: MM, zero: bool) -> int | None:
        gfp = GFP_ANON_FAULT | (_GFP_ZERO if zero else 0)
        pfn = self.page_alloc.alloc_pages(gfp, 0, owner=self.owner_user)
        if mm.dead:
            if pfn is not None:
                self.page_alloc.free_pages(pfn, 0)
            return None
        return pfn

    def _new_anon_page(self, mm: MM, vma: Vma, table: Table, i: int, addr: int, pfn: int, writable: bool) -> None:
        """folio_add_new_anon_rmap + folio_add_lru_vma + set_pte_at."""
        av = self._anon_vma_prepare(vma)
        self.rmap.set(pfn, av.oid, vma.pgoff_of(addr))  # folio->index = linear_page_index
        self.lru.add(pfn, LRU_INACTIVE_ANON)
        self.lru.young.set(pfn, 1)
        self.mapcount.set(pfn, 1)
        self.vmstat.nr_anon_pages += 1
        mm.anon += 1
        mm.hiwater_rss = max(mm.hiwater_rss, mm.rss)
        bits = self._pte_prot(vma) | _PAGE_DIRTY
        if writable:
            bits |= _PAGE_RW
        if not table.entries[i]:
            table.used += 1
        table.entries[i] = (pfn << PAGE_SHIFT) | bits

    def _do_anonymous_page(self, mm: MM, vma: Vma, table: Table, i: int, addr: int, write: bool) -> int:
        if not write:
            # the shared zero page, read-only (pte_mkspecial(pfn_pte(my_zero_pfn(addr))))
            table.entries[i] = (self.zero_pfn << PAGE_SHIFT) | self._pte_prot(vma)
            table.used += 1
            self._count_fault(mm, False)
            return FAULT_OK
        if vma.vm_flags & VM_SHARED:
            return self._do_file_fault(mm, vma, table, i, addr, write)
        pfn = self._alloc_user_page(mm, False)
        if pfn is None:
            return VM_FAULT_OOM
        self._new_anon_page(mm, vma, table, i, addr, pfn, True)
        self._count_fault(mm, False)
        return FAULT_OK

    def _do_file_fault(self, mm: MM, vma: Vma, table: Table, i: int, addr: int, write: bool) -> int:
        """do_read_fault / do_cow_fault / do_shared_fault."""
        f = vma.vm_file
        assert f is not None
        idx = vma.pgoff_of(addr)
        site = self.alloc_site
        saved = site.value
        site.value = "filemap_fault"
        try:
            pfn = self.pagecache.get_page(f, idx)
        finally:
            site.value = saved
        if mm.dead:
            return VM_FAULT_OOM
        if pfn is None:
            return VM_FAULT_OOM
        if write and not vma.vm_flags & VM_SHARED:
            # do_cow_fault: a private copy of the page-cache page
            new = self._alloc_user_page(mm, False)
            if new is None:
                return VM_FAULT_OOM
            self._copy_page(pfn, new)
            self._new_anon_page(mm, vma, table, i, addr, new, True)
            self._count_fault(mm, False)
            return FAULT_OK
        self._map_file_page(mm, vma, table, i, f, pfn, write)
        self._count_fault(mm, False)
        return FAULT_OK

    def _map_file_page(self, mm: MM, vma: Vma, table: Table, i: int, f: File, pfn: int, write: bool) -> None:
        """set_pte_range + folio_add_file_rmap_ptes for a page-cache page."""
        n = self.mapcount.get(pfn)
        self.mapcount.set(pfn, n + 1)
        if n == 0:
            self.vmstat.nr_mapped += 1
        if f.shmem:
            mm.shmem += 1
        else:
            mm.file += 1
        mm.hiwater_rss = max(mm.hiwater_rss, mm.rss)
        self.lru.young.set(pfn, 1)
        bits = self._pte_prot(vma)
        if vma.vm_flags & VM_SHARED and vma.vm_flags & VM_WRITE:
            if write:
                bits |= _PAGE_RW | _PAGE_DIRTY
                self.pagecache.mark_dirty(f, pfn)
        if not table.entries[i]:
            table.used += 1
        table.entries[i] = (pfn << PAGE_SHIFT) | bits

    def _copy_page(self, src: int, dst: int) -> None:
        phys = self.phys
        data = phys.read(src * PAGE_SIZE, PAGE_SIZE)
        if any(data):
            phys.write(dst * PAGE_SIZE, data)
        else:
            phys.clear_pages(dst, 1)

    def _do_wp_page(self, mm: MM, vma: Vma, table: Table, i: int, addr: int) -> int:
        """do_wp_page: reuse an exclusive anonymous page, copy a shared one (wp_page_copy)."""
        pte = table.entries[i]
        pfn = (pte >> PAGE_SHIFT) & self._pfn_mask
        if vma.vm_flags & VM_SHARED:
            found = self.rmap.lookup(pfn)
            if found is not None and isinstance(found[0], File):
                self.pagecache.mark_dirty(found[0], pfn)
            table.entries[i] = pte | _PAGE_RW | _PAGE_DIRTY | _PAGE_ACCESSED
            self._count_fault(mm, False)
            return FAULT_OK
        if pfn != self.zero_pfn and self._exclusive_anon(pfn):
            table.entries[i] = pte | _PAGE_RW | _PAGE_DIRTY | _PAGE_ACCESSED  # wp_page_reuse
            self._count_fault(mm, False)
            return FAULT_OK
        zero = pfn == self.zero_pfn
        new = self._alloc_user_page(mm, zero)
        if new is None:
            return VM_FAULT_OOM
        if zero:
            self.phys.clear_pages(new, 1)
            table.entries[i] = 0
            table.used -= 1
        else:
            self._copy_page(pfn, new)
            self._unmap_page_from(mm, pfn)
        self._new_anon_page(mm, vma, table, i, addr, new, True)
        self._count_fault(mm, False)
        return FAULT_OK

    def _unmap_page_from(self, mm: MM, pfn: int) -> None:
        """One mapping of a page goes (the old page of a COW copy): counters and, for the
        last mapping of an anonymous page, the page itself."""
        n = self.mapcount.get(pfn) - 1
        self.mapcount.set(pfn, n)
        found = self.rmap.lookup(pfn)
        if found is not None and isinstance(found[0], File):
            if found[0].shmem:
                mm.shmem -= 1
            else:
                mm.file -= 1
            if n == 0:
                self.vmstat.nr_mapped -= 1
            return
        mm.anon -= 1
        if n == 0:
            self._free_anon_page(pfn)

    def _do_swap_page(self, mm: MM, vma: Vma, table: Table, i: int, addr: int, write: bool) -> int:
        """do_swap_page: read the page back from swap into a new page (a major fault)."""
        pfn = self._alloc_user_page(mm, False)
        if pfn is None:
            return VM_FAULT_OOM
        slot = table.entries[i] >> PAGE_SHIFT
        table.entries[i] = 0
        table.used -= 1
        mm.swapents -= 1
        self.swap.put(slot)
        self.phys.clear_pages(pfn, 1)
        self._new_anon_page(mm, vma, table, i, addr, pfn, bool(vma.vm_flags & VM_WRITE))
        self._count_fault(mm, True)
        return FAULT_OK

    def _copy_page_range(self, old: MM, new: MM, vma: Vma) -> int:
        """copy_pte_range / copy_present_pte / copy_nonpresent_pte."""
        cow = not vma.vm_flags & VM_SHARED and bool(vma.vm_flags & VM_MAYWRITE)
        for addr, table, i in self._all_ptes(old, vma.vm_start, vma.vm_end):
            self.meter.charge(PAGE_WORK)
            dst = self._walk_alloc(new, addr)
            if dst is None:
                return -ENOMEM
            pte = table.entries[i]
            di = (addr >> PAGE_SHIFT) & (len(dst.entries) - 1)
            if not pte & _PAGE_PRESENT:
                # a swap entry: swap_duplicate (the slot is shared)
                dst.entries[di] = pte
                dst.used += 1
                new.swapents += 1
                self.swap.dup(pte >> PAGE_SHIFT)
                continue
            pfn = (pte >> PAGE_SHIFT) & self._pfn_mask
            if cow and pte & _PAGE_RW:
                pte &= ~_PAGE_RW  # ptep_set_wrprotect in the parent, and the child's copy
                table.entries[i] = pte
            dst.entries[di] = pte & ~_PAGE_DIRTY if vma.vm_flags & VM_SHARED else pte
            dst.used += 1
            if pfn == self.zero_pfn:
                continue
            self.mapcount.set(pfn, self.mapcount.get(pfn) + 1)
            found = self.rmap.lookup(pfn)
            if found is not None and isinstance(found[0], File):
                if found[0].shmem:
                    new.shmem += 1
                else:
                    new.file += 1
            else:
                new.anon += 1
        new.hiwater_rss = max(new.hiwater_rss, new.rss)
        return 0
