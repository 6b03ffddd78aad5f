"""The reverse map walks reclaim and compaction use (mm/rmap.c: rmap_walk_anon,
try_to_unmap; mm/migrate.c: remove_migration_ptes).

What it models
--------------
Reverse map: an anonymous page points at (anon_vma, linear_page_index) -- folio->mapping
and folio->index; a VMA's vm_pgoff is its start's page number when it is created and
stays with the pages when mremap moves it, so vma_address finds the page in every VMA
chained to the anon_vma -- and a page-cache page at (file, index) (pagecache.Rmap).  Reclaim swaps an anonymous page out by clearing every pte
that maps it (try_to_unmap through the anon_vma's VMAs) and leaving swap entries behind;
compaction moves it by rewriting those ptes.

Simplifications: a swapped-out page has no swap cache; reclaim frees it at once.
"""

from __future__ import annotations

from .arch.paging import _PAGE_PRESENT
from .mm_types import PAGE_SHIFT
from .pagecache import File
from .pgtable import MM, FileRmap, PageTables, Table
from .vma import AnonVma, Vma


_PTE_SWAP_BIT = 1 << 1  # a non-present pte with content is a swap entry (here: bit 1 set)


class RmapWalk(PageTables):
    """The anonymous and file reverse-map walks (see the module docstring)."""

    # -- reverse map: reclaim and compaction -----------------------------------------------------
    def _anon_mappers(self, av: AnonVma, index: int, pfn: int) -> list[tuple[MM, Vma, Table, int]]:
        """rmap_walk_anon: every pte mapping pfn, through the VMAs chained to the anon_vma.
        *index* is the page's linear_page_index (folio->index): in each VMA the page sits
        at vm_start + (index - vm_pgoff) pages (vma_address), which stays right when
        mremap moves the VMA (the moved VMA keeps its vm_pgoff)."""
        out = []
        for vma in list(av.vmas):
            if not vma.vm_pgoff <= index < vma.vm_pgoff + vma.pages:
                continue
            owner = vma.vm_mm
            if owner is None or owner.dead:
                continue
            addr = vma.vm_start + ((index - vma.vm_pgoff) << PAGE_SHIFT)
            t = self._walk(owner, addr)
            if t is None:
                continue
            i = (addr >> PAGE_SHIFT) & (len(t.entries) - 1)
            pte = t.entries[i]
            if pte & _PAGE_PRESENT and (pte >> PAGE_SHIFT) & self._pfn_mask == pfn:
                out.append((owner, vma, t, i))
        return out

    def try_to_unmap_anon(self, av: AnonVma, index: int, pfn: int) -> bool:
        """add_to_swap + try_to_unmap for an anonymous page reclaim isolated: every pte that
        maps it becomes a swap entry for one slot, then the page is freed.  False (the
        page stays) when swap is full."""
        mappers = self._anon_mappers(av, index, pfn)
        slot = self.swap.alloc()
        if slot is None:
            return False
        entry = (slot << PAGE_SHIFT) | _PTE_SWAP_BIT
        for mm, _vma, table, i in mappers:
            table.entries[i] = entry
            self.swap.dup(slot)
            mm.anon -= 1
            mm.swapents += 1
        self.swap.put(slot)  # the reference add_to_swap held (the swap cache's)
        self.mapcount.set(pfn, 0)
        self.rmap.clear(pfn)
        self.vmstat.nr_anon_pages -= 1
        self.page_alloc.free_pages(pfn, 0)
        return True

    def migrate_anon(self, av: AnonVma, index: int, old: int, new: int) -> None:
        """remove_migration_ptes: every pte that mapped old maps new (the caller copied it)."""
        for _mm, _vma, table, i in self._anon_mappers(av, index, old):
            table.entries[i] = (new << PAGE_SHIFT) | (table.entries[i] & ~(self._pfn_mask << PAGE_SHIFT))
        self.mapcount.set(new, self.mapcount.get(old))
        self.mapcount.set(old, 0)
        self.rmap.clear(old)
        self.rmap.set(new, av.oid, index)

    def migrate_file_ptes(self, f: File, idx: int, old: int, new: int) -> None:
        """remove_migration_ptes for a mapped page-cache page."""
        for fr in list(f.maps):
            if isinstance(fr, FileRmap):
                for _vma, addr in fr.mapped_addrs(idx):
                    t = self._walk(fr.mm, addr)
                    if t is None:
                        continue
                    i = (addr >> PAGE_SHIFT) & (len(t.entries) - 1)
                    e = t.entries[i]
                    if e & _PAGE_PRESENT and (e >> PAGE_SHIFT) & self._pfn_mask == old:
                        t.entries[i] = (new << PAGE_SHIFT) | (e & ~(self._pfn_mask << PAGE_SHIFT))
        self.mapcount.set(new, self.mapcount.get(old))
        self.mapcount.set(old, 0)
