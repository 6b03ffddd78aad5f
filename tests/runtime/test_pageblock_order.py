"""pageblock_order is the arch's huge page order (issue 16): 9 on x86_64, 10 on non-PAE i386.

include/linux/pageblock-flags.h: pageblock_order = MIN_T(unsigned int, HUGETLB_PAGE_ORDER,
PAGE_BLOCK_MAX_ORDER); arch/x86/include/asm/page_types.h: HPAGE_SHIFT = PMD_SHIFT, so
HUGETLB_PAGE_ORDER = PMD_SHIFT - PAGE_SHIFT: 21 - 12 on x86_64 (and with PAE), 22 - 12 on
2-level i386 (pgtable-2level_types.h).  Everything counted in pageblocks follows: the
pageblock flags, /proc/pagetypeinfo, zoneinfo's nr_free_pages_blocks, the claim threshold
and should_try_claim_block, the watermark boost, the highatomic reserve and the compaction
scanners' step (mm/page_alloc.c, mm/compaction.c).
"""

from __future__ import annotations

from dataclasses import replace

from kmscript.runtime import procfs
from kmscript.runtime.arch import I386, X86_64
from kmscript.runtime.arch.x86_64 import X86_64_LA57
from kmscript.runtime.gfp import GFP_ATOMIC, GFP_KERNEL, MIGRATE_MOVABLE, MIGRATE_UNMOVABLE, __GFP_NOWARN
from kmscript.runtime.internal import should_try_claim_block
from kmscript.runtime.machine import Machine, MachineConfig
from kmscript.runtime.mm_types import NR_PAGE_ORDERS

PAGE_SHIFT = 12
PAGE_BLOCK_MAX_ORDER = 10          # mm/Kconfig: CONFIG_PAGE_BLOCK_MAX_ORDER default on x86


def kernel_pageblock_order(pmd_shift: int) -> int:
    return min(pmd_shift - PAGE_SHIFT, PAGE_BLOCK_MAX_ORDER)


def test_the_order_follows_pmd_shift() -> None:
    assert X86_64.pageblock_order == kernel_pageblock_order(21) == 9
    assert X86_64_LA57.pageblock_order == 9
    assert I386.pageblock_order == kernel_pageblock_order(22) == 10
    assert I386.pageblock_nr_pages == 1024 and X86_64.pageblock_nr_pages == 512
    # a PAE kernel (3-level, PMD_SHIFT 21: pgtable-3level_types.h) has 2 MiB blocks again
    assert replace(I386, pmd_shift=21).pageblock_order == 9
    assert I386.hpage_pmd_order == 10 and X86_64.hpage_pmd_order == 9


def i386(mem: int = 1 << 30) -> Machine:
    return Machine(MachineConfig(arch="i386", mem=mem, cpus=1))


def test_pagetypeinfo_and_the_pageblock_flags_count_4m_blocks() -> None:
    pa = i386().page_alloc
    text = procfs.pagetypeinfo(pa)
    assert text.startswith("Page block order: 10\nPages per block:  1024\n")
    assert len(pa.memmap.pageblock_mt) == (pa.memmap.max_pfn >> 10) + 1
    # "Number of blocks type": one per 1024-page block the zone's span touches
    # (pagetypeinfo_showblockcount; every section of these zones is present)
    counts = {line.split()[3]: sum(int(x) for x in line.split()[4:])
              for line in text.split("Number of blocks type")[1].splitlines()[1:] if line}
    for z in pa.populated:
        assert counts[z.name] == ((z.zone_end_pfn - 1) >> 10) - (z.zone_start_pfn >> 10) + 1, z.name
    x = Machine(MachineConfig(mem=1 << 30, cpus=1)).page_alloc
    assert procfs.pagetypeinfo(x).startswith("Page block order: 9\nPages per block:  512\n")


def test_zoneinfo_free_blocks_count_only_orders_of_a_whole_pageblock() -> None:
    pa = i386().page_alloc
    dma = pa.zone_by_name("DMA")
    assert dma.free_area_nr[9] > 0           # an order-9 block is free at boot: half a pageblock here
    text = procfs.zoneinfo(pa)
    dma_part = text.split("zone   Normal")[0]
    expect = sum(dma.free_area_nr[o] << o for o in range(10, NR_PAGE_ORDERS))
    assert f"nr_free_pages_blocks {expect}\n" in dma_part


def test_claim_rules_use_the_arch_order() -> None:
    # should_try_claim_block: order >= pageblock_order / 2 claims (4 on x86_64, 5 on i386)
    assert should_try_claim_block(4, MIGRATE_MOVABLE, 9)
    assert not should_try_claim_block(4, MIGRATE_MOVABLE, 10)
    assert should_try_claim_block(5, MIGRATE_MOVABLE, 10)
    assert should_try_claim_block(0, MIGRATE_UNMOVABLE, 10)


def test_highatomic_reserve_takes_a_4m_pageblock() -> None:
    # reserve_highatomic_pageblock: nothing while managed / 100 < pageblock_nr_pages, else one
    # pageblock per event up to ALIGN(managed / 100, pageblock_nr_pages)
    m = i386(512 << 20)
    pa = m.page_alloc
    pa.reclaim = None
    normal = pa.zone_by_name("Normal")
    assert normal.managed_pages // 100 >= 1024
    while pa.alloc_pages(GFP_KERNEL | __GFP_NOWARN, 0) is not None:
        pass
    p = pa.alloc_pages(GFP_ATOMIC, 1)
    assert p is not None and pa.zone_of(p) is normal
    assert normal.nr_reserved_highatomic == 1024
    assert pa.pfn_to_page(p).migratetype == "HighAtomic"
    pa.check_invariants()


def test_a_zone_under_one_percent_of_a_pageblock_gets_no_highatomic_reserve() -> None:
    m = i386(256 << 20)
    pa = m.page_alloc
    pa.reclaim = None
    normal = pa.zone_by_name("Normal")
    assert 512 <= normal.managed_pages // 100 < 1024     # would reserve with 2 MiB blocks
    while pa.alloc_pages(GFP_KERNEL | __GFP_NOWARN, 0) is not None:
        pass
    assert pa.alloc_pages(GFP_ATOMIC, 1) is not None
    assert normal.nr_reserved_highatomic == 0
    pa.check_invariants()


def test_compaction_scanners_step_by_pageblock() -> None:
    m = i386()
    m.tracer.record()
    m.compaction.compact_memory()
    begins = [f for e, f in m.tracer.events if e == "mm_compaction_begin"]
    normal = m.page_alloc.zone_by_name("Normal")
    end = normal.zone_end_pfn
    assert end % 512                     # the last block's start depends on the block size
    line = next(b for b in begins if f"zone_start=0x{normal.zone_start_pfn:x}" in b)
    assert f"free_pfn=0x{end - 1 - (end - 1) % 1024:x} " in line
