"""Tasks: pids, RSS counters, page-table accounting, munmap and exit."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kmscript.runtime.errors import KernelFault
from kmscript.runtime.machine import Machine, MachineConfig

MiB = 1 << 20


def boot(mem: int = 256 * MiB, **kw: object) -> Machine:
    return Machine(MachineConfig(mem=mem, cpus=2, **kw))  # type: ignore[arg-type]


def free_total(m: Machine) -> int:
    """Free pages including the per-cpu lists (pages a freed task gives back may sit there)."""
    return sum(z.free_pages + z.pcp_count for z in m.page_alloc.zones)


def test_spawn_gives_pid_stack_and_pgd() -> None:
    m = boot()
    stack_kb = m.vmstat.nr_kernel_stack_kb
    a = m.tasks.spawn("postgres", 0)
    b = m.tasks.spawn("nginx", 0)
    assert a and b
    assert (a.pid, b.pid) == (1001, 1002)
    assert a.comm == "postgres" and a.alive and a.stack
    assert m.vmstat.nr_kernel_stack_kb == stack_kb + 32  # two 16 KiB stacks
    assert a.rss == a.total_vm == a.pgtables == 0
    assert m.vmstat.nr_pagetable_pages == 4  # two order-1 PGDs
    assert m.tasks.spawn("x" * 20, 0).comm == "x" * 15  # TASK_COMM_LEN


def test_fault_counters_and_page_tables() -> None:
    m = boot()
    t = m.tasks.spawn("db", 0)
    assert t is not None
    assert t.fault(64 * MiB) == 64 * MiB
    assert t.rss == t.anon_rss == t.total_vm == 64 * MiB
    assert t.file_rss == t.shmem_rss == 0
    # 16384 pages: 32 PTE tables, 1 PMD page, 1 PUD page
    assert t.pgtables == (32 + 1 + 1) * 4096
    assert m.vmstat.nr_anon_pages == 16384
    assert m.vmstat.nr_inactive_anon == 16384
    assert m.vmstat.nr_pagetable_pages == 34 + 2
    # one more page opens a new PTE table only
    t.fault(4096)
    assert t.pgtables == 35 * 4096
    # unmapping frees the emptied table
    assert t.munmap(4096) == 4096
    assert t.pgtables == 34 * 4096
    assert t.munmap(16 * MiB) == 16 * MiB
    assert t.rss == 48 * MiB and t.pgtables == (24 + 2) * 4096


def test_exit_gives_everything_back() -> None:
    m = boot()
    # a first task leaves its kernel stack in the per-cpu stack cache (facts §9) and the
    # vmalloc metadata slabs allocated, and its mm_struct and VMA the slabs of their caches:
    # after it, a task's life must give back every page
    w = m.tasks.spawn("warmup", 0)
    assert w is not None
    w.fault(4096)
    w.exit()
    m.page_alloc.drain_all_pages()
    before = free_total(m)
    t = m.tasks.spawn("db", 0)
    assert t is not None
    t.fault(10 * MiB + 123)
    assert t.rss == 2561 * 4096  # a partial page is a whole page
    t.exit()
    assert not t.alive
    m.page_alloc.drain_all_pages()
    assert free_total(m) == before
    assert m.vmstat.nr_anon_pages == 0 and m.vmstat.nr_pagetable_pages == 0
    assert m.vmstat.nr_inactive_anon == 0
    with pytest.raises(KernelFault):
        t.fault(4096)
    with pytest.raises(KernelFault):
        t.exit()


def test_oom_score_adj_range() -> None:
    m = boot()
    with pytest.raises(KernelFault):
        m.tasks.spawn("x", 1001)
    t = m.tasks.spawn("x", 0)
    assert t is not None
    with pytest.raises(KernelFault):
        t.set_oom_score_adj(-1001)


def test_pid_reuse_after_wrap() -> None:
    m = boot()
    m.tasks.last_pid = 32766
    a = m.tasks.spawn("a", 0)
    b = m.tasks.spawn("b", 0)
    assert a and b and (a.pid, b.pid) == (32767, 300)


def test_views() -> None:
    m = boot()
    t = m.tasks.spawn("db", 0)
    assert t is not None
    t.fault(MiB)
    status = m.views.proc_pid_status(t)
    assert "VmRSS:\t    1024 kB" in status
    assert "VmPTE:\t      12 kB" in status
    ps = m.views.ps()
    assert "db" in ps and "init" in ps


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2), st.integers(0, 3000)), max_size=20))
def test_random_fault_munmap_conserves_pages(ops: list[tuple[int, int]]) -> None:
    m = boot(128 * MiB)
    w = m.tasks.spawn("warmup", 0)
    assert w is not None
    w.fault(4096)  # the mm_struct and vm_area_struct caches get their slabs
    w.exit()
    m.page_alloc.drain_all_pages()
    before = free_total(m)
    t = m.tasks.spawn("t", 0)
    assert t is not None
    for op, pages in ops:
        if op == 0:
            if t.total_vm // 4096 + pages < 12000:  # stay clear of the OOM killer
                t.fault(pages * 4096)
        elif op == 1:
            t.munmap(pages * 4096)
        else:
            assert t.rss == t.total_vm
            n = t.total_vm // 4096
            assert t.pgtables == 4096 * ((n + 511) // 512 + (1 if n else 0) + (1 if n else 0))
        lru = m.reclaim.lru
        assert sum(lru.zone_nr[z][0] for z in range(5)) == lru.nr[0] == t.anon_rss // 4096
        for z in m.page_alloc.zones:  # per-zone LRU counts agree with the pages' zones
            assert t.mm is not None
            n = sum(1 for _, p in m.tasks.spaces.mapped(t.mm) if z.zone_start_pfn <= p < z.zone_end_pfn)
            assert lru.zone_nr[z.idx][0] == n
    t.exit()
    m.page_alloc.drain_all_pages()
    assert free_total(m) == before


def test_mmap_file_counts_file_rss_and_page_tables() -> None:
    m = boot()
    t = m.tasks.spawn("app", 0)
    assert t is not None
    lib = m.pagecache.open("libc.so")
    lib.read(MiB)                    # 256 pages already cached
    assert t.mmap(lib, 2 * MiB) == 2 * MiB
    assert t.file_rss == 2 * MiB and t.anon_rss == 0 and t.rss == 2 * MiB
    assert t.total_vm == 2 * MiB
    assert lib.cached == 2 * MiB and m.vmstat.nr_mapped == 512
    # the file VMA lies right below mmap_base (0x7ffff7fff000): [0x7ffff7dff000,
    # 0x7ffff7fff000) straddles a 2 MiB boundary, so 2 PTE tables, 1 PMD and 1 PUD page
    assert t.pgtables == 4 * 4096
    t.fault(MiB)                     # the heap at 1 GiB adds a PUD, a PMD and a PTE table
    assert t.pgtables == 7 * 4096
    points = m.oom.oom_badness(t, m.oom.totalpages())
    assert points == 512 + 256 + 7  # file pages count in rss
    assert m.reclaim.drop_caches() == 0     # mapped pages are not dropped
    t.exit()
    assert m.vmstat.nr_mapped == 0 and lib.cached == 2 * MiB
    assert m.reclaim.drop_caches() == 512


def test_fault_page_runs_match_the_page_by_page_path() -> None:
    """The fault loop takes order-0 pages off the pcp list a run at a time
    (alloc_pages_pcp_run); with tracing on every page goes through alloc_pages.  The same
    faults, exits, reclaim and OOM kill must leave the same machine both ways."""
    from kmscript.runtime import procfs

    def run(trace: bool) -> tuple[object, ...]:
        m = boot(mem=64 * MiB)
        if trace:
            m.tracer.record()
        a = m.tasks.spawn("a", 0)
        b = m.tasks.spawn("b", 0)
        assert a and b
        f = m.pagecache.open("cache")
        f.read(8 * MiB)
        a.fault(3 * MiB + 4096 * 7)
        m.ctx.cpu = 1
        b.fault(5 * MiB)
        a.munmap(1 * MiB)
        b.exit()
        c = m.tasks.spawn("hog", 0)
        assert c
        got = c.fault(256 * MiB)  # until the OOM killer stops it
        pa = m.page_alloc
        assert a.mm is not None
        return (got, m.tasks.spaces.mapped(a.mm), procfs.zoneinfo(pa), procfs.buddyinfo(pa), m.log.dmesg(),
                [list(lst) for z in pa.populated for p in z.pcp for lst in p.lists])

    assert run(False) == run(True)
