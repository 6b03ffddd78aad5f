"""mprotect (mm/mprotect.c: do_mprotect_pkey, mprotect_fixup, change_protection).

What it models
--------------
The range must be mapped without holes (-ENOMEM otherwise); a VMA may not gain a
permission its VM_MAY* bits forbid (-EACCES).  Each VMA of the range is split or merged to
the new flags (vma.py: vma_modify_flags), its pages move between data_vm / exec_vm /
stack_vm, and every present pte takes the new protection: write permission only where the
page can be written without a fault (an exclusive anonymous page or a shared mapping;
can_change_pte_writable), so a page shared copy-on-write stays read-only for do_wp_page.

Simplifications: no protection keys, no PROT_GROWSUP/PROT_GROWSDOWN, no NUMA hinting.
"""

from __future__ import annotations

from .arch.paging import _PAGE_ACCESSED, _PAGE_DIRTY, _PAGE_RW
from .limits import EACCES, EINVAL, ENOMEM
from .mm_types import PAGE_SHIFT, PAGE_SIZE, PROT_EXEC, PROT_READ, PROT_WRITE
from .mmap import Mmap, vm_flags_for
from .pgtable import MM, page_align
from .vma import VM_ACCOUNT, VM_EXEC, VM_READ, VM_SHARED, VM_WRITE, Vma


class Mprotect(Mmap):
    """do_mprotect_pkey (see the module docstring)."""

    # -- mprotect -------------------------------------------------------------------------------
    def do_mprotect(self, mm: MM, start: int, length: int, prot: int) -> int:
        """mm/mprotect.c: do_mprotect_pkey + mprotect_fixup + change_protection."""
        if start & (PAGE_SIZE - 1):
            return -EINVAL
        if prot & ~(PROT_READ | PROT_WRITE | PROT_EXEC):
            return -EINVAL
        if not length:
            return 0
        length = page_align(length)
        end = start + length
        if end <= start:
            return -ENOMEM
        vma = mm.vmas.find(start)
        if vma is None or vma.vm_start >= end:
            return -ENOMEM
        if vma.vm_start > start:
            return -ENOMEM
        prev = vma if start > vma.vm_start else mm.vmas.prev_of(vma.vm_start)
        tmp = vma.vm_start
        while True:
            if vma.vm_start != tmp:
                return -ENOMEM
            newflags = (vma.vm_flags & ~(VM_READ | VM_WRITE | VM_EXEC)) | vm_flags_for(prot, 0) & (
                VM_READ | VM_WRITE | VM_EXEC)
            if newflags & ~(newflags >> 4) & (VM_READ | VM_WRITE | VM_EXEC):
                return -EACCES
            tmp = min(vma.vm_end, end)
            got = self._mprotect_fixup(mm, vma, prev, max(start, vma.vm_start), tmp, newflags)
            if isinstance(got, int):
                return got
            prev = got
            if tmp >= end:
                return 0
            nxt = mm.vmas.find(tmp)
            if nxt is None:
                return -ENOMEM
            vma = nxt

    def _mprotect_fixup(self, mm: MM, vma: Vma, prev: Vma | None, start: int, end: int, newflags: int) -> Vma | int:
        if newflags == vma.vm_flags:
            return vma
        old = vma.vm_flags
        if newflags & VM_WRITE and not old & VM_SHARED and vma.vm_file is None:
            newflags |= VM_ACCOUNT
        got = mm.vmas.modify(vma, prev, start, end, newflags)
        if isinstance(got, int):
            return got
        npages = (end - start) >> PAGE_SHIFT
        # vm_stat_account(old, -n) then (new, +n): total_vm is unchanged
        self._account_kind(mm, old, -npages)
        self._account_kind(mm, newflags, npages)
        self._change_protection(mm, got, start, end)
        return got

    def _change_protection(self, mm: MM, vma: Vma, start: int, end: int) -> None:
        """change_pte_range: every present pte of the range gets the VMA's new protection.
        Write permission is set only where the page may be written without a fault
        (an exclusive anonymous page: can_change_pte_writable); shared pages stay
        read-only for do_wp_page."""
        writable = bool(vma.vm_flags & VM_WRITE)
        for addr, table, i in self._present_ptes(mm, start, end):
            pte = table.entries[i]
            pfn = pte >> PAGE_SHIFT & self._pfn_mask
            prot = self._pte_prot(vma)
            rw = 0
            if writable and (vma.vm_flags & VM_SHARED or (pfn != self.zero_pfn and self._exclusive_anon(pfn))):
                rw = _PAGE_RW
            table.entries[i] = (pfn << PAGE_SHIFT) | prot | rw | (pte & (_PAGE_ACCESSED | _PAGE_DIRTY))
