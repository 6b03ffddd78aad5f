"""The direct map's page sizes at boot: arch/x86/mm/init.c split_mem_range, as /proc/meminfo's
DirectMap4k / DirectMap2M / DirectMap1G lines count them (arch/x86/mm/pat/set_memory.c:
arch_report_meminfo, direct_pages_count[] updated by update_page_count while the boot page
tables are built).

What it models: init_mem_mapping maps [0, ISA_END_ADDRESS) with 4 KiB pages first, counting
only the e820 RAM pages of it (phys_pte_init skips the pages no e820 RAM entry covers: the
legacy VGA/BIOS hole); then every RAM range above 1 MiB is split as split_mem_range does on
x86_64 with 2 MiB and 1 GiB pages available (gbpages, as on the reference machine): a 4 KiB
head up to the first 2 MiB boundary, 2 MiB pages up to the first 1 GiB boundary, 1 GiB pages,
a 2 MiB tail and a 4 KiB tail.

Invariant: the three counts together cover every RAM page exactly once.

Simplifications (stated, not hidden): the later splits of large pages by set_memory_*()
(kernel text and rodata protections, which on the reference machine move some 2 MiB/1 GiB
mappings to smaller pages) and adjust_range_page_size_mask's upgrade of a range whose whole
large page is RAM are not modelled, so the counts are the boot split of kmscript's own
memory layout.  On the reference machine's e820 RAM (0-0x9fbff, 1 MiB-3 GiB, 4-25 GiB) this
model gives 1660 / 1046528 / 24117248 kB where the machine reports 20480 / 2076672 /
25165824 kB (tests/runtime/data/meminfo-6.18.44.txt): the machine maps about 2 GiB more in
2 MiB and 1 GiB pages and splits about 19 MiB to 4 KiB pages after boot.
"""

from __future__ import annotations

from typing import Iterable

PMD_PAGES = 512          # 2 MiB / 4 KiB
PUD_PAGES = 512 * 512    # 1 GiB / 4 KiB
ISA_END_PFN = 0x100      # ISA_END_ADDRESS (1 MiB)


def _round_up(x: int, a: int) -> int:
    return -(-x // a) * a


def _round_down(x: int, a: int) -> int:
    return x // a * a


def split_mem_range(start_pfn: int, limit_pfn: int) -> tuple[int, int, int]:
    """Pages of [start_pfn, limit_pfn) mapped as (4K, 2M, 1G) pages, each count in 4 KiB pages."""
    k4 = m2 = g1 = 0
    pfn = start_pfn
    # head if not big page alignment
    end = min(_round_up(pfn, PMD_PAGES), limit_pfn)
    if pfn < end:
        k4 += end - pfn
        pfn = end
    # big page (2M) range
    s, end = _round_up(pfn, PMD_PAGES), min(_round_up(pfn, PUD_PAGES), _round_down(limit_pfn, PMD_PAGES))
    if s < end:
        m2 += end - s
        pfn = end
    # big page (1G) range
    s, end = _round_up(pfn, PUD_PAGES), _round_down(limit_pfn, PUD_PAGES)
    if s < end:
        g1 += end - s
        pfn = end
    # tail is not big page (1G) alignment
    s, end = _round_up(pfn, PMD_PAGES), _round_down(limit_pfn, PMD_PAGES)
    if s < end:
        m2 += end - s
        pfn = end
    # tail is not big page (2M) alignment
    if pfn < limit_pfn:
        k4 += limit_pfn - pfn
    return k4, m2, g1


def direct_map_pages(ram: Iterable[tuple[int, int]]) -> tuple[int, int, int]:
    """(4K, 2M, 1G) counts, in 4 KiB pages, for the e820 RAM ranges [start, end) in pfns."""
    k4 = m2 = g1 = 0
    for start, end in sorted(ram):
        if start < ISA_END_PFN:   # init_memory_mapping(0, ISA_END_ADDRESS): 4K, RAM pages only
            k4 += min(end, ISA_END_PFN) - start
            start = ISA_END_PFN
        if start < end:
            a, b, c = split_mem_range(start, end)
            k4, m2, g1 = k4 + a, m2 + b, g1 + c
    return k4, m2, g1
