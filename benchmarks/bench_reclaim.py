"""Tasks, reclaim, compaction and OOM throughput (targets from issue 6).

Prints: anonymous faults per second (db.fault(64M) = 16384 pages), exit (unmap) pages per
second, page-cache reads per second, reclaim of clean page cache per second, one OOM kill
of a 64 MiB task, compaction of a fragmented 64 MiB zone, and the wall time of
``kmscript examples/oom.kms`` against its 1 s target.
Run: python benchmarks/bench_reclaim.py
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from kmscript.runtime.gfp import GFP_ATOMIC, GFP_KERNEL, __GFP_NOWARN
from kmscript.runtime.machine import Machine, MachineConfig

MiB = 1 << 20
ROOT = Path(__file__).resolve().parent.parent


def timed(fn: object) -> float:
    t = time.perf_counter()
    fn()  # type: ignore[operator]
    return time.perf_counter() - t


def main() -> None:
    m = Machine(MachineConfig(mem=512 * MiB, cpus=2))
    db = m.tasks.spawn("postgres", 0)
    assert db is not None
    dt = timed(lambda: db.fault(64 * MiB))
    print(f"fault 64M (16384 pages):     {dt * 1000:7.1f} ms  {16384 / dt:9.0f} pages/s")
    dt = timed(db.exit)
    print(f"exit of a 64M task:          {dt * 1000:7.1f} ms  {16384 / dt:9.0f} pages/s")

    m = Machine(MachineConfig(mem=512 * MiB, cpus=2))
    f = m.pagecache.open("big")
    dt = timed(lambda: f.read(128 * MiB))
    print(f"read 128M into page cache:   {dt * 1000:7.1f} ms  {32768 / dt:9.0f} pages/s")
    r = m.reclaim
    dt = timed(lambda: r.shrink_node(16384, 4, may_swap=False, is_kswapd=True))
    print(f"reclaim 16384 clean pages:   {dt * 1000:7.1f} ms  {16384 / dt:9.0f} pages/s")

    m = Machine(MachineConfig(mem=128 * MiB, cpus=2))
    hog = m.tasks.spawn("hog", 0)
    assert hog is not None
    hog.fault(64 * MiB)
    dt = timed(lambda: hog.fault(256 * MiB))
    print(f"fault until OOM kill (128M): {dt * 1000:7.1f} ms  (killed: {not hog.alive})")

    m = Machine(MachineConfig(cpus=1, dma_pages=0, dma32_pages=16384))
    z = next(z for z in m.page_alloc.zones if z.managed_pages)
    a = m.tasks.spawn("a", 0)
    b = m.tasks.spawn("b", 0)
    assert a and b
    while z.free_pages >= z.low:
        a.fault(4096)
        b.fault(4096)
    b.exit()
    m.page_alloc.drain_all_pages()
    while m.page_alloc.alloc_pages(GFP_ATOMIC | __GFP_NOWARN, 4) is not None:
        pass
    dt = timed(lambda: m.page_alloc.alloc_pages(GFP_KERNEL, 4))
    print(f"order-4 via compaction:      {dt * 1000:7.1f} ms  ({m.compaction.compact_migrated} pages migrated)")

    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "kmscript", str(ROOT / "examples" / "oom.kms")],
                   check=True, stdout=subprocess.DEVNULL)
    dt = time.perf_counter() - t
    print(f"kmscript examples/oom.kms:   {dt * 1000:7.1f} ms  ({dt / 1.0:.2f} x the 1 s target)")


if __name__ == "__main__":
    main()
