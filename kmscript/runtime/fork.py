"""fork's address-space copy (kernel/fork.c: dup_mmap, with mm/memory.c: copy_page_range in
memory.py).

What it models
--------------

fork (kernel/fork.c: dup_mmap, mm/memory.c: copy_page_range): every VMA is duplicated; the
ptes of VMAs with an anon_vma are copied, private writable ones write-protected in both
parent and child (copy_present_pte), every mapped page's _mapcount and _refcount rise; the
child's VMAs are chained to the parent's anon_vma and get their own (anon_vma_fork).  A
page's ``mapcount`` is the number of ptes mapping it (_mapcount + 1); ``refcount`` is the
mapcount, plus one for a page-cache page (the page cache's reference).

Simplifications: no VM_DONTCOPY / VM_WIPEONFORK (madvise is not modelled), no
khugepaged or uprobes hooks.
"""

from __future__ import annotations

from .limits import ENOMEM
from .mmap import Mmap
from .pgtable import MM
from .vma import AnonVma, link_anon_vma


class Fork(Mmap):
    """dup_mmap (see the module docstring)."""

    # -- fork -------------------------------------------------------------------------------------
    def dup_mmap(self, old: MM, new: MM) -> int:
        """kernel/fork.c: dup_mmap - copy every VMA; copy_page_range for those with an
        anon_vma (private pages shared copy-on-write).  0 or -ENOMEM."""
        new.start_brk, new.brk, new.mmap_base = old.start_brk, old.brk, old.mmap_base
        for vma in old.vmas:
            nv = new.vmas.new_vma(vma.vm_start, vma.vm_end, vma.vm_flags, vma.vm_pgoff, vma.vm_file, vma.name)
            if nv is None:
                return -ENOMEM
            # anon_vma_fork: chained to every anon_vma of the parent, plus one of its own
            if vma.anon_vma is not None:
                for av in vma.avc:
                    link_anon_vma(nv, av)
                own = AnonVma(0, parent=vma.anon_vma)
                own.oid = self.rmap.register(own)
                nv.anon_vma = own
                link_anon_vma(nv, own)
            new.vmas.insert(nv)
            if vma.vm_file is not None:
                self._link_file(new, vma.vm_file)
            self._account_vm(new, vma.vm_flags, vma.pages)
            if vma.anon_vma is not None and self._copy_page_range(old, new, vma) < 0:
                return -ENOMEM
        return 0
