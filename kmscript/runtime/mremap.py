"""mremap (mm/mremap.c: do_mremap, move_vma, move_page_tables).

What it models
--------------
A shrink unmaps the tail; a growth extends the VMA in place when the space after it is free
(vma_merge_extend), otherwise, with MREMAP_MAYMOVE, the mapping moves: a new VMA at the
target (MREMAP_FIXED's address or a free gap) takes the old range's ptes and anon_vma
chain, then the old range is unmapped.  A moved VMA keeps its vm_pgoff so the reverse map
still finds its anonymous pages.  When a page table at the target cannot be allocated, the
moved ptes go back and the call fails with -ENOMEM, the old mapping unchanged.

Simplifications: MREMAP_DONTUNMAP is refused (-EINVAL); no mremap of shared anonymous
memory with old_len 0.
"""

from __future__ import annotations

from .limits import EFAULT, EINVAL, ENOMEM
from .mm_types import MREMAP_DONTUNMAP, MREMAP_FIXED, MREMAP_MAYMOVE, PAGE_SHIFT, PAGE_SIZE
from .mmap import Mmap
from .pgtable import MM, Table, page_align
from .vma import MergeRequest, Vma, link_anon_vma


class Mremap(Mmap):
    """do_mremap (see the module docstring)."""

    # -- mremap ---------------------------------------------------------------------------------
    def do_mremap(self, mm: MM, addr: int, old_len: int, new_len: int, flags: int, new_addr: int = 0) -> int:
        """mm/mremap.c: do_mremap - shrink in place, grow in place, or move; the address or
        -errno."""
        if flags & ~(MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP):
            return -EINVAL
        if flags & MREMAP_FIXED and not flags & MREMAP_MAYMOVE:
            return -EINVAL
        if flags & MREMAP_DONTUNMAP:
            return -EINVAL  # not modelled
        if addr & (PAGE_SIZE - 1):
            return -EINVAL
        old_len = page_align(old_len)
        new_len = page_align(new_len)
        if not new_len or not old_len:
            return -EINVAL
        if flags & MREMAP_FIXED:
            if new_addr & (PAGE_SIZE - 1) or new_len > mm.task_size or new_addr > mm.task_size - new_len:
                return -EINVAL
            if new_addr < addr + old_len and addr < new_addr + new_len:
                return -EINVAL  # overlapping ranges
        vma = mm.vmas.lookup(addr)
        if vma is None:
            return -EFAULT
        if old_len > vma.vm_end - addr:
            return -EFAULT
        if not flags & MREMAP_FIXED:
            if old_len >= new_len:
                if old_len > new_len:
                    err = self.do_munmap(mm, addr + new_len, old_len - new_len)
                    if err:
                        return err
                return addr
            # grow in place when the VMA ends here and the space after it is free
            if addr + old_len == vma.vm_end:
                delta = new_len - old_len
                end = vma.vm_end
                if end + delta <= mm.task_size and not mm.vmas.intersecting(end, end + delta):
                    nxt = mm.vmas.find(end)
                    if nxt is None or end + delta <= self._vm_start_gap(nxt):
                        vmg = MergeRequest(end, end + delta, vma.vm_flags, vma.pgoff_of(end), vma.vm_file,
                                           vma.anon_vma, prev=vma, next=nxt)
                        if mm.vmas.merge_new_range(vmg, just_expand=True) is vma:
                            self._account_vm(mm, vma.vm_flags, delta >> PAGE_SHIFT)
                            return addr
            if not flags & MREMAP_MAYMOVE:
                return -ENOMEM
        if mm.map_count >= self.max_map_count - 3:
            return -ENOMEM
        if flags & MREMAP_FIXED:
            err = self.do_munmap(mm, new_addr, new_len)
            if err:
                return err
            target = new_addr
        else:
            target = self.get_unmapped_area(mm, 0, new_len, 0)
            if target < 0:
                return target
        return self._move_vma(mm, vma, addr, old_len, new_len, target)

    def _move_vma(self, mm: MM, vma: Vma, addr: int, old_len: int, new_len: int, target: int) -> int:
        """move_vma: a new VMA at target takes the old range's ptes (move_page_tables), then
        the old range is unmapped."""
        pgoff = vma.pgoff_of(addr)
        new = mm.vmas.new_vma(target, target + new_len, vma.vm_flags, pgoff, vma.vm_file, vma.name)
        if new is None:
            return -ENOMEM
        new.anon_vma = vma.anon_vma
        for av in vma.avc:
            link_anon_vma(new, av)
        mm.vmas.insert(new)
        self._account_vm(mm, vma.vm_flags, new_len >> PAGE_SHIFT)
        moved: list[tuple[Table, int, Table, int]] = []
        for a, table, i in self._all_ptes(mm, addr, addr + min(old_len, new_len)):
            dst = target + (a - addr)
            dtable = self._walk_alloc(mm, dst)
            if dtable is None:
                # move_vma: a page table could not be allocated: move the ptes back and
                # drop the new VMA (-ENOMEM, the old mapping unchanged)
                for table_, i_, dtable_, di_ in reversed(moved):
                    table_.entries[i_] = dtable_.entries[di_]
                    table_.used += 1
                    dtable_.entries[di_] = 0
                    dtable_.used -= 1
                self.do_munmap(mm, target, new_len)
                return -ENOMEM
            entry = table.entries[i]
            table.entries[i] = 0
            table.used -= 1
            di = (dst >> PAGE_SHIFT) & (len(dtable.entries) - 1)
            dtable.entries[di] = entry
            dtable.used += 1
            moved.append((table, i, dtable, di))
        self.do_munmap(mm, addr, old_len)
        return target
