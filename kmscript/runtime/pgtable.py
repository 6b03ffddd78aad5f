"""Address spaces, their data and their page tables: the mm_struct (``MM``), one page-table
page (``Table``), an mm's place in a file's i_mmap (``FileRmap``) and ``PageTables``, the
state every part of the address-space subsystem shares plus the mm/memory.c code that
walks, zaps and frees page tables (the faults are in memory.py, the system calls in
mmap.py, mprotect.py and mremap.py, fork in fork.py, the reverse map in rmap.py; they are
assembled into ``AddressSpaces`` in address_spaces.py).

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

Unmapping (mm/memory.c: zap_pte_range): every page of the range loses its mapping and is
freed when that was the last one and no page cache holds it; a swap entry frees its slot.
It goes one PTE table at a time, as the kernel's mmu_gather batches it: counters per
table, the freed pages off the LRU and back to the allocator together (release_pages),
with the same result as one pte at a time (_zap_pte, the generic path that
``batched_zap = False`` selects and tests/runtime/test_zap_batch.py compares with).

Simplifications relative to the kernel
--------------------------------------
- Page tables are allocated on demand at every level: i386 PAE's preallocated user PMDs
  (pgd_alloc -> preallocate_pmds) are not modelled.  No TLB (flushes have no cost).
- The zero page is the pfn of the kernel image's first page (CONFIG_PHYSICAL_START, 16 MiB
  on x86_64): it is never allocated or freed.
- One thread per mm.
"""

from __future__ import annotations

from array import array
from typing import Any, Iterator, Protocol

from .arch import Arch
from .arch.paging import _PAGE_ACCESSED, _PAGE_NX, _PAGE_PRESENT, _PAGE_TABLE, _PAGE_USER, Paging
from .context import ExecContext
from .events import Clock
from .gfp import GFP_KERNEL_ACCOUNT, __GFP_COMP, __GFP_ZERO
from .limits import WorkMeter
from .buddy import SECTION_MASK, SECTION_SHIFT
from .mm_types import PAGE_SHIFT, PAGE_SIZE, PageAllocator
from .pagecache import AllocSite, File, LruVec, PageCache, PfnMap, Rmap
from .physmem import PhysMem
from .swapfile import SwapSpace
from .vma import VM_EXEC, AnonVma, Vma, VmaSet
from .vmstat import VmStat


class PtePageAllocator(PageAllocator, Protocol):
    """The page allocator as the fault path uses it (page_alloc.py: alloc_pages_pcp_run)."""

    def alloc_pages_pcp_run(self, gfp: int, nr: int, owner: int) -> list[int]: ...

    def release_pages(self, pfns: list[int]) -> None: ...


class ObjectCaches(Protocol):
    """kmem_cache_create / kmem_cache_alloc / kmem_cache_free, as the slab layer offers them."""

    def kmem_cache_create(self, name: str, size: int, align: int, flags: int, usersize: int) -> Any: ...

    def kmem_cache_alloc(self, cache: Any, gfp: int) -> int | None: ...

    def kmem_cache_free(self, cache: Any, addr: int) -> None: ...


# include/linux/mm.h: DEFAULT_MAX_MAP_COUNT = USHRT_MAX - MAPCOUNT_ELF_CORE_MARGIN
DEFAULT_MAX_MAP_COUNT = 65535 - 5
DEFAULT_MAP_WINDOW = (1 << 47) - PAGE_SIZE

GFP_PGTABLE_USER = GFP_KERNEL_ACCOUNT | __GFP_ZERO
GFP_PGTABLE_ALLOC = GFP_PGTABLE_USER | __GFP_COMP   # pagetable_alloc adds __GFP_COMP


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

    def __init__(self, spaces: PageTables, mm: MM, file: File) -> None:
        self.spaces = spaces
        self.mm = mm
        self.file = file

    def mapped_addrs(self, idx: int) -> Iterator[tuple[Vma, int]]:
        """The VMAs of this mm that map file page *idx*, with the address each maps it at
        (linear_page_index inverted, as vma_address does)."""
        for vma in self.mm.vmas:
            if vma.vm_file is self.file and vma.vm_pgoff <= idx < vma.vm_pgoff + vma.pages:
                yield vma, vma.vm_start + ((idx - vma.vm_pgoff) << PAGE_SHIFT)

    def mapped(self, idx: int) -> bool:
        pfn = self.file.pages.get(idx, -1)
        return any(self.spaces.pte_pfn(self.mm, addr) == pfn for _, addr in self.mapped_addrs(idx))

    def unmap(self, idx: int) -> None:
        pfn = self.file.pages.get(idx, -1)
        for vma, addr in self.mapped_addrs(idx):
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


class PageTables:
    """The state of every mm of the machine, the page-table walks, zap and free_pgtables
    (see the module docstring)."""

    def __init__(self, *, arch: Arch, paging: Paging, page_alloc: PtePageAllocator, caches: ObjectCaches,
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
        # zap whole PTE tables in batches (False: one pte at a time, the generic path)
        self.batched_zap = True

    # -- pte helpers ---------------------------------------------------------------------------
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
        freed.  One PTE table at a time through _zap_pte_table (batched_zap, the default),
        or one pte at a time through _zap_pte (the generic path, which the differential
        test runs the same scenarios through)."""
        if not self.batched_zap:
            for addr, table, i in self._all_ptes(mm, start, end):
                self._zap_pte(mm, vma, table, i)
            return
        tables: list[tuple[Table, int, int]] = []
        self._collect_tables(mm.pgd, 0, 0, start, end, tables)
        for table, first, last in tables:
            self._zap_pte_table(mm, vma, table, first, last)

    def _collect_tables(self, t: Table, depth: int, base: int, start: int, end: int,
                        out: list[tuple[Table, int, int]]) -> None:
        """(table, first index, last index) of every PTE table with entries that [start,
        end) covers, in address order (the tables _collect visits)."""
        level = self.paging.levels[depth]
        first = max(0, (start - base) >> level.shift)
        last = min(level.ptrs - 1, (end - 1 - base) >> level.shift)
        if t.children is None:
            out.append((t, first, last))
            return
        children = t.children
        size = 1 << level.shift
        for i in range(first, last + 1):
            child = children[i]
            if child is not None and child.used:
                self._collect_tables(child, depth + 1, base + i * size, start, end, out)

    def _zap_pte_table(self, mm: MM, vma: Vma, table: Table, first: int, last: int) -> None:
        """zap_pte_range over entries [first, last] of one PTE table, batched as the kernel
        batches it (mm/memory.c: zap_present_ptes -> folio_remove_rmap_ptes and
        __tlb_remove_folio_pages into the mmu_gather; mm/mmu_gather.c:
        tlb_batch_pages_flush -> free_pages_and_swap_cache -> folios_put_refs): each pte
        is cleared and its page's mapcount dropped in order, the RSS and vmstat counters
        are added up per table, and the anonymous pages whose last mapping went are taken
        off the LRU, out of the rmap and freed together (release_pages) in the order the
        ptes held them.  Nothing reads the deferred counters or the pages' state before
        the batch is flushed, and the allocator sees the same frees in the same order,
        so the result is _zap_pte on each pte in turn; an entry whose rmap owner is
        unknown goes through _zap_pte itself, after the batch so far is flushed."""
        entries = table.entries
        mask = self._pfn_mask
        zero_pfn = self.zero_pfn
        mc_secs = self.mapcount.sections
        rmap = self.rmap
        r_secs = rmap.map.sections
        owners = rmap.owners
        index_bits = rmap.INDEX_BITS
        swap_put = self.swap.put
        kinds: dict[int, int] = {}        # rmap owner id -> 0 anon, 1 file, 2 shmem
        freed: list[int] = []
        anon = file = shmem = swapents = unmapped = cleared = 0
        cur_key = last_oid = -1
        last_kind = 0
        msec = rsec = mc_secs.get(0)
        i = first - 1
        while i < last:
            i += 1
            pte = entries[i]
            if not pte:
                continue
            if not pte & _PAGE_PRESENT:
                # a swap entry: free_swap_and_cache
                entries[i] = 0
                cleared += 1
                swapents += 1
                swap_put(pte >> PAGE_SHIFT)
                continue
            pfn = (pte >> PAGE_SHIFT) & mask
            if pfn == zero_pfn:
                entries[i] = 0
                cleared += 1
                continue
            key = pfn >> SECTION_SHIFT
            if key != cur_key:
                cur_key = key
                msec = mc_secs.get(key)
                rsec = r_secs.get(key)
            off = pfn & SECTION_MASK
            v = rsec[off] if rsec is not None else -1
            oid = v >> index_bits
            if oid == last_oid:
                kind = last_kind
            else:
                kind = kinds.get(oid, -1) if v >= 0 else -1
                if kind < 0 and v >= 0:
                    owner = owners.get(oid)
                    if owner is not None:
                        kind = (2 if owner.shmem else 1) if isinstance(owner, File) else 0
                        kinds[oid] = kind
                if kind >= 0:
                    last_oid, last_kind = oid, kind
            if kind < 0 or msec is None:
                # no rmap owner: the generic path, after everything before it
                table.used -= cleared
                self._zap_flush(mm, anon, file, shmem, swapents, unmapped, freed)
                anon = file = shmem = swapents = unmapped = cleared = 0
                freed = []
                self._zap_pte(mm, vma, table, i)
                continue
            if not kind and msec[off] == 1 and rsec is not None:
                # ptes mapping consecutive pfns of one section, each its anonymous page's
                # only mapping, with consecutive rmap indices of this anon_vma (a range
                # faulted in order): the steps below for each pte, as slices
                k = min(last + 1 - i, SECTION_MASK + 1 - off)
                while k > 8:
                    if (entries[i + k - 1] == pte + ((k - 1) << PAGE_SHIFT)
                            and entries[i:i + k] == list(range(pte, pte + (k << PAGE_SHIFT), PAGE_SIZE))
                            and rsec[off:off + k] == array(rsec.typecode, range(v, v + k))
                            and (v + k - 1) >> index_bits == oid
                            and msec[off:off + k] == array(msec.typecode, (1,)) * k
                            and not pfn <= zero_pfn < pfn + k):
                        break
                    k >>= 1
                if k > 8:
                    entries[i:i + k] = [0] * k
                    cleared += k
                    msec[off:off + k] = array(msec.typecode, (0,)) * k
                    anon += k
                    rsec[off:off + k] = array(rsec.typecode, (-1,)) * k   # rmap.clear
                    freed.extend(range(pfn, pfn + k))
                    i += k - 1
                    continue
            entries[i] = 0
            cleared += 1
            n = msec[off] - 1
            msec[off] = n
            if kind:
                if kind == 2:
                    shmem += 1
                else:
                    file += 1
                if n == 0:
                    unmapped += 1
                continue
            anon += 1
            if n == 0:
                if rsec is not None:  # (always: it held the owner)
                    rsec[off] = -1    # rmap.clear
                freed.append(pfn)
        table.used -= cleared
        self._zap_flush(mm, anon, file, shmem, swapents, unmapped, freed)

    def _zap_flush(self, mm: MM, anon: int, file: int, shmem: int, swapents: int, unmapped: int,
                   freed: list[int]) -> None:
        """The end of a zap batch: add_mm_rss_vec and the vmstat counters, then the freed
        anonymous pages (already out of the rmap) off the LRU and back to the allocator
        (_free_anon_page for each, in order)."""
        mm.anon -= anon
        mm.file -= file
        mm.shmem -= shmem
        mm.swapents -= swapents
        vm = self.vmstat
        vm.nr_mapped -= unmapped
        if not freed:
            return
        self.lru.remove_many(freed)
        vm.nr_anon_pages -= len(freed)
        self.page_alloc.release_pages(freed)

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
            if f.shmem:
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
