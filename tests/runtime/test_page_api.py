"""Page APIs: addresses, Page handles, refcounts, __GFP_ZERO, bad page reports, failures."""

from __future__ import annotations

import pytest

from kmscript.runtime.errors import KernelFault
from kmscript.runtime.gfp import (GFP_ATOMIC, GFP_DMA, GFP_KERNEL, GFP_NOWAIT, __GFP_COMP, __GFP_NOFAIL, __GFP_NORETRY,
                                  __GFP_NOWARN, __GFP_ZERO)
from kmscript.runtime.machine import Machine, MachineConfig
from kmscript.runtime.arch import X86_64
from kmscript.runtime.mm_types import OWNER_SLAB

PAGE_OFFSET = X86_64.page_offset
page_address = X86_64.page_address


def small() -> Machine:
    """A small machine with the page allocator alone: no reclaim/OOM hooks (slow path skips them)."""
    m = Machine(MachineConfig(cpus=2, dma_pages=3840, dma32_pages=6000, normal_pages=9000))
    m.page_alloc.reclaim = None
    return m


def test_address_conversions_and_page_handle() -> None:
    m = small()
    pfn = m.page_alloc.alloc_pages(GFP_KERNEL, 2)
    assert pfn is not None
    addr = m.highmem.page_address(pfn)
    assert addr == PAGE_OFFSET + pfn * 4096 == page_address(pfn)
    page = m.page_alloc.virt_to_page(addr + 100)
    assert page.pfn == pfn and page == m.page_alloc.pfn_to_page(pfn)
    assert page.order == 2 and page.refcount == 1 and page.owner == "kernel" and page.zone in ("Normal", "DMA32")
    assert page.address == addr and not page.free and not page.buddy
    assert "page pfn:" in str(page)
    assert m.page_alloc.pfn_to_page(pfn + 1).refcount == 0          # tail pages carry no reference
    with pytest.raises(KernelFault):
        m.page_alloc.virt_to_page(0x1000)


def test_get_free_pages_and_free_pages_by_address() -> None:
    m = small()
    addr = m.page_alloc.get_free_pages(GFP_KERNEL, 1)
    assert addr is not None and addr >= PAGE_OFFSET
    m.page_alloc.free_pages_addr(addr, 1)
    assert m.page_alloc.virt_to_page(addr).pcp or m.page_alloc.virt_to_page(addr).free
    m.page_alloc.free_pages_addr(0, 0)                                    # free_pages(0) is a no-op


def test_gfp_zero_clears_memory() -> None:
    m = small()
    pfn = m.page_alloc.alloc_pages(GFP_KERNEL, 0)
    m.phys.write(pfn * 4096, b"\xaa" * 4096)
    m.page_alloc.free_pages(pfn, 0)
    again = m.page_alloc.alloc_pages(GFP_KERNEL, 0)
    assert again == pfn and m.phys.read(pfn * 4096, 4) == b"\xaa" * 4   # not zeroed without __GFP_ZERO
    m.page_alloc.free_pages(again, 0)
    z = m.page_alloc.get_zeroed_page(GFP_KERNEL)
    assert z == page_address(pfn) and m.phys.read(pfn * 4096, 4096) == bytes(4096)


def test_refcount_get_put() -> None:
    m = small()
    pa = m.page_alloc
    pfn = pa.alloc_pages(GFP_KERNEL | __GFP_COMP, 1)
    page = m.page_alloc.pfn_to_page(pfn)
    assert page.head and "head" in page.flags and m.page_alloc.pfn_to_page(pfn + 1).compound
    pa.get_page(pfn + 1)                      # a tail reference pins the compound head
    assert page.refcount == 2
    pa.free_pages(pfn, 1)
    assert page.refcount == 1 and page.owner == "kernel"
    pa.put_page(pfn)
    assert page.refcount == 0 and (page.free or page.pcp)
    assert not any(r.kind == "bug" for r in m.log.records)


def test_non_compound_free_with_extra_reference_frees_the_tails() -> None:
    m = small()
    pa = m.page_alloc
    pfn = pa.alloc_pages(GFP_KERNEL, 2)
    pa.get_page(pfn)
    pa.free_pages(pfn, 2)                     # ___free_pages: tails go back, the head stays
    assert m.page_alloc.pfn_to_page(pfn).owner == "kernel" and m.page_alloc.pfn_to_page(pfn).order == 0
    assert all(m.page_alloc.pfn_to_page(pfn + i).owner in ("pcp", "buddy") for i in (1, 2, 3))
    pa.put_page(pfn)
    pa.drain_all_pages()
    pa.check_invariants()


def test_double_free_reports_bad_page_state() -> None:
    m = small()
    pa = m.page_alloc
    pfn = pa.alloc_pages(GFP_KERNEL, 4)
    pa.free_pages(pfn, 4)
    pa.free_pages(pfn, 4)
    bug = [r.text for r in m.log.records if r.kind == "bug"]
    assert len(bug) == 1
    assert bug[0].startswith(f"BUG: Bad page state in process kmscript  pfn:{pfn:05x}\n")
    assert "page dumped because: nonzero mapcount" in bug[0]
    pa.check_invariants()


def test_double_free_of_a_pcp_page() -> None:
    m = small()
    pa = m.page_alloc
    pfn = pa.alloc_pages(GFP_KERNEL, 0)
    pa.free_pages(pfn, 0)
    pa.free_pages(pfn, 0)
    assert "page dumped because: nonzero _refcount" in m.log.records[-1].text
    pa.check_invariants()


def test_wrong_order_free_is_reported_not_applied() -> None:
    m = small()
    pa = m.page_alloc
    pfn = pa.alloc_pages(GFP_KERNEL, 3)
    free_before = pa.nr_free_pages() + pa.nr_pcp_pages()
    pa.free_pages(pfn, 2)
    assert "freed with order 2, allocated with order 3" in m.log.records[-1].text
    assert pa.nr_free_pages() + pa.nr_pcp_pages() == free_before
    cpfn = pa.alloc_pages(GFP_KERNEL | __GFP_COMP, 2)
    pa.free_pages(cpfn, 1)
    assert "VM_BUG_ON_PAGE(compound && compound_order(page) != order)" in m.log.records[-1].text
    pa.free_pages(pfn, 3)
    pa.free_pages(cpfn, 2)
    pa.check_invariants()


def test_freeing_never_allocated_pages() -> None:
    m = small()
    pa = m.page_alloc
    pa.free_pages(0x20, 0)                    # boot-reserved DMA page
    assert "PAGE_FLAGS_CHECK_AT_FREE flag(s) set" in m.log.records[-1].text
    pfn = pa.alloc_pages(GFP_KERNEL, 2)
    pa.free_pages(pfn + 1, 0)                 # a tail page
    assert "nonzero _refcount" in m.log.records[-1].text
    with pytest.raises(KernelFault):
        pa.free_pages(0, 0)                   # pfn 0 is not RAM
    pa.check_invariants()


def test_set_owner_and_owner_of() -> None:
    m = small()
    pa = m.page_alloc
    pfn = pa.alloc_pages(GFP_KERNEL, 1)
    pa.set_owner(pfn, 2, OWNER_SLAB)
    assert pa.owner_of(pfn) == OWNER_SLAB and m.page_alloc.pfn_to_page(pfn + 1).slab
    assert "slab" in m.page_alloc.pfn_to_page(pfn).flags
    pa.free_pages(pfn, 1)
    assert pa.owner_of(pfn) is None


def exhaust(m: Machine, gfp: int) -> list[tuple[int, int]]:
    got = []
    for order in range(10, -1, -1):
        while True:
            p = m.page_alloc.alloc_pages(gfp | __GFP_NOWARN, order)
            if p is None:
                break
            got.append((p, order))
    return got


def test_allocation_failure_report_and_nowarn() -> None:
    m = small()
    pa = m.page_alloc
    exhaust(m, GFP_KERNEL)
    n = len(m.log.records)
    assert pa.alloc_pages(GFP_KERNEL | __GFP_NOWARN, 0) is None
    assert len(m.log.records) == n
    assert pa.alloc_pages(GFP_KERNEL | __GFP_ZERO, 0) is None
    rec = m.log.records[-1]
    assert rec.kind == "alloc_fail"
    first = rec.text.split("\n")[0]
    assert first == ("kmscript: page allocation failure: order:0, mode:0xdc0(GFP_KERNEL|__GFP_ZERO), "
                     "nodemask=(null),cpuset=/,mems_allowed=0")
    assert "\nMem-Info:\n" in rec.text and "lowmem_reserve[]:" in rec.text
    assert "Node 0 Normal: " in rec.text


def test_atomic_reserves_go_below_min() -> None:
    m = small()
    pa = m.page_alloc
    exhaust(m, GFP_KERNEL)                    # stops at the min watermark of every zone
    assert pa.alloc_pages(GFP_NOWAIT, 0) is None
    atomic = exhaust(m, GFP_ATOMIC)           # GFP_ATOMIC may use 5/8 of the min reserve
    assert atomic
    normal = pa.zone_by_name("Normal")
    assert normal.free_pages <= normal.min


def test_gfp_dma_only_from_dma() -> None:
    m = small()
    p = m.page_alloc.alloc_pages(GFP_DMA | GFP_KERNEL, 0)
    assert m.page_alloc.zone_of(p).name == "DMA"


def test_nofail_without_reclaim_is_refused_not_hung() -> None:
    m = small()
    exhaust(m, GFP_ATOMIC)
    with pytest.raises(KernelFault):
        m.page_alloc.alloc_pages(GFP_KERNEL | __GFP_NOFAIL, 0)
    assert m.page_alloc.alloc_pages(GFP_KERNEL | __GFP_NORETRY | __GFP_NOWARN, 0) is None


def test_trace_events_format() -> None:
    m = small()
    m.tracer.record()
    pfn = m.page_alloc.alloc_pages(GFP_KERNEL, 0)
    m.page_alloc.free_pages(pfn, 0)
    names = [e for e, _ in m.tracer.events]
    assert "mm_page_alloc_zone_locked" in names and names[-2:] == ["mm_page_alloc", "mm_page_free"]
    alloc = dict(m.tracer.events)["mm_page_alloc"]
    assert alloc.endswith(f"pfn={pfn:#x} order=0 migratetype=0 gfp_flags=GFP_KERNEL")
    locked = [f for e, f in m.tracer.events if e == "mm_page_alloc_zone_locked"][0]
    assert locked.endswith("order=0 migratetype=0 percpu_refill=1")


class RecordingHooks:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def wakeup_kswapd(self, order: int, highest_zoneidx: int) -> None:
        self.calls.append(f"kswapd({order},{highest_zoneidx})")

    def try_to_free_pages(self, gfp: int, order: int) -> int:
        self.calls.append("reclaim")
        return 0

    def try_to_compact_pages(self, gfp: int, order: int) -> bool:
        self.calls.append("compact")
        return False

    def out_of_memory(self, gfp: int, order: int) -> bool:
        self.calls.append("oom")
        return False

    def zone_reclaimable_pages(self, zone_idx: int) -> int:
        return 0


def test_slowpath_sequence_with_hooks() -> None:
    m = small()
    exhaust(m, GFP_ATOMIC)
    hooks = RecordingHooks()
    m.page_alloc.install_slowpath_hooks(hooks)
    assert m.page_alloc.alloc_pages(GFP_KERNEL, 0) is None
    # wake kswapd, retry at min, (retry:) wake kswapd again, direct reclaim, compaction skipped
    # for order 0, should_reclaim_retry: no progress but the min watermark cannot be met ->
    # no retry; OOM
    assert hooks.calls == ["kswapd(0,2)", "kswapd(0,2)", "reclaim", "oom"]
    hooks.calls.clear()
    assert m.page_alloc.alloc_pages(GFP_KERNEL | __GFP_NORETRY, 0) is None
    assert hooks.calls == ["kswapd(0,2)", "kswapd(0,2)", "reclaim"]
    hooks.calls.clear()
    assert m.page_alloc.alloc_pages(GFP_KERNEL, 4) is None      # costly: early compaction, no OOM
    assert hooks.calls == ["kswapd(4,2)", "compact", "kswapd(4,2)", "reclaim", "compact"]
    hooks.calls.clear()
    assert m.page_alloc.alloc_pages(GFP_ATOMIC, 0) is None       # no direct reclaim at all
    assert hooks.calls == ["kswapd(0,2)", "kswapd(0,2)"]
    hooks.calls.clear()
    assert m.page_alloc.alloc_pages(GFP_DMA | GFP_KERNEL, 0) is None   # lowmem: OOM skipped
    assert "oom" not in hooks.calls


def test_migrate_page_moves_contents_and_state_to_the_zone_top() -> None:
    from kmscript.runtime.mm_types import OWNER_USER
    from kmscript.runtime.gfp import GFP_HIGHUSER_MOVABLE
    m = small()
    pa = m.page_alloc
    pfn = pa.alloc_pages(GFP_HIGHUSER_MOVABLE, 0, owner=OWNER_USER)
    m.phys.write(pfn * 4096 + 8, b"hello")
    pa.get_page(pfn)
    zone = pa.zone_of(pfn)
    assert (pfn, 0) in pa.movable_blocks(zone)
    info = pa.pageblock_info(pfn)
    assert info["movable"] >= 1 and info["migratetype"] == "Movable"
    new = pa.migrate_page(pfn)
    assert new is not None and new > pfn and pa.zone_of(new) is zone
    assert m.phys.read(new * 4096 + 8, 5) == b"hello"
    assert pa.owner_of(new) == OWNER_USER and m.page_alloc.pfn_to_page(new).refcount == 2
    assert pa.owner_of(pfn) is None
    pa.put_page(new)
    pa.free_pages(new, 0)
    pa.drain_all_pages()
    pa.check_invariants()


def test_one_terabyte_machine_allocates_lazily() -> None:
    m = Machine(MachineConfig(mem=1 << 40, cpus=2))
    pa = m.page_alloc
    normal = pa.zone_by_name("Normal")
    assert normal.nr_free[10] > 250_000 and normal.lazy_blocks > 250_000
    pfns = [pa.alloc_pages(GFP_KERNEL, 10) for _ in range(4)]
    assert all(pa.zone_of(p) is normal for p in pfns)
    for p in pfns:
        pa.free_pages(p, 10)
    assert pa.memmap.touched_sections() < 64
    counts = pa.page_counts()
    assert sum(counts.values()) == sum(z.managed for z in pa.zones)
    pa.check_invariants()


def test_get_put_on_pages_without_a_reference_report() -> None:
    m = small()
    pa = m.page_alloc
    pfn = pa.alloc_pages(GFP_KERNEL, 1)
    pa.get_page(pfn + 1)                      # tail of a non-compound block: refcount 0
    assert "VM_BUG_ON_FOLIO(folio_ref_zero_or_close_to_overflow(folio))" in m.log.records[-1].text
    pa.free_pages(pfn, 1)
    pa.put_page(pfn)                          # already freed
    assert "VM_BUG_ON_PAGE(page_ref_count(page) == 0)" in m.log.records[-1].text
    pa.check_invariants()


def test_highatomic_reserve_for_atomic_high_order() -> None:
    from kmscript.runtime.gfp import GFP_KERNEL as K
    m = Machine(MachineConfig(cpus=1, dma_pages=3840, dma32_pages=6000, normal_pages=60000))
    pa = m.page_alloc
    pa.reclaim = None
    normal = pa.zone_by_name("Normal")
    while pa.alloc_pages(K | __GFP_NOWARN, 0) is not None:   # down to the min watermark
        pass
    assert normal.nr_reserved_highatomic == 0
    p = pa.alloc_pages(GFP_ATOMIC, 1)         # slow path: ALLOC_HIGHATOMIC for order > 0
    assert p is not None and pa.zone_of(p) is normal
    # cap: ALIGN(managed / 100, pageblock_nr_pages) = 1024; one pageblock taken per event
    assert normal.nr_reserved_highatomic == 512
    assert m.page_alloc.pfn_to_page(p).migratetype == "HighAtomic"
    pa.check_invariants()


@pytest.mark.parametrize("cfg", [MachineConfig(mem=64 << 20, cpus=1), MachineConfig(mem=1 << 30, cpus=1),
                                 MachineConfig(cpus=1, dma_pages=3840, dma32_pages=6000, normal_pages=9000),
                                 MachineConfig(mem=1 << 30, cpus=1, arch="i386")],
                         ids=["64M", "1G", "custom", "i386-1G"])
def test_pfn_to_page_agrees_with_the_zone_scan(cfg: MachineConfig) -> None:
    """page()'s inlined checks (the pageblock's zone byte) against the generic ones it
    shortcuts: a struct page exists iff pfn_valid() and a zone's span holds the pfn."""
    pa = Machine(cfg).page_alloc
    max_pfn = pa.memmap.max_pfn
    for pfn in [-1, *range(0, max_pfn, 7), *range(0, 2048), *range(max_pfn - 600, max_pfn + 600),
                *(b for z in pa.zones for e in (z.zone_start_pfn, z.zone_end_pfn) for b in range(e - 3, e + 3))]:
        expect = pa.pfn_valid(pfn) and pa.zone_of_scan(pfn) is not None
        try:
            page = pa.page(pfn)
        except KernelFault:
            assert not expect, pfn
        else:
            assert expect and page.pfn == pfn, pfn
