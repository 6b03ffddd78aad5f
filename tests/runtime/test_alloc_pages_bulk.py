"""mm/page_alloc.c: alloc_pages_bulk_noprof, and vmalloc's use of it (mm/vmalloc.c:
vm_area_alloc_pages asks for at most 100 pages a call, then falls back to single pages)."""

from __future__ import annotations

from kmscript.runtime.gfp import GFP_KERNEL, __GFP_HIGHMEM, __GFP_NOWARN
from kmscript.runtime.machine import Machine, MachineConfig


def machine() -> Machine:
    return Machine(MachineConfig(mem=1 << 30, cpus=2))


def test_bulk_takes_the_pcp_list_in_the_order_single_allocations_would() -> None:
    bulk, single = machine(), machine()
    got = bulk.page_alloc.alloc_pages_bulk(GFP_KERNEL, 300)
    one_by_one = [single.page_alloc.alloc_pages(GFP_KERNEL, 0) for _ in range(300)]
    assert got == one_by_one
    assert bulk.page_alloc.nr_free_pages() == single.page_alloc.nr_free_pages()


def test_bulk_pages_have_no_mm_page_alloc_event_but_refills_are_traced() -> None:
    m = machine()
    m.tracer.record()
    got = m.page_alloc.alloc_pages_bulk(GFP_KERNEL, 300)   # more than the boot-time pcp list holds
    assert len(got) == 300
    names = [e for e, _ in m.tracer.events]
    assert "mm_page_alloc" not in names
    refills = [f for e, f in m.tracer.events if e == "mm_page_alloc_zone_locked"]
    assert refills and all(f.endswith("percpu_refill=1") for f in refills)
    # one page is left to the single-page allocator, which traces it
    m.tracer.events.clear()
    (pfn,) = m.page_alloc.alloc_pages_bulk(GFP_KERNEL, 1)
    allocs = [f for e, f in m.tracer.events if e == "mm_page_alloc"]
    assert len(allocs) == 1 and f"pfn={pfn:#x} order=0" in allocs[0]


def test_no_zone_above_low_plus_the_request_means_one_single_page() -> None:
    m = machine()
    free = m.page_alloc.nr_free_pages()
    m.tracer.record()
    got = m.page_alloc.alloc_pages_bulk(GFP_KERNEL | __GFP_NOWARN, free)
    assert len(got) == 1
    assert [e for e, _ in m.tracer.events].count("mm_page_alloc") == 1


def test_vmalloc_asks_for_at_most_100_pages_a_call() -> None:
    m = machine()
    requests: list[int] = []
    bulk = m.page_alloc.alloc_pages_bulk

    def spy(gfp: int, nr_pages: int, **kw: object) -> list[int]:
        requests.append(nr_pages)
        assert gfp & __GFP_HIGHMEM and gfp & __GFP_NOWARN
        return bulk(gfp, nr_pages, **kw)   # type: ignore[arg-type]

    m.page_alloc.alloc_pages_bulk = spy   # type: ignore[method-assign]
    addr = m.vmalloc.vmalloc(250 << 12)
    assert addr is not None
    assert requests == [100, 100, 50]
    area = m.vmalloc.find_vm_area(addr)
    assert area is not None and len(area.pages) == 250


def test_vmalloc_falls_back_to_single_pages_when_a_bulk_call_comes_up_short() -> None:
    m = machine()
    calls: list[int] = []
    single = m.page_alloc.alloc_pages

    def short_bulk(gfp: int, nr_pages: int, **kw: object) -> list[int]:
        return []   # as when fault injection fails prepare_alloc_pages

    def spy_single(gfp: int, order: int, **kw: object) -> int | None:
        calls.append(order)
        return single(gfp, order, **kw)   # type: ignore[arg-type]

    m.page_alloc.alloc_pages_bulk = short_bulk   # type: ignore[method-assign]
    m.page_alloc.alloc_pages = spy_single   # type: ignore[method-assign]
    addr = m.vmalloc.vmalloc(20 << 12)
    assert addr is not None and calls.count(0) >= 20
