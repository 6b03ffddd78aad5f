"""vmalloc, per-cpu and kernel-stack allocators against a minimal stand-in page allocator.

These tests pin the vmalloc-space algorithms (address choice, guard pages, lazy freeing,
purge, pools, failure texts) independently of the buddy allocator; the machine-level tests
(test_vmalloc_machine.py) run the same allocators on the real page allocator.
"""

from __future__ import annotations

import pytest

from kmscript.runtime.context import ExecContext
from kmscript.runtime.errors import KernelPanic
from kmscript.runtime.gfp import GFP_ATOMIC, GFP_KERNEL, __GFP_NOWARN
from kmscript.runtime.events import Clock, EventQueue
from kmscript.runtime.printk import KernelLog
from kmscript.runtime.trace import Tracer
from kmscript.runtime.mm_types import PAGE_SIZE
from kmscript.runtime.vmap_area import lazy_max_pages
from kmscript.runtime.arch import X86_64
from kmscript.runtime.vmalloc import Vmalloc
from kmscript.runtime.vmstat import VmStat

PAGE_OFFSET = X86_64.page_offset
VMALLOC_START = X86_64.vmalloc_start
VMALLOC_END = X86_64.vmalloc_end
THREAD_SIZE = X86_64.thread_size
is_vmalloc_addr = X86_64.is_vmalloc_addr


class StubBuddy:
    """Hands out frames from a shuffled pool; records what is outstanding."""

    def __init__(self, nr_pages: int = 1 << 16, seed: int = 1) -> None:
        import random
        pool = list(range(0x1000, 0x1000 + nr_pages))
        random.Random(seed).shuffle(pool)
        self.free = pool
        self.out: dict[int, int] = {}
        self.fail_after: int | None = None
        self.warned: list[tuple[int, str, tuple[str, ...]]] = []  # warn_alloc calls

    def alloc_pages(self, gfp: int, order: int, *, owner: int = 0, caller: str | None = None) -> int | None:
        if self.fail_after is not None:
            if self.fail_after == 0:
                return None
            self.fail_after -= 1
        if order:
            if order == 2:  # kernel stacks without VMAP_STACK
                base = 0x100000 + 16 * len(self.out)
                self.out[base] = order
                return base
            return None  # no higher-order blocks: huge vmalloc must fall back
        if not self.free:
            return None
        pfn = self.free.pop()
        self.out[pfn] = order
        return pfn

    def alloc_pages_bulk(self, gfp: int, nr_pages: int, *, owner: int = 0, caller: str | None = None) -> list[int]:
        """The bulk allocator's contract: up to nr_pages order-0 pages, fewer when it runs out."""
        got: list[int] = []
        while len(got) < nr_pages:
            pfn = self.alloc_pages(gfp, 0, owner=owner, caller=caller)
            if pfn is None:
                break
            got.append(pfn)
        return got

    def warn_alloc(self, gfp: int, text: str, frames: tuple[str, ...]) -> None:
        self.warned.append((gfp, text, frames))

    def free_pages(self, pfn: int, order: int) -> None:
        assert self.out.pop(pfn) == order, "freed with the wrong order"
        if order == 0:
            self.free.append(pfn)


class StubKmalloc:
    def __init__(self) -> None:
        self.next = PAGE_OFFSET + 0x10000000
        self.live: dict[int, int] = {}
        self.fail = False

    def kmalloc(self, size: int, gfp: int, caller: str | None) -> int | None:
        if self.fail:
            return None
        a = self.next
        self.next += max(size, 8)
        self.live[a] = size
        return a

    def kfree(self, addr: int) -> None:
        del self.live[addr]


def make(nr_cpus: int = 2, nr_pages: int = 1 << 16):
    clock = Clock()
    log = KernelLog(clock)
    events = EventQueue(clock)
    ctx = ExecContext(nr_cpus, log, events=events)
    tracer = Tracer()
    tracer.record(True)
    vmstat = VmStat()
    buddy = StubBuddy(nr_pages)
    km = StubKmalloc()
    vm = Vmalloc(arch=X86_64, page_alloc=buddy, kmalloc=km.kmalloc, kfree=km.kfree, ctx=ctx, log=log, tracer=tracer,
                 warn_alloc=buddy.warn_alloc,
                 vmstat=vmstat, nr_cpus=nr_cpus, totalram_pages=lambda: nr_pages, owner_vmalloc=6,
                 events=events)
    return vm, buddy, km, log, tracer, ctx, vmstat


def test_first_areas_are_lowest_first_fit_with_guard() -> None:
    vm, *_ = make()
    a = vm.vmalloc(10000)
    b = vm.vmalloc(4096)
    assert a == VMALLOC_START
    area = vm.find_vm_area(a)
    assert area is not None and area.size == 3 * PAGE_SIZE + PAGE_SIZE and area.nr_pages == 3
    assert b == a + area.size  # right after a's guard page
    assert vm.translate(a + 3 * PAGE_SIZE) is None  # the guard page is not mapped
    assert vm.translate(a + 5) is not None and vm.translate(a + 5) & 0xFFF == 5


def test_alignment_uses_search_length() -> None:
    vm, *_ = make()
    vm.vmalloc(4096)  # [0, 0x2000)
    s = vm.vmalloc_gfp(THREAD_SIZE, GFP_KERNEL, THREAD_SIZE)
    assert s == VMALLOC_START + 0x4000 and s % THREAD_SIZE == 0
    assert vm.vmalloc(4096) == VMALLOC_START + 0x2000  # the hole below the aligned area is used


def test_pages_are_scattered_and_accounted() -> None:
    vm, buddy, km, *_ , vmstat = make()
    a = vm.vmalloc(64 << 10)
    area = vm.find_vm_area(a)
    pfns = list(area.pages)
    assert len(pfns) == 16 and vmstat.nr_vmalloc_pages == 16
    assert any(q != p + 1 for p, q in zip(pfns, pfns[1:]))
    for i, pfn in enumerate(pfns):
        assert vm.vmalloc_to_pfn(a + i * PAGE_SIZE + 100) == pfn
    # vm_struct (72 bytes) and the 128-byte pages array came from kmalloc
    assert sorted(km.live.values()) == [72, 128]
    vm.vfree(a)
    assert vmstat.nr_vmalloc_pages == 0 and not km.live and not buddy.out


def test_lazy_free_delays_reuse_until_purge() -> None:
    vm, _b, _k, _log, tracer, _ctx, _ = make()
    a = vm.vmalloc(8192)
    vm.vfree(a)
    assert "unpurged vm_area" in vm.vmallocinfo()
    b = vm.vmalloc(8192)
    assert b != a and b > a  # the freed range is not reused before the purge
    assert vm.vmap_lazy_nr == 3
    assert ("free_vmap_area_noflush", f"va_start=0x{a:x} nr_lazy=3 nr_lazy_max={lazy_max_pages(2)}") in tracer.events
    n = vm.purge_vmap_area_lazy()
    assert n == 1 and vm.vmap_lazy_nr == 0
    # purged into the node pool of CPU 0: the same size is served from it again
    assert vm.vmalloc(8192) == a


def test_purge_threshold_triggers_drain() -> None:
    vm, _b, _k, _log, tracer, _ctx, _ = make(nr_cpus=1, nr_pages=1 << 15)
    limit = lazy_max_pages(1)
    assert limit == 8192
    addrs = [vm.vmalloc(1 << 20) for _ in range(31)]  # 257 pages each with the guard
    for a in addrs[:-1]:
        vm.vfree(a)
    assert vm.vmap_lazy_nr == 30 * 257 and vm.nr_purges == 0
    vm.vfree(addrs[-1])
    assert 31 * 257 <= limit
    a2 = vm.vmalloc(1 << 20)
    vm.vfree(a2)
    assert vm.nr_purges == 1 and vm.vmap_lazy_nr == 0
    ev = [f for e, f in tracer.events if e == "purge_vmap_area_lazy"]
    assert ev and ev[-1].endswith("num_purged=32")
    # single node: everything went back to the global free space, merged into one range
    assert vm.vmalloc(1 << 20) == VMALLOC_START


def test_failures_print_the_kernel_texts() -> None:
    vm, buddy, km, log, *_ = make(nr_pages=100)
    assert vm.vmalloc(0) is None
    assert log.contains("WARNING: CPU: 0 PID: 1000 at mm/vmalloc.c:3830 __vmalloc_node_range_noprof")
    # the reports go through the page allocator's warn_alloc (its text, gfp and call path)
    assert vm.vmalloc(101 * PAGE_SIZE) is None
    assert buddy.warned[-1] == (0xCC0, "vmalloc error: size 413696, exceeds total pages",
                                ("__vmalloc_node_range_noprof", "__vmalloc_node_noprof", "vmalloc_noprof"))
    buddy.fail_after = 5
    assert vm.vmalloc(10 * PAGE_SIZE) is None
    assert buddy.warned[-1][:2] == (0xCC2, "vmalloc error: size 20480, failed to allocate pages")
    assert not buddy.out and not km.live  # everything given back
    buddy.fail_after = None
    km.fail = True
    assert vm.vmalloc(PAGE_SIZE) is None
    assert buddy.warned[-1][1].startswith("vmalloc error: size 4096, vm_struct allocation failed")
    km.fail = False
    assert vm.vmalloc_gfp(PAGE_SIZE * 1000, GFP_KERNEL | __GFP_NOWARN) is None
    assert buddy.warned[-1][0] & __GFP_NOWARN  # warn_alloc itself stays silent for __GFP_NOWARN


def test_va_space_exhaustion() -> None:
    vm, _b, _k, log, *_ = make()
    big = 31 << 40
    assert vm.vmalloc_node_range(4096, 1, VMALLOC_START, VMALLOC_START + 0x3000, GFP_KERNEL) is not None
    assert vm.vmalloc_node_range(8192, 1, VMALLOC_START, VMALLOC_START + 0x3000, GFP_KERNEL) is None
    assert log.contains(f"vmalloc_node_range for size 12288 failed: Address range restricted to "
                        f"0x{VMALLOC_START:x} - 0x{VMALLOC_START + 0x3000:x}")
    assert big < VMALLOC_END - VMALLOC_START


def test_large_page_array_is_vmalloced() -> None:
    vm, _b, km, *_ = make()
    a = vm.vmalloc(513 * PAGE_SIZE)  # 4104-byte pages[] > PAGE_SIZE
    info = vm.vmallocinfo()
    assert "pages=513 vmalloc vpages N0=513" in info
    assert "pages=2 vmalloc N0=2" in info  # the array itself, same caller
    vm.vfree(a)
    assert not km.live and vm.vmstat.nr_vmalloc_pages == 0


def test_vfree_of_non_vmalloc_address_warns() -> None:
    vm, _b, _k, log, *_ = make()
    vm.vfree(VMALLOC_START + 0x1234000)
    assert log.contains("Trying to vfree() nonexistent vm area")
    vm.vfree(0)  # vfree(NULL) is a no-op


def test_might_sleep_and_interrupt_bug() -> None:
    vm, _b, _k, log, _t, ctx, _ = make()
    ctx.spin_lock("lock")
    assert vm.vmalloc(4096) is not None
    assert log.contains("BUG: sleeping function called from invalid context at mm/vmalloc.c:2031")
    ctx.spin_unlock("lock")
    snap = ctx.enter_hardirq(1)
    with pytest.raises(KernelPanic):
        vm.vmalloc(4096)
    ctx.restore(snap)
    assert log.contains("Fatal exception in interrupt")


def test_is_vmalloc_addr() -> None:
    assert is_vmalloc_addr(VMALLOC_START) and is_vmalloc_addr(VMALLOC_END - 1)
    assert not is_vmalloc_addr(VMALLOC_END) and not is_vmalloc_addr(PAGE_OFFSET)


def test_kvmalloc_flag_adjustment_and_fallback() -> None:
    vm, _b, km, *_ = make()
    seen: list[int] = []
    orig = km.kmalloc

    def spy(size: int, gfp: int, caller: str | None) -> int | None:
        seen.append(gfp)
        if size > 8192:
            return None  # pretend the high-order attempt failed
        return orig(size, gfp, caller)

    vm._kmalloc = spy
    assert vm.kvmalloc(100, GFP_KERNEL) is not None and seen[-1] == GFP_KERNEL
    p = vm.kvmalloc(1 << 20, GFP_KERNEL)
    assert is_vmalloc_addr(p)
    assert seen[0 - 3] & __GFP_NOWARN and not seen[-3] & 0x400  # NOWARN, no direct reclaim
    assert vm.kvmalloc(1 << 20, GFP_ATOMIC) is None  # vmalloc cannot serve atomic callers
    vm.kvfree(p)


def test_huge_vmalloc_falls_back_to_small_pages() -> None:
    vm, buddy, km, log, *_ = make()
    a = vm.vmalloc_huge(2 << 20, GFP_KERNEL)
    area = vm.find_vm_area(a)
    assert area is not None and area.page_order == 0 and area.nr_pages == 512
    assert area.size == (2 << 20) + PAGE_SIZE
    assert not log.contains("vmalloc error")  # order-9 failures are not reported
    vm.vfree(a)
    assert not buddy.out


def test_vfree_interior_and_unaligned_addresses() -> None:
    vm, buddy, _k, log, *_ = make()
    a = vm.vmalloc(3 * PAGE_SIZE)
    vm.vfree(a + 5)
    assert log.contains("Trying to vfree() bad address") and vm.find_vm_area(a) is not None
    vm.vfree(a + PAGE_SIZE)  # page-aligned inside the area: the kernel frees the whole area
    assert vm.find_vm_area(a) is None and not buddy.out


def test_pool_reuse_needs_alignment_and_rotates_unaligned_heads() -> None:
    vm, *_ = make()
    vm.vmalloc(4096)                  # so that a is not 1M aligned
    a = vm.vmalloc(12 << 10)          # 16K area (3 pages + guard), page aligned only
    b = vm.vmalloc_gfp(12 << 10, GFP_KERNEL, 16 << 10)
    vm.vfree(a)
    vm.vfree(b)
    vm.purge_vmap_area_lazy()         # both go to CPU 0's pool for 4-page areas
    stack = vm.nodes[0].pool[3]
    assert [v.va_start for v in stack] == [a, b]   # b is the head (LIFO)
    c = vm.vmalloc_gfp(12 << 10, GFP_KERNEL, 16 << 10)
    assert c == b                      # aligned head: reused
    d = vm.vmalloc_gfp(12 << 10, GFP_KERNEL, 1 << 20)
    assert d != a and d % (1 << 20) == 0   # head a is not 1M aligned: global heap
    assert [v.va_start for v in stack] == [a]


def test_vmap_area_objects_follow_the_range_nodes() -> None:
    clock = Clock()
    log = KernelLog(clock)
    events = EventQueue(clock)
    ctx = ExecContext(2, log, events=events)
    buddy = StubBuddy()
    km = StubKmalloc()
    objs: set[int] = set()

    def va_alloc(gfp: int) -> int | None:
        a = km.kmalloc(72, gfp, "alloc_vmap_area")
        assert a is not None
        objs.add(a)
        return a

    def va_free(a: int) -> None:
        objs.remove(a)
        km.kfree(a)

    vm = Vmalloc(arch=X86_64, page_alloc=buddy, kmalloc=km.kmalloc, kfree=km.kfree, ctx=ctx, log=log, tracer=Tracer(),
                 vmstat=VmStat(), nr_cpus=2, totalram_pages=lambda: 1 << 16, owner_vmalloc=6,
                 events=events, va_cache=(va_alloc, va_free))

    def nodes() -> int:
        return (len(vm.busy) + len(vm._free_start) + sum(len(n.lazy) for n in vm.nodes)
                + sum(len(st) for n in vm.nodes for st in n.pool.values()))

    ps = [vm.vmalloc(8192) for _ in range(5)]
    assert len(objs) == nodes() == 6  # 5 busy + the free remainder
    for p in ps[1::2]:
        vm.vfree(p)
    vm.purge_vmap_area_lazy()
    assert len(objs) == nodes()
    for p in ps[::2]:
        vm.vfree(p)
    vm.reclaim_and_purge_vmap_areas()  # everything merges back into one free range
    assert len(objs) == nodes() == 1


def test_vfree_in_interrupt_is_deferred_to_irq_exit() -> None:
    vm, buddy, _k, log, _t, ctx, vmstat = make()
    a = vm.vmalloc(4 * PAGE_SIZE)
    snap = ctx.enter_hardirq(1)
    vm.vfree(a)
    assert vm.find_vm_area(a) is not None and vmstat.nr_vmalloc_pages == 4  # vfree_atomic: queued
    ctx.restore(snap)  # irq_exit: the work item runs in process context
    assert vm.find_vm_area(a) is None and vmstat.nr_vmalloc_pages == 0 and not buddy.out
    assert not log.contains("sleeping function")


def test_vfree_atomic_is_one_work_item_per_cpu_on_the_event_queue() -> None:
    """mm/vmalloc.c: vfree() in_interrupt() -> vfree_atomic(): llist_add to the CPU's
    vfree_deferred list, schedule_work() only when the list was empty; delayed_vfree_work
    frees llist_del_all()'s list, newest first.  The work runs from the one event queue at
    irq exit, and only it: normal work queued earlier (a woken kswapd) stays queued."""
    vm, buddy, _k, log, tracer, ctx, vmstat = make()
    events = vm.events
    a, b, c = (vm.vmalloc(PAGE_SIZE) for _ in range(3))
    ran: list[str] = []
    events.schedule(0, 1, "kswapd0", lambda: ran.append("kswapd0"), once=True)   # NORMAL, pending
    snap = ctx.enter_hardirq(1)
    for p in (a, b, c):
        vm.vfree(p)
    # one work item for CPU 1, holding the three addresses; nothing freed yet
    assert events.pending("vfree_deferred/1") and vm.vfree_deferred[1] == [a, b, c]
    assert len(events) == 2 and vmstat.nr_vmalloc_pages == 3
    inner = ctx.enter_hardirq(1)        # a nested interrupt leaves: still in interrupt context
    ctx.restore(inner)
    assert vmstat.nr_vmalloc_pages == 3
    tracer.events.clear()
    ctx.restore(snap)                   # irq exit: the kworker runs the work item
    freed = [f.split()[0] for e, f in tracer.events if e == "free_vmap_area_noflush"]
    assert freed == [f"va_start=0x{p:x}" for p in (c, b, a)]      # newest first
    assert vmstat.nr_vmalloc_pages == 0 and vm.vfree_deferred[1] == []
    assert not events.pending("vfree_deferred/1") and ran == [] and events.pending("kswapd0")
    events.run_due()
    assert ran == ["kswapd0"]
    assert not log.contains("sleeping function")
