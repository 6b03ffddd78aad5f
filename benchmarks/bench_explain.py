"""The cost of the explain hooks (issue 21) when explain is off, and of explaining.

The allocators test ``tracer.explain.on`` at their decision points; the fast paths are
gated by ``tracer.enabled`` as before.  This measures the hot operations with the code
before the hooks (a ``git archive`` of the commit before runtime/explain.py was added)
and with this tree, in separate processes whose rounds are interleaved (this host is
shared and its speed swings), and prints the best ns/op of each and their ratio.

  order0     alloc_pages(GFP_KERNEL, 0) + free_pages      (the inlined pcp fast paths)
  order5     alloc_pages(GFP_KERNEL, 5) + free_pages      (the generic path, through the hooks)
  kmalloc64  kmalloc(64) + kfree                          (the inlined SLUB fast paths)
  slab4k     32 x kmalloc(4096), then 32 x kfree          (new slabs, partial lists, discards)
  vmalloc    vmalloc(64K) + vfree

Time on a shared host swings by 20% between runs, so the bytecodes each operation
executes (counted with sys.settrace opcode events) are printed too: an exact measure of
the interpreter work the hooks add.  The last lines give gives the cost of explaining itself (this tree, explain on vs off).

Run: python benchmarks/bench_explain.py [--rounds N] [--base-rev REV]
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHILD = r'''
import json, sys, time
sys.path.insert(0, sys.argv[1])
from kmscript.runtime.gfp import GFP_KERNEL
from kmscript.runtime.machine import Machine, MachineConfig
explain = sys.argv[2] == "on"
m = Machine(MachineConfig(mem=1 << 30, cpus=2))
import inspect
# the base revision predates the subsystem handles: its Machine has kmalloc/kfree methods
km = m if inspect.ismethod(m.kmalloc) else m.kmalloc
pa = m.page_alloc
def order0(n):
    for _ in range(n):
        pa.free_pages(pa.alloc_pages(GFP_KERNEL, 0), 0)
def order5(n):
    for _ in range(n):
        pa.free_pages(pa.alloc_pages(GFP_KERNEL, 5), 5)
def kmalloc64(n):
    for _ in range(n):
        km.kfree(km.kmalloc(64, GFP_KERNEL, "b"), "b")
def slab4k(n):
    for _ in range(n // 32):
        ps = [km.kmalloc(4096, GFP_KERNEL, "b") for _ in range(32)]
        for p in ps:
            km.kfree(p, "b")
def vmalloc(n):
    for _ in range(n):
        m.vmalloc.vfree(m.vmalloc.vmalloc(64 << 10))
ops = {"order0": (order0, 20000), "order5": (order5, 5000), "kmalloc64": (kmalloc64, 20000),
       "slab4k": (slab4k, 3200), "vmalloc": (vmalloc, 300)}
out = {}
if sys.argv[2] == "count":
    # bytecodes executed per operation: deterministic, unlike the time on a shared host
    counter = [0]
    def tracer(frame, event, arg):
        frame.f_trace_opcodes = True
        if event == "opcode":
            counter[0] += 1
        return tracer
    for name, (fn, n) in ops.items():
        n = max(1, n // 50) if name != "slab4k" else 64
        fn(n)
        counter[0] = 0
        sys.settrace(tracer)
        fn(n)
        sys.settrace(None)
        out[name] = counter[0] / n
    print(json.dumps(out))
    sys.exit(0)
for name, (fn, n) in ops.items():
    if explain:
        n = max(1, n // 20)
        log = m.tracer.explain
        fn(n)
        t = time.perf_counter()
        log.record(lambda: fn(n))
        out[name] = (time.perf_counter() - t) * 1e9 / n
        continue
    fn(n)  # warm up
    best = float("inf")
    for _ in range(5):
        t = time.perf_counter()
        fn(n)
        best = min(best, (time.perf_counter() - t) * 1e9 / n)
    out[name] = best
print(json.dumps(out))
'''


def base_tree(rev: str | None, dest: Path) -> Path:
    if rev is None:
        added = subprocess.run(["git", "log", "--diff-filter=A", "--format=%H", "--", "kmscript/runtime/explain.py"],
                               cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
        if not added:
            sys.exit("bench_explain: runtime/explain.py is not in this tree's history: give --base-rev")
        rev = added[-1] + "^"
    archive = subprocess.run(["git", "archive", rev, "kmscript", "grammar"], cwd=ROOT, capture_output=True,
                             check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return dest


def run(tree: Path, explain: str) -> dict[str, float]:
    out = subprocess.run([sys.executable, "-c", CHILD, str(tree), explain], capture_output=True, text=True,
                         check=True).stdout
    return dict(json.loads(out))


def main() -> None:
    rounds = 5
    rev = None
    args = sys.argv[1:]
    if "--rounds" in args:
        rounds = int(args[args.index("--rounds") + 1])
    if "--base-rev" in args:
        rev = args[args.index("--base-rev") + 1]
    with tempfile.TemporaryDirectory() as tmp:
        base = base_tree(rev, Path(tmp))
        best_base: dict[str, float] = {}
        best_new: dict[str, float] = {}
        best_on: dict[str, float] = {}
        for _ in range(rounds):
            for best, tree, mode in ((best_base, base, "off"), (best_new, ROOT, "off"), (best_on, ROOT, "on")):
                for k, v in run(tree, mode).items():
                    best[k] = min(best.get(k, float("inf")), v)
        count_base = run(base, "count")
        count_new = run(ROOT, "count")
    print("explain off: this tree against the code before the hooks (time: best of the interleaved rounds; "
          "bytecodes: executed per operation, exact)")
    print(f"{'operation':<11} {'before ns/op':>13} {'after ns/op':>12} {'after/before':>13} "
          f"{'bytecodes before':>17} {'after':>8} {'after/before':>13}")
    for k in best_base:
        print(f"{k:<11} {best_base[k]:>13.0f} {best_new[k]:>12.0f} {best_new[k] / best_base[k]:>13.3f} "
              f"{count_base[k]:>17.1f} {count_new[k]:>8.1f} {count_new[k] / count_base[k]:>13.3f}")
    print("explain on (recording every decision) against off, this tree:")
    for k in best_base:
        print(f"{k:<11} {best_on[k]:>9.0f} ns/op  {best_on[k] / best_new[k]:>6.1f}x")


if __name__ == "__main__":
    main()
