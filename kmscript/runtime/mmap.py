"""Address spaces: mm_struct, mmap/munmap/mprotect/brk/mremap, page tables, page faults,
fork with copy-on-write, and the reverse map reclaim and compaction use.

What it models
--------------
``MM`` is an mm_struct: its VMAs (``vma.VmaSet``, the kernel's merge/split rules), its page
tables, RSS counters by type (MM_ANONPAGES, MM_FILEPAGES, MM_SHMEMPAGES, MM_SWAPENTS),
``total_vm``, ``pgtables_bytes`` (mm_pgtables_bytes), ``start_brk``/``brk``, ``mmap_base``
and the fault counters (min_flt / maj_flt).  mm_struct and vm_area_struct objects come
from their slab caches (sizes from the verified 6.18 machine's /sys/kernel/slab:
mm_struct 1568 bytes, vm_area_struct 192, both SLAB_HWCACHE_ALIGN|SLAB_ACCOUNT, the VMA
cache SLAB_TYPESAFE_BY_RCU; kernel/fork.c: proc_caches_init, mm/vma_init.c: vma_state_init).

Page tables (arch/paging.py gives the shape): ``Table`` is one table page: its pfn, the raw
entries (x86 format: pfn << PAGE_SHIFT | flags for a present entry; an upper entry holds
_PAGE_TABLE and the pfn of the table below) and, above the PTE level, the child tables.
The PGD comes with the mm (pgd_alloc: PGD_ALLOCATION_ORDER pages); every other table is
allocated on the first fault that needs it, upper levels first (__handle_mm_fault:
p4d_alloc, pud_alloc, pmd_alloc, then pte_alloc), each an order-0 GFP_PGTABLE_USER page
(pagetable_alloc adds __GFP_COMP), counted in meminfo PageTables and, below the PGD/P4D,
in ``pgtables_bytes`` (which oom_badness adds to RSS).  munmap frees the tables that cover
only unmapped space between the neighbouring VMAs (free_pgtables with floor/ceiling, as
free_pgd_range computes it); exit frees them all, then the PGD.

Addresses: mmap picks the highest free gap below ``mmap_base`` (the top-down allocator,
vm_unmapped_area with VM_UNMAPPED_AREA_TOPDOWN); mmap_base = PAGE_ALIGN(TASK_SIZE - gap)
where gap is the stack rlimit (8 MiB) plus stack_guard_gap, clamped to [128 MiB,
TASK_SIZE / 6 * 5] (arch/x86/mm/mmap.c: mmap_base; randomisation off, as with
``norandmaps``).  With 4-level paging that is 0x7ffff7fff000, as on a real machine with
ASLR off.  The heap (brk) starts at the arch's ``brk_start``: exec loads no ELF image, so
the kernel's "end of bss" is a fixed, PUD-aligned address.

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

fork (kernel/fork.c: dup_mmap, mm/memory.c: copy_page_range): every VMA is duplicated; the
ptes of VMAs with an anon_vma are copied, private writable ones write-protected in both
parent and child (copy_present_pte), every mapped page's _mapcount and _refcount rise; the
child's VMAs are chained to the parent's anon_vma and get their own (anon_vma_fork).  A
page's ``mapcount`` is the number of ptes mapping it (_mapcount + 1); ``refcount`` is the
mapcount, plus one for a page-cache page (the page cache's reference).

Reverse map: an anonymous page points at (anon_vma, linear_page_index) -- folio->mapping
and folio->index; a VMA's vm_pgoff is its start's page number when it is created and
stays with the pages when mremap moves it, so vma_address finds the page in every VMA
chained to the anon_vma -- and a page-cache page at (file, index) (pagecache.Rmap).  Reclaim swaps an anonymous page out by clearing every pte
that maps it (try_to_unmap through the anon_vma's VMAs) and leaving swap entries behind;
compaction moves it by rewriting those ptes.

Simplifications relative to the kernel
--------------------------------------
- No THP, no huge pages, no KSM, no userfaultfd, no mlock, no RLIMIT_AS/DATA checks, no
  overcommit accounting (VM_ACCOUNT is kept as a flag only), no stack growth beyond the
  VMA (VM_GROWSDOWN is not expanded), no MAP_SHARED_VALIDATE flags, no mremap of shared
  anonymous memory with old_len 0.  One thread per mm.
- Shared anonymous mappings are shmem: their pages live in a per-mapping page-cache file
  (``/dev/zero (deleted)``) and count as MM_SHMEMPAGES; they are not swap-backed.
- anon_vma and anon_vma_chain objects are not allocated from slab caches; the maple tree
  needs no node allocations.
- A swapped-out page has no swap cache: reclaim frees it at once and a fault reads it back
  into a new page.  Swap slots are counted, not numbered (the swap pte holds the
  page-table entry's offset only for display).
- Page tables are allocated on demand at every level: i386 PAE's preallocated user PMDs
  (pgd_alloc -> preallocate_pmds) are not modelled.  No TLB (flushes have no cost).
- A swapped-out page shared by several ptes (after fork) comes back as a private copy in
  each address space that touches it (there is no swap cache to share it from).
- The zero page is the pfn of the kernel image's first page (CONFIG_PHYSICAL_START, 16 MiB
  on x86_64): it is never allocated or freed.
"""

from __future__ import annotations

import heapq
from typing import Any, Iterator, Protocol

from .arch import Arch
from .arch.paging import _PAGE_ACCESSED, _PAGE_DIRTY, _PAGE_NX, _PAGE_PRESENT, _PAGE_RW, _PAGE_TABLE, _PAGE_USER, Paging
from .buddy import SECTION_MASK, SECTION_SHIFT
from .context import ExecContext
from .errors import KernelFault
from .events import Clock
from .gfp import GFP_HIGHUSER_MOVABLE, GFP_KERNEL, GFP_KERNEL_ACCOUNT, __GFP_COMP, __GFP_ZERO
from .kmalloc import Kmalloc
from .slab import SlabAllocator
from .limits import EACCES, EEXIST, EFAULT, EINVAL, ENOMEM, EOVERFLOW, FS_MAXBYTES, PAGE_WORK, WorkMeter
from .mm_types import (MAP_ANONYMOUS, MAP_FIXED, MAP_FIXED_NOREPLACE, MAP_GROWSDOWN, MAP_POPULATE, MAP_PRIVATE,
                       MAP_SHARED, MAP_TYPE, MREMAP_DONTUNMAP, MREMAP_FIXED, MREMAP_MAYMOVE, PAGE_SHIFT, PAGE_SIZE,
                       PROT_EXEC, PROT_READ, PROT_WRITE)
from .mm_types import PageAllocator as _PageAllocator
from .pagecache import LRU_INACTIVE_ANON, AllocSite, File, LruVec, PageCache, PfnMap, Rmap
from .physmem import PhysMem
from .slab_geometry import SLAB_ACCOUNT, SLAB_HWCACHE_ALIGN, SLAB_PANIC, SLAB_TYPESAFE_BY_RCU
from .vma import (VM_ACCOUNT, VM_EXEC, VM_GROWSDOWN, VM_MAYEXEC, VM_MAYREAD, VM_MAYSHARE, VM_MAYWRITE, VM_READ,
                  VM_SHARED, VM_SOFTDIRTY, VM_WRITE, AnonVma, MergeRequest, Vma, VmaSet, link_anon_vma)
from .vmstat import VmStat


class PageAllocator(_PageAllocator, Protocol):
    """The page allocator as the fault path uses it (page_alloc.py: alloc_pages_pcp_run)."""

    def alloc_pages_pcp_run(self, gfp: int, nr: int, owner: int) -> list[int]: ...


class ObjectCaches(Protocol):
    """kmem_cache_create / kmem_cache_alloc / kmem_cache_free, as the slab layer offers them."""

    def kmem_cache_create(self, name: str, size: int, align: int, flags: int, usersize: int) -> Any: ...

    def kmem_cache_alloc(self, cache: Any, gfp: int) -> int | None: ...

    def kmem_cache_free(self, cache: Any, addr: int) -> None: ...


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


# include/linux/mm.h: DEFAULT_MAX_MAP_COUNT = USHRT_MAX - MAPCOUNT_ELF_CORE_MARGIN
DEFAULT_MAX_MAP_COUNT = 65535 - 5
DEFAULT_MAP_WINDOW = (1 << 47) - PAGE_SIZE
MMAP_MIN_ADDR = 65536          # CONFIG_DEFAULT_MMAP_MIN_ADDR on x86
STACK_GUARD_GAP = 256 << PAGE_SHIFT  # mm/mmap.c: stack_guard_gap
RLIMIT_STACK_DEFAULT = 8 << 20  # _STK_LIM
MIN_GAP = 128 << 20            # arch/x86/mm/mmap.c: SIZE_128M

GFP_PGTABLE_USER = GFP_KERNEL_ACCOUNT | __GFP_ZERO
GFP_PGTABLE_ALLOC = GFP_PGTABLE_USER | __GFP_COMP   # pagetable_alloc adds __GFP_COMP
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

_PTE_SWAP_BIT = 1 << 1  # a non-present pte with content is a swap entry (here: bit 1 set)
_GFP_COMP = __GFP_COMP
_GFP_ZERO = __GFP_ZERO


def page_align(n: int) -> int:
    return (n + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1)


class Table:
    """One page-table page (see the module docstring)."""

    __slots__ = ("pfn", "entries", "children", "used")

    def __init__(self, pfn: int, ptrs: int, leaf: bool) -> None:
        self.pfn = pfn
        self.entries = [0] * ptrs
        self.children: list[Table | None] | None = None if leaf else [None] * ptrs
        self.used = 0


class FileRmap:
    """One mm's place in a file's i_mmap: the page cache asks it whether a page index is
    mapped and has it unmap one (try_to_unmap for page-cache pages)."""

    __slots__ = ("spaces", "mm", "file")

    def __init__(self, spaces: "AddressSpaces", mm: "MM", file: File) -> None:
        self.spaces = spaces
        self.mm = mm
        self.file = file

    def _addrs(self, idx: int) -> Iterator[tuple[Vma, int]]:
        for vma in self.mm.vmas:
            if vma.vm_file is self.file and vma.vm_pgoff <= idx < vma.vm_pgoff + vma.pages:
                yield vma, vma.vm_start + ((idx - vma.vm_pgoff) << PAGE_SHIFT)

    def mapped(self, idx: int) -> bool:
        pfn = self.file.pages.get(idx, -1)
        return any(self.spaces.pte_pfn(self.mm, addr) == pfn for _, addr in self._addrs(idx))

    def unmap(self, idx: int) -> None:
        pfn = self.file.pages.get(idx, -1)
        for vma, addr in self._addrs(idx):
            if self.spaces.pte_pfn(self.mm, addr) == pfn:
                self.spaces.zap_one(self.mm, vma, addr)


class MM:
    """struct mm_struct (see the module docstring)."""

    __slots__ = ("addr", "pgd", "vmas", "anon", "file", "shmem", "swapents", "total_vm", "pgtables_bytes",
                 "start_brk", "brk", "mmap_base", "task_size", "owner", "min_flt", "maj_flt", "hiwater_rss",
                 "hiwater_vm", "dead", "file_rmaps", "data_vm", "exec_vm", "stack_vm", "nr_tables")

    def __init__(self, addr: int, pgd: Table, vmas: VmaSet, start_brk: int, mmap_base: int, task_size: int,
                 owner: Any, levels: int) -> None:
        self.addr = addr            # the mm_struct object (slab address)
        self.pgd = pgd
        self.vmas = vmas
        self.anon = 0               # MM_ANONPAGES
        self.file = 0               # MM_FILEPAGES
        self.shmem = 0              # MM_SHMEMPAGES
        self.swapents = 0           # MM_SWAPENTS
        self.total_vm = 0           # pages mapped
        self.pgtables_bytes = 0
        self.start_brk = start_brk
        self.brk = start_brk
        self.mmap_base = mmap_base
        self.task_size = task_size
        self.owner = owner          # the task (mm->owner), for messages
        self.min_flt = 0
        self.maj_flt = 0
        self.hiwater_rss = 0
        self.hiwater_vm = 0
        self.dead = False           # torn down (exit_mmap ran)
        self.file_rmaps: dict[File, FileRmap] = {}
        self.data_vm = 0
        self.exec_vm = 0
        self.stack_vm = 0
        self.nr_tables = [0] * levels  # table pages per level (the PGD counts as its level's one)

    @property
    def rss(self) -> int:
        """get_mm_rss: anon + file + shmem pages."""
        return self.anon + self.file + self.shmem

    @property
    def map_count(self) -> int:
        return self.vmas.map_count


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


class SwapSpace:
    """The swap device: total_swap_pages, the free slot count (nr_swap_pages) and the
    swap_map (references per used slot: every pte holding the entry; slots are handed out
    lowest first)."""

    __slots__ = ("nr_swap_pages", "free_swap_pages", "swap_map", "_next", "_freed", "vmstat")

    def __init__(self, swap_bytes: int, vmstat: VmStat) -> None:
        self.nr_swap_pages = swap_bytes // PAGE_SIZE
        self.free_swap_pages = self.nr_swap_pages
        self.swap_map: dict[int, int] = {}
        self._next = 1  # slot 0 holds the swap header
        self._freed: list[int] = []
        self.vmstat = vmstat

    def alloc(self) -> int | None:
        """get_swap_page: a free slot, or None when swap is full."""
        if self.free_swap_pages <= 0:
            return None
        if self._freed:
            slot = heapq.heappop(self._freed)
        else:
            slot = self._next
            self._next += 1
        self.swap_map[slot] = 1  # the swap cache's reference until the ptes hold it
        self.free_swap_pages -= 1
        self.vmstat.nr_swap_used += 1
        return slot

    def dup(self, slot: int) -> None:
        """swap_duplicate."""
        self.swap_map[slot] += 1

    def put(self, slot: int) -> None:
        """free_swap_and_cache / swap_free: the slot is free once no pte refers to it."""
        n = self.swap_map[slot] - 1
        if n > 0:
            self.swap_map[slot] = n
            return
        del self.swap_map[slot]
        heapq.heappush(self._freed, slot)
        self.free_swap_pages += 1
        self.vmstat.nr_swap_used -= 1


class AddressSpaces:
    """Every mm of the machine and the operations on them (see the module docstring)."""

    def __init__(self, *, arch: Arch, paging: Paging, page_alloc: PageAllocator, caches: ObjectCaches,
                 pagecache: PageCache, lru: LruVec, rmap: Rmap, vmstat: VmStat, clock: Clock, ctx: ExecContext,
                 phys: PhysMem, alloc_site: AllocSite, meter: WorkMeter, swap: SwapSpace, owner_user: int,
                 owner_pagetable: int) -> None:
        self.arch = arch
        self.paging = paging
        self.page_alloc = page_alloc
        self.caches = caches
        self.pagecache = pagecache
        self.lru = lru
        self.rmap = rmap
        self.vmstat = vmstat
        self.clock = clock
        self.ctx = ctx
        self.phys = phys
        self.alloc_site = alloc_site
        self.meter = meter
        self.swap = swap
        self.owner_user = owner_user
        self.owner_pagetable = owner_pagetable
        self.max_map_count = DEFAULT_MAX_MAP_COUNT
        self.mapcount = PfnMap("i", 0)   # ptes mapping each pfn (_mapcount + 1)
        self.pgfault = 0
        self.pgmajfault = 0
        self.task_size = arch.task_size
        # DEFAULT_MAP_WINDOW: mmap without a hint above it stays in 47 bits even with 5-level
        # paging (arch/x86/include/asm/page_64_types.h)
        self.map_window = min(arch.task_size, DEFAULT_MAP_WINDOW)
        # the zero page: in the kernel image at CONFIG_PHYSICAL_START (16 MiB on x86)
        self.zero_pfn = arch.max_dma_pfn
        self._mm_cache: Any = None
        self._vma_cache: Any = None
        self._shmem_seq = 0

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
        length = page_align(length)
        if not length or length > (1 << 64):
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
        vma = None if file is not None and getattr(file, "shmem", False) else mm.vmas.merge_new_range(vmg)
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

    @property
    def _pfn_mask(self) -> int:
        return (1 << 40) - 1

    def _exclusive_anon(self, pfn: int) -> bool:
        found = self.rmap.lookup(pfn)
        return found is not None and isinstance(found[0], AnonVma) and self.mapcount.get(pfn) == 1

    def _pte_prot(self, vma: Vma) -> int:
        """The pte bits vm_get_page_prot gives a VMA, without RW (set where allowed)."""
        bits = _PAGE_PRESENT | _PAGE_USER | _PAGE_ACCESSED
        if self.paging.nx and not vma.vm_flags & VM_EXEC:
            bits |= _PAGE_NX
        return bits

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

    # -- page tables ------------------------------------------------------------------------------
    def _walk_alloc(self, mm: MM, addr: int) -> Table | None:
        """Walk to the PTE table of addr, allocating the missing tables top-down; None when an
        allocation fails or the mm died meanwhile (OOM-killed during its own fault)."""
        levels = self.paging.levels
        t = mm.pgd
        last = len(levels) - 1
        site = self.alloc_site
        for depth in range(last):
            level = levels[depth]
            i = (addr >> level.shift) & (level.ptrs - 1)
            children = t.children
            assert children is not None
            child = children[i]
            if child is None:
                below = depth + 1
                saved = site.value
                site.value = levels[below].name
                pfn = self.page_alloc.alloc_pages(GFP_PGTABLE_ALLOC, 0, owner=self.owner_pagetable)
                site.value = saved
                if mm.dead:
                    if pfn is not None:
                        self.page_alloc.free_pages(pfn, 0)
                    return None
                if pfn is None:
                    return None
                child = Table(pfn, levels[below].ptrs, below == last)
                children[i] = child
                t.entries[i] = (pfn << PAGE_SHIFT) | _PAGE_TABLE
                t.used += 1
                self.vmstat.nr_pagetable_pages += 1
                mm.nr_tables[below] += 1
                if self.paging.counted(below):
                    mm.pgtables_bytes += self.paging.table_bytes(below)
            t = child
        return t

    def _walk(self, mm: MM, addr: int) -> Table | None:
        """The PTE table of addr, or None where a level is missing."""
        levels = self.paging.levels
        t: Table | None = mm.pgd
        for depth in range(len(levels) - 1):
            assert t is not None and t.children is not None
            level = levels[depth]
            t = t.children[(addr >> level.shift) & (level.ptrs - 1)]
            if t is None:
                return None
        return t

    def pte_of(self, mm: MM, addr: int) -> int:
        t = self._walk(mm, addr)
        if t is None:
            return 0
        return t.entries[(addr >> PAGE_SHIFT) & (len(t.entries) - 1)]

    def pte_pfn(self, mm: MM, addr: int) -> int:
        """The pfn a present pte maps, or -1."""
        pte = self.pte_of(mm, addr)
        return (pte >> PAGE_SHIFT) & self._pfn_mask if pte & _PAGE_PRESENT else -1

    def walk_levels(self, mm: MM, addr: int) -> list[tuple[str, int, int, int | None]]:
        """The walk of addr for ``show pagetable``: (level, index, entry, table pfn) top-down,
        ending where an entry is empty."""
        out: list[tuple[str, int, int, int | None]] = []
        levels = self.paging.levels
        t: Table | None = mm.pgd
        for depth, level in enumerate(levels):
            assert t is not None
            i = (addr >> level.shift) & (level.ptrs - 1)
            entry = t.entries[i]
            out.append((level.name, i, entry, t.pfn))
            if depth == len(levels) - 1 or t.children is None:
                break
            t = t.children[i]
            if t is None:
                break
        return out

    def mapped(self, mm: MM, start: int = 0, end: int = 0) -> list[tuple[int, int]]:
        """(address, pfn) of every present pte in [start, end) (end 0: the whole address
        space), in address order: what the page tables map."""
        mask = self._pfn_mask
        return [(a, (t.entries[i] >> PAGE_SHIFT) & mask)
                for a, t, i in self._present_ptes(mm, start, end or 1 << self.paging.va_bits)]

    def ptes(self, mm: MM, start: int, end: int) -> list[tuple[int, int]]:
        """(address, raw entry) of every non-empty pte in [start, end): present pages and
        swap entries."""
        return [(a, t.entries[i]) for a, t, i in self._all_ptes(mm, start, end)]

    def pte_to_pfn(self, pte: int) -> int:
        return (pte >> PAGE_SHIFT) & self._pfn_mask

    def _all_ptes(self, mm: MM, start: int, end: int) -> list[tuple[int, Table, int]]:
        """(address, table, index) of every non-empty pte in [start, end), in address order."""
        out: list[tuple[int, Table, int]] = []
        self._collect(mm.pgd, 0, 0, start, end, out, present_only=False)
        return out

    def _present_ptes(self, mm: MM, start: int, end: int) -> list[tuple[int, Table, int]]:
        out: list[tuple[int, Table, int]] = []
        self._collect(mm.pgd, 0, 0, start, end, out, present_only=True)
        return out

    def _collect(self, t: Table, depth: int, base: int, start: int, end: int, out: list[tuple[int, Table, int]],
                 present_only: bool) -> None:
        level = self.paging.levels[depth]
        size = 1 << level.shift
        first = max(0, (start - base) >> level.shift)
        last = min(level.ptrs - 1, (end - 1 - base) >> level.shift)
        if t.children is None:
            entries = t.entries
            for i in range(first, last + 1):
                e = entries[i]
                if e and (not present_only or e & _PAGE_PRESENT):
                    out.append((base + i * size, t, i))
            return
        children = t.children
        for i in range(first, last + 1):
            child = children[i]
            if child is not None and child.used:
                self._collect(child, depth + 1, base + i * size, start, end, out, present_only)

    def _free_pgtables(self, mm: MM, start: int, end: int, floor: int, ceiling: int) -> None:
        """free_pgtables / free_pgd_range: free the tables below the PGD whose whole range
        lies in [floor, ceiling) and meets [start, end) (end 0: everything; ceiling 0: the
        top of the address space)."""
        top = 1 << self.paging.va_bits
        self._free_level(mm, mm.pgd, 0, 0, start, end or top, floor, ceiling or top)

    def _free_level(self, mm: MM, t: Table, depth: int, base: int, start: int, end: int, floor: int,
                    ceiling: int) -> None:
        children = t.children
        if children is None:
            return
        level = self.paging.levels[depth]
        size = 1 << level.shift
        first = max(0, (start - base) >> level.shift)
        last = min(level.ptrs - 1, (end - 1 - base) >> level.shift)
        free = self.page_alloc.free_pages
        for i in range(first, last + 1):
            child = children[i]
            if child is None:
                continue
            rs = base + i * size
            self._free_level(mm, child, depth + 1, rs, start, end, floor, ceiling)
            if rs >= floor and rs + size <= ceiling:
                assert not child.used or child.children is not None and not any(child.children), child.entries
                children[i] = None
                t.entries[i] = 0
                t.used -= 1
                free(child.pfn, 0)
                self.vmstat.nr_pagetable_pages -= 1
                mm.nr_tables[depth + 1] -= 1
                if self.paging.counted(depth + 1):
                    mm.pgtables_bytes -= self.paging.table_bytes(depth + 1)

    # -- unmapping pages -------------------------------------------------------------------------
    def _zap_range(self, mm: MM, vma: Vma, start: int, end: int) -> None:
        """zap_pte_range over [start, end) of a VMA: every page loses this mapping (and is
        freed when it was the last one and no page cache holds it), swap entries are
        freed."""
        for addr, table, i in self._all_ptes(mm, start, end):
            self._zap_pte(mm, vma, table, i)

    def zap_one(self, mm: MM, vma: Vma, addr: int) -> None:
        t = self._walk(mm, addr)
        if t is not None:
            i = (addr >> PAGE_SHIFT) & (len(t.entries) - 1)
            if t.entries[i]:
                self._zap_pte(mm, vma, t, i)

    def _zap_pte(self, mm: MM, vma: Vma, table: Table, i: int) -> None:
        pte = table.entries[i]
        table.entries[i] = 0
        table.used -= 1
        vm = self.vmstat
        if not pte & _PAGE_PRESENT:
            # a swap entry: free_swap_and_cache
            mm.swapents -= 1
            self.swap.put(pte >> PAGE_SHIFT)
            return
        pfn = (pte >> PAGE_SHIFT) & self._pfn_mask
        if pfn == self.zero_pfn:
            return
        n = self.mapcount.get(pfn) - 1
        self.mapcount.set(pfn, n)
        found = self.rmap.lookup(pfn)
        if found is not None and isinstance(found[0], File):
            f = found[0]
            if getattr(f, "shmem", False):
                mm.shmem -= 1
            else:
                mm.file -= 1
            if n == 0:
                vm.nr_mapped -= 1
            # (no dirty transfer here: a write through a shared mapping marked the page
            # dirty when it faulted, do_shared_fault -> fault_dirty_shared_page)
            return
        mm.anon -= 1
        if n == 0:
            self._free_anon_page(pfn)

    def _free_anon_page(self, pfn: int) -> None:
        """The last mapping of an anonymous page went: off the LRU, out of the rmap, freed."""
        lru = self.lru
        if lru.lru_of(pfn) >= 0:
            lru.remove(pfn)
        self.rmap.clear(pfn)
        self.vmstat.nr_anon_pages -= 1
        self.page_alloc.free_pages(pfn, 0)

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
        if getattr(f, "shmem", False):
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
            if getattr(found[0], "shmem", False):
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
        the same calls as one page at a time.  The task can only be killed inside an
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
        cur_key = -1
        rsec = ssec = ysec = msec = rmap_map.section(0)
        zcount: list[int] | None = None
        done = 0
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
            ahead: list[int] = []
            for i in range(first, last):
                meter.left -= PAGE_WORK  # meter.charge, inlined on this hot path
                if meter.left < 0:
                    meter.exhausted()
                if entries[i]:
                    if self._fault_in_vma(mm, vma, addr, True) != FAULT_OK:
                        stop = True
                        break
                    done += 1
                    addr += PAGE_SIZE
                    rmap_val += 1
                    continue
                if ahead:
                    pfn: int | None = ahead.pop()
                else:
                    want = min(nr_total - done, last - i, 1 + meter.left // PAGE_WORK)
                    ahead = alloc_run(GFP_ANON_FAULT, want, owner) if want > 1 else []
                    if ahead:
                        ahead.reverse()
                        pfn = ahead.pop()
                    else:
                        pfn = alloc(GFP_ANON_FAULT, 0, owner=owner)
                    if mm.dead:
                        # killed while allocating: the OOM reaper already tore the mm down
                        if pfn is not None:
                            free(pfn, 0)
                        for p in ahead:
                            free(p, 0)
                        ahead = []
                        stop = True
                        break
                if pfn is None:
                    stop = True
                    break
                key = pfn >> SECTION_SHIFT
                if key != cur_key:
                    cur_key = key
                    rsec = rmap_map.section(pfn)
                    ssec = state_map.section(pfn)
                    ysec = young_map.section(pfn)
                    msec = mc_map.section(pfn)
                    sec_first = key << SECTION_SHIFT
                    z0 = range_zone(sec_first, sec_first + SECTION_MASK + 1)
                    zcount = zone_nr[z0] if z0 >= 0 else None
                off = pfn & SECTION_MASK
                entries[i] = (pfn << PAGE_SHIFT) | pte_bits
                table.used += 1
                rsec[off] = rmap_val
                msec[off] = 1
                # lruvec_add_folio, inlined; counters stay exact at every step because a
                # later allocation in this loop may print them (OOM report, Mem-Info)
                ssec[off] = state
                ysec[off] = 1
                lru_list.append(pfn)
                lru_nr[LRU_INACTIVE_ANON] += 1
                if zcount is not None:
                    zcount[LRU_INACTIVE_ANON] += 1
                else:
                    zone_nr[zone_of(pfn)][LRU_INACTIVE_ANON] += 1
                vm.nr_inactive_anon += 1
                vm.nr_anon_pages += 1
                mm.anon += 1
                mm.min_flt += 1
                done += 1
                clock.ns += FAULT_NS
                addr += PAGE_SIZE
                rmap_val += 1
            assert not ahead  # the loop stops only where no page was taken ahead
        self.pgfault += done
        mm.hiwater_rss = max(mm.hiwater_rss, mm.rss)
        return done

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
                if getattr(found[0], "shmem", False):
                    new.shmem += 1
                else:
                    new.file += 1
            else:
                new.anon += 1
        new.hiwater_rss = max(new.hiwater_rss, new.rss)
        return 0

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
                for _vma, addr in fr._addrs(idx):
                    t = self._walk(fr.mm, addr)
                    if t is None:
                        continue
                    i = (addr >> PAGE_SHIFT) & (len(t.entries) - 1)
                    e = t.entries[i]
                    if e & _PAGE_PRESENT and (e >> PAGE_SHIFT) & self._pfn_mask == old:
                        t.entries[i] = (new << PAGE_SHIFT) | (e & ~(self._pfn_mask << PAGE_SHIFT))
        self.mapcount.set(new, self.mapcount.get(old))
        self.mapcount.set(old, 0)

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
