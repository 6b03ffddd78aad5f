"""Parallel scenario runs (issue 15 item 7): `kmscript test -j 2` against `-j 1`.

    python benchmarks/bench_parallel.py [ROUNDS]

Runs the project's own scenarios and examples (tests/scenarios, examples) with
``kmscript test -j 1`` and ``-j 2``, each as a fresh ``python -m kmscript`` process (so the
start-up, the warm-up before forking and the pool are all paid for), alternating the two
for ROUNDS rounds (default 3) so that a change in machine load hits both alike.  Prints
per round and the best of each:

- wall-clock seconds, and the ratio serial / parallel (the target: >= 1.5 on 2 cores);
- CPU seconds (user + system of the process and its workers), and the ratio CPU / wall
  of the parallel run, i.e. how many cores it kept busy.  On a loaded machine the wall
  ratio is capped by the cores that are actually free; the CPU ratio shows whether the
  runner itself parallelises.

The machine's load average is printed with the figures, because on a shared machine
it bounds what any parallel run can show.  So it also prints what two idle cores would
give, computed from figures of the same run: the per-file times of the serial run (the
runner records them), scheduled slowest first on two workers as ``-j 2`` does, plus the
fixed cost of a run (a ``kmscript test`` of one trivial file) -- a model, labelled as one.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


CACHE = tempfile.mkdtemp(prefix="kms-bench-")


def run(jobs: int, *paths: str) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the process tree) of one `kmscript test -j N`."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "kmscript", "test", "-j", str(jobs),
                        *(paths or ("tests/scenarios", "examples"))],
                       cwd=ROOT, capture_output=True, text=True,
                       env={**os.environ, "PYTHONPATH": str(ROOT), "XDG_CACHE_HOME": CACHE})
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if r.returncode != 0:
        raise SystemExit(f"kmscript test -j {jobs} failed:\n{r.stdout[-2000:]}{r.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    print(f"cores: {os.cpu_count()}, load average before: {os.getloadavg()[0]:.2f}")
    run(2)  # once to fill ~/.cache/kmscript/test-times.json (slowest-first order) and the caches
    serial: list[tuple[float, float]] = []
    parallel: list[tuple[float, float]] = []
    for i in range(rounds):
        s = run(1)
        p = run(2)
        serial.append(s)
        parallel.append(p)
        print(f"round {i + 1}: -j 1 {s[0]:5.2f} s wall {s[1]:5.2f} s CPU | -j 2 {p[0]:5.2f} s wall {p[1]:5.2f} s CPU"
              f" | wall ratio {s[0] / p[0]:.2f}, cores busy in -j 2: {p[1] / p[0]:.2f}")
    s_best = min(serial)
    p_best = min(parallel)
    print(f"best: -j 1 {s_best[0]:.2f} s, -j 2 {p_best[0]:.2f} s: speed-up (wall, serial / parallel) "
          f"{s_best[0] / p_best[0]:.2f}x (target 1.50x); -j 2 kept {p_best[1] / p_best[0]:.2f} cores busy")
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    # The model: per-file times of the last serial run, on two idle workers.
    run(1)
    times = sorted(json.loads((Path(CACHE) / "kmscript" / "test-times.json").read_text()).values(), reverse=True)
    fixed = min(run(1, "examples/tour.kms")[0] for _ in range(3))
    workers = [0.0, 0.0]
    for d in times:  # slowest first, each to the worker that is free first (-j 2's order)
        workers[workers.index(min(workers))] += d
    serial_model = fixed + sum(times)
    parallel_model = fixed + max(workers)
    print(f"model for 2 idle cores: {len(times)} files, {sum(times):.2f} s of runs, longest {times[0]:.2f} s, "
          f"fixed cost {fixed:.2f} s: -j 1 {serial_model:.2f} s, -j 2 {parallel_model:.2f} s, "
          f"ratio {serial_model / parallel_model:.2f}x")


if __name__ == "__main__":
    main()
