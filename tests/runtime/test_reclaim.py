"""Reclaim: page cache, LRU order, kswapd, direct reclaim, swap, sync/drop_caches."""

from __future__ import annotations

from kmscript.runtime.gfp import GFP_KERNEL, GFP_NOIO
from kmscript.runtime.machine import Machine, MachineConfig
from kmscript.runtime.pagecache import LRU_ACTIVE_FILE, LRU_INACTIVE_FILE

MiB = 1 << 20


def boot(mem: int = 128 * MiB, **kw: object) -> Machine:
    return Machine(MachineConfig(mem=mem, cpus=2, **kw))  # type: ignore[arg-type]


def node_free(m: Machine) -> int:
    return sum(z.free_pages for z in m.page_alloc.zones)


def test_read_write_sync_drop_caches() -> None:
    m = boot()
    f = m.open_file("app.log")
    assert m.open_file("app.log") is f
    assert f.read(MiB) == MiB
    assert m.vmstat.nr_file_pages == 256 and m.vmstat.nr_inactive_file == 256
    assert f.write(MiB // 2) == MiB // 2
    assert m.vmstat.nr_dirty == 128 and f.dirty == MiB // 2
    f.seek(0)
    f.read(MiB)  # second access: activated
    assert m.vmstat.nr_active_file == 256 and m.vmstat.nr_inactive_file == 128
    assert m.drop_caches() == 256  # only the clean pages go
    assert m.vmstat.nr_file_pages == 128
    assert "kmscript (1000): drop_caches: 1" in m.dmesg()
    assert m.sync() == 128
    assert m.vmstat.nr_dirty == 0
    assert m.drop_caches() == 128
    assert m.vmstat.nr_file_pages == 0 and f.cached == 0


def test_shrink_order_clean_file_then_dirty_then_anon() -> None:
    m = boot(swap=64 * MiB)
    clean = m.open_file("clean")
    dirty = m.open_file("dirty")
    clean.read(MiB)           # 256 clean, inactive
    clean.seek(0)
    clean.read(MiB // 4)      # 64 of them active
    dirty.write(MiB // 2)     # 128 dirty, inactive
    t = m.spawn("anon", 0)
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
    t = m.spawn("anon", 0)
    assert t is not None
    t.fault(MiB)
    assert m.reclaim.shrink_node(32, 4, may_swap=True, is_kswapd=False) == 0
    assert t.anon_rss == MiB


def test_gfp_noio_does_not_swap() -> None:
    m = boot(swap=16 * MiB)
    t = m.spawn("anon", 0)
    assert t is not None
    t.fault(MiB)
    assert m.reclaim.try_to_free_pages(GFP_NOIO, 0) == 0
    assert m.reclaim.try_to_free_pages(GFP_KERNEL, 0) > 0
    assert m.vmstat.allocstall == 2


def test_kswapd_wakes_below_low_and_balances_to_high() -> None:
    m = boot()
    z = max(m.page_alloc.zones, key=lambda z: z.managed_pages)
    f = m.open_file("big")
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
    f = m.open_file("cache")
    z = max(m.page_alloc.zones, key=lambda z: z.managed_pages)
    f.read((z.free_pages - z.high - 64) * 4096)   # fill to just above high: no kswapd yet
    steal_k = m.vmstat.pgsteal_kswapd
    t = m.spawn("burst", 0)
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
    f = m.open_file("x")
    f.read(64 * 4096)
    lru = m.reclaim.lru
    assert lru.nr[LRU_INACTIVE_FILE] == 64 and lru.nr[LRU_ACTIVE_FILE] == 0
    assert m.drop_caches() == 64
    assert lru.nr[LRU_INACTIVE_FILE] == 0
    assert lru.pop_tail(LRU_INACTIVE_FILE) is None
