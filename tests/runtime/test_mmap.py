"""Address spaces (runtime/address_spaces.py and its parts): system-call results, page-table page counts, faults,
fork with copy-on-write, swap through the rmap, and a property test that the page tables,
the rmap and the map counts agree."""

from __future__ import annotations

import dataclasses

import pytest

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kmscript.runtime.arch import X86_64
from kmscript.runtime.arch.paging import I386_2LEVEL, I386_PAE
from kmscript.runtime.machine import Machine, MachineConfig
from kmscript.runtime.mm_types import (MAP_ANONYMOUS, MAP_FIXED, MAP_FIXED_NOREPLACE, MAP_POPULATE, MAP_PRIVATE,
                                       MAP_SHARED, MREMAP_MAYMOVE, PROT_NONE, PROT_READ, PROT_WRITE)
from kmscript.runtime.pgtable import MM
from kmscript.runtime.pagecache import File
from kmscript.runtime.task import Task
from kmscript.runtime.vma import AnonVma

MiB = 1 << 20
GiB = 1 << 30
RW = PROT_READ | PROT_WRITE
ANON = MAP_PRIVATE | MAP_ANONYMOUS


def boot(mem: int = 256 * MiB, **kw: object) -> Machine:
    return Machine(MachineConfig(mem=mem, cpus=1, **kw))  # type: ignore[arg-type]


def spawn(m: Machine, comm: str = "t") -> tuple[Task, MM]:
    t = m.tasks.spawn(comm)
    assert t is not None and t.mm is not None
    return t, t.mm


def test_top_down_placement_below_mmap_base() -> None:
    m = boot()
    sp = m.tasks.spaces
    t, mm = spawn(m)
    # arch/x86/mm/mmap.c: TASK_SIZE - max(8M rlimit + guard gap, 128M), no randomisation
    assert mm.mmap_base == 0x7FFFF7FFF000 == sp.mmap_base()
    a = sp.do_mmap(mm, 0, 64 * 1024, RW, ANON)
    b = sp.do_mmap(mm, 0, 4096, PROT_READ, ANON)
    assert a == mm.mmap_base - 64 * 1024 and b == a - 4096
    assert sp.do_munmap(mm, a, 16 * 1024) == 0
    c = sp.do_mmap(mm, 0, 8192, RW, ANON)   # the highest gap that fits: the hole left by munmap
    assert c == a + 8192
    # a hint is taken when free, MAP_FIXED exactly
    assert sp.do_mmap(mm, 0x10000000, 4096, RW, ANON) == 0x10000000
    assert sp.do_mmap(mm, 0x10000000, 4096, RW, ANON | MAP_FIXED) == 0x10000000


def test_error_codes_are_the_kernels() -> None:
    m = boot()
    sp = m.tasks.spaces
    t, mm = spawn(m)
    assert sp.do_mmap(mm, 0, 0, RW, ANON) == -22                       # len 0: -EINVAL
    assert sp.do_mmap(mm, 0, 4096, RW, MAP_ANONYMOUS) == -22          # neither shared nor private
    assert sp.do_mmap(mm, 0x1001, 4096, RW, ANON | MAP_FIXED) == -22  # unaligned fixed address
    assert sp.do_mmap(mm, 0, 1 << 48, RW, ANON) == -12                # larger than TASK_SIZE
    a = sp.do_mmap(mm, 0x20000000, 8192, RW, ANON | MAP_FIXED)
    assert sp.do_mmap(mm, a + 4096, 4096, RW, ANON | MAP_FIXED_NOREPLACE) == -17  # -EEXIST
    assert sp.do_munmap(mm, a + 1, 4096) == -22
    assert sp.do_munmap(mm, 0x30000000, 4096) == 0                     # nothing mapped: fine
    assert sp.do_mprotect(mm, a, 3 * 4096, PROT_READ) == -12           # runs into a hole
    assert sp.do_mprotect(mm, a + 1, 4096, PROT_READ) == -22
    assert sp.do_mremap(mm, 0x30000000, 4096, 8192, 0) == -14          # -EFAULT: not mapped
    sp.do_mmap(mm, a + 8192, 4096, PROT_READ, ANON | MAP_FIXED)        # blocks growing in place
    assert sp.do_mremap(mm, a, 8192, 16384, 0) == -12
    moved = sp.do_mremap(mm, a, 8192, 16384, MREMAP_MAYMOVE)
    assert moved > 0 and moved != a and mm.vmas.lookup(a) is None
    # brk: the old break comes back when it cannot move
    assert sp.do_brk(mm, mm.start_brk - 4096) == mm.start_brk
    assert sp.do_brk(mm, mm.start_brk + 5000) == mm.start_brk + 5000 and mm.vmas.lookup(mm.start_brk) is not None


def test_max_map_count() -> None:
    m = boot()
    m.sysctls.set("vm.max_map_count", 10)
    sp = m.tasks.spaces
    t, mm = spawn(m)
    results = []
    for i in range(12):   # alternating protections never merge
        results.append(sp.do_mmap(mm, 0, 4096, RW if i % 2 else PROT_READ, ANON))
    assert all(r > 0 for r in results[:10]) and results[10] == -12 and mm.map_count == 10
    # splitting a VMA at the limit fails too (split_vma), and nothing changed
    big = sp.do_mmap(mm, 0x40000000, 4 * 4096, RW, ANON | MAP_FIXED)
    assert big == -12
    assert sp.do_munmap(mm, results[0], 4096) == 0
    big = sp.do_mmap(mm, 0x40000000, 4 * 4096, RW, ANON | MAP_FIXED)
    assert big == 0x40000000 and mm.map_count == 10
    assert sp.do_mprotect(mm, big + 4096, 4096, PROT_READ) == -12
    assert mm.map_count == 10


def test_adjacent_mappings_merge_and_mprotect_splits() -> None:
    m = boot()
    sp = m.tasks.spaces
    t, mm = spawn(m)
    a = sp.do_mmap(mm, 0, 3 * 4096, RW, ANON)
    sp.do_mmap(mm, 0, 3 * 4096, RW, ANON)         # right below a: merges (vma_merge_new_range)
    assert mm.map_count == 1
    low = a - 3 * 4096
    assert sp.do_mprotect(mm, low + 4096, 4096, PROT_READ) == 0
    assert [(v.vm_start - low) // 4096 for v in mm.vmas] == [0, 1, 2] and mm.map_count == 3
    assert sp.do_mprotect(mm, low + 4096, 4096, RW) == 0   # merges back into one
    assert mm.map_count == 1 and mm.total_vm == 6


def test_page_tables_of_a_2m_region_touched_once() -> None:
    m = boot()
    sp = m.tasks.spaces
    t, mm = spawn(m)
    before = m.vmstat.nr_pagetable_pages
    assert before == 2    # the PGD: PGD_ALLOCATION_ORDER 1 with page-table isolation
    a = sp.do_mmap(mm, 0x200000000, 2 * MiB, RW, ANON | MAP_FIXED)   # 2 MiB aligned
    assert mm.pgtables_bytes == 0
    assert m.tasks.touch(t, a + 12345, 1, True) == 1
    # one PUD, one PMD and one PTE table: 3 pages below the PGD
    assert mm.pgtables_bytes == 3 * 4096 and m.vmstat.nr_pagetable_pages == before + 3
    assert t.rss == 4096
    assert m.tasks.touch(t, a, 2 * MiB, True) == 512
    assert mm.pgtables_bytes == 3 * 4096           # the whole 2 MiB fits one PTE table
    assert sp.do_munmap(mm, a, 2 * MiB) == 0       # free_pgtables: nothing else is mapped
    assert mm.pgtables_bytes == 0 and m.vmstat.nr_pagetable_pages == before and t.rss == 0


def test_page_tables_of_a_sparse_mapping_across_a_1g_boundary() -> None:
    m = boot()
    sp = m.tasks.spaces
    t, mm = spawn(m)
    a = sp.do_mmap(mm, 3 * GiB - 8 * MiB, 16 * MiB, RW, ANON | MAP_FIXED)
    assert m.tasks.touch(t, a, 4096, True) == 1
    assert m.tasks.touch(t, a + 16 * MiB - 4096, 4096, True) == 1
    # two PTE tables, two PMD tables (one per 1 GiB PUD entry) and one PUD
    assert mm.pgtables_bytes == 5 * 4096
    # across a 512 GiB boundary: below it, a PMD and a PTE table under the same PUD; above
    # it, a PUD, a PMD and a PTE table of their own
    b = sp.do_mmap(mm, 512 * GiB - 4096, 8192, RW, ANON | MAP_FIXED)
    assert m.tasks.touch(t, b, 8192, True) == 2
    assert mm.pgtables_bytes == (5 + 2 + 3) * 4096
    # munmap of the lower page frees its PTE and PMD tables (free_pgtables: they lie between
    # the neighbouring VMAs), not the PUD that also maps the mapping at 3 GiB
    assert sp.do_munmap(mm, b, 4096) == 0
    assert mm.pgtables_bytes == (5 + 3) * 4096
    t.exit()
    assert m.vmstat.nr_pagetable_pages == 0


def _with_paging(paging: object, task_size: int) -> Machine:
    arch = dataclasses.replace(X86_64, name=f"test-{paging}", paging=paging, task_size=task_size)  # type: ignore[arg-type]
    m = Machine.__new__(Machine)
    from kmscript.runtime import arch as arch_mod
    arch_mod.ARCHES[arch.name] = arch
    try:
        m = Machine(MachineConfig(mem=256 * MiB, cpus=1, arch=arch.name))
    finally:
        del arch_mod.ARCHES[arch.name]
    return m


def test_i386_shapes_walk_their_own_levels() -> None:
    # classic i386: PGD (1024 entries of 4 MiB) -> PTE tables of 1024 4-byte entries
    m = _with_paging(I386_2LEVEL, 3 * GiB)
    t, mm = spawn(m)
    a = m.tasks.spaces.do_mmap(mm, 0x08000000, 8 * MiB, RW, ANON | MAP_FIXED | MAP_POPULATE)
    assert a == 0x08000000 and t.rss == 8 * MiB
    assert mm.pgtables_bytes == 2 * 4096          # 8 MiB = two PTE tables, nothing above
    walk = m.tasks.spaces.walk_levels(mm, a)
    assert [w[0] for w in walk] == ["pgd", "pte"] and walk[0][1] == 0x08000000 >> 22
    # PAE: a 4-entry PGD, then 512-entry PMD and PTE tables
    m = _with_paging(I386_PAE, 3 * GiB)
    t, mm = spawn(m)
    a = m.tasks.spaces.do_mmap(mm, 0x40000000 - 4096, 8192, RW, ANON | MAP_FIXED | MAP_POPULATE)
    assert [w[0] for w in m.tasks.spaces.walk_levels(mm, a)] == ["pgd", "pmd", "pte"]
    assert mm.pgtables_bytes == 4 * 4096          # crosses a PGD entry: 2 PMD + 2 PTE tables


def test_anonymous_faults_zero_page_and_fresh_pages() -> None:
    m = boot()
    sp = m.tasks.spaces
    t, mm = spawn(m)
    a = sp.do_mmap(mm, 0, 8 * 4096, RW, ANON)
    faults = sp.pgfault
    assert m.tasks.touch(t, a, 8 * 4096, False) == 8
    assert t.rss == 0 and all(sp.pte_pfn(mm, a + i * 4096) == sp.zero_pfn for i in range(8))
    assert sp.pgfault == faults + 8
    assert m.tasks.touch(t, a, 4096, True) == 1         # do_wp_page on the zero page: a new page
    pfn = sp.pte_pfn(mm, a)
    assert pfn != sp.zero_pfn and t.rss == 4096 and sp.page_mapcount(pfn) == 1
    assert m.tasks.touch(t, a, 4096, True) == 1 and sp.pte_pfn(mm, a) == pfn   # spurious: nothing new


def test_access_violations_are_sigsegv() -> None:
    m = boot()
    sp = m.tasks.spaces
    t, mm = spawn(m)
    a = sp.do_mmap(mm, 0, 4096, PROT_READ, ANON)
    assert m.tasks.touch(t, a, 4096, False) == 1
    assert m.tasks.touch(t, a, 4096, True) == -14
    assert not t.alive and t.signal == "SIGSEGV"
    assert f"t[{t.pid}]: segfault at {a:x} ip 0000000000000000 sp 0000000000000000 error 7" in m.log.dmesg()
    u, mm2 = spawn(m, "u")
    b = sp.do_mmap(mm2, 0, 4096, PROT_NONE, ANON)
    assert m.tasks.touch(u, b, 1, False) == -14 and "error 4" in m.log.dmesg()   # not present, read
    w, mm3 = spawn(m, "w")
    assert m.tasks.touch(w, 0x1000, 1, False) == -14 and not w.alive               # no VMA


def test_file_mappings_private_and_shared() -> None:
    m = boot()
    sp = m.tasks.spaces
    t, mm = spawn(m)
    f = m.pagecache.open("data")
    p = sp.do_mmap(mm, 0, 4 * 4096, RW, MAP_PRIVATE, f)
    s = sp.do_mmap(mm, 0, 4 * 4096, RW, MAP_SHARED, f)
    assert m.tasks.touch(t, p, 4 * 4096, False) == 4
    assert t.file_rss == 4 * 4096 and f.cached == 4 * 4096
    assert sp.pte_pfn(mm, p) == f.pages[0] and sp.page_mapcount(f.pages[0]) == 1
    assert m.tasks.touch(t, p, 4096, True) == 1                # do_cow_fault: a private anon copy
    assert sp.pte_pfn(mm, p) != f.pages[0] and t.anon_rss == 4096 and t.file_rss == 3 * 4096
    assert m.tasks.touch(t, s, 4096, True) == 1                # shared: the page-cache page, dirty
    assert sp.pte_pfn(mm, s) == f.pages[0] and f.dirty == 4096
    assert sp.page_refcount(f.pages[0]) == 2                   # the page cache + one mapping
    t.exit()
    assert m.vmstat.nr_mapped == 0 and f.cached == 4 * 4096


def test_fork_shares_pages_copy_on_write() -> None:
    m = boot()
    sp = m.tasks.spaces
    t, mm = spawn(m, "parent")
    a = sp.do_mmap(mm, 0, 4 * 4096, RW, ANON | MAP_POPULATE)
    pfns = [sp.pte_pfn(mm, a + i * 4096) for i in range(4)]
    c = m.tasks.fork(t)
    assert c is not None and c.mm is not None and c.ppid == t.pid
    assert [sp.pte_pfn(c.mm, a + i * 4096) for i in range(4)] == pfns
    assert all(sp.page_mapcount(p) == 2 and sp.page_refcount(p) == 2 for p in pfns)
    assert t.rss == c.rss == 4 * 4096 and m.vmstat.nr_anon_pages == 4
    assert m.tasks.touch(c, a, 4096, True) == 1                # the child's write copies
    new = sp.pte_pfn(c.mm, a)
    assert new not in pfns and sp.page_mapcount(pfns[0]) == 1 and m.vmstat.nr_anon_pages == 5
    assert m.tasks.touch(t, a, 4096, True) == 1                # the parent's page is its own again
    assert sp.pte_pfn(mm, a) == pfns[0]                        # reused (wp_page_reuse), not copied
    assert m.vmstat.nr_anon_pages == 5
    c.exit()
    assert all(sp.page_mapcount(p) == 1 for p in pfns) and m.vmstat.nr_anon_pages == 4


def test_swapped_pages_leave_swap_entries_and_fault_back() -> None:
    m = Machine(MachineConfig(cpus=1, dma_pages=0, dma32_pages=8192, swap=64 * MiB))
    t, mm = spawn(m)
    u, _ = spawn(m, "u")
    assert t.fault(16 * MiB) == 16 * MiB
    got = u.fault(24 * MiB)            # pressure: reclaim swaps t's (and u's) older pages out
    assert got == 24 * MiB and t.swapents > 0
    sp = m.tasks.spaces
    swapped = [a for a, pte in sp.ptes(mm, mm.start_brk, mm.brk) if not pte & 1]
    assert len(swapped) == t.swapents
    maj = t.maj_flt
    assert m.tasks.touch(t, swapped[0], 4096, False) == 1   # do_swap_page: a major fault
    assert t.maj_flt == maj + 1 and sp.pgmajfault >= 1
    assert sp.pte_pfn(mm, swapped[0]) >= 0


# -- the property test ------------------------------------------------------------------------
def check_mappings(m: Machine) -> None:
    """Every mapped page is reachable from exactly the page tables that map it, its
    _mapcount agrees, the rmap leads back to every pte, and the counters agree."""
    sp = m.tasks.spaces
    mappers: dict[int, list[tuple[MM, int]]] = {}
    for t in m.tasks:
        if t.mm is None or t.pid == 1:
            continue
        mm = t.mm
        anon = file = 0
        for addr, pfn in sp.mapped(mm):
            vma = mm.vmas.lookup(addr)
            assert vma is not None, f"pte without a VMA at {addr:#x}"
            if pfn == sp.zero_pfn:
                continue
            mappers.setdefault(pfn, []).append((mm, addr))
            owner = m.reclaim.rmap.lookup(pfn)
            assert owner is not None
            if isinstance(owner[0], File):
                file += 1
                assert owner[0].pages[owner[1]] == pfn
            else:
                anon += 1
                assert isinstance(owner[0], AnonVma) and owner[1] == vma.pgoff_of(addr)
                assert vma in owner[0].vmas         # the anon_vma reaches this mapping
        assert (mm.anon, mm.file + mm.shmem) == (anon, file)
        tables = sum(mm.nr_tables[1:])
        assert mm.pgtables_bytes == tables * 4096   # x86_64: PUD/PMD/PTE tables, 4 KiB each
    for pfn, where in mappers.items():
        assert sp.page_mapcount(pfn) == len(where), (pfn, where)
    assert m.vmstat.nr_anon_pages == sum(1 for p in mappers
                                         if isinstance((m.reclaim.rmap.lookup(p) or (None,))[0], AnonVma))
    files = list(m.pagecache.files.values())
    assert m.vmstat.nr_dirty == sum(f.nr_dirty for f in files)
    assert m.vmstat.nr_file_pages == sum(f.nr_cached for f in files)
    assert m.vmstat.nr_mapped == sum(1 for p in mappers
                                     if isinstance((m.reclaim.rmap.lookup(p) or (None,))[0], File))
    m.page_alloc.check_invariants()


OPS = st.lists(st.tuples(st.integers(0, 9), st.integers(0, 1), st.integers(0, 15), st.integers(1, 6)),
               max_size=30)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(OPS)
def test_page_tables_rmap_and_mapcounts_agree(ops: list[tuple[int, int, int, int]]) -> None:
    m = Machine(MachineConfig(cpus=1, dma_pages=0, dma32_pages=16384, swap=4 * MiB))
    sp = m.tasks.spaces
    f = m.pagecache.open("lib")
    t0 = m.tasks.spawn("a")
    assert t0 is not None
    tasks: list[Task] = [t0]
    base = 0x100000000
    for op, who, slot, n in ops:
        live = [t for t in tasks if t.alive]
        if not live:
            break
        t = live[who % len(live)]
        mm = t.mm
        assert mm is not None
        addr = base + slot * 4 * 4096
        if op == 0:
            sp.do_mmap(mm, addr, n * 4096, RW, ANON | MAP_FIXED)
        elif op == 1:
            kind = MAP_SHARED if n % 3 == 0 else MAP_PRIVATE
            sp.do_mmap(mm, addr, n * 4096, RW if n % 2 else PROT_READ, kind | MAP_FIXED, f, slot * 4096)
        elif op == 2:
            sp.do_munmap(mm, addr, n * 4096)
        elif op == 3:
            sp.do_mprotect(mm, addr, n * 4096, PROT_READ if n % 2 else RW)
        elif op in (4, 5):
            vma = mm.vmas.lookup(addr)
            if vma is not None:
                write = op == 5 and bool(vma.vm_flags & 2)
                m.tasks.touch(t, addr, min(n * 4096, vma.vm_end - addr), write)
        elif op == 6 and len(tasks) < 4:
            c = m.tasks.fork(t)
            if c is not None:
                tasks.append(c)
        elif op == 7:
            m.reclaim.shrink_node(32, 4, may_swap=True, is_kswapd=False)
        elif op == 8:
            sp.do_mremap(mm, addr, n * 4096, (n + 1) * 4096, MREMAP_MAYMOVE)
        elif op == 9:
            m.pagecache.sync()
            m.reclaim.drop_caches()
        check_mappings(m)
    for t in tasks:
        if t.alive:
            t.exit()
    assert m.vmstat.nr_anon_pages == 0 and m.vmstat.nr_mapped == 0 and m.vmstat.nr_pagetable_pages == 0


@pytest.mark.parametrize("pre,mem,size", [((), 64 * MiB, 3 * MiB + 5 * 4096), ((5,), 64 * MiB, 3 * MiB + 5 * 4096),
                                          ((0, 6, 7, 300, 513, 767), 64 * MiB, 3 * MiB + 5 * 4096),
                                          ((2, 3000), 512 * MiB, 140 * MiB)])
def test_fast_populate_matches_fault_by_fault(pre: tuple[int, ...], mem: int, size: int) -> None:
    """populate's inlined anonymous write loop (runs of pages taken ahead and mapped in
    one go, their counters added up per run) must leave the same machine as one
    handle_fault per page (the generic path it shortcuts), also over a range whose
    PTEs are partly present already (pages *pre* written first): pages are taken ahead
    only for runs of empty PTEs.  On the 512 MiB machine the pages come from more than
    one 128 MiB section."""
    def run(fast: bool) -> tuple[object, ...]:
        m = boot(mem)
        sp = m.tasks.spaces
        t, mm = spawn(m)
        a = sp.do_mmap(mm, 0, size, RW, ANON)
        sp.do_mmap(mm, a - 2 * MiB, 4096, RW, ANON | MAP_FIXED)
        ctx_saved = m.ctx.current
        m.ctx.current = t
        for k in pre:
            assert sp.handle_fault(mm, a + k * 4096, True) == 0
        if fast:
            sp.populate(mm, a, a + size, True)
        else:
            for addr in range(a, a + size, 4096):
                assert sp.handle_fault(mm, addr, True) == 0
        m.ctx.current = ctx_saved
        from kmscript.runtime import procfs
        pa = m.page_alloc
        lru = m.reclaim.lru
        return (sp.mapped(mm), mm.pgtables_bytes, mm.min_flt, mm.anon, mm.hiwater_rss, sp.pgfault,
                procfs.buddyinfo(pa), procfs.zoneinfo(pa), dataclasses.asdict(m.vmstat), m.clock.ns,
                list(lru.lists[0]), list(lru.nr), [list(z) for z in lru.zone_nr],
                {k: bytes(v) for k, v in lru.state.sections.items()},
                {k: bytes(v) for k, v in lru.young.sections.items()},
                {k: bytes(v) for k, v in sp.rmap.map.sections.items()},
                {k: bytes(v) for k, v in sp.mapcount.sections.items()},
                [list(lst) for z in pa.populated for p in z.pcp for lst in p.lists])

    fast = run(True)
    assert (len({pfn >> 15 for _, pfn in fast[0]}) > 1) == (mem > 64 * MiB)  # type: ignore[union-attr]
    assert fast == run(False)


def test_moved_shared_pages_stay_reachable_through_the_rmap() -> None:
    """mremap keeps the moved VMA's vm_pgoff, so the rmap (anon_vma + page index) still
    finds pages that a fork shares and the parent then moved; reclaim swaps them out of
    both address spaces and each faults them back."""
    m = Machine(MachineConfig(cpus=1, dma_pages=0, dma32_pages=8192, swap=64 * MiB))
    sp = m.tasks.spaces
    t, mm = spawn(m)
    a = sp.do_mmap(mm, 0, 16 * 4096, RW, ANON | MAP_POPULATE)
    c = m.tasks.fork(t)
    assert c is not None and c.mm is not None
    moved = sp.do_mremap(mm, a, 16 * 4096, 32 * 4096, MREMAP_MAYMOVE | 2, 0x300000000)
    assert moved == 0x300000000
    shared = sp.pte_pfn(mm, moved)
    assert shared == sp.pte_pfn(c.mm, a) and sp.page_mapcount(shared) == 2
    check_mappings(m)
    u, _ = spawn(m, "hog")
    u.fault(30 * MiB)                  # pressure: the shared pages go to swap from both mms
    check_mappings(m)
    assert t.swapents > 0 and c.swapents > 0
    assert m.tasks.touch(t, moved, 16 * 4096, False) == 16
    assert m.tasks.touch(c, a, 16 * 4096, False) == 16
    check_mappings(m)


def test_exec_replaces_the_address_space() -> None:
    m = boot()
    sp = m.tasks.spaces
    t, mm = spawn(m)
    sp.do_mmap(mm, 0, 1 * MiB, RW, ANON | MAP_POPULATE)
    assert t.rss == MiB and m.vmstat.nr_pagetable_pages == 2 + 3
    assert m.tasks.exec(t)
    assert t.mm is not mm and mm.dead and t.rss == 0 and t.map_count == 0 and t.total_vm == 0
    assert m.vmstat.nr_pagetable_pages == 2 and m.vmstat.nr_anon_pages == 0   # only the new PGD
    assert t.alive and t.brk == t.mm.start_brk


def test_i386_machine_walks_two_levels() -> None:
    """machine(arch="i386"): the heap and mmap below mmap_base (TASK_SIZE 3 GiB - 128 MiB)
    are mapped through the PGD and 1024-entry PTE tables of 4-byte entries, without NX."""
    m = Machine(MachineConfig(arch="i386", mem=512 * MiB, cpus=1))
    sp = m.tasks.spaces
    t, mm = spawn(m)
    assert mm.mmap_base == 0xB8000000
    a = sp.do_mmap(mm, 0, 8 * MiB, RW, ANON | MAP_POPULATE)
    assert a == 0xB7800000 and t.rss == 8 * MiB
    assert mm.pgtables_bytes == 2 * 4096          # two PTE tables of 1024 entries, 4 MiB each
    walk = sp.walk_levels(mm, a)
    assert [w[0] for w in walk] == ["pgd", "pte"] and walk[0][1] == a >> 22
    assert not walk[-1][2] & (1 << 63)            # no NX bit without PAE
    text = m.tasks.show_pagetable(t, a)
    assert "(2-level paging)" in text and "pmd  (folded into the level above)" in text
    assert f"entry 0x{walk[-1][2]:08x}" in text   # 4-byte entries print as 8 hex digits
