"""Reclaimed page-cache pages freed in folio_batches (reclaim.py: _shrink_file, as
mm/vmscan.c shrink_folio_list frees its free_folios batch; pagecache.py: drop_pagecache,
as mm/truncate.c mapping_try_invalidate releases its batch) against the page-by-page path
(``pagecache.batched_free = False``): the same reclaim-heavy scenarios run through both
must leave the same machine: buddy free lists, pcp lists, every page's state bytes,
vmstat, zoneinfo/meminfo/buddyinfo, the LRU (counters and deques, stale entries
included), the rmap and dirty bits, the page cache of every file, the reclaim counters,
the trace and the kernel log."""

from __future__ import annotations

from typing import Callable

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kmscript.runtime.machine import Machine, MachineConfig
from kmscript.runtime.mm_types import MAP_SHARED, PROT_READ, PROT_WRITE
from kmscript.runtime.pagecache import PAGEVEC_SIZE
from kmscript.runtime.reclaim import SWAP_CLUSTER_MAX
from kmscript.runtime.task import Task

from machine_state import same_both_ways

MiB = 1 << 20
PAGE = 4096


def _select(m: Machine, on: bool) -> None:
    m.pagecache.batched_free = on


def both(scenario: Callable[[Machine], list[Task]], make: Callable[[], Machine]) -> None:
    same_both_ways(scenario, make, _select)


def machine(mem: int = 64 * MiB, swap: int = 0, trace: bool = False, cpus: int = 2) -> Callable[[], Machine]:
    def make() -> Machine:
        m = Machine(MachineConfig(mem=mem, cpus=cpus, swap=swap))
        if trace:
            m.tracer.record()
        return m
    return make


def spawn(m: Machine, comm: str) -> Task:
    t = m.tasks.spawn(comm)
    assert t is not None and t.mm is not None
    return t


def cache_under_pressure(m: Machine) -> list[Task]:
    """A page cache bigger than half the machine, read twice in part (active pages), then
    a task faulting until kswapd and direct reclaim have taken most of it."""
    f = m.pagecache.open("data")
    f.read(36 * MiB)
    f.seek(0)
    f.read(6 * MiB)                                  # second access: active list
    t = spawn(m, "hog")
    t.fault(40 * MiB)
    assert m.vmstat.pgsteal_kswapd + m.vmstat.pgsteal_direct > 1000
    return [t]


def dirty_pages(m: Machine) -> list[Task]:
    """Clean and dirty page cache mixed (the clean pass sets the dirty pages aside, the
    dirty pass writes them back), then pressure, then reclaim with explicit calls."""
    a = m.pagecache.open("a")
    b = m.pagecache.open("b")
    a.read(10 * MiB)
    b.write(12 * MiB)
    a.read(6 * MiB)
    b.write(4 * MiB)
    t = spawn(m, "hog")
    t.fault(30 * MiB)
    m.reclaim.shrink_node(300, 4, may_swap=False, is_kswapd=False)
    m.reclaim.shrink_node(1000, 4, may_swap=False, is_kswapd=True)
    return [t]


def mapped_file(m: Machine) -> list[Task]:
    """Shared file mappings (young ptes activate, unmapped on reclaim), swap for the anon
    pages, kswapd run from the script, then drop_caches 1 and 3."""
    sp = m.tasks.spaces
    f = m.pagecache.open("lib")
    t = spawn(m, "t")
    assert t.mm is not None
    s = sp.do_mmap(t.mm, 0, 2 * MiB, PROT_READ | PROT_WRITE, MAP_SHARED, f, 0)
    m.tasks.touch(t, s, 2 * MiB, False)
    m.tasks.touch(t, s, 64 * PAGE, True)
    g = m.pagecache.open("g")
    g.read(20 * MiB)
    hog = spawn(m, "hog")
    hog.fault(30 * MiB)
    m.reclaim.kswapd()
    m.reclaim.shrink_node(5000, 4, may_swap=True, is_kswapd=False)
    g.seek(0)
    g.read(8 * MiB)
    m.reclaim.drop_caches(1)
    g.seek(0)
    g.write(3 * MiB)
    g.read(5 * MiB)
    m.reclaim.drop_caches(3)
    return [t, hog]


def oom(m: Machine) -> list[Task]:
    """Page cache, then a task faulting until the OOM killer takes it (all the cache goes
    first), then the cache read again."""
    f = m.pagecache.open("data")
    f.read(24 * MiB)
    big = spawn(m, "big")
    big.fault(8 * MiB)
    w = spawn(m, "worker")
    w.fault(128 * MiB)
    assert not w.alive and m.vmstat.oom_kill >= 1
    f.seek(0)
    f.read(8 * MiB)
    return [big, w]


def test_cache_under_pressure_same_as_page_by_page() -> None:
    both(cache_under_pressure, machine())


def test_cache_under_pressure_traced_same_as_page_by_page() -> None:
    both(cache_under_pressure, machine(trace=True))


def test_dirty_pages_same_as_page_by_page() -> None:
    both(dirty_pages, machine())


def test_mapped_file_kswapd_drop_caches_same_as_page_by_page() -> None:
    both(mapped_file, machine(swap=16 * MiB))


def test_mapped_file_traced_same_as_page_by_page() -> None:
    both(mapped_file, machine(swap=16 * MiB, trace=True, cpus=1))


def test_oom_same_as_page_by_page() -> None:
    both(oom, machine(cpus=4))


def test_reclaim_frees_in_folio_batches() -> None:
    """The comparisons above are not vacuous: reclaim frees through release_pages in
    batches of at most PAGEVEC_SIZE pages, a full batch then the rest of each
    SWAP_CLUSTER_MAX pages isolated (the end of a shrink_folio_list call); drop_caches
    frees each file's batches of PAGEVEC_SIZE cached pages."""
    m = Machine(MachineConfig(mem=64 * MiB, cpus=1))
    f = m.pagecache.open("data")
    f.read(20 * MiB)
    batches: list[int] = []
    release = m.page_alloc.release_pages

    def counted(pfns: list[int]) -> None:
        batches.append(len(pfns))
        release(pfns)
    m.page_alloc.release_pages = counted  # type: ignore[method-assign]
    got = m.reclaim.shrink_node(10 * SWAP_CLUSTER_MAX, 4, may_swap=False, is_kswapd=False)
    assert got == 10 * SWAP_CLUSTER_MAX
    assert batches == [PAGEVEC_SIZE, SWAP_CLUSTER_MAX - PAGEVEC_SIZE] * 10
    batches.clear()
    left = f.nr_cached
    assert m.reclaim.drop_caches(1) == left
    assert batches == [PAGEVEC_SIZE] * (left // PAGEVEC_SIZE) + ([left % PAGEVEC_SIZE] if left % PAGEVEC_SIZE else [])
    assert f.nr_cached == 0 and m.reclaim.lru.nr == [0, 0, 0, 0]


OPS = st.lists(st.tuples(st.integers(0, 7), st.integers(1, 6000)), max_size=14)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(OPS, st.booleans())
def test_random_cache_and_reclaim_ops_same_as_page_by_page(ops: list[tuple[int, int]], trace: bool) -> None:
    def scenario(m: Machine) -> list[Task]:
        files = [m.pagecache.open(n) for n in ("x", "y")]
        tasks = [spawn(m, "a")]
        for op, n in ops:
            f = files[n % 2]
            if op == 0:
                f.read(n * PAGE)
            elif op == 1:
                f.write(n * PAGE)
            elif op == 2:
                f.seek((n % 500) * PAGE)
            elif op == 3:
                m.reclaim.shrink_node(n, 4, may_swap=bool(n % 2), is_kswapd=bool(n % 3))
            elif op == 4:
                m.reclaim.kswapd()
            elif op == 5:
                m.reclaim.drop_caches(1 + n % 3)
            elif op == 6:
                t = tasks[-1]
                if t.alive:
                    t.fault(n * 4 * PAGE)
            elif op == 7 and len(tasks) < 4:
                tasks.append(spawn(m, f"t{len(tasks)}"))
        return tasks
    both(scenario, machine(mem=64 * MiB, swap=4 * MiB, trace=trace, cpus=1))
