"""Compaction: fragmentation index, suitability, migration, success and failure."""

from __future__ import annotations

from kmscript.runtime.compaction import fragmentation_index_of, should_try_claim_block
from kmscript.runtime.gfp import GFP_ATOMIC, GFP_KERNEL, MIGRATE_MOVABLE, MIGRATE_UNMOVABLE, __GFP_NOWARN
from kmscript.runtime.machine import Machine, MachineConfig
from kmscript.runtime.page_alloc import OWNER_KERNEL

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
    assert should_try_claim_block(4, MIGRATE_MOVABLE)      # >= pageblock_order / 2
    assert not should_try_claim_block(3, MIGRATE_MOVABLE)
    assert should_try_claim_block(0, MIGRATE_UNMOVABLE)


def fragment(m: Machine) -> tuple[object, object]:
    """Two tasks faulting alternately fill memory; the exit of one leaves order-0 holes."""
    a = m.spawn("a", 0)
    b = m.spawn("b", 0)
    assert a and b
    z = max(m.page_alloc.zones, key=lambda z: z.managed_pages)
    target = z.high + 4096  # leave room above the watermarks for compaction's targets
    while z.free_pages > target:
        a.fault(4096)
        b.fault(4096)
    b.exit()
    m.page_alloc.drain_all_pages()
    return a, z


def test_order4_kernel_succeeds_after_compaction_atomic_fails() -> None:
    m = boot()
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
    for i, p in enumerate(t.mm.pte):  # type: ignore[attr-defined]
        assert m.reclaim.rmap.lookup(p) == (t, i)


def test_unmovable_pages_block_compaction() -> None:
    m = boot()
    z = max(m.page_alloc.zones, key=lambda z: z.managed_pages)
    kept = []
    # kernel pages every 8 pages: no 16-page block can ever be emptied
    while z.free_pages > z.high + 4096:
        p = m.page_alloc.alloc_pages(GFP_KERNEL, 0, owner=OWNER_KERNEL)
        kept.append(p)
        for _ in range(7):
            kept.append(m.page_alloc.alloc_pages(GFP_KERNEL, 0, owner=OWNER_KERNEL))
    # free all but every eighth: free memory is plentiful, fragmented around pinned pages
    for i, p in enumerate(kept):
        if i % 8:
            m.page_alloc.free_pages(p, 0)
    m.page_alloc.drain_all_pages()
    assert m.compaction.compact_memory() == 0
    assert m.compaction.try_to_compact_pages(GFP_KERNEL, 4) is False or \
        any(n for n in z.free_area_counts()[4:])
