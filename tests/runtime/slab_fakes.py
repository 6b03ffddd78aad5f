"""A minimal buddy-like page allocator used to test SLUB in isolation.

It hands out naturally aligned blocks from a bump pointer and remembers every block, so
tests can check that SLUB returns exactly what it took (page conservation).  The real
page allocator is exercised through Machine in the integration tests.
"""

from __future__ import annotations

from kmscript.runtime.physmem import PhysMem


class FakePageAlloc:
    def __init__(self, nr_pages: int = 1 << 18, fail_orders: set[int] | None = None) -> None:
        self.next_pfn = 1 << 12  # above ZONE_DMA
        self.limit = self.next_pfn + nr_pages
        self.allocated: dict[int, int] = {}
        self.free_blocks: dict[int, list[int]] = {}
        self.fail_orders = fail_orders or set()
        self.calls: list[tuple[int, int]] = []

    def alloc_pages(self, gfp: int, order: int, *, owner: int = 0, caller: str | None = None) -> int | None:
        self.calls.append((gfp, order))
        if order in self.fail_orders:
            return None
        blocks = self.free_blocks.get(order)
        if blocks:
            pfn = blocks.pop()
        else:
            pfn = (self.next_pfn + (1 << order) - 1) & ~((1 << order) - 1)
            if pfn + (1 << order) > self.limit:
                return None
            self.next_pfn = pfn + (1 << order)
        self.allocated[pfn] = order
        return pfn

    def free_pages(self, pfn: int, order: int) -> None:
        assert self.allocated.pop(pfn) == order, "freed with a different order"
        self.free_blocks.setdefault(order, []).append(pfn)

    def pages_in_use(self) -> int:
        return sum(1 << o for o in self.allocated.values())


def make_phys() -> PhysMem:
    return PhysMem(1 << 40)


class Rig:
    """A SLUB + kmalloc instance on the fake page allocator, with the real log/ctx/trace."""

    def __init__(self, *, cpus: int = 2, slub_debug: str | None = None, nomerge: bool = False,
                 nr_pages: int = 1 << 18, fail_orders: set[int] | None = None) -> None:
        from kmscript.runtime.context import ExecContext
        from kmscript.runtime.fault_inject import FaultInjector
        from kmscript.runtime.kmalloc import Kmalloc
        from kmscript.runtime.arch import X86_64
        from kmscript.runtime.events import Clock, EventQueue, Rcu
        from kmscript.runtime.printk import KernelLog
        from kmscript.runtime.slab import SlabAllocator
        from kmscript.runtime.trace import Tracer
        from kmscript.runtime.vmstat import VmStat

        self.clock = Clock()
        self.log = KernelLog(self.clock)
        self.events = EventQueue(self.clock)
        self.ctx = ExecContext(cpus, self.log, events=self.events)
        self.pa = FakePageAlloc(nr_pages, fail_orders)
        self.phys = make_phys()
        self.tracer = Tracer()
        self.vmstat = VmStat()
        self.faults = FaultInjector()
        self.sa = SlabAllocator(arch=X86_64, page_alloc=self.pa, phys=self.phys, ctx=self.ctx, log=self.log,
                                rcu=Rcu(self.events),
                                tracer=self.tracer, vmstat=self.vmstat, faults=self.faults, clock=self.clock,
                                nr_cpus=cpus, slab_nomerge=nomerge, slub_debug=slub_debug)
        self.km = Kmalloc(self.sa, self.pa)

    def read(self, addr: int, n: int) -> bytes:
        return self.phys.read(addr - 0xFFFF888000000000, n)

    def write(self, addr: int, data: bytes) -> None:
        self.phys.write(addr - 0xFFFF888000000000, data)

    def bugs(self) -> list[str]:
        return [r.text for r in self.log.records if r.kind == "bug"]

    def check_consistency(self) -> None:
        """Objects, slabs and pages agree with each other and with the page allocator."""
        sa, pa = self.sa, self.pa
        slab_pages = 0
        for s in sa.caches:
            total = sum(sl.objects for sl in s.slabs_set)
            assert total == s.total_objects_count
            assert len(s.slabs_set) == s.nr_slabs
            free = s.free_objects
            live = sum(1 for a in sa.live if sa.slab_of(a) is not None and sa.slab_of(a).cache is s)
            assert live + free == total, (s.name, live, free, total)
            for sl in s.slabs_set:
                assert pa.allocated[sl.pfn] == sl.order
                slab_pages += 1 << sl.order
        large_pages = sum(1 << o for (o, _c, _s) in self.km.large.values())
        rcu_pages = sum(1 << sl.order for sl in sa.rcu_pending_slabs)
        assert pa.pages_in_use() == slab_pages + large_pages + rcu_pages
        assert (self.vmstat.nr_slab_unreclaimable_b + self.vmstat.nr_slab_reclaimable_b
                == (slab_pages + large_pages + rcu_pages) * 4096)
