"""vmalloc, per-cpu memory and kernel stacks on a whole Machine (real buddy allocator and SLUB)."""

from __future__ import annotations

from hypothesis import given, settings, strategies as st

from kmscript.runtime.gfp import GFP_KERNEL, __GFP_NORETRY, __GFP_ZERO
from kmscript.runtime.machine import Machine, MachineConfig
from kmscript.runtime.arch import X86_64

VMALLOC_START = X86_64.vmalloc_start
is_vmalloc_addr = X86_64.is_vmalloc_addr

GFP_ZERO = __GFP_ZERO


def boot(**kw: object) -> Machine:
    return Machine(MachineConfig(mem=1 << 30, cpus=2, **kw))  # type: ignore[arg-type]


def test_boot_maps_irq_stacks_and_prints_percpu_layout() -> None:
    m = boot()
    info = m.vmalloc.vmallocinfo().splitlines()
    assert info[:2] == [
        "0xffffc90000000000-0xffffc90000005000   20480 irq_init_percpu_irqstack+0xca/0x100 vmap",
        "0xffffc90000005000-0xffffc9000000a000   20480 irq_init_percpu_irqstack+0xca/0x100 vmap",
    ]
    assert "percpu: Embedded 53 pages/cpu s185496 r0 d31592 u1048576" in m.log.dmesg()
    assert m.vmstat.nr_percpu_pages * 4 == 424  # meminfo Percpu: 53 pages x 2 units


def test_vmalloc_pages_come_from_the_buddy_allocator_and_bookkeeping_from_slab() -> None:
    m = boot()
    p = m.vmalloc.vmalloc_gfp(64 << 10, GFP_KERNEL, 1, "t.kms:1")
    assert p is not None and is_vmalloc_addr(p)
    vm = m.vmalloc.area_containing(p)
    assert vm.size == 69632 and vm.nr_pages == 16 and vm.caller == "t.kms:1"
    for pfn in vm.pages:
        page = m.page_alloc.pfn_to_page(pfn)
        assert page.owner == "vmalloc" and page.order == 0
    assert m.vmstat.nr_vmalloc_pages == 16
    # vm_struct from kmalloc-96, the 128-byte pages[] from kmalloc-128
    assert m.slab.vmstat.nr_slab_unreclaimable_b > 0
    m.vmalloc.vfree(p)
    assert m.vmstat.nr_vmalloc_pages == 0


def test_consecutive_virtual_pages_are_not_consecutive_frames_after_churn() -> None:
    m = boot()
    blocks = [m.vmalloc.vmalloc_gfp(4096, GFP_KERNEL, 1, "churn") for _ in range(64)]
    for b in blocks[::2]:
        m.vmalloc.vfree(b)
    p = m.vmalloc.vmalloc_gfp(32 * 4096, GFP_KERNEL, 1, "big")
    pfns = list(m.vmalloc.area_containing(p).pages)
    assert len(set(pfns)) == 32
    assert sum(1 for a, b in zip(pfns, pfns[1:]) if b != a + 1) > 0
    for i, pfn in enumerate(pfns):
        assert m.vmalloc.vmalloc_to_pfn(p + i * 4096 + 7) == pfn


def test_memory_through_vmalloc_addresses_and_vzalloc() -> None:
    m = boot()
    p = m.vmalloc.vmalloc_gfp(3 * 4096, GFP_KERNEL, 1, "a")
    m.mem.write(p + 4096 + 10, b"kmscript")
    assert m.mem.read(p + 4096 + 10, 8) == b"kmscript"
    paddr = m.vmalloc.translate(p + 4096 + 10)
    assert m.phys.read(paddr, 8) == b"kmscript"
    m.vmalloc.vfree(p)
    m.vmalloc.purge_vmap_area_lazy()
    z = m.vmalloc.vmalloc_gfp(3 * 4096, GFP_KERNEL | GFP_ZERO, 1, "z")
    assert m.mem.read(z + 4096 + 10, 8) == bytes(8)


def test_guard_page_and_reuse_only_after_purge() -> None:
    m = boot()
    a = m.vmalloc.vmalloc_gfp(8192, GFP_KERNEL, 1, "a")
    b = m.vmalloc.vmalloc_gfp(8192, GFP_KERNEL, 1, "b")
    assert b - a == 12288  # 2 pages + guard
    assert m.vmalloc.translate(a + 8192) is None
    m.vmalloc.vfree(a)
    c = m.vmalloc.vmalloc_gfp(8192, GFP_KERNEL, 1, "c")
    assert c not in (a, b) and c > b
    assert m.vmalloc.purge_vmap_area_lazy() == 1
    assert m.vmalloc.vmalloc_gfp(8192, GFP_KERNEL, 1, "d") == a  # purged into CPU 0's node pool


def test_out_of_memory_vmalloc_fails_with_the_kernel_warning() -> None:
    m = Machine(MachineConfig(mem=128 << 20, cpus=2))
    total = m.page_alloc.totalram_pages
    assert m.vmalloc.vmalloc_gfp((total + 1) * 4096, GFP_KERNEL, 1, "huge") is None
    assert f"kmscript: vmalloc error: size {(total + 1) * 4096}, exceeds total pages, mode:0xcc0(GFP_KERNEL), " \
           "nodemask=(null),cpuset=/,mems_allowed=0" in m.log.dmesg()
    # warn_alloc's nopage_rs lets one report through per 10*HZ: wait that long
    m.clock.advance(10 * 1_000_000_000 + 4_000_000)
    # __GFP_NORETRY: fail instead of invoking the OOM killer (which would panic: no tasks)
    big = m.vmalloc.vmalloc_gfp((total - 10) * 4096, GFP_KERNEL | __GFP_NORETRY, 1, "big")
    assert big is None
    assert "failed to allocate pages, mode:0x10cc2(GFP_KERNEL|__GFP_HIGHMEM|__GFP_NORETRY)" in m.log.dmesg()
    assert m.vmstat.nr_vmalloc_pages == 0  # everything given back


def test_kvmalloc_small_is_slab_large_falls_back() -> None:
    m = boot()
    a = m.vmalloc.kvmalloc(100, GFP_KERNEL, "k")
    assert a is not None and not is_vmalloc_addr(a)
    b = m.vmalloc.kvmalloc(64 << 10, GFP_KERNEL, "k")
    assert b is not None  # a large kmalloc (order 4) succeeds on a fresh machine
    m.vmalloc.kvfree(a)
    m.vmalloc.kvfree(b)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(1, 40000)), min_size=1, max_size=40))
def test_random_vmalloc_vfree_keeps_areas_disjoint_and_pages_conserved(ops: list[tuple[bool, int]]) -> None:
    m = boot()
    live: list[int] = []
    for alloc, size in ops:
        if alloc or not live:
            p = m.vmalloc.vmalloc_gfp(size, GFP_KERNEL, 1, "h")
            assert p is not None and p >= VMALLOC_START
            live.append(p)
        else:
            m.vmalloc.vfree(live.pop(size % len(live)))
        areas = sorted((va.va_start, va.va_end) for va in m.vmalloc.busy.values())
        lazy = sorted((va.va_start, va.va_end) for n in m.vmalloc.nodes for va in n.lazy)
        pooled = sorted((va.va_start, va.va_end) for n in m.vmalloc.nodes for st_ in n.pool.values() for va in st_)
        free = list(zip(m.vmalloc._free_start, m.vmalloc._free_end))
        allr = sorted(areas + lazy + pooled + free)
        assert all(a[1] <= b[0] for a, b in zip(allr, allr[1:]))
        assert sum(e - s for s, e in allr) == (1 << 45) - 1  # the whole space is accounted for
        assert m.vmstat.nr_vmalloc_pages == sum(m.vmalloc.area_containing(p).nr_pages for p in live)


def test_trace_events_in_the_kernel_formats() -> None:
    m = boot()
    m.tracer.record(True)
    a = m.vmalloc.vmalloc_gfp(8192, GFP_KERNEL, 1, "t")
    m.vmalloc.vfree(a)
    m.vmalloc.purge_vmap_area_lazy()
    p = m.percpu.alloc_percpu(8)
    m.percpu.free_percpu(p)
    ev = [(e, f) for e, f in m.tracer.events
          if e.startswith(("alloc_vmap_area", "free_vmap_area", "purge_vmap", "percpu_"))]
    assert ev[0] == ("alloc_vmap_area", f"va_start: {a} size=12288 align=1 vstart=0xffffc90000000000 "
                                        "vend=0xffffe8ffffffffff failed=0")
    assert ev[1] == ("free_vmap_area_noflush", f"va_start=0x{a:x} nr_lazy=3 nr_lazy_max=16384")
    assert ev[2] == ("purge_vmap_area_lazy", f"start=0x{a:x} end=0x{a + 12288:x} num_purged=1")
    fc = m.percpu.first_chunk
    assert ev[3] == ("percpu_alloc_percpu", f"call_site=pcpu_alloc_noprof reserved=0 is_atomic=0 size=8 align=4 "
                                            f"base_addr={fc.base_addr:016x} off=1176 ptr={p:016x} bytes_alloc=32 "
                                            "gfp_flags=GFP_KERNEL")
    assert ev[4] == ("percpu_free_percpu", f"base_addr={fc.base_addr:016x} off=1176 ptr={p:016x}")


def test_meminfo_counters() -> None:
    m = boot()
    assert m.vmalloc.vmalloc_total_kb() == 34359738367
    a = m.vmalloc.vmalloc_gfp(1 << 20, GFP_KERNEL, 1, "m")
    assert m.vmalloc.vmalloc_used_kb() == 1024  # VmallocUsed counts pages only, not the guard
    m.vmalloc.vfree(a)
    assert m.vmalloc.vmalloc_used_kb() == 0


def test_kvmalloc_large_uses_pmd_pages() -> None:
    m = boot()
    a = m.vmalloc.kvmalloc(8 << 20, GFP_KERNEL, "k")  # above 4 MiB: no large kmalloc (order > 10)
    vm = m.vmalloc.area_containing(a)
    assert a % (2 << 20) == 0 and vm.page_order == 9 and vm.nr_pages == 2048
    assert vm.size == (8 << 20) + 4096
    assert m.page_alloc.pfn_to_page(vm.pages[0]).order == 9
    assert list(vm.pages[:512]) == list(range(vm.pages[0], vm.pages[0] + 512))
    assert "pages=2048 vmalloc vpages N0=2048" in m.vmalloc.vmallocinfo()  # 16K pages[] is itself vmalloc'ed
    m.vmalloc.kvfree(a)
    assert m.vmstat.nr_vmalloc_pages == 0


def test_vmap_maps_existing_pages_and_vfree_leaves_them() -> None:
    m = boot()
    a = m.page_alloc.alloc_pages(GFP_KERNEL, 0)
    b = m.page_alloc.alloc_pages(GFP_KERNEL, 0)
    v = m.vmalloc.vmap([b, a], caller="t")
    assert m.vmalloc.vmalloc_to_pfn(v) == b and m.vmalloc.vmalloc_to_pfn(v + 4096) == a
    assert m.vmalloc.vmalloc_to_pfn(v + 8192) is None  # guard page
    assert "   12288 t vmap" in m.vmalloc.vmallocinfo()
    m.vmalloc.vfree(v)  # nr_pages is 0: the frames are not freed
    assert m.page_alloc.pfn_to_page(a).refcount == 1 and m.page_alloc.pfn_to_page(b).refcount == 1
    v2 = m.vmalloc.vmap([a], caller="t2")
    m.vmalloc.vunmap(v2)
    assert m.page_alloc.pfn_to_page(a).refcount == 1
    m.page_alloc.free_pages(a, 0)
    m.page_alloc.free_pages(b, 0)
