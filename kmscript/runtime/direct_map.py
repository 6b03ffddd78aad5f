"""The direct map's page sizes as /proc/meminfo counts them: DirectMap4k / DirectMap2M /
DirectMap1G (arch/x86/mm/pat/set_memory.c: arch_report_meminfo prints direct_pages_count[],
which update_page_count() raises while init_mem_mapping() builds the boot page tables).

What it models, from the 6.18 sources (arch/x86/mm/init.c and init_64.c):

- init_mem_mapping(): ``init_memory_mapping(0, ISA_END_ADDRESS)`` first (the ISA range is
  mapped with 4 KiB pages whether or not it is RAM: phys_pte_init counts every pte below
  ``paddr_end``), then memory_map_top_down(ISA_END_ADDRESS, max_pfn): it starts at the top
  free 2 MiB block (memblock_phys_alloc_range), maps one 2 MiB step, then steps of
  ``step_size << 8`` (get_new_step_size) downwards, each through init_range_memory_mapping,
  which calls init_memory_mapping for the part of every memblock memory region (the e820
  RAM) inside the step; finally the range above the first block.
- init_memory_mapping(): split_mem_range() cuts [start, end) into a 4 KiB head up to a 2 MiB
  boundary, 2 MiB pages up to a 1 GiB boundary, 1 GiB pages, a 2 MiB tail and a 4 KiB tail;
  adjust_range_page_size_mask() upgrades a piece to 2 MiB (1 GiB) pages when the whole
  2 MiB (1 GiB) page around it is memory (memblock_is_region_memory); pieces of the same
  page size that touch are merged; each is mapped by kernel_physical_mapping_init.
- phys_pud_init / phys_pmd_init / phys_pte_init count a page each time they install *or
  meet again* a mapping of the wanted size ("We will re-use the existing mapping":
  ``if (!after_bootmem) pages++``).  So a 1 GiB page that two steps of the top-down walk
  both touch is counted twice, and the counts can add up to more than the RAM: on the
  reference machine (RAM 0x1000-0x9efff, 1 MiB-3 GiB, 4-25 GiB, 1 GiB pages available) the
  top 1 GiB page is counted by the first 2 MiB step, the 510 MiB step and the last step,
  giving 512 / 511 / 25 pages = 2048 / 1046528 / 26214400 kB, 26 GiB in all.
- A leaf replaced by a table (an existing large page where the range may not use that
  size) keeps its count: the kernel decrements nothing there either.

Invariants: the tables record only which entries are leaves or tables (phys_pte_init counts
every pte of its range whether it is new or re-used, so the ptes themselves need no state);
the counts are those of a boot with 2 MiB pages (X86_FEATURE_PSE) and 1 GiB pages
(direct_gbpages) available, as on the reference machine, and no debug_pagealloc.

Not modelled, stated rather than hidden:
- Early memblock reservations are not consulted when memory_map_top_down looks for its
  first free 2 MiB block: the top 2 MiB block of RAM is taken as free (the simulated
  kernel image and its early allocations lie low, at 16 MiB).
- The splits after boot: set_memory_*() on a part of a large page splits it
  (__split_large_page -> split_page_count: one page of a level less, PTRS_PER_PTE of the
  level below), for the kernel image's text/rodata/data boundaries (mark_rodata_ro,
  free_kernel_image_pages) and at run time for module and BPF text (set_memory_rox on the
  direct-map alias of their pages).  Where they fall depends on one build's section
  addresses, on KASLR and on which pages the allocator handed out, none of which the
  simulation has.  The reference machine's figures are the boot figures after one 1 GiB
  split and 9 (in a later snapshot 13) 2 MiB splits: 20480 / 2076672 / 25165824 kB =
  (512 + 9*512) 4K, (511 + 512 - 9) 2M and (25 - 1) 1G pages
  (tests/runtime/test_meminfo_lines.py checks this).  The simulator prints the boot figures.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from .arch import Arch
from .mm_types import PAGE_SHIFT

PMD_PAGES = 512          # PMD_SIZE / PAGE_SIZE
PUD_PAGES = 512 * 512    # PUD_SIZE / PAGE_SIZE
ISA_END_PFN = 0x100      # ISA_END_ADDRESS (1 MiB)

# enum pg_level bits in page_size_mask (arch/x86/include/asm/pgtable_types.h)
PG_LEVEL_2M = 2
PG_LEVEL_1G = 3
_MASK_2M = 1 << PG_LEVEL_2M
_MASK_1G = 1 << PG_LEVEL_1G

_LEAF = "leaf"


@dataclass(frozen=True)
class DirectPagesCount:
    """direct_pages_count[PG_LEVEL_4K / 2M / 1G]: pages of each size (not 4 KiB units)."""
    pages_4k: int
    pages_2m: int
    pages_1g: int

    def meminfo_kb(self) -> tuple[int, int, int]:
        """arch_report_meminfo: ``<< 2``, ``<< 11`` and ``<< 20`` to kB."""
        return self.pages_4k << 2, self.pages_2m << 11, self.pages_1g << 20


def _round_up(x: int, a: int) -> int:
    return -(-x // a) * a


def _round_down(x: int, a: int) -> int:
    return x // a * a


def split_mem_range(start_pfn: int, limit_pfn: int, page_size_mask: int) -> list[tuple[int, int, int]]:
    """arch/x86/mm/init.c: split_mem_range (x86_64) before adjust/merge: (start, end, mask) pieces."""
    mr: list[tuple[int, int, int]] = []

    def save_mr(s: int, e: int, mask: int) -> None:
        if s < e:
            mr.append((s, e, mask))

    pfn = start_pfn
    # head if not big page alignment
    end_pfn = min(_round_up(pfn, PMD_PAGES), limit_pfn)
    if start_pfn < end_pfn:
        save_mr(start_pfn, end_pfn, 0)
        pfn = end_pfn
    # big page (2M) range
    s = _round_up(pfn, PMD_PAGES)
    end_pfn = min(_round_up(pfn, PUD_PAGES), _round_down(limit_pfn, PMD_PAGES))
    if s < end_pfn:
        save_mr(s, end_pfn, page_size_mask & _MASK_2M)
        pfn = end_pfn
    # big page (1G) range
    s, end_pfn = _round_up(pfn, PUD_PAGES), _round_down(limit_pfn, PUD_PAGES)
    if s < end_pfn:
        save_mr(s, end_pfn, page_size_mask & (_MASK_2M | _MASK_1G))
        pfn = end_pfn
    # tail is not big page (1G) alignment
    s, end_pfn = _round_up(pfn, PMD_PAGES), _round_down(limit_pfn, PMD_PAGES)
    if s < end_pfn:
        save_mr(s, end_pfn, page_size_mask & _MASK_2M)
        pfn = end_pfn
    # tail is not big page (2M) alignment
    save_mr(pfn, limit_pfn, 0)
    return mr


class _BootDirectMap:
    """init_mem_mapping() over one memblock memory layout, counting as update_page_count."""

    def __init__(self, memory: Sequence[tuple[int, int]], arch: Arch, gbpages: bool) -> None:
        self.arch = arch
        self.memory = sorted((s, e) for s, e in memory if s < e)
        self.page_size_mask = _MASK_2M | (_MASK_1G if gbpages else 0)   # probe_page_size_mask
        # pud index -> _LEAF or {pmd index -> _LEAF or "pte table"}
        self.puds: dict[int, object] = {}
        self.count = [0, 0, 0]   # 4K, 2M, 1G

    def is_region_memory(self, start: int, end: int) -> bool:
        """mm/memblock.c: memblock_is_region_memory: [start, end) inside one memory region."""
        return any(s <= start and end <= e for s, e in self.memory)

    def init_memory_mapping(self, start: int, end: int) -> None:
        mr = [list(m) for m in split_mem_range(start, end, self.page_size_mask)]
        # adjust_range_page_size_mask (before bootmem)
        for m in mr:
            if self.page_size_mask & _MASK_2M and not m[2] & _MASK_2M:
                if self.is_region_memory(_round_down(m[0], PMD_PAGES), _round_up(m[1], PMD_PAGES)):
                    m[2] |= _MASK_2M
            if self.page_size_mask & _MASK_1G and not m[2] & _MASK_1G:
                if self.is_region_memory(_round_down(m[0], PUD_PAGES), _round_up(m[1], PUD_PAGES)):
                    m[2] |= _MASK_1G
        # try to merge same page size and continuous
        merged: list[list[int]] = []
        for m in mr:
            if merged and merged[-1][1] == m[0] and merged[-1][2] == m[2]:
                merged[-1][1] = m[1]
            else:
                merged.append(m)
        for s, e, mask in merged:
            self.phys_pud_init(s, e, mask)

    def phys_pud_init(self, paddr: int, paddr_end: int, mask: int) -> None:
        for idx in range(paddr // PUD_PAGES, _round_up(paddr_end, PUD_PAGES) // PUD_PAGES):
            p = max(paddr, idx * PUD_PAGES)
            entry = self.puds.get(idx)
            if isinstance(entry, dict):
                self.phys_pmd_init(entry, p, paddr_end, mask)
                continue
            if entry is _LEAF and mask & _MASK_1G:
                self.count[2] += 1   # re-use the existing mapping
                continue
            if mask & _MASK_1G:
                self.puds[idx] = _LEAF
                self.count[2] += 1
                continue
            table: dict[int, object] = {}   # alloc_low_page(); a leaf it replaces keeps its count
            self.phys_pmd_init(table, p, paddr_end, mask)
            self.puds[idx] = table

    def phys_pmd_init(self, table: dict[int, object], paddr: int, paddr_end: int, mask: int) -> None:
        pud_end = _round_down(paddr, PUD_PAGES) + PUD_PAGES
        for idx in range(paddr // PMD_PAGES, _round_up(min(paddr_end, pud_end), PMD_PAGES) // PMD_PAGES):
            p = max(paddr, idx * PMD_PAGES)
            entry = table.get(idx)
            if entry is not None and entry is not _LEAF:
                self.phys_pte_init(p, paddr_end)
                continue
            if entry is _LEAF and mask & _MASK_2M:
                self.count[1] += 1   # re-use the existing mapping
                continue
            if mask & _MASK_2M:
                table[idx] = _LEAF
                self.count[1] += 1
                continue
            self.phys_pte_init(p, paddr_end)
            table[idx] = "pte table"

    def phys_pte_init(self, paddr: int, paddr_end: int) -> None:
        # every pte below paddr_end is counted, a new one or a re-used one
        self.count[0] += min(paddr_end, _round_down(paddr, PMD_PAGES) + PMD_PAGES) - paddr

    def init_range_memory_mapping(self, r_start: int, r_end: int) -> int:
        mapped = 0
        for s, e in self.memory:
            start, end = min(max(s, r_start), r_end), min(max(e, r_start), r_end)
            if start >= end:
                continue
            self.init_memory_mapping(start, end)
            mapped += end - start
        return mapped

    def top_free_pmd_block(self, map_start: int, map_end: int) -> int | None:
        """memblock_phys_alloc_range(PMD_SIZE, PMD_SIZE, map_start, map_end), top-down."""
        for s, e in reversed(self.memory):
            top = _round_down(min(e, map_end), PMD_PAGES)
            if top - PMD_PAGES >= max(s, map_start):
                return top - PMD_PAGES
        return None

    def memory_map_top_down(self, map_start: int, map_end: int) -> None:
        addr = self.top_free_pmd_block(map_start, map_end)
        real_end = max(map_start, _round_down(map_end, PMD_PAGES)) if addr is None else addr + PMD_PAGES
        step = PMD_PAGES
        last_start = real_end
        mapped = 0
        while last_start > map_start:
            if last_start > step:
                start = max(_round_down(last_start - 1, step) if step else 0, map_start)
            else:
                start = map_start
            mapped += self.init_range_memory_mapping(start, last_start)
            last_start = start
            if mapped >= step:
                # get_new_step_size: step_size << (PMD_SHIFT - PAGE_SHIFT - 1), an unsigned long
                # (in bytes: the shift wraps at the word size)
                shift = self.arch.pmd_shift - PAGE_SHIFT - 1
                step = ((step << PAGE_SHIFT << shift) & self.arch.ulong_max) >> PAGE_SHIFT
        if real_end < map_end:
            self.init_range_memory_mapping(real_end, map_end)


def init_mem_mapping(memory: Sequence[tuple[int, int]], arch: Arch, gbpages: bool = True) -> DirectPagesCount:
    """arch/x86/mm/init.c: init_mem_mapping (x86_64, top-down memblock) for the memblock
    memory regions ``memory`` ([start_pfn, end_pfn) each): the boot direct_pages_count."""
    dm = _BootDirectMap(memory, arch, gbpages)
    max_pfn = max((e for _, e in dm.memory), default=0)
    dm.init_memory_mapping(0, ISA_END_PFN)   # the ISA range is always mapped regardless of memory holes
    dm.memory_map_top_down(ISA_END_PFN, max_pfn)
    return DirectPagesCount(*dm.count)


PMD_PAGES_32 = 1024      # 4 MiB / 4 KiB: the large page of 2-level (non-PAE) i386 paging


def direct_map_pages_32(ram: Sequence[tuple[int, int]], max_low_pfn: int) -> tuple[int, int]:
    """(4K, 4M) counts, in 4 KiB pages, of a 32-bit kernel's direct map: only lowmem is mapped
    (the memblock memory below max_low_pfn).  arch/x86/mm/init.c: split_mem_range under
    CONFIG_X86_32 - no large page in the first PMD ("there are often fixed size MTRRs in
    there"), otherwise a 4 KiB head up to the next 4 MiB boundary, 4 MiB pages, a 4 KiB tail;
    no 1 GiB pages.  memory_map_top_down's steps start on PMD boundaries, so they split
    nothing further; kernel_physical_mapping_init (init_32.c) counts each page it maps once,
    in its first pass.  The ISA range is mapped whole with 4 KiB pages, RAM or not
    (init_mem_mapping: "the ISA range is always mapped regardless of memory holes";
    kernel_physical_mapping_init consults no e820 table)."""
    k4 = min(ISA_END_PFN, max_low_pfn)
    m4 = 0
    for start, end in sorted(ram):
        end = min(end, max_low_pfn)
        start = max(start, ISA_END_PFN)
        if start >= end:
            continue
        head_end = min(_round_up(start, PMD_PAGES_32), end)
        k4 += head_end - start
        big_end = _round_down(end, PMD_PAGES_32)
        if head_end < big_end:
            m4 += big_end - head_end
            head_end = big_end
        k4 += end - head_end
    return k4, m4
