"""Reclaim: page cache, LRU order, kswapd, direct reclaim, swap, sync/drop_caches."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from kmscript.runtime.gfp import GFP_KERNEL, GFP_NOIO
from kmscript.runtime.machine import Machine, MachineConfig
from kmscript.runtime.pagecache import File, LRU_ACTIVE_FILE, LRU_INACTIVE_FILE

MiB = 1 << 20


def boot(mem: int = 128 * MiB, **kw: object) -> Machine:
    return Machine(MachineConfig(mem=mem, cpus=2, **kw))  # type: ignore[arg-type]


def node_free(m: Machine) -> int:
    return sum(z.free_pages for z in m.page_alloc.zones)


def test_read_write_sync_drop_caches() -> None:
    m = boot()
    f = m.pagecache.open("app.log")
    assert m.pagecache.open("app.log") is f
    assert f.read(MiB) == MiB
    assert m.vmstat.nr_file_pages == 256 and m.vmstat.nr_inactive_file == 256
    assert f.write(MiB // 2) == MiB // 2
    assert m.vmstat.nr_dirty == 128 and f.dirty == MiB // 2
    f.seek(0)
    f.read(MiB)  # second access: activated
    assert m.vmstat.nr_active_file == 256 and m.vmstat.nr_inactive_file == 128
    assert m.reclaim.drop_caches() == 256  # only the clean pages go
    assert m.vmstat.nr_file_pages == 128
    assert "kmscript (1000): drop_caches: 1" in m.log.dmesg()
    assert m.pagecache.sync() == 128
    assert m.vmstat.nr_dirty == 0
    assert m.reclaim.drop_caches() == 128
    assert m.vmstat.nr_file_pages == 0 and f.cached == 0


def test_shrink_order_clean_file_then_dirty_then_anon() -> None:
    m = boot(swap=64 * MiB)
    clean = m.pagecache.open("clean")
    dirty = m.pagecache.open("dirty")
    clean.read(MiB)           # 256 clean, inactive
    clean.seek(0)
    clean.read(MiB // 4)      # 64 of them active
    dirty.write(MiB // 2)     # 128 dirty, inactive
    t = m.tasks.spawn("anon", 0)
    assert t is not None
    t.fault(MiB)              # 256 anon
    r = m.reclaim
    # first the 192 inactive clean pages, then the 64 active clean ones
    got = r.shrink_node(200, 4, may_swap=True, is_kswapd=False)
    assert got == 200
    assert clean.nr_cached == 56 and dirty.nr_cached == 128 and t.anon_rss == MiB
    # the remaining clean pages, then dirty ones after writeback
    got = r.shrink_node(100, 4, may_swap=True, is_kswapd=False)
    assert got == 100
    assert clean.nr_cached == 0 and dirty.nr_cached == 84 and t.anon_rss == MiB
    assert m.vmstat.nr_dirty == 84
    # then anonymous pages: each is activated once (young pte) before it is swapped
    got = r.shrink_node(200, 4, may_swap=True, is_kswapd=False)
    assert got == 200
    assert dirty.nr_cached == 0
    assert t.anon_rss == (256 - 116) * 4096
    assert t.swapents == 116 and m.vmstat.nr_swap_used == 116
    assert m.oom.oom_badness(t, m.oom.totalpages()) == 256 + 3  # rss + swap + 3 page-table pages
    t.exit()
    assert m.vmstat.nr_swap_used == 0 and m.tasks.free_swap_pages == 64 * MiB // 4096


def test_no_swap_means_anon_is_not_reclaimed() -> None:
    m = boot()
    t = m.tasks.spawn("anon", 0)
    assert t is not None
    t.fault(MiB)
    assert m.reclaim.shrink_node(32, 4, may_swap=True, is_kswapd=False) == 0
    assert t.anon_rss == MiB


def test_gfp_noio_does_not_swap() -> None:
    m = boot(swap=16 * MiB)
    t = m.tasks.spawn("anon", 0)
    assert t is not None
    t.fault(MiB)
    assert m.reclaim.try_to_free_pages(GFP_NOIO, 0) == 0
    assert m.reclaim.try_to_free_pages(GFP_KERNEL, 0) > 0
    assert m.vmstat.allocstall == 2


def test_kswapd_wakes_below_low_and_balances_to_high() -> None:
    m = boot()
    z = max(m.page_alloc.zones, key=lambda z: z.managed_pages)
    f = m.pagecache.open("big")
    # read more than the free memory: the read goes below the low watermarks (the DMA zone
    # first absorbs the spill, as the zonelist fallback does), wakes kswapd in the slow
    # path, and kswapd runs when the read returns
    total_free = sum(zz.free_pages for zz in m.page_alloc.zones)
    assert f.read(2 * total_free * 4096) == 2 * total_free * 4096
    assert m.vmstat.pgscan_kswapd > 0 and m.vmstat.pgsteal_kswapd > 0
    assert not m.reclaim.kswapd_woken
    assert z.free_pages > z.high
    assert m.reclaim.pgdat_balanced(0, 4)


def test_direct_reclaim_in_a_large_fault() -> None:
    m = boot()
    f = m.pagecache.open("cache")
    z = max(m.page_alloc.zones, key=lambda z: z.managed_pages)
    f.read((z.free_pages - z.high - 64) * 4096)   # fill to just above high: no kswapd yet
    steal_k = m.vmstat.pgsteal_kswapd
    t = m.tasks.spawn("burst", 0)
    assert t is not None
    t.fault(48 * MiB)
    assert t.anon_rss == 48 * MiB
    # the burst went below min: the task reclaimed page cache itself
    assert m.vmstat.allocstall > 0 and m.vmstat.pgsteal_direct > 0
    # then kswapd ran when the fault returned
    assert m.vmstat.pgsteal_kswapd > steal_k
    assert z.free_pages > z.high


def test_lru_lists_are_exact() -> None:
    m = boot()
    f = m.pagecache.open("x")
    f.read(64 * 4096)
    lru = m.reclaim.lru
    assert lru.nr[LRU_INACTIVE_FILE] == 64 and lru.nr[LRU_ACTIVE_FILE] == 0
    assert m.reclaim.drop_caches() == 64
    assert lru.nr[LRU_INACTIVE_FILE] == 0
    assert lru.pop_tail(LRU_INACTIVE_FILE) is None


def check_counters(m: Machine) -> None:
    """The LRU, vmstat and per-owner counters agree with each other and with the pages."""
    lru = m.reclaim.lru
    vm = m.vmstat
    assert lru.nr == [vm.nr_inactive_anon, vm.nr_active_anon, vm.nr_inactive_file, vm.nr_active_file]
    for which in range(4):
        assert sum(lru.zone_nr[z][which] for z in range(5)) == lru.nr[which]
        assert min(lru.zone_nr[z][which] for z in range(5)) >= 0
    tasks = [t for t in m.tasks if t.mm is not None and t.pid != 1]
    files = list(m.pagecache.files.values())
    assert vm.nr_anon_pages == sum(t.mm.anon for t in tasks) == lru.nr[0] + lru.nr[1]  # type: ignore[union-attr]
    assert vm.nr_file_pages == sum(f.nr_cached for f in files) == lru.nr[2] + lru.nr[3]
    assert vm.nr_dirty == sum(f.nr_dirty for f in files)
    assert vm.nr_swap_used == sum(t.mm.swapents for t in tasks)  # type: ignore[union-attr]
    assert m.tasks.free_swap_pages + vm.nr_swap_used == m.tasks.nr_swap_pages
    spaces = m.tasks.spaces
    mapped_file_pages: set[int] = set()
    for t in tasks:
        assert t.mm is not None
        nr_file = 0
        for addr, pfn in spaces.mapped(t.mm):
            owner = m.reclaim.rmap.lookup(pfn)
            assert owner is not None  # every mapped page is in the rmap
            if isinstance(owner[0], File):
                nr_file += 1
                mapped_file_pages.add(pfn)
                assert owner[0].pages[owner[1]] == pfn  # a mapped page is in the page cache
            else:
                vma = t.mm.vmas.lookup(addr)
                assert vma is not None and owner == (vma.anon_vma, vma.pgoff_of(addr))
        assert nr_file == t.mm.file
    # NR_FILE_MAPPED counts page-cache pages mapped at least once; MM_FILEPAGES counts ptes
    assert vm.nr_mapped == len(mapped_file_pages)
    m.page_alloc.check_invariants()


@settings(max_examples=20, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 9), st.integers(0, 2), st.integers(1, 1200)), max_size=25))
def test_random_workload_keeps_counters_exact(ops: list[tuple[int, int, int]]) -> None:
    m = Machine(MachineConfig(cpus=1, dma_pages=0, dma32_pages=8192, swap=8 * MiB))
    tasks = [m.tasks.spawn(f"t{i}", 0) for i in range(3)]
    files = [m.pagecache.open(f"f{i}") for i in range(3)]
    for op, who, pages in ops:
        t, f = tasks[who], files[who]
        if op == 0 and t is not None and t.alive:
            t.fault(pages * 4096)
        elif op == 1 and t is not None and t.alive:
            t.munmap(pages * 4096)
        elif op == 2:
            f.read(pages * 4096)
        elif op == 3:
            f.write(pages * 4096)
        elif op == 4:
            f.seek(0)
        elif op == 5:
            m.pagecache.sync()
        elif op == 6:
            m.reclaim.drop_caches()
        elif op == 7:
            m.reclaim.kswapd()
        elif op == 8 and t is not None and t.alive:
            t.exit()
        elif op == 9 and t is not None and t.alive:
            t.mmap(files[(who + 1) % 3], pages * 4096)
        check_counters(m)


def test_drop_caches_sysctl() -> None:
    m = boot()
    f = m.pagecache.open("x")
    f.read(MiB)
    f.write(MiB // 4)   # the first 64 pages become dirty
    m.sysctls.set("vm.drop_caches", 1)
    assert f.nr_cached == 64 and m.sysctls.get("vm.drop_caches") == 1
    assert "kmscript (1000): drop_caches: 1" in m.log.dmesg()
    m.sysctls.set("vm.drop_caches", 4)   # stfu: later writes print nothing
    m.pagecache.sync()
    m.sysctls.set("vm.drop_caches", 3)
    assert f.nr_cached == 0
    assert "drop_caches: 3" not in m.log.dmesg()


def test_reclaim_shrinks_reclaimable_slab_caches() -> None:
    from kmscript.runtime.slab_geometry import SLAB_RECLAIM_ACCOUNT
    m = boot()
    c = m.slab.kmem_cache_create("dentry_like", 192, 8, SLAB_RECLAIM_ACCOUNT)
    objs = [m.kmalloc.kmem_cache_alloc(c) for _ in range(2000)]
    for o in objs:
        m.kmalloc.kmem_cache_free(c, o)
    empty = m.vmstat.nr_slab_reclaimable_b // 4096
    assert empty > 0  # SLUB keeps empty slabs on the partial list (min_partial)
    # no page cache and no swap: shrink_slab is all reclaim can do
    got = m.reclaim.shrink_node(32, 4, may_swap=True, is_kswapd=False)
    assert got == empty and m.vmstat.nr_slab_reclaimable_b == 0
    assert m.views.vm_event("slab_reclaimed_pages") == empty


def test_reclaim_unmaps_mapped_file_pages_after_a_second_chance() -> None:
    m = boot()
    t = m.tasks.spawn("app", 0)
    assert t is not None
    lib = m.pagecache.open("lib.so")
    t.mmap(lib, MiB)                 # 256 mapped pages, young ptes
    cold = m.pagecache.open("cold")
    cold.read(MiB)                   # 256 unmapped clean pages, read later
    got = m.reclaim.shrink_node(300, 4, may_swap=False, is_kswapd=True)
    assert got == 300
    # the mapped pages were met first (oldest) but activated; the unmapped ones went first
    assert cold.nr_cached == 0
    assert lib.nr_cached == 256 - 44 and t.file_rss == (256 - 44) * 4096
    assert m.vmstat.nr_mapped == 256 - 44
