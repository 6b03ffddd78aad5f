"""mm/slub.c: new_slab passes ``flags & (GFP_RECLAIM_MASK | GFP_CONSTRAINT_MASK)`` plus the
cache's allocflags to the page allocator, never the caller's zone/migratetype/zero/account bits."""

from __future__ import annotations

from kmscript.session import Session


def _run(code: str) -> tuple[Session, list[tuple[str, str]]]:
    s = Session(out=lambda line: None, quiet=True)
    s.run_text("machine(mem=1G, cpus=2)")
    s.machine.tracer.record()
    s.run_text(code)
    return s, s.machine.tracer.events


def _slab_page_allocs(events: list[tuple[str, str]]) -> list[str]:
    return [f for e, f in events if e == "mm_page_alloc"]


def test_plain_cache_ignores_callers_zone_and_migratetype() -> None:
    s, events = _run("cache c = create(size=100)\n"
                     "x = kmem_cache_alloc(c, GFP_KERNEL | GFP_DMA | __GFP_MOVABLE | __GFP_ZERO | __GFP_ACCOUNT)\n"
                     "z = virt_to_page(x).zone\n")
    assert s.interp.globals["z"] == "DMA32"   # the highest zone of a 1 GiB machine, not DMA
    allocs = _slab_page_allocs(events)
    assert allocs and all("migratetype=0 gfp_flags=GFP_KERNEL|__GFP_NOWARN|__GFP_NORETRY|__GFP_COMP" in a
                          for a in allocs), allocs


def test_kmalloc_slab_page_has_no_zero_or_account_bits() -> None:
    _s, events = _run("x = kmalloc(4000, GFP_KERNEL | __GFP_ZERO)\n")
    allocs = _slab_page_allocs(events)
    assert allocs
    for a in allocs:
        assert "__GFP_ZERO" not in a and "__GFP_ACCOUNT" not in a, a
        # kmalloc-4k has order 3 > min order 0: __GFP_RECLAIM off, __GFP_NOMEMALLOC on
        assert a.endswith("gfp_flags=__GFP_IO|__GFP_FS|__GFP_NOWARN|__GFP_NORETRY|__GFP_COMP|__GFP_NOMEMALLOC"), a


def test_dma_cache_keeps_its_allocflags() -> None:
    s, events = _run("x = kmalloc(64, GFP_KERNEL | GFP_DMA)\nz = virt_to_page(x).zone\n")
    assert s.interp.globals["z"] == "DMA"
    assert any("gfp_flags=GFP_KERNEL|GFP_DMA|__GFP_NOWARN|__GFP_NORETRY|__GFP_COMP" in a
               for a in _slab_page_allocs(events))
