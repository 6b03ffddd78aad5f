"""The per-cpu chunk hints (free-run index, first_free, contig_hint, per-block used bits,
empty populated pages) against the plain bitmap scans they shortcut: under random
alloc/free sequences every search answers what the scan answers, and every hint equals
what a scan of the bitmap computes."""

from __future__ import annotations

import re

from hypothesis import given, settings, strategies as st

from kmscript.runtime.gfp import GFP_ATOMIC, GFP_KERNEL
from kmscript.runtime.percpu_internal import BLOCK_BITS, PcpuChunk, pcpu_find_fit_scan
from kmscript.runtime.percpu import PerCpu

from test_vmalloc_machine import boot

_RUN = re.compile(b"\x00+")
PROBES = [(1, 1), (2, 2), (16, 1), (16, 16), (100, 4), (1024, 1024), (2048, 1), (7000, 1)]


def check_hints(pc: PerCpu, chunk: PcpuChunk) -> None:
    m = chunk.alloc_map
    runs = {r.start(): r.end() for r in _RUN.finditer(m)}
    assert chunk.runs == runs
    assert chunk.run_ends == {e: s for s, e in runs.items()}
    assert chunk.contig == chunk.contig_bits()
    assert chunk.first_free == m.find(0)
    longest = [0] * (len(m) // BLOCK_BITS)
    for s, e in runs.items():
        longest[s // BLOCK_BITS] = max(longest[s // BLOCK_BITS], e - s)
    assert chunk.block_max == longest
    used = [m.count(1, lo, lo + BLOCK_BITS) for lo in range(0, len(m), BLOCK_BITS)]
    assert chunk.block_used == used
    assert chunk.nr_empty_pop_pages == sum(1 for p, u in enumerate(used) if not u and chunk.populated[p])
    assert pc.chunk_slot(chunk) == chunk.slot
    for bits, align in PROBES:
        for atomic in (False, True):
            assert chunk.find_fit(bits, align, atomic) == pcpu_find_fit_scan(chunk, bits, align, atomic)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(1, 12000), st.sampled_from([4, 8, 64, 4096]),
                          st.booleans()), min_size=1, max_size=60))
def test_hinted_search_matches_bitmap_scan(ops: list[tuple[bool, int, int, bool]]) -> None:
    m = boot()
    pc = m.percpu
    live: list[int] = []
    for alloc, size, align, atomic in ops:
        if alloc or not live:
            p = m.percpu.alloc_percpu(size, align, GFP_ATOMIC if atomic else GFP_KERNEL)
            if p is not None:
                live.append(p)
        else:
            m.percpu.free_percpu(live.pop(size % len(live)))
        for chunk in pc.chunks:
            check_hints(pc, chunk)
    for p in live:
        m.percpu.free_percpu(p)
    for chunk in pc.chunks:
        check_hints(pc, chunk)


def test_many_small_holes_are_skipped_and_filled_first_fit() -> None:
    m = boot()
    pc = m.percpu
    fc = pc.first_chunk
    ptrs = [m.percpu.alloc_percpu(8) for _ in range(400)]
    for p in ptrs[::2]:  # 200 holes of 8 bytes
        m.percpu.free_percpu(p)
    check_hints(pc, fc)
    big = m.percpu.alloc_percpu(16)  # no hole fits: lands after the last small allocation
    assert pc.allocs[big][1] > pc.allocs[ptrs[-1]][1]
    small = m.percpu.alloc_percpu(8)  # the lowest hole
    assert small == ptrs[0]
    check_hints(pc, fc)
