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
