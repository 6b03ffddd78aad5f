"""Scale and speed (issue 20): every target as a ratio measured in the same run.

Each measure runs best-of-N with its two sides interleaved (this host is shared and its
speed swings), and prints the figures it compares.  The floors are minimal pure-Python
models of the same operation (a pcp list, a page fault, a slab freelist): a yardstick for
what the interpreter itself costs on this host at this moment, not a target to beat.

Sections (all by default; name some to run only those):
  pages    order-0 alloc_pages + free through the API on 64M, 1G and 8G machines, vs the
           pcp-list floor (target <= 4x; 1G within 1.2x of 8G)
  script   alloc_pages/__free_pages from a kmscript loop vs the API (target <= 2x)
  fault    anonymous fault and exit per page (targets <= 1 us each, <= 8x a floor fault)
  percpu   alloc_percpu(64) + free_percpu pairs/s (target >= 100k/s)
  kmalloc  kmalloc time per op at 3M live objects vs 100k (target <= 1.2x), host bytes per
           live object (target <= 100), share of time in the garbage collector
  oom16g   benchmarks/bench_oom_16g.kms (target <= 10 s)
  oomkms   `kmscript examples/oom.kms` wall time (target <= 0.5 s)
  timeline the timeline sampler's cost: a fault-only run and a reclaim + OOM run, each with
           the sampler on vs stopped at boot (target: within 1.03x; on a loaded host the
           wall-clock ratio swings by more than that, so the share of one profiled run
           spent in runtime/timeline.py is printed too, target <= 3%)

Run: python benchmarks/bench_scale.py [section ...] [--quick]
"""

from __future__ import annotations

import gc
import os
import resource
import subprocess
import sys
import time
from collections import deque
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # this working tree, not an installed copy

from kmscript.runtime.gfp import GFP_KERNEL  # noqa: E402
from kmscript.runtime.machine import Machine, MachineConfig  # noqa: E402

MiB = 1 << 20
GiB = 1 << 30
QUICK = "--quick" in sys.argv


def best_ns(fn: Callable[[int], None], n: int) -> float:
    """One timed run of fn(n), in ns per operation."""
    t = time.perf_counter()
    fn(n)
    return (time.perf_counter() - t) * 1e9 / n


def interleaved(sides: dict[str, Callable[[int], None]], n: int, rounds: int) -> dict[str, float]:
    """Best ns/op of each side, the sides run in turn round after round."""
    best = {k: float("inf") for k in sides}
    for _ in range(rounds):
        for k, fn in sides.items():
            best[k] = min(best[k], best_ns(fn, n))
    return best


def verdict(ok: bool) -> str:
    return "MET" if ok else "NOT MET"


# -- floors ----------------------------------------------------------------------------------
class PcpFloor:
    """A per-cpu page list and nothing else: pop a pfn, push it back."""

    def __init__(self) -> None:
        self.lst: deque[int] = deque(range(64))
        self.count = 64

    def alloc(self, gfp: int, order: int) -> int:
        self.count -= 1
        return self.lst.popleft()

    def free(self, pfn: int, order: int) -> None:
        self.count += 1
        self.lst.appendleft(pfn)


def floor_pcp(n: int) -> None:
    f = PcpFloor()
    alloc, free = f.alloc, f.free
    for _ in range(n):
        free(alloc(GFP_KERNEL, 0), 0)


class FaultFloor:
    """A page fault reduced to its bookkeeping: take a free pfn, map it, put it on an LRU."""

    def __init__(self, pages: int) -> None:
        self.free = list(range(pages))
        self.pte: list[int] = []
        self.lru: deque[int] = deque()
        self.owner = bytearray(pages)
        self.nr_anon = 0

    def fault(self, nr: int) -> None:
        free, pte, lru, owner = self.free, self.pte, self.lru, self.owner
        for _ in range(nr):
            pfn = free.pop()
            owner[pfn] = 1
            pte.append(pfn)
            lru.append(pfn)
            self.nr_anon += 1


# -- sections --------------------------------------------------------------------------------
def section_pages() -> None:
    print("== order-0 alloc_pages + free_pages (Machine API) vs the pcp-list floor")
    n = 50_000 if QUICK else 200_000
    sides: dict[str, Callable[[int], None]] = {"floor": floor_pcp}
    for label, mem in (("64M", 64 * MiB), ("1G", GiB), ("8G", 8 * GiB)):
        m = Machine(MachineConfig(mem=mem, cpus=4))

        def api(k: int, m: Machine = m) -> None:
            alloc, free = m.page_alloc.alloc_pages, m.page_alloc.free_pages
            for _ in range(k):
                free(alloc(GFP_KERNEL, 0), 0)
        api(1000)
        sides[label] = api
    best = interleaved(sides, n, 5)
    fl = best["floor"]
    print(f"  floor (pcp list): {fl:7.0f} ns/pair")
    for label in ("64M", "1G", "8G"):
        r = best[label] / fl
        print(f"  {label:>3} machine:     {best[label]:7.0f} ns/pair  {r:5.1f}x floor  "
              f"(target <= 4x: {verdict(r <= 4)})")
    r = best["1G"] / best["8G"]
    print(f"  1G / 8G: {r:.2f}x (target <= 1.2x: {verdict(r <= 1.2)})")


def section_script() -> None:
    from kmscript.session import Session
    print("== alloc_pages/__free_pages from a script vs the API (8G machine)")
    n = 30_000 if QUICK else 100_000
    cfg = MachineConfig(mem=8 * GiB, cpus=4)
    s = Session(quiet=True, max_steps=100 * n, config=cfg)
    m = s.machine
    src = f"repeat {n} {{ p = alloc_pages(GFP_KERNEL, 0); __free_pages(p, 0) }}\n"
    s.run_text("repeat 1000 { p = alloc_pages(GFP_KERNEL, 0); __free_pages(p, 0) }\n", "warmup.kms")

    def script(k: int) -> None:
        s.run_text(src, "bench.kms")

    def api(k: int) -> None:
        alloc, free = m.page_alloc.alloc_pages, m.page_alloc.free_pages
        for _ in range(k):
            free(alloc(GFP_KERNEL, 0), 0)
    best = interleaved({"api": api, "script": script}, n, 3)
    r = best["script"] / best["api"]
    print(f"  API {best['api']:6.0f} ns/pair, script {best['script']:6.0f} ns/pair: {r:.2f}x "
          f"(target <= 2x: {verdict(r <= 2)})")


def section_fault() -> None:
    print("== anonymous fault and exit per page (8G machine, t.fault(1G)) vs a floor fault")
    size = 256 * MiB if QUICK else GiB
    nr = size >> 12
    fault_ns = exit_ns = floor_ns = float("inf")
    for _ in range(3):
        m = Machine(MachineConfig(mem=8 * GiB, cpus=4))
        t = m.tasks.spawn("bench", 0)
        t0 = time.perf_counter()
        t.fault(size)
        t1 = time.perf_counter()
        t.exit()
        t2 = time.perf_counter()
        assert t.alive is False
        fault_ns = min(fault_ns, (t1 - t0) * 1e9 / nr)
        exit_ns = min(exit_ns, (t2 - t1) * 1e9 / nr)
        f = FaultFloor(nr)
        t3 = time.perf_counter()
        f.fault(nr)
        floor_ns = min(floor_ns, (time.perf_counter() - t3) * 1e9 / nr)
        del m, t, f
    for what, v in (("fault", fault_ns), ("exit", exit_ns)):
        r = v / floor_ns
        print(f"  {what:5s} {v:6.0f} ns/page = {r:4.1f}x the floor fault ({floor_ns:.0f} ns) "
              f"(target <= 1000 ns and <= 8x: {verdict(v <= 1000 and r <= 8)})")


def section_percpu() -> None:
    print("== alloc_percpu(64) + free_percpu (Machine API)")
    m = Machine(MachineConfig(mem=GiB, cpus=4))
    n = 20_000

    def pairs(k: int) -> None:
        alloc, free = m.percpu.alloc_percpu, m.percpu.free_percpu
        for _ in range(k):
            free(alloc(64))
    best = interleaved({"percpu": pairs, "floor": floor_pcp}, n, 5)
    rate = 1e9 / best["percpu"]
    print(f"  {rate:,.0f} pairs/s ({best['percpu']:.0f} ns/pair, {best['percpu'] / best['floor']:.0f}x the pcp "
          f"floor) (target >= 100,000/s: {verdict(rate >= 100_000)})")


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def section_kmalloc() -> None:
    print("== kmalloc(64) with many live objects")
    big = 1_000_000 if QUICK else 3_000_000
    small = 100_000
    window = 20_000
    gc_time = [0.0, 0.0]

    def gc_cb(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            gc_time[1] = time.perf_counter()
        else:
            gc_time[0] += time.perf_counter() - gc_time[1]

    def fill(m: Machine, n: int) -> tuple[float, float]:
        """kmalloc n objects and keep them live (the pointers themselves are not kept: what
        grows is the machine's own state); ns per kmalloc and the garbage collector's share."""
        kmalloc = m.kmalloc.kmalloc
        gc.collect()
        gc_time[0] = 0.0
        gc.callbacks.append(gc_cb)
        t = time.perf_counter()
        for _ in range(n):
            kmalloc(64, GFP_KERNEL, "bench.kms:1")
        dt = time.perf_counter() - t
        gc.callbacks.remove(gc_cb)
        return dt * 1e9 / n, gc_time[0] / dt

    def steady(m: Machine) -> Callable[[int], None]:
        """window kmallocs then their kfrees, on top of the machine's live objects."""
        def run(k: int) -> None:
            kmalloc, kfree = m.kmalloc.kmalloc, m.kmalloc.kfree
            ptrs = [kmalloc(64, GFP_KERNEL, "bench.kms:2") for _ in range(k // 2)]
            for p in ptrs:
                kfree(p)
        return run

    m_small = Machine(MachineConfig(mem=4 * GiB, cpus=2))
    base = m_small.slab.live_count()
    fill_small, _ = fill(m_small, small)
    m_big = Machine(MachineConfig(mem=4 * GiB, cpus=2))
    rss0 = _rss_bytes()
    fill_big, gc_share = fill(m_big, big)
    per_obj = (_rss_bytes() - rss0) / big
    assert m_small.slab.live_count() == small + base and m_big.slab.live_count() == big + base
    best = interleaved({"small": steady(m_small), "big": steady(m_big)}, 2 * window, 5)
    r = best["big"] / best["small"]
    print(f"  kmalloc+kfree per op on top of {small:,} live: {best['small']:5.0f} ns, of {big:,} live: "
          f"{best['big']:5.0f} ns -> {r:.2f}x (target <= 1.2x: {verdict(r <= 1.2)})")
    print(f"  filling: {fill_small:5.0f} ns per kmalloc up to {small:,} live, {fill_big:5.0f} ns up to {big:,} "
          f"({fill_big / fill_small:.2f}x); garbage collector: {gc_share * 100:.1f}% of the big fill")
    print(f"  host memory (RSS growth) per live object at {big:,}: {per_obj:.1f} bytes "
          f"(target <= 100: {verdict(per_obj <= 100)})")


def _run_kms(path: Path, *options: str) -> tuple[float, float]:
    """Wall and CPU seconds of `python -m kmscript [options] path` in a child process."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "kmscript", *options, str(path)], env=env, check=True,
                   stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def section_oom16g() -> None:
    print("== benchmarks/bench_oom_16g.kms (16 GiB: two 4 GiB tasks, 4 GiB page cache, a worker OOM-killed)")
    # 4 million pages of work: above the default step budget and CPU-time limit
    wall, cpu = _run_kms(ROOT / "benchmarks" / "bench_oom_16g.kms", "--max-steps", "1000000000",
                         "--max-time", "0", "--max-memory", "0")
    print(f"  wall {wall:.1f} s, CPU {cpu:.1f} s (target <= 10 s: wall {verdict(wall <= 10)}, "
          f"CPU {verdict(cpu <= 10)})")


def section_oomkms() -> None:
    print("== kmscript examples/oom.kms")
    runs = [_run_kms(ROOT / "examples" / "oom.kms") for _ in range(3)]
    wall = min(w for w, _ in runs)
    cpu = min(c for _, c in runs)
    print(f"  best of 3: wall {wall:.2f} s, CPU {cpu:.2f} s (target <= 0.5 s wall: {verdict(wall <= 0.5)}; "
          f"CPU {verdict(cpu <= 0.5)})")


_TIMELINE_RUNS = {
    "fault (fast path)": ("machine(mem=8G, cpus=4)",
                             'task t = spawn("bench")\nt.fault({big})\nt.exit()'),
    "reclaim + OOM (slow path)": ("machine(mem=1G, cpus=2)",
                                  'task db = spawn("db")\ndb.fault(512M)\nfile f = open("f")\n'
                                  'f.read({big})\ntask w = spawn("w")\n'
                                  'expect oom "w" { w.fault(2G) }'),
}


def section_timeline() -> None:
    print("== the timeline sampler: the same run with it on and stopped at boot (best of 5, interleaved, "
          "the order alternating)")
    from kmscript.session import Session

    for label, (boot, body) in _TIMELINE_RUNS.items():
        text = body.replace("{big}", ("256M" if QUICK else "1G") if "8G" in boot else ("384M" if QUICK else "768M"))
        best = {"on": float("inf"), "off": float("inf")}
        samples = 0
        for r in range(5):
            for side in ("on", "off") if r % 2 == 0 else ("off", "on"):
                gc.collect()
                s = Session(out=lambda line: None, quiet=True, max_steps=1 << 40, max_time=None)
                s.run_text(boot)
                if side == "off":
                    s.machine.timeline.set_enabled(False)
                t = time.perf_counter()
                s.run_text(text)
                best[side] = min(best[side], time.perf_counter() - t)
                if side == "on":
                    samples = len(s.machine.timeline.samples())
                del s
        r = best["on"] / best["off"]
        print(f"  {label:26s} on {best['on'] * 1e3:7.1f} ms, off {best['off'] * 1e3:7.1f} ms: {r:.3f}x "
              f"({samples} samples kept) (target <= 1.03x: {verdict(r <= 1.03)})")
        # the same share measured inside one run, immune to the host's speed swings: the
        # time cProfile puts in runtime/timeline.py over the whole run's time
        import cProfile
        import pstats
        s = Session(out=lambda line: None, quiet=True, max_steps=1 << 40, max_time=None)
        s.run_text(boot)
        prof = cProfile.Profile()
        prof.enable()
        s.run_text(text)
        prof.disable()
        stats = pstats.Stats(prof).stats  # type: ignore[attr-defined]
        total = sum(v[2] for v in stats.values())
        # own time of every timeline.py function, plus what sample() calls (zones, tasks)
        mine = sum(v[3] if k[2] == "sample" else v[2] for k, v in stats.items() if k[0].endswith("timeline.py"))
        print(f"  {'':26s} in one profiled run: {mine * 1e3:.1f} ms of {total * 1e3:.0f} ms in timeline.py "
              f"= {100 * mine / total:.2f}% (target <= 3%: {verdict(mine / total <= 0.03)})")
        del s


SECTIONS = {"pages": section_pages, "script": section_script, "fault": section_fault,
            "percpu": section_percpu, "kmalloc": section_kmalloc, "oom16g": section_oom16g,
            "oomkms": section_oomkms, "timeline": section_timeline}


def main() -> None:
    names = [a for a in sys.argv[1:] if not a.startswith("--")] or list(SECTIONS)
    print(f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")
    for name in names:
        SECTIONS[name]()


if __name__ == "__main__":
    main()
