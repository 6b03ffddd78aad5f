"""Compaction: fragmentation index, suitability, migration, success and failure."""

from __future__ import annotations

from kmscript.runtime.compaction import fragmentation_index_of, should_try_claim_block
from kmscript.runtime.gfp import (GFP_ATOMIC, GFP_HIGHUSER_MOVABLE, GFP_KERNEL, GFP_NOIO, MIGRATE_MOVABLE,
                                  MIGRATE_UNMOVABLE, __GFP_NOWARN)
from kmscript.runtime.machine import Machine, MachineConfig
from kmscript.runtime.mm_types import OWNER_KERNEL

MiB = 1 << 20


def boot(mem: int = 64 * MiB, **kw: object) -> Machine:
    return Machine(MachineConfig(mem=mem, cpus=1, **kw))  # type: ignore[arg-type]


def test_fragmentation_index_hand_worked() -> None:
    # nothing free: 0
    assert fragmentation_index_of([0] * 11, 4) == 0
    # a suitable block exists: -1000
    assert fragmentation_index_of([0, 0, 0, 0, 1] + [0] * 6, 4) == -1000
    # 1000 free order-0 pages, order 4 wanted: 1000 - (1000 + 1000*1000/16) / 1000
    #   = 1000 - (1000 + 62500) / 1000 = 1000 - 63 = 937 (fragmentation)
    assert fragmentation_index_of([1000] + [0] * 10, 4) == 937
    # 2 free order-3 blocks (16 pages), order 4 wanted: 1000 - (1000 + 1000) / 2 = 0 (lack of memory)
    assert fragmentation_index_of([0, 0, 0, 2] + [0] * 7, 4) == 0
    # 100 order-0 + 10 order-2 (140 pages): 1000 - (1000 + 8750) / 110 = 1000 - 88 = 912
    assert fragmentation_index_of([100, 0, 10] + [0] * 8, 4) == 912


def test_should_try_claim_block() -> None:
    assert should_try_claim_block(4, MIGRATE_MOVABLE, 9)      # >= pageblock_order / 2
    assert not should_try_claim_block(3, MIGRATE_MOVABLE, 9)
    assert should_try_claim_block(0, MIGRATE_UNMOVABLE, 9)


def one_zone(pages: int = 16384) -> Machine:
    """A machine whose only zone is DMA32 with *pages* managed pages."""
    return Machine(MachineConfig(cpus=1, dma_pages=0, dma32_pages=pages))


def fragment(m: Machine) -> tuple[object, object]:
    """Two tasks faulting alternately fill memory down to the low watermark; one exits and
    leaves order-0 holes between the other's pages; atomic order-4 allocations then take
    every free block of order >= 4 that is left."""
    a = m.tasks.spawn("a", 0)
    b = m.tasks.spawn("b", 0)
    assert a and b
    z = next(z for z in m.page_alloc.zones if z.managed_pages)
    while z.free_pages >= z.low:
        a.fault(4096)
        b.fault(4096)
    b.exit()
    m.page_alloc.drain_all_pages()
    # a driver takes every block of order >= 4 still free (exit merged a few)
    while m.page_alloc.alloc_pages(GFP_ATOMIC | __GFP_NOWARN, 4) is not None:
        pass
    return a, z


def test_order4_kernel_succeeds_after_compaction_atomic_fails() -> None:
    m = one_zone()
    a, z = fragment(m)
    assert all(n == 0 for n in z.free_area_counts()[4:])  # no free block of order >= 4
    assert m.page_alloc.alloc_pages(GFP_ATOMIC | __GFP_NOWARN, 4) is None
    assert m.vmstat.compact_success == 0
    pfn = m.page_alloc.alloc_pages(GFP_KERNEL, 4)
    assert pfn is not None
    assert m.vmstat.compact_success == 1
    assert m.compaction.compact_migrated > 0
    # the task's memory is intact: every pte points at a page it owns
    t = a
    assert t.rss == t.total_vm  # type: ignore[attr-defined]
    mm = t.mm  # type: ignore[attr-defined]
    for addr, p in m.tasks.spaces.mapped(mm):
        assert m.reclaim.rmap.lookup(p) == (mm.vmas.lookup(addr).anon_vma, mm.vmas.lookup(addr).pgoff_of(addr))
        assert m.page_alloc.page(p).owner == "user"
    m.page_alloc.check_invariants()


def test_unmovable_pages_block_compaction() -> None:
    m = one_zone()
    z = next(z for z in m.page_alloc.zones if z.managed_pages)
    a = m.tasks.spawn("a", 0)
    assert a is not None
    pinned = []
    # every other page is a kernel page in a MOVABLE pageblock (as a long-term pinned page
    # is): not on the LRU, so compaction cannot move it
    while z.free_pages >= z.low:
        a.fault(4096)
        pinned.append(m.page_alloc.alloc_pages(GFP_HIGHUSER_MOVABLE, 0, owner=OWNER_KERNEL))
    a.exit()
    m.page_alloc.drain_all_pages()
    while m.page_alloc.alloc_pages(GFP_ATOMIC | __GFP_NOWARN, 4) is not None:
        pass
    assert z.free_pages > 4 * z.high  # plenty of memory, all in holes between pinned pages
    assert m.page_alloc.alloc_pages(GFP_KERNEL | __GFP_NOWARN, 4) is None
    assert m.vmstat.compact_fail >= 1 and m.vmstat.compact_success == 0
    assert m.compaction.compact_migrated == 0
    m.page_alloc.check_invariants()


def test_compaction_skipped_without_io_or_for_lack_of_memory() -> None:
    m = one_zone()
    assert m.compaction.try_to_compact_pages(GFP_NOIO, 4) is False      # needs __GFP_IO
    assert m.compaction.try_to_compact_pages(GFP_ATOMIC, 4) is False    # cannot block
    assert m.compaction.try_to_compact_pages(GFP_KERNEL, 0) is False    # order 0
    assert m.vmstat.compact_fail == 0 and m.compaction.compact_stall == 0
