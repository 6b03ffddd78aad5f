"""Address spaces: the ``AddressSpaces`` subsystem, every mm of the machine and the
operations on them, assembled from the parts that mirror the kernel's files:

- pgtable.py: the mm_struct (``MM``), page-table pages, the walks, zap_pte_range and
  free_pgtables, and the state the parts share (mm/memory.c, include/linux/mm_types.h);
- memory.py: page faults and copy_page_range (mm/memory.c);
- gup.py: populating a range (mm/gup.c);
- mmap.py: mmap, munmap, brk, get_unmapped_area, mm_alloc / exit_mmap (mm/mmap.c, mm/vma.c);
- mprotect.py, mremap.py: those system calls (mm/mprotect.c, mm/mremap.c);
- fork.py: dup_mmap (kernel/fork.c);
- rmap.py: the reverse-map walks of reclaim and compaction (mm/rmap.c, mm/migrate.c);
- swapfile.py: the swap device (mm/swapfile.c);
- task_mmu.py: the /proc views (fs/proc/task_mmu.c).

This module adds the page-state views over them.  Invariant: a page's ``mapcount`` is the
number of ptes mapping it (_mapcount + 1); its ``refcount`` is the mapcount, plus one for a
page-cache page (the page cache's reference).
"""

from __future__ import annotations

from .fork import Fork
from .mprotect import Mprotect
from .mremap import Mremap
from .pagecache import File
from .pgtable import MM
from .rmap import RmapWalk
from .vma import VM_ACCOUNT


class AddressSpaces(Mremap, Mprotect, Fork, RmapWalk):
    """Every mm of the machine and the operations on them (see the module docstring)."""

    # -- page state views --------------------------------------------------------------------------
    def page_mapcount(self, pfn: int) -> int:
        return self.mapcount.get(pfn)

    def page_refcount(self, pfn: int) -> int:
        """_refcount of a user page: one per mapping, plus the page cache's own reference."""
        found = self.rmap.lookup(pfn)
        n = self.mapcount.get(pfn)
        return n + 1 if found is not None and isinstance(found[0], File) else n

    def pagecache_pfns(self) -> set[int]:
        """Every pfn the page cache holds (for invariant checks)."""
        return {pfn for f in self.pagecache.files.values() for pfn in f.pages.values()}

    def committed_pages(self, mm: MM) -> int:
        """The mm's share of vm_committed_as: its VM_ACCOUNT mappings."""
        return sum(v.pages for v in mm.vmas if v.vm_flags & VM_ACCOUNT)

    def counters(self) -> list[tuple[str, int]]:
        return [("pgfault", self.pgfault), ("pgmajfault", self.pgmajfault)]
