"""The batched zap (pgtable.py: _zap_pte_table, one PTE table at a time, pages freed
through LruVec.remove_many and release_pages) against the generic one-pte-at-a-time
_zap_pte: the same scenarios run through both must leave the same machine: buddy free
lists, pcp lists, vmstat, per-task RSS, every page's state bytes, mapcount, rmap and LRU
state, the LRU deques themselves (stale entries included) and their stale counts, swap
slots, the trace and the kernel log."""

from __future__ import annotations

from typing import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kmscript.runtime.machine import Machine, MachineConfig
from kmscript.runtime.mm_types import (MAP_ANONYMOUS, MAP_FIXED, MAP_POPULATE, MAP_PRIVATE, MAP_SHARED,
                                       PROT_READ, PROT_WRITE)
from kmscript.runtime.task import Task

from machine_state import same_both_ways, snapshot

MiB = 1 << 20
PAGE = 4096
RW = PROT_READ | PROT_WRITE
ANON = MAP_PRIVATE | MAP_ANONYMOUS


def _select(m: Machine, on: bool) -> None:
    m.tasks.spaces.batched_zap = on


def both(scenario: Callable[[Machine], list[Task]], make: Callable[[], Machine]) -> None:
    same_both_ways(scenario, make, _select)


def small(swap: int = 0, trace: bool = False) -> Callable[[], Machine]:
    def make() -> Machine:
        m = Machine(MachineConfig(mem=64 * MiB, cpus=2, swap=swap))
        if trace:
            m.tracer.record()
        return m
    return make


def spawn(m: Machine, comm: str) -> Task:
    t = m.tasks.spawn(comm)
    assert t is not None and t.mm is not None
    return t


def fork_cow(m: Machine) -> list[Task]:
    """Shared COW pages after fork, a partial munmap in the middle of a VMA, a partly
    populated range, zero pages, exits in both orders."""
    sp = m.tasks.spaces
    p = spawn(m, "parent")
    assert p.mm is not None
    a = sp.do_mmap(p.mm, 0, 3 * MiB + 5 * PAGE, RW, ANON)
    m.tasks.touch(p, a, 2 * MiB, True)
    m.tasks.touch(p, a + 2 * MiB, 64 * PAGE, False)           # zero pages
    m.tasks.touch(p, a + 2 * MiB + 200 * PAGE, 9 * PAGE, True)
    c = m.tasks.fork(p)
    assert c is not None and c.mm is not None
    m.tasks.touch(c, a + 100 * PAGE, 300 * PAGE, True)         # COW copies in the child
    m.tasks.touch(p, a + 350 * PAGE, 20 * PAGE, True)          # and in the parent
    assert sp.do_munmap(p.mm, a + 50 * PAGE, 600 * PAGE) == 0
    assert sp.do_munmap(c.mm, a + 511 * PAGE, 3 * PAGE) == 0   # across a PTE table boundary
    p.exit()
    m.tasks.touch(c, a, 40 * PAGE, True)
    c.exit()
    return [p, c]


def file_shmem(m: Machine) -> list[Task]:
    """Page-cache pages mapped privately (read, and written: COW copies) and shared,
    a shared anonymous (shmem) mapping, swap-less."""
    sp = m.tasks.spaces
    f = m.pagecache.open("lib")
    t = spawn(m, "t")
    assert t.mm is not None
    r = sp.do_mmap(t.mm, 0, 40 * PAGE, RW, MAP_PRIVATE, f, 0)
    m.tasks.touch(t, r, 40 * PAGE, False)
    m.tasks.touch(t, r + 10 * PAGE, 10 * PAGE, True)
    s = sp.do_mmap(t.mm, 0, 30 * PAGE, RW, MAP_SHARED, f, 0)
    m.tasks.touch(t, s, 30 * PAGE, True)
    sh = sp.do_mmap(t.mm, 0, 50 * PAGE, RW, MAP_SHARED | MAP_ANONYMOUS)
    m.tasks.touch(t, sh, 50 * PAGE, True)
    a = sp.do_mmap(t.mm, 0, 700 * PAGE, RW, ANON | MAP_POPULATE)
    u = m.tasks.fork(t)
    assert u is not None and u.mm is not None
    assert sp.do_munmap(t.mm, r + 5 * PAGE, 20 * PAGE) == 0
    assert sp.do_munmap(t.mm, sh, 25 * PAGE) == 0
    assert sp.do_munmap(u.mm, a + 100 * PAGE, 100 * PAGE) == 0
    t.exit()
    u.exit()
    return [t, u]


def swapped(m: Machine) -> list[Task]:
    """Swap entries (shared by a fork) next to present pages, zapped by munmap and exit."""
    sp = m.tasks.spaces
    t = spawn(m, "t")
    assert t.mm is not None
    a = sp.do_mmap(t.mm, 0, 2 * MiB, RW, ANON | MAP_POPULATE)
    c = m.tasks.fork(t)
    assert c is not None and c.mm is not None
    m.reclaim.shrink_node(256, 4, may_swap=True, is_kswapd=False)
    m.tasks.touch(c, a, 64 * PAGE, True)
    hog = spawn(m, "hog")
    hog.fault(40 * MiB)                                         # pressure: more goes to swap
    assert t.swapents > 0
    assert sp.do_munmap(t.mm, a + 30 * PAGE, 300 * PAGE) == 0
    c.exit()
    t.exit()
    hog.exit()
    return [t, c, hog]


def big_lru(m: Machine) -> list[Task]:
    """More than 4096 LRU entries, so the deques are compacted during the zap; pages
    freed and faulted again afterwards show where the re-added pages sit."""
    sp = m.tasks.spaces
    t = spawn(m, "t")
    assert t.mm is not None
    a = sp.do_mmap(t.mm, 0, 7000 * PAGE, RW, ANON | MAP_POPULATE)
    b = sp.do_mmap(t.mm, 0, 2000 * PAGE, RW, ANON | MAP_POPULATE)
    assert sp.do_munmap(t.mm, a + 100 * PAGE, 5000 * PAGE) == 0
    c = sp.do_mmap(t.mm, 0, 3000 * PAGE, RW, ANON | MAP_POPULATE)
    assert sp.do_munmap(t.mm, b, 2000 * PAGE) == 0
    m.reclaim.shrink_node(64, 4, may_swap=False, is_kswapd=False)
    assert sp.do_munmap(t.mm, c, 1000 * PAGE) == 0
    t.exit()
    return [t]


def test_fork_cow_same_as_generic() -> None:
    both(fork_cow, small())


def test_fork_cow_traced_same_as_generic() -> None:
    both(fork_cow, small(trace=True))


def test_file_and_shmem_same_as_generic() -> None:
    both(file_shmem, small())


def test_swap_entries_same_as_generic() -> None:
    both(swapped, small(swap=64 * MiB))


def test_lru_compaction_same_as_generic() -> None:
    both(big_lru, lambda: Machine(MachineConfig(mem=256 * MiB, cpus=1)))


def test_the_batch_frees_through_the_pcp_and_the_buddy() -> None:
    """The comparisons above are not vacuous: the batched zap is the one that runs (one
    release_pages per PTE table, 512 pages each), and an exit this big overflows the pcp
    list, so bulk frees to the buddy happen in the middle of the batches."""
    m = Machine(MachineConfig(mem=256 * MiB, cpus=1))
    t = spawn(m, "t")
    t.fault(32 * MiB)
    batches: list[int] = []
    release = m.page_alloc.release_pages

    def counted(pfns: list[int]) -> None:
        batches.append(len(pfns))
        release(pfns)
    m.page_alloc.release_pages = counted  # type: ignore[method-assign]
    buddy0 = sum(z.free_pages for z in m.page_alloc.populated)
    t.exit()
    assert batches == [512] * 16
    assert m.vmstat.nr_anon_pages == 0 and m.reclaim.lru.nr == [0, 0, 0, 0]
    assert sum(z.free_pages for z in m.page_alloc.populated) > buddy0 + 1000


OPS = st.lists(st.tuples(st.integers(0, 8), st.integers(0, 2), st.integers(0, 15), st.integers(1, 600)),
               max_size=20)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(OPS)
def test_random_address_space_ops_same_as_generic(ops: list[tuple[int, int, int, int]]) -> None:
    def scenario(m: Machine) -> list[Task]:
        sp = m.tasks.spaces
        f = m.pagecache.open("lib")
        tasks = [spawn(m, "a")]
        base = 0x100000000
        for op, who, slot, n in ops:
            live = [t for t in tasks if t.alive]
            if not live:
                break
            t = live[who % len(live)]
            mm = t.mm
            assert mm is not None
            addr = base + slot * 128 * PAGE
            if op == 0:
                sp.do_mmap(mm, addr, n * PAGE, RW, ANON | MAP_FIXED | (MAP_POPULATE if n % 2 else 0))
            elif op == 1:
                kind = MAP_SHARED if n % 3 == 0 else MAP_PRIVATE
                sp.do_mmap(mm, addr, n * PAGE, RW, kind | MAP_FIXED, f, slot * PAGE)
            elif op == 2:
                sp.do_munmap(mm, addr, n * PAGE)
            elif op in (3, 4):
                vma = mm.vmas.lookup(addr)
                if vma is not None:
                    m.tasks.touch(t, addr, min(n * PAGE, vma.vm_end - addr), op == 4)
            elif op == 5 and len(tasks) < 4:
                c = m.tasks.fork(t)
                if c is not None:
                    tasks.append(c)
            elif op == 6:
                m.reclaim.shrink_node(n, 4, may_swap=True, is_kswapd=False)
            elif op == 7:
                sp.do_mmap(mm, addr, n * PAGE, RW, MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED)
            elif op == 8 and t.pid != 1:
                t.exit()
        for t in tasks:
            if t.alive:
                t.exit()
        return tasks
    both(scenario, lambda: Machine(MachineConfig(cpus=1, dma_pages=0, dma32_pages=16384, swap=4 * MiB)))


PAGES = st.lists(st.tuples(st.sampled_from(["dma", "dma32", "kernel", "movable"]), st.integers(0, 3)),
                 min_size=1, max_size=300)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(PAGES, st.booleans(), st.sampled_from(["", "reclaim_active", "below_high"]))
def test_release_pages_is_free_pages_one_by_one(pages: list[tuple[str, int]], trace: bool, zone_state: str) -> None:
    """release_pages(batch) leaves the allocator as free_pages(pfn, 0) on each page in
    turn: pages of several zones and migratetypes mixed, pages with an extra reference
    (get_page: only the reference goes), enough pages to overflow pcp->high (bulk frees
    to the buddy in the middle of a run), a page freed twice (bad_page), with and
    without tracing, and with the zones flagged ZONE_RECLAIM_ACTIVE (kswapd running:
    nr_pcp_high shrinks the pcp lists) or below their high watermark."""
    from kmscript.runtime.gfp import GFP_DMA, GFP_DMA32, GFP_HIGHUSER_MOVABLE, GFP_KERNEL
    gfps = {"dma": GFP_DMA, "dma32": GFP_DMA32, "kernel": GFP_KERNEL, "movable": GFP_HIGHUSER_MOVABLE}

    def run(batched: bool) -> tuple[object, ...]:
        # (on 64M the allocations below take the zones below their high watermark)
        m = Machine(MachineConfig(mem=(256 if zone_state == "reclaim_active" else 64) * MiB, cpus=1))
        if trace:
            m.tracer.record()
        pa = m.page_alloc
        pfns = []
        for kind, extra in pages:
            pfn = pa.alloc_pages(gfps[kind], 0)
            assert pfn is not None
            if extra == 3:
                pa.get_page(pfn)
            pfns.append(pfn)
        pfns += pfns[:1]                    # the first page once more: a double free if it had no extra ref
        for _ in range(3):
            pfns += [p for p in (pa.alloc_pages(GFP_KERNEL, 0) for _ in range(400)) if p is not None]
        if zone_state == "reclaim_active":
            m.reclaim.zones.set_reclaim_active(4, True)
            assert not any(z.below_high for z in pa.populated)
        elif zone_state == "below_high":
            for z in pa.populated:
                z.below_high = True
        if batched:
            pa.release_pages(pfns)
        else:
            for pfn in pfns:
                pa.free_pages(pfn, 0)
        return snapshot(m, [])

    assert run(True) == run(False)


@pytest.mark.parametrize("cpus,n,refs", [(1, 3000, ()), (2, 3000, (5, 700, 701, 1500)), (4, 120, (60,)),
                                         (1, 9000, (8999,))])
def test_release_pages_of_consecutive_pages_is_free_pages_one_by_one(cpus: int, n: int, refs: tuple[int, ...]) -> None:
    """release_pages takes a run of consecutive pfns of one pageblock in one step (an
    exit's pages, in the order they were faulted): on a machine whose zones stay above
    their high watermark, with the pcp list filling to its high mark in the middle of a
    run (a bulk free to the buddy) and pages with an extra reference inside a run, it
    must leave the machine as free_pages on each page in turn."""
    from kmscript.runtime.gfp import GFP_KERNEL

    def run(batched: bool) -> tuple[object, ...]:
        m = Machine(MachineConfig(mem=512 * MiB, cpus=cpus))
        pa = m.page_alloc
        pfns = [pa.alloc_pages(GFP_KERNEL, 0) for _ in range(n)]
        assert None not in pfns
        for k in refs:
            pa.get_page(pfns[k])
        assert not any(z.below_high or z.reclaim_active for z in pa.populated)
        if batched:
            pa.release_pages(pfns)  # type: ignore[arg-type]
        else:
            for pfn in pfns:
                pa.free_pages(pfn, 0)  # type: ignore[arg-type]
        return snapshot(m, [])
    assert run(True) == run(False)


@pytest.mark.parametrize("order", ["exit", "munmap_parts", "fork_then_exit"])
def test_exits_above_the_first_section_same_as_pte_by_pte(order: str) -> None:
    """Above the first 128 MiB section (which pfns outside any zone share on these
    machines) a section lies in one zone, so LruVec.remove_many takes a run of pages
    that is the LRU's tail in one step; a task whose pages were faulted there exits,
    unmaps parts of its range or exits after a fork, with another task's pages and
    stale entries around."""
    def scenario(m: Machine) -> list[Task]:
        low = spawn(m, "low")
        low.fault(140 * MiB)               # the rest of the first section
        t = spawn(m, "t")
        t.fault(40 * MiB)
        assert t.mm is not None
        if order == "munmap_parts":
            vma = next(iter(t.mm.vmas))
            m.tasks.spaces.do_munmap(t.mm, vma.vm_start + 3 * MiB, 5 * MiB + 3 * PAGE)
            m.tasks.spaces.do_munmap(t.mm, vma.vm_start, 2 * MiB)
            t.fault(4 * MiB)
        elif order == "fork_then_exit":
            c = m.tasks.fork(t)
            assert c is not None
            t.exit()
            c.fault(2 * MiB)
            c.exit()
            return [low, t, c]
        low.exit()
        t.exit()
        return [low, t]
    both(scenario, lambda: Machine(MachineConfig(mem=512 * MiB, cpus=2)))


@pytest.mark.parametrize("cpus", [1, 2])
def test_private_file_pages_and_their_copies_on_consecutive_pfns(cpus: int) -> None:
    """A private file mapping whose even pages were cached before it was mapped: a write to
    an even page takes one page (its copy), a read of an odd page takes one page (the
    cache's), so the ptes map consecutive pfns that alternate between anonymous copies
    and page-cache pages, each mapped once.  The zap must not take such ptes as one run
    of anonymous pages (their rmap owners differ)."""
    def scenario(m: Machine) -> list[Task]:
        f = m.pagecache.open("lib")
        for j in range(0, 64, 2):
            f.seek(j * PAGE)
            f.read(PAGE)
        t = spawn(m, "t")
        assert t.mm is not None
        sp = m.tasks.spaces
        a = sp.do_mmap(t.mm, 0, 64 * PAGE, RW, MAP_PRIVATE, f, 0)
        for j in range(64):
            m.tasks.touch(t, a + j * PAGE, PAGE, j % 2 == 0)
        pfns = [sp.pte_pfn(t.mm, a + j * PAGE) for j in range(64)]
        assert sum(1 for x, y in zip(pfns, pfns[1:]) if y == x + 1) > 32   # not vacuous
        sp.do_munmap(t.mm, a, 40 * PAGE)
        t.exit()
        return [t]
    both(scenario, lambda: Machine(MachineConfig(mem=64 * MiB, cpus=cpus)))
