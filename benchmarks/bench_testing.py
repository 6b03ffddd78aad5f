"""Benchmarks for the scenario runner and fault injection (plain script; prints figures).

    python benchmarks/bench_testing.py

- FaultInjector queries: the cost the allocators pay per attempt, disarmed (one attribute
  test) and armed (the full should_fail_ex path with a seeded random draw).
- Runner throughput: trivial scenario files with test blocks, serial and with -j 4.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from kmscript.runtime.fault_inject import FaultInjector
from kmscript.testing import runner

GFP_ATOMIC = 0x820


def bench_queries(n: int = 300_000) -> None:
    fi = FaultInjector(None, seed=0)
    t = time.perf_counter()
    for _ in range(n):
        fi.should_failslab("kmalloc-64", GFP_ATOMIC, True)
    off = n / (time.perf_counter() - t)
    fi.failslab.probability = 10
    fi.failslab.times = -1
    fi.failslab.verbose = 0
    fi.update_active()
    t = time.perf_counter()
    for _ in range(n):
        fi.should_failslab("kmalloc-64", GFP_ATOMIC, True)
    on = n / (time.perf_counter() - t)
    print(f"should_failslab disarmed: {off / 1e6:6.2f} M queries/s")
    print(f"should_failslab armed   : {on / 1e6:6.2f} M queries/s  ({fi.injected} of {n} failed, "
          f"{100 * fi.injected / n:.1f} % for probability 10)")


def bench_runner(files: int = 24, blocks: int = 4) -> None:
    with tempfile.TemporaryDirectory() as d:
        for i in range(files):
            body = "".join(f'test "t{j}" {{ p = kmalloc(64, GFP_ATOMIC)\n assert p != NULL }}\n'
                           for j in range(blocks))
            Path(d, f"f{i:02d}.kms").write_text(f"x = {i}\n# CHECK-NOT: BUG\n" + body)
        cases = files * (blocks + 1)
        for jobs in (1, 4):
            lines: list[str] = []
            t = time.perf_counter()
            rc = runner.main(["-j", str(jobs), d], out=lines.append)
            dt = time.perf_counter() - t
            print(f"runner -j {jobs}: {cases} cases in {dt:.2f} s = {cases / dt:6.1f} cases/s "
                  f"(exit {rc}, {lines[-1]})")


if __name__ == "__main__":
    bench_queries()
    bench_runner()
