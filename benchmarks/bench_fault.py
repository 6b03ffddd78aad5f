"""Page-fault throughput: a 1 GiB anonymous region faulted in by writes (target from
issue 17: at most 1.5 s), next to the bare page allocator's order-0 rate measured in the
same run (what every fault pays at least: the data page comes from alloc_pages).

Each faulted page costs the page-table walk (and a table every 512 pages), one order-0
allocation, the pte, the rmap entry, the LRU insertion and the counters.  Printed: pages/s
of both, their ratio, the 1 GiB time against the target, and the same region faulted page
by page through handle_fault (the generic path the populate loop shortcuts).
Run: python benchmarks/bench_fault.py
"""

from __future__ import annotations

import time

from kmscript.runtime.gfp import GFP_HIGHUSER_MOVABLE
from kmscript.runtime.machine import Machine, MachineConfig
from kmscript.runtime.mm_types import MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE

GiB = 1 << 30
PAGES = GiB >> 12
TARGET_S = 1.5


def bare_order0(n: int) -> float:
    """alloc_pages(GFP_HIGHUSER_MOVABLE, 0) n times (no frees), pages/s."""
    m = Machine(MachineConfig(mem=4 * GiB, cpus=2))
    alloc = m.page_alloc.alloc_pages
    t = time.perf_counter()
    for _ in range(n):
        alloc(GFP_HIGHUSER_MOVABLE, 0)
    return n / (time.perf_counter() - t)


def fault_region(populate: bool, size: int) -> float:
    """Seconds to fault an anonymous region of size bytes by writes."""
    m = Machine(MachineConfig(mem=4 * GiB, cpus=2))
    t = m.tasks.spawn("bench")
    assert t is not None and t.mm is not None
    sp = m.tasks.spaces
    a = sp.do_mmap(t.mm, 0, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS)
    start = time.perf_counter()
    if populate:
        done = m.tasks.touch(t, a, size, True)
    else:
        done = 0
        for addr in range(a, a + size, 4096):
            done += sp.handle_fault(t.mm, addr, True) == 0
    dt = time.perf_counter() - start
    assert done == size >> 12, done
    m.page_alloc.check_invariants()
    return dt


def main() -> None:
    bare = bare_order0(PAGES)
    dt = fault_region(True, GiB)
    rate = PAGES / dt
    print(f"bare order-0 alloc_pages:      {bare:12,.0f} pages/s")
    print(f"1 GiB anonymous write faults:  {rate:12,.0f} pages/s  ({dt:.2f} s, target <= {TARGET_S} s, "
          f"ratio {TARGET_S / dt:.2f}; {rate / bare:.2f}x the bare allocator's rate)")
    small = 64 << 20
    slow = fault_region(False, small)
    fast = fault_region(True, small)
    print(f"64 MiB, handle_fault per page: {(small >> 12) / slow:12,.0f} pages/s  "
          f"(the populate loop is {slow / fast:.1f}x faster)")


if __name__ == "__main__":
    main()
