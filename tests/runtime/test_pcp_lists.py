"""Per-cpu page lists: refill counts (rmqueue_bulk / nr_pcp_alloc), LIFO use, drain order,
high limit, NR_FREE_PAGES excluding pcp pages, per-CPU selection."""

from __future__ import annotations

import pytest

from kmscript.runtime.gfp import GFP_KERNEL, MIGRATE_UNMOVABLE
from kmscript.runtime.machine import Machine, MachineConfig
from kmscript.runtime.zone_access import ZoneAccess


def machine() -> Machine:
    """A machine whose CPU 1 pcp lists are untouched (boot allocations run on CPU 0)."""
    m = Machine(MachineConfig(cpus=3, dma_pages=3840, dma32_pages=772917, normal_pages=458752))
    m.ctx.cpu = 1
    return m


def test_first_refill_takes_batch_and_free_pages_exclude_pcp() -> None:
    m = machine()
    pa = m.page_alloc
    normal = pa.zone_by_name("Normal")
    pa.drain_all_pages()
    free0 = normal.free_pages
    pcp = normal.pcp[1]
    assert pcp.count == 0
    p = pa.alloc_pages(GFP_KERNEL, 0)
    assert pa.zone_of(p) is normal
    assert pcp.count == normal.batch - 1 == 62
    assert normal.free_pages == free0 - 63          # the whole batch left the buddy lists
    assert pcp.high == normal.high_min + normal.batch   # clamped, then grown by batch (not below high)
    pa.free_pages(p, 0)
    assert pcp.count == 63 and normal.free_pages == free0 - 63
    pa.drain_all_pages()
    assert pcp.count == 0 and normal.free_pages == free0
    pa.check_invariants()


def test_pcp_is_lifo_and_refill_is_in_pfn_order() -> None:
    m = machine()
    pa = m.page_alloc
    pa.drain_all_pages()
    a = pa.alloc_pages(GFP_KERNEL, 0)
    b = pa.alloc_pages(GFP_KERNEL, 0)
    assert b == a + 1                                   # rmqueue_bulk appends in the order expand yields
    pa.free_pages(a, 0)
    assert pa.alloc_pages(GFP_KERNEL, 0) == a           # the hot page comes back first


def test_drain_returns_pages_from_the_list_tail() -> None:
    m = machine()
    pa = m.page_alloc
    pa.drain_all_pages()
    p = pa.alloc_pages(GFP_KERNEL, 0)
    normal = pa.zone_of(p)
    lst = list(normal.pcp[1].lists[MIGRATE_UNMOVABLE])
    pa.free_pages(p, 0)
    m.tracer.record()
    pa.drain_all_pages()
    drained = [int(f.split("pfn=")[1].split()[0], 16) for e, f in m.tracer.events if e == "mm_page_pcpu_drain"]
    assert drained == list(reversed([p] + lst))


def test_second_refill_doubles_batch() -> None:
    m = machine()
    pa = m.page_alloc
    pa.drain_all_pages()
    normal = pa.zone_by_name("Normal")
    pcp = normal.pcp[1]
    pages = [pa.alloc_pages(GFP_KERNEL, 0) for _ in range(64)]   # 63 from refill 1, then refill 2
    assert pcp.alloc_factor == 2
    assert pcp.count == 126 - 1
    for q in pages:
        pa.free_pages(q, 0)
    pa.check_invariants()


def test_count_stays_below_high_when_freeing_many() -> None:
    m = machine()
    pa = m.page_alloc
    dma32 = pa.zone_by_name("DMA32")
    pcp = dma32.pcp[1]
    from kmscript.runtime.gfp import GFP_DMA32
    pages = [pa.alloc_pages(GFP_DMA32 | GFP_KERNEL, 0) for _ in range(20000)]
    assert all(pa.zone_of(p) is dma32 for p in pages)
    for q in pages:
        pa.free_pages(q, 0)
        assert pcp.count < max(pcp.high, pcp.high_min) + pcp.batch
    assert pcp.count <= pcp.high_max
    pa.check_invariants()


def test_list_follows_current_cpu() -> None:
    m = machine()
    pa = m.page_alloc
    normal = pa.zone_by_name("Normal")
    m.ctx.cpu = 2
    p = pa.alloc_pages(GFP_KERNEL, 0)
    assert normal.pcp[2].count == 62 and normal.pcp[1].count == 0
    m.ctx.cpu = 1
    pa.free_pages(p, 0)                   # freed on CPU 1: goes to CPU 1's list
    assert normal.pcp[1].count == 1
    pa.check_invariants()


def test_order3_uses_pcp_and_order4_does_not() -> None:
    m = machine()
    pa = m.page_alloc
    normal = pa.zone_by_name("Normal")
    before = normal.pcp[1].count
    p = pa.alloc_pages(GFP_KERNEL, 3)
    # nr_pcp_alloc for order > 0: max(batch >> order, 2) blocks of 8 pages
    assert normal.pcp[1].count - before == (max(63 >> 3, 2) - 1) * 8
    q = pa.alloc_pages(GFP_KERNEL, 4)
    assert normal.pcp[1].count - before == (max(63 >> 3, 2) - 1) * 8
    pa.free_pages(p, 3)
    pa.free_pages(q, 4)
    pa.check_invariants()


@pytest.mark.parametrize("config", [
    MachineConfig(cpus=2, dma_pages=3840, dma32_pages=6000, normal_pages=9000),
    MachineConfig(cpus=2, mem=64 << 20),  # DMA and DMA32 share the first memory section
])
def test_inlined_fast_paths_match_the_full_path(config: MachineConfig) -> None:
    """alloc_pages/free_pages inline the common pcp cases; with tracing on every call takes
    the full path.  The same sequence must leave identical allocator state both ways."""
    import random

    from kmscript.runtime import procfs
    from kmscript.runtime.gfp import GFP_ATOMIC, GFP_HIGHUSER_MOVABLE, __GFP_COMP, __GFP_NOWARN

    def run(trace: bool) -> tuple[str, list[list[list[int]]], list[int | None]]:
        m = Machine(config)
        m.page_alloc.reclaim = None
        if trace:
            m.tracer.record()
        rng = random.Random(7)
        live: list[tuple[int, int]] = []
        got: list[int | None] = []
        for _ in range(3000):
            m.ctx.cpu = rng.randrange(2)
            if live and rng.random() < 0.45:
                pfn, order = live.pop(rng.randrange(len(live)))
                m.page_alloc.free_pages(pfn, order)
            else:
                order = rng.choice([0, 0, 0, 1, 2, 3, 3, 4])
                gfp = rng.choice([GFP_KERNEL, GFP_ATOMIC, GFP_HIGHUSER_MOVABLE, GFP_KERNEL | __GFP_COMP])
                pfn = m.page_alloc.alloc_pages(gfp | __GFP_NOWARN, order)
                got.append(pfn)
                if pfn is not None:
                    live.append((pfn, order))
        pa = m.page_alloc
        pa.check_invariants()
        pcps = [[list(lst) for lst in z.pcp[c].lists] for z in pa.populated for c in range(2)]
        return procfs.zoneinfo(pa) + procfs.pagetypeinfo(pa), pcps, got

    assert run(False) == run(True)


@pytest.mark.parametrize("config", [
    MachineConfig(cpus=1, mem=64 << 20),
    MachineConfig(cpus=1, mem=1 << 30),
    MachineConfig(cpus=1, mem=6 << 30),  # DMA32 ends at the PCI hole; Normal above 4 GiB
    MachineConfig(cpus=1, dma_pages=3840, dma32_pages=6000, normal_pages=9000, movable_pages=777),
])
def test_zone_of_table_matches_the_zone_span_scan(config: MachineConfig) -> None:
    """page_zone() by the per-pageblock table against the scan of the zones' spans, at every
    zone edge (and its neighbours) and at a spread of pfns across the whole memory map."""
    pa = Machine(config).page_alloc
    edges = {p for z in pa.zones for e in (z.zone_start_pfn, z.zone_end_pfn) for p in (e - 1, e, e + 1)}
    pfns = edges | set(range(0, pa.memmap.max_pfn + 600, 97)) | {-1, 0, 1}
    za = ZoneAccess(pa)
    for pfn in sorted(pfns):
        assert pa.zone_of(pfn) is pa.zone_of_scan(pfn), pfn
        assert za.pfn_zone_idx(pfn) == za.pfn_zone_idx_scan(pfn), pfn
