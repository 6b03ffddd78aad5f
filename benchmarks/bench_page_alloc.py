"""Page allocator throughput through the Python API (targets from issue 3).

Prints alloc_pages/free_pages pairs per second for order 0 and order 3 (pcp fast path),
order 5 (buddy path) and a batch pattern (many allocations, then frees), with the ratio to
the target.  Run: python benchmarks/bench_page_alloc.py
"""

from __future__ import annotations

import time

from kmscript.runtime.gfp import GFP_KERNEL
from kmscript.runtime.machine import Machine, MachineConfig


def pairs_per_sec(m: Machine, order: int, n: int) -> float:
    pa = m.page_alloc
    alloc = pa.alloc_pages
    free = pa.free_pages
    t = time.perf_counter()
    for _ in range(n):
        free(alloc(GFP_KERNEL, order), order)
    return n / (time.perf_counter() - t)


def batch_per_sec(m: Machine, order: int, batch: int, rounds: int) -> float:
    pa = m.page_alloc
    t = time.perf_counter()
    for _ in range(rounds):
        pfns = [pa.alloc_pages(GFP_KERNEL, order) for _ in range(batch)]
        for p in pfns:
            pa.free_pages(p, order)
    return batch * rounds / (time.perf_counter() - t)


def main() -> None:
    m = Machine(MachineConfig(mem=8 << 30, cpus=4))
    for order, target, n in ((0, 300_000, 300_000), (3, 100_000, 200_000), (5, None, 50_000)):
        r = pairs_per_sec(m, order, n)
        extra = f"  target {target:,}/s  ratio {r / target:.2f}" if target else ""
        print(f"order-{order} alloc/free pairs: {r:12,.0f}/s{extra}")
    r = batch_per_sec(m, 0, 10_000, 10)
    print(f"order-0 batches of 10000 (alloc all, free all): {r:12,.0f} pairs/s")
    m.page_alloc.check_invariants()


if __name__ == "__main__":
    main()
