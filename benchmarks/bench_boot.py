"""Machine boot cost (issue 3): mem=64G must boot in <= 0.2 s adding <= 50 MB; mem=1T in <= 1 s.

Measures the whole Machine (all subsystems present in the tree) and, separately, the page
allocator alone.  Memory is the growth of the traced Python heap (tracemalloc) during boot.
Run: python benchmarks/bench_boot.py
"""

from __future__ import annotations

import gc
import time
import tracemalloc

from kmscript.runtime.machine import Machine, MachineConfig


def measure(mem: int, cpus: int = 4) -> tuple[float, float]:
    gc.collect()
    t = time.perf_counter()
    Machine(MachineConfig(mem=mem, cpus=cpus))
    elapsed = time.perf_counter() - t
    gc.collect()
    tracemalloc.start()
    m = Machine(MachineConfig(mem=mem, cpus=cpus))
    size, _peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del m
    return elapsed, size / 1e6


def main() -> None:
    for label, mem, t_target, mb_target in (("8G", 8 << 30, None, None), ("64G", 64 << 30, 0.2, 50.0),
                                            ("1T", 1 << 40, 1.0, None)):
        elapsed, mb = measure(mem)
        line = f"machine(mem={label}): boot {elapsed * 1000:7.1f} ms, heap {mb:6.1f} MB"
        if t_target:
            line += f"   (time target {t_target * 1000:.0f} ms: ratio {elapsed / t_target:.2f}"
            line += f"; memory target {mb_target:.0f} MB: ratio {mb / mb_target:.2f})" if mb_target else ")"
        print(line)


if __name__ == "__main__":
    main()
