"""Language-core benchmarks (issue 2 targets on a 2-core machine).

- parse throughput of a generated 10,000-line script      target >= 50,000 lines/s
- statements per second of `repeat 1000000 { i += 1 }`     target >= 2,000,000 /s
- start-up wall time of `kmscript -c 'x = 1'`              target <= 200 ms

Run: python3 benchmarks/bench_lang.py   (prints figures and the ratio to each target)
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

from kmscript.lang.parser import parse, warm_up
from kmscript.session import Session


def gen_script(lines: int) -> str:
    body = [
        "x = kmalloc(64, GFP_KERNEL | __GFP_ZERO)",
        "if x != NULL { n += 1 } else { fails++ }",
        "cpu 1 < percpu ctx++ >",
        "total = total + (n * 4K) >> 2",
        "assert total >= 0, \"total must not be negative\"",
        "for i in 0..10 { s += i }",
        "fn f(a, b=2) { return a * b + 1 }",
        "p[64] = 0x12",
        "print(f(n), hex(total))",
        "show buddyinfo",
    ]
    return "\n".join(body[i % len(body)] for i in range(lines)) + "\n"


def bench_parse() -> float:
    warm_up()
    text = gen_script(10_000)
    best = min(_timed(lambda: parse(text, "gen.kms")) for _ in range(3))
    return 10_000 / best


def bench_loop() -> float:
    s = Session(out=lambda line: None)
    s.run_text("i = 0", "b.kms")
    best = min(_timed(lambda: s.run_text("repeat 1000000 { i += 1 }", "b.kms")) for _ in range(3))
    return 1_000_000 / best


def bench_startup() -> float:
    # An installed package has byte-compiled modules (pip compiles them on install); a
    # source checkout may not (PYTHONDONTWRITEBYTECODE), so compile first to measure what
    # users get rather than the compiler.
    import compileall
    import kmscript
    from pathlib import Path
    compileall.compile_dir(str(Path(kmscript.__file__).parent), quiet=1)
    times = []
    for _ in range(7):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "kmscript", "-c", "x = 1"], check=True)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def _timed(fn: object) -> float:
    t = time.perf_counter()
    fn()  # type: ignore[operator]
    return time.perf_counter() - t


def main() -> None:
    lines_per_s = bench_parse()
    print(f"parse:    {lines_per_s:12,.0f} lines/s      target 50,000      ratio {lines_per_s / 50_000:5.2f}x")
    stmts = bench_loop()
    print(f"loop:     {stmts:12,.0f} statements/s target 2,000,000  ratio {stmts / 2_000_000:5.2f}x")
    startup = bench_startup()
    print(f"start-up: {startup * 1000:12.0f} ms (median of 7) target <= 200 ms ratio {200 / (startup * 1000):5.2f}x")


if __name__ == "__main__":
    main()
