"""The mapping system calls (mm/mmap.c and mm/vma.c: do_mmap, mmap_region, do_vmi_munmap,
brk; get_unmapped_area) and the mm_struct's lifetime (kernel/fork.c: mm_alloc, exit_mmap).

What it models
--------------
mm_struct and vm_area_struct objects come from their slab caches (sizes from the verified
6.18 machine's /sys/kernel/slab: mm_struct 1568 bytes, vm_area_struct 192, both
SLAB_HWCACHE_ALIGN|SLAB_ACCOUNT, the VMA cache SLAB_TYPESAFE_BY_RCU; kernel/fork.c:
proc_caches_init, mm/vma_init.c: vma_state_init).  VMAs merge and split by the kernel's
rules (vma.py); a VMA's accounting goes to total_vm and data_vm / exec_vm / stack_vm
(vm_stat_account).

Addresses: mmap picks the highest free gap below ``mmap_base`` (the top-down allocator,
vm_unmapped_area with VM_UNMAPPED_AREA_TOPDOWN); mmap_base = PAGE_ALIGN(TASK_SIZE - gap)
where gap is the stack rlimit (8 MiB) plus stack_guard_gap, clamped to [128 MiB,
TASK_SIZE / 6 * 5] (arch/x86/mm/mmap.c: mmap_base; randomisation off, as with
``norandmaps``).  With 4-level paging that is 0x7ffff7fff000, as on a real machine with
ASLR off.  The heap (brk) starts at the arch's ``brk_start``: exec loads no ELF image, so
the kernel's "end of bss" is a fixed, PUD-aligned address.

munmap frees the page tables that cover only unmapped space between the neighbouring VMAs
(free_pgtables with floor/ceiling); exit frees them all, then the PGD.

Simplifications relative to the kernel
--------------------------------------
- No RLIMIT_AS/DATA checks, no overcommit accounting (VM_ACCOUNT is kept as a flag only),
  no stack growth beyond the VMA (VM_GROWSDOWN is not expanded), no MAP_SHARED_VALIDATE
  flags.
- Shared anonymous mappings are shmem: their pages live in a per-mapping page-cache file
  (``/dev/zero (deleted)``) and count as MM_SHMEMPAGES; they are not swap-backed.
- anon_vma and anon_vma_chain objects are not allocated from slab caches; the maple tree
  needs no node allocations.
"""

from __future__ import annotations

from typing import Any

from .errors import KernelFault
from .gfp import GFP_KERNEL
from .gup import Gup
from .kmalloc import Kmalloc
from .limits import EEXIST, EINVAL, ENOMEM, EOVERFLOW, FS_MAXBYTES
from .mm_types import (MAP_ANONYMOUS, MAP_FIXED, MAP_FIXED_NOREPLACE, MAP_GROWSDOWN, MAP_POPULATE, MAP_PRIVATE,
                       MAP_SHARED, MAP_TYPE, PAGE_SHIFT, PAGE_SIZE, PROT_EXEC, PROT_READ, PROT_WRITE)
from .pagecache import File
from .pgtable import GFP_PGTABLE_ALLOC, MM, FileRmap, Table, page_align
from .slab import SlabAllocator
from .slab_geometry import SLAB_ACCOUNT, SLAB_HWCACHE_ALIGN, SLAB_PANIC, SLAB_TYPESAFE_BY_RCU
from .vma import (VM_ACCOUNT, VM_EXEC, VM_GROWSDOWN, VM_MAYEXEC, VM_MAYREAD, VM_MAYSHARE, VM_MAYWRITE, VM_READ,
                  VM_SHARED, VM_SOFTDIRTY, VM_WRITE, AnonVma, MergeRequest, Vma, VmaSet)


class ObjectCachesOf:
    """The slab layer's cache API in the shape ObjectCaches names (kmem_cache_create and
    the allocation entry points of kmalloc.py)."""

    def __init__(self, slab: SlabAllocator, kmalloc: Kmalloc) -> None:
        self._slab = slab
        self._kmalloc = kmalloc

    def kmem_cache_create(self, name: str, size: int, align: int, flags: int, usersize: int) -> Any:
        return self._slab.kmem_cache_create(name, size, align, flags, None, usersize=usersize,
                                            caller="proc_caches_init")

    def kmem_cache_alloc(self, cache: Any, gfp: int) -> int | None:
        return self._kmalloc.kmem_cache_alloc(cache, gfp, "vm_area_alloc" if cache.name == "vm_area_struct"
                                              else "mm_alloc")

    def kmem_cache_free(self, cache: Any, addr: int) -> None:
        self._kmalloc.kmem_cache_free(cache, addr, "vm_area_free" if cache.name == "vm_area_struct" else "__mmdrop")


MMAP_MIN_ADDR = 65536          # CONFIG_DEFAULT_MMAP_MIN_ADDR on x86
STACK_GUARD_GAP = 256 << PAGE_SHIFT  # mm/mmap.c: stack_guard_gap
RLIMIT_STACK_DEFAULT = 8 << 20  # _STK_LIM
MIN_GAP = 128 << 20            # arch/x86/mm/mmap.c: SIZE_128M


def vm_flags_for(prot: int, flags: int) -> int:
    """calc_vm_prot_bits | calc_vm_flag_bits | mm->def_flags | VM_MAYREAD|VM_MAYWRITE|VM_MAYEXEC
    (do_mmap), plus VM_SHARED|VM_MAYSHARE for shared mappings."""
    vm = 0
    if prot & PROT_READ:
        vm |= VM_READ
    if prot & PROT_WRITE:
        vm |= VM_WRITE
    if prot & PROT_EXEC:
        vm |= VM_EXEC
    vm |= VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC
    if flags & MAP_GROWSDOWN:
        vm |= VM_GROWSDOWN
    if flags & MAP_TYPE == MAP_SHARED:
        vm |= VM_SHARED | VM_MAYSHARE
    return vm


def _is_exec(f: int) -> bool:
    return f & (VM_WRITE | VM_EXEC | VM_GROWSDOWN) == VM_EXEC  # is_exec_mapping (no VM_STACK)


def _is_data(f: int) -> bool:
    return f & (VM_WRITE | VM_SHARED | VM_GROWSDOWN) == VM_WRITE  # is_data_mapping


class Mmap(Gup):
    """mmap, munmap, brk and the mm's lifetime (see the module docstring)."""

    # -- sysctl --------------------------------------------------------------------------------
    def set_max_map_count(self, value: Any) -> None:
        if not isinstance(value, int) or isinstance(value, bool) or value < 0 or value > (1 << 31) - 1:
            raise KernelFault(f"vm.max_map_count {value!r}: must be an integer 0..2147483647 (-EINVAL)")
        self.max_map_count = value

    # -- slab objects --------------------------------------------------------------------------
    def _caches(self) -> tuple[Any, Any]:
        """mm_struct and vm_area_struct caches (created with the first address space)."""
        if self._mm_cache is None:
            # kernel/fork.c: proc_caches_init; mm/vma_init.c: vma_state_init
            self._mm_cache = self.caches.kmem_cache_create(
                "mm_struct", 1568, 0, SLAB_HWCACHE_ALIGN | SLAB_PANIC | SLAB_ACCOUNT, 448)
            self._vma_cache = self.caches.kmem_cache_create(
                "vm_area_struct", 192, 0, SLAB_HWCACHE_ALIGN | SLAB_PANIC | SLAB_TYPESAFE_BY_RCU | SLAB_ACCOUNT, 0)
        return self._mm_cache, self._vma_cache

    def _vma_alloc(self) -> int | None:
        return self.caches.kmem_cache_alloc(self._caches()[1], GFP_KERNEL)

    def _vma_free(self, addr: int) -> None:
        self.caches.kmem_cache_free(self._caches()[1], addr)

    def _put_anon_vma(self, av: AnonVma) -> None:
        self.rmap.unregister(av.oid)

    # -- mm lifetime ---------------------------------------------------------------------------
    def mmap_base(self) -> int:
        """arch/x86/mm/mmap.c: mmap_base with no randomisation."""
        task_size = self.map_window
        gap = RLIMIT_STACK_DEFAULT + STACK_GUARD_GAP
        gap = max(gap, MIN_GAP)
        gap = min(gap, task_size // 6 * 5)
        return (task_size - gap) & ~(PAGE_SIZE - 1)

    def mm_alloc(self, owner: Any) -> MM | None:
        """mm_alloc: the mm_struct from its cache, then the PGD (mm_init -> mm_alloc_pgd)."""
        mm_cache, _ = self._caches()
        addr = self.caches.kmem_cache_alloc(mm_cache, GFP_KERNEL)
        if addr is None:
            return None
        order = self.paging.pgd_order
        pfn = self.page_alloc.alloc_pages(GFP_PGTABLE_ALLOC, order, owner=self.owner_pagetable)
        if pfn is None:
            self.caches.kmem_cache_free(mm_cache, addr)
            return None
        self.vmstat.nr_pagetable_pages += 1 << order
        pgd = Table(pfn, self.paging.levels[0].ptrs, len(self.paging.levels) == 1)
        vmas = VmaSet(self._vma_alloc, self._vma_free, lambda: self.max_map_count, self._put_anon_vma)
        mm = MM(addr, pgd, vmas, self.arch.brk_start, self.mmap_base(), self.task_size, owner,
                len(self.paging.levels))
        vmas.mm = mm
        mm.nr_tables[0] = 1
        return mm

    def exit_mmap(self, mm: MM) -> None:
        """exit_mmap + mmdrop: unmap every VMA, free every page table, the PGD, the VMAs and
        the mm_struct."""
        if mm.dead:
            return
        vmas = list(mm.vmas)
        for vma in vmas:
            self._zap_range(mm, vma, vma.vm_start, vma.vm_end)
        self._free_pgtables(mm, 0, 0, 0, 0)
        for vma in vmas:
            mm.vmas.gather_munmap(vma.vm_start, vma.vm_end)
            self._vma_unlinked(mm, vma)
            mm.vmas.remove_vma(vma)
        mm.total_vm = 0
        self.page_alloc.free_pages(mm.pgd.pfn, self.paging.pgd_order)
        self.vmstat.nr_pagetable_pages -= 1 << self.paging.pgd_order
        mm.nr_tables[0] = 0
        mm.dead = True
        self.caches.kmem_cache_free(self._caches()[0], mm.addr)

    # -- address selection ---------------------------------------------------------------------
    def get_unmapped_area(self, mm: MM, addr: int, length: int, flags: int) -> int:
        """__get_unmapped_area + arch_get_unmapped_area_topdown (no randomisation)."""
        task_size = mm.task_size
        if length > task_size - MMAP_MIN_ADDR:
            return -ENOMEM
        if flags & MAP_FIXED:
            if addr > task_size - length:
                return -ENOMEM
            return addr
        if addr:
            addr = page_align(addr)
            if task_size - length >= addr and addr >= MMAP_MIN_ADDR:
                prev, nxt = mm.vmas.neighbours(addr, addr + length)
                if not mm.vmas.intersecting(addr, addr + length) and \
                        (nxt is None or addr + length <= self._vm_start_gap(nxt)):
                    return addr
        # vm_unmapped_area, top-down: the highest gap of length below mmap_base
        high = mm.mmap_base
        found = self._topdown(mm, length, MMAP_MIN_ADDR, high)
        if found < 0:
            # the bottom-up fallback (arch_get_unmapped_area) over [mmap_base, TASK_SIZE)
            found = self._bottomup(mm, length, mm.mmap_base, task_size)
        return found

    @staticmethod
    def _vm_start_gap(vma: Vma) -> int:
        return vma.vm_start - STACK_GUARD_GAP if vma.vm_flags & VM_GROWSDOWN else vma.vm_start

    def _topdown(self, mm: MM, length: int, low: int, high: int) -> int:
        end = high
        for vma in reversed(list(mm.vmas)):
            if vma.vm_start >= end:
                continue
            gap_start = max(vma.vm_end, low)
            if end - gap_start >= length:
                return end - length
            end = min(end, self._vm_start_gap(vma))
            if end < low:
                return -ENOMEM
        return end - length if end - low >= length else -ENOMEM

    def _bottomup(self, mm: MM, length: int, low: int, high: int) -> int:
        start = low
        for vma in mm.vmas:
            if vma.vm_end <= start:
                continue
            if self._vm_start_gap(vma) - start >= length:
                break
            start = max(start, vma.vm_end)
        return start if start + length <= high else -ENOMEM

    # -- mmap ----------------------------------------------------------------------------------
    def do_mmap(self, mm: MM, addr: int, length: int, prot: int, flags: int, file: File | None = None,
                offset: int = 0) -> int:
        """mm/mmap.c: do_mmap + mm/vma.c: mmap_region; returns the address or -errno."""
        if mm.dead:
            return -EINVAL
        if flags & MAP_TYPE not in (MAP_SHARED, MAP_PRIVATE):
            return -EINVAL
        if prot & ~(PROT_READ | PROT_WRITE | PROT_EXEC):
            return -EINVAL
        if file is None and not flags & MAP_ANONYMOUS:
            return -EINVAL  # (the kernel's -EBADF for a missing fd)
        if offset & (PAGE_SIZE - 1):
            return -EINVAL
        if not length:
            return -EINVAL
        # "Careful about overflows..": len = PAGE_ALIGN(len), an unsigned long that wraps to 0
        # near ULONG_MAX; if (!len) return -ENOMEM.  (A length beyond TASK_SIZE fails later, in
        # __get_unmapped_area.)
        if length > self.arch.ulong_max:
            return -ENOMEM
        length = page_align(length) & self.arch.ulong_max
        if not length:
            return -ENOMEM
        pgoff = offset >> PAGE_SHIFT
        if mm.map_count > self.max_map_count:
            return -ENOMEM
        if flags & MAP_FIXED_NOREPLACE:
            flags |= MAP_FIXED
        if flags & MAP_FIXED and addr & (PAGE_SIZE - 1):
            return -EINVAL
        addr = self.get_unmapped_area(mm, addr, length, flags)
        if addr < 0:
            return addr
        if flags & MAP_FIXED_NOREPLACE and mm.vmas.intersecting(addr, addr + length):
            return -EEXIST
        if file is not None and offset + length > FS_MAXBYTES:
            return -EOVERFLOW  # file_mmap_ok: beyond the filesystem's maximum file size
        vm_flags = vm_flags_for(prot, flags)
        if file is None:
            if flags & MAP_TYPE == MAP_SHARED:
                file = self._shmem_file()
                pgoff = 0
            else:
                pgoff = addr >> PAGE_SHIFT
        if flags & MAP_TYPE == MAP_PRIVATE and vm_flags & VM_WRITE:
            vm_flags |= VM_ACCOUNT  # accountable_mapping
        return self.mmap_region(mm, file, addr, length, vm_flags, pgoff, populate=bool(flags & MAP_POPULATE))

    def _shmem_file(self) -> File:
        """shmem_zero_setup: a shared anonymous mapping is backed by its own shmem file."""
        self._shmem_seq += 1
        f = self.pagecache.open(f"/dev/zero (deleted) #{self._shmem_seq}")
        f.shmem = True
        return f

    def mmap_region(self, mm: MM, file: File | None, addr: int, length: int, vm_flags: int, pgoff: int,
                    populate: bool = False, name: str = "") -> int:
        """__mmap_region: unmap what MAP_FIXED covers, merge with a neighbour or insert a
        new VMA."""
        end = addr + length
        if mm.vmas.intersecting(addr, end):
            err = self.do_munmap(mm, addr, length)
            if err:
                return err
        prev, nxt = mm.vmas.neighbours(addr, end)
        vmg = MergeRequest(addr, end, vm_flags, pgoff, file, prev=prev, next=nxt)
        vma = None if file is not None and file.shmem else mm.vmas.merge_new_range(vmg)
        if vma is None:
            if mm.map_count >= self.max_map_count:
                return -ENOMEM
            vma = mm.vmas.new_vma(addr, end, vm_flags, pgoff, file, name)
            if vma is None:
                return -ENOMEM
            mm.vmas.insert(vma)
            if file is not None:
                self._link_file(mm, file)
        vma.vm_flags |= VM_SOFTDIRTY  # __mmap_complete: a new mapping is soft-dirty
        self._account_vm(mm, vm_flags, length >> PAGE_SHIFT)
        if populate:
            self.populate(mm, addr, end, bool(vm_flags & VM_WRITE))
        return addr

    def _account_vm(self, mm: MM, flags: int, npages: int) -> None:
        """vm_stat_account."""
        mm.total_vm += npages
        mm.hiwater_vm = max(mm.hiwater_vm, mm.total_vm)
        self._account_kind(mm, flags, npages)

    @staticmethod
    def _account_kind(mm: MM, flags: int, npages: int) -> None:
        """The exec_vm / stack_vm / data_vm part of vm_stat_account."""
        if _is_exec(flags):
            mm.exec_vm += npages
        elif flags & VM_GROWSDOWN:
            mm.stack_vm += npages
        elif _is_data(flags):
            mm.data_vm += npages

    def _link_file(self, mm: MM, file: File) -> None:
        if file not in mm.file_rmaps:
            fr = FileRmap(self, mm, file)
            mm.file_rmaps[file] = fr
            file.maps.append(fr)

    def _vma_unlinked(self, mm: MM, vma: Vma) -> None:
        """A VMA left the mm: drop the mm from the file's i_mmap when it was the last one."""
        f = vma.vm_file
        if f is None or f not in mm.file_rmaps:
            return
        if any(v.vm_file is f for v in mm.vmas):
            return
        fr = mm.file_rmaps.pop(f)
        if fr in f.maps:
            f.maps.remove(fr)

    # -- munmap ---------------------------------------------------------------------------------
    def do_munmap(self, mm: MM, start: int, length: int) -> int:
        """do_vmi_munmap: 0 or -errno (nothing mapped in the range is not an error)."""
        if start & (PAGE_SIZE - 1) or start > mm.task_size or length > mm.task_size - start:
            return -EINVAL
        length = page_align(length)
        if not length:
            return -EINVAL
        end = start + length
        detached = mm.vmas.gather_munmap(start, end)
        if isinstance(detached, int):
            return detached
        if not detached:
            return 0
        prev, nxt = mm.vmas.neighbours(start, end)
        for vma in detached:
            self._zap_range(mm, vma, vma.vm_start, vma.vm_end)
            self._account_vm(mm, vma.vm_flags, -vma.pages)
        floor = prev.vm_end if prev is not None else 0
        ceiling = nxt.vm_start if nxt is not None else 0
        self._free_pgtables(mm, detached[0].vm_start, detached[-1].vm_end, floor, ceiling)
        for vma in detached:
            self._vma_unlinked(mm, vma)
            mm.vmas.remove_vma(vma)
        return 0

    # -- brk ------------------------------------------------------------------------------------
    def do_brk(self, mm: MM, brk: int) -> int:
        """SYSCALL_DEFINE1(brk): the new break, or the old one when the request fails."""
        if brk < mm.start_brk:
            return mm.brk
        newbrk = page_align(brk)
        oldbrk = page_align(mm.brk)
        if oldbrk == newbrk:
            mm.brk = brk
            return brk
        if brk <= mm.brk:
            # shrinking: do_vmi_align_munmap of [newbrk, oldbrk)
            if self.do_munmap(mm, newbrk, oldbrk - newbrk):
                return mm.brk
            mm.brk = brk
            return brk
        # check_brk_limits: the range must fit in the address space and below the next VMA
        if newbrk > mm.task_size or newbrk - oldbrk > mm.task_size - oldbrk:
            return mm.brk
        nxt = mm.vmas.find(oldbrk)
        if nxt is not None and newbrk + PAGE_SIZE > self._vm_start_gap(nxt):
            return mm.brk
        if self.do_brk_flags(mm, oldbrk, newbrk - oldbrk) < 0:
            return mm.brk
        mm.brk = brk
        return brk

    def do_brk_flags(self, mm: MM, addr: int, length: int) -> int:
        """do_brk_flags: expand the brk VMA (vma_merge_extend) or add one."""
        flags = VM_READ | VM_WRITE | VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC | VM_ACCOUNT  # VM_DATA_DEFAULT_FLAGS
        if mm.map_count > self.max_map_count:
            return -ENOMEM
        prev, nxt = mm.vmas.neighbours(addr, addr + length)
        if prev is not None and prev.vm_end == addr:
            vmg = MergeRequest(addr, addr + length, flags, addr >> PAGE_SHIFT, None, prev=prev, next=nxt)
            merged = mm.vmas.merge_new_range(vmg)
            if merged is not None:
                merged.vm_flags |= VM_SOFTDIRTY
                self._account_vm(mm, flags, length >> PAGE_SHIFT)
                return 0
        vma = mm.vmas.new_vma(addr, addr + length, flags | VM_SOFTDIRTY, addr >> PAGE_SHIFT, None)
        if vma is None:
            return -ENOMEM
        mm.vmas.insert(vma)
        self._account_vm(mm, flags, length >> PAGE_SHIFT)
        return 0
