"""SLUB mechanics: cpu slabs, partial lists, LIFO reuse, merging, shrink, destroy, RCU."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from slab_fakes import Rig  # noqa: E402

from kmscript.runtime import slab_geometry as g  # noqa: E402
from kmscript.runtime.errors import KernelOops  # noqa: E402
from kmscript.runtime.gfp import GFP_KERNEL, GFP_ATOMIC, __GFP_NORETRY, __GFP_NOWARN  # noqa: E402
from kmscript.runtime.slab import SLAB_FLAGS  # noqa: E402

C = "t.kms:1"


def test_fresh_slab_in_address_order_and_lifo_reuse() -> None:
    r = Rig()
    s = r.sa.kmem_cache_create("foo", 100, 0, 0)
    a = [r.km.kmem_cache_alloc(s, GFP_KERNEL, C) for _ in range(5)]
    assert a == sorted(a) and all(y - x == s.size for x, y in zip(a, a[1:]))
    r.km.kmem_cache_free(s, a[1], C)
    r.km.kmem_cache_free(s, a[3], C)
    assert r.km.kmem_cache_alloc(s, GFP_KERNEL, C) == a[3]
    assert r.km.kmem_cache_alloc(s, GFP_KERNEL, C) == a[1]
    assert r.km.kmem_cache_alloc(s, GFP_KERNEL, C) == a[4] + s.size
    r.check_consistency()


def test_per_cpu_slabs_follow_ctx_cpu() -> None:
    r = Rig(cpus=2)
    s = r.sa.kmem_cache_create("foo", 64, 0, 0)
    p0 = r.km.kmem_cache_alloc(s, GFP_KERNEL, C)
    r.ctx.cpu = 1
    p1 = r.km.kmem_cache_alloc(s, GFP_KERNEL, C)
    assert r.sa.slab_of(p0) is not r.sa.slab_of(p1)
    assert s.cpu_slabs == 2
    # a remote free (cpu 1 frees cpu 0's object) goes to the slab's own freelist
    r.km.kmem_cache_free(s, p0, C)
    r.ctx.cpu = 0
    assert r.km.kmem_cache_alloc(s, GFP_KERNEL, C) == p0 + s.size  # cpu freelist first
    r.check_consistency()


def test_full_slab_goes_to_cpu_partial_then_node_partial() -> None:
    r = Rig()
    s = r.sa.kmem_cache_create("objs64", 64, 0, 0)  # 64 per slab, cpu_partial_slabs 4
    assert (s.objs_per_slab, s.cpu_partial_slabs, s.min_partial) == (64, 4, 5)
    objs = [r.km.kmem_cache_alloc(s, GFP_KERNEL, C) for _ in range(64 * 7)]
    slabs = sorted({r.sa.slab_of(p).pfn for p in objs})
    assert len(slabs) == 7 and s.cpu_slabs == 1 and s.partial == 0
    # free one object of each of the first 6 (full, not cpu) slabs: each goes to cpu partial
    for i in range(6):
        r.km.kmem_cache_free(s, objs[64 * i], C)
    # the 5th put found 4 slabs on the list: they were drained to the node list first
    c = s.cpu_slab[0]
    assert len(c.partial) == 2 and s.partial == 4
    assert s.cpu_slabs == 3
    # sysfs objects: total - free on node partial
    assert s.objects == s.total_objects - 4
    r.check_consistency()


def test_empty_slabs_discarded_beyond_min_partial() -> None:
    r = Rig()
    s = r.sa.kmem_cache_create("big", 2000, 0, 0)  # order 3, 16 objects
    assert (s.order, s.objs_per_slab, s.min_partial, s.cpu_partial_slabs) == (3, 16, 5, 3)
    objs = [r.km.kmem_cache_alloc(s, GFP_KERNEL, C) for _ in range(16 * 10)]
    for p in objs:
        r.km.kmem_cache_free(s, p, C)
    r.check_consistency()
    assert s.nr_slabs < 10 and s.nr_slabs >= s.min_partial
    freed = r.sa.kmem_cache_shrink(s)
    assert freed > 0 and s.nr_slabs == 0 and r.pa.pages_in_use() == 0
    assert r.vmstat.nr_slab_unreclaimable_b == 0


def test_shrink_sorts_partial_list_fullest_first() -> None:
    r = Rig()
    s = r.sa.kmem_cache_create("sorty", 1024, 0, g.SLAB_FLAGS["SLAB_NO_MERGE"])
    objs = [r.km.kmem_cache_alloc(s, GFP_KERNEL, C) for _ in range(16 * 4)]
    # leave slab k with k+1 objects in use
    by_slab: dict[int, list[int]] = {}
    for p in objs:
        by_slab.setdefault(r.sa.slab_of(p).pfn, []).append(p)
    for k, pfn in enumerate(sorted(by_slab)):
        for p in by_slab[pfn][k + 1:]:
            r.km.kmem_cache_free(s, p, C)
    r.sa.kmem_cache_shrink(s)
    inuse = [sl.inuse for sl in s.node_partial]
    assert inuse == sorted(inuse, reverse=True)
    r.check_consistency()


def test_slab_order_fallback_to_min_order() -> None:
    r = Rig(fail_orders={3})
    s = r.sa.kmem_cache_create("fallback", 2000, 0, 0)
    p = r.km.kmem_cache_alloc(s, GFP_KERNEL, C)
    assert p is not None
    gfp1, o1 = r.pa.calls[0]
    gfp2, o2 = r.pa.calls[1]
    assert o1 == 3 and gfp1 & __GFP_NOWARN and gfp1 & __GFP_NORETRY and not gfp1 & 0x400
    assert o2 == 0 and not gfp2 & __GFP_NORETRY
    assert r.sa.slab_of(p).objects == 2  # 4096 // 2000
    r.check_consistency()


def test_slab_alloc_failure_message() -> None:
    r = Rig(nr_pages=0)
    s = r.sa.kmem_cache_create("nomem", 100, 0, 0)
    assert r.km.kmem_cache_alloc(s, GFP_KERNEL, C) is None
    assert r.log.contains("SLUB: Unable to allocate memory on CPU 0 (of node 0) on node -1, gfp=0xcc0(GFP_KERNEL)")
    assert r.log.contains("cache: nomem, object size: 100, buffer size: 104, default order: 0, min order: 0")


def test_merging_rules_and_aliases() -> None:
    r = Rig()
    a = r.sa.kmem_cache_create("a_cache", 100, 0, 0)
    b = r.sa.kmem_cache_create("b_cache", 97, 0, 0)  # ALIGN(97, 8) = 104 == a.size: alias
    assert b is a and a.aliases == 1 and a.sysfs_name == ":0000104"
    c = r.sa.kmem_cache_create("c_cache", 90, 0, 0)  # 96: 104 - 96 = 8, not < 8: new cache
    assert c is not a
    d = r.sa.kmem_cache_create("d_cache", 100, 0, SLAB_FLAGS["SLAB_RECLAIM_ACCOUNT"])
    assert d is not a and d.sysfs_name == ":a-0000104"
    e = r.sa.kmem_cache_create("e_cache", 100, 0, 0, ctor=True)
    assert e is not a and e.sysfs_name == "e_cache" and e.size == 112
    f = r.sa.kmem_cache_create("f_cache", 100, 0, SLAB_FLAGS["SLAB_TYPESAFE_BY_RCU"])
    assert f is not a
    # slabinfo lists real caches only, newest first, under the first creator's name
    names = [s.name for s in r.sa.caches_visible()]
    assert "b_cache" not in names and names[:5] == ["f_cache", "e_cache", "d_cache", "c_cache", "a_cache"]
    # kmalloc caches are never merge targets
    k = r.sa.kmem_cache_create("like64", 64, 0, 0)
    assert not k.name.startswith("kmalloc")


def test_slab_nomerge() -> None:
    r = Rig(nomerge=True)
    a = r.sa.kmem_cache_create("a_cache", 100, 0, 0)
    b = r.sa.kmem_cache_create("b_cache", 100, 0, 0)
    assert a is not b and a.sysfs_name == "a_cache"


def test_hwcache_align_geometry() -> None:
    r = Rig()
    s = r.sa.kmem_cache_create("inode", 600, 64, SLAB_FLAGS["SLAB_HWCACHE_ALIGN"])
    assert (s.object_size, s.size, s.align, s.order, s.objs_per_slab) == (600, 640, 64, 1, 12)


def test_destroy_with_live_objects_reports_and_leaks() -> None:
    r = Rig()
    s = r.sa.kmem_cache_create("leaky", 128, 0, g.SLAB_NO_MERGE)
    p = r.km.kmem_cache_alloc(s, GFP_KERNEL, C)
    q = r.km.kmem_cache_alloc(s, GFP_KERNEL, C)
    r.km.kmem_cache_free(s, q, C)
    assert r.sa.kmem_cache_destroy(s, "t.kms:9") is False
    text = r.log.dmesg()
    assert "BUG leaky (Not tainted): Objects remaining on __kmem_cache_shutdown()" in text
    assert f"Object 0x{p:016x} @offset=0" in text
    assert "kmem_cache_destroy leaky: Slab cache still has objects when called from t.kms:9" in text
    assert r.pa.pages_in_use() == 1  # leaked, as the kernel does
    assert "leaky" not in [c.name for c in r.sa.caches_visible()]


def test_destroy_alias_keeps_cache() -> None:
    r = Rig()
    a = r.sa.kmem_cache_create("a1", 200, 0, 0)
    b = r.sa.kmem_cache_create("a2", 200, 0, 0)
    assert a is b
    assert r.sa.kmem_cache_destroy(b)
    assert not a.destroyed and a.aliases == 0
    assert r.sa.kmem_cache_destroy(a) and a.destroyed


def test_typesafe_by_rcu_defers_slab_pages() -> None:
    r = Rig()
    s = r.sa.kmem_cache_create("rcu", 1024, 0, SLAB_FLAGS["SLAB_TYPESAFE_BY_RCU"])
    objs = [r.km.kmem_cache_alloc(s, GFP_KERNEL, C) for _ in range(16 * 8)]
    for p in objs:
        r.km.kmem_cache_free(s, p, C)
    r.sa.kmem_cache_shrink(s)
    assert s.nr_slabs == 0 and r.sa.rcu_pending_slabs and r.pa.pages_in_use() > 0
    r.check_consistency()
    r.sa.synchronize_rcu()
    assert r.pa.pages_in_use() == 0 and r.vmstat.nr_slab_unreclaimable_b == 0


def test_kfree_rcu_after_grace_period() -> None:
    r = Rig()
    p = r.km.kmalloc(100, GFP_KERNEL, C)
    r.sa.kfree_rcu(p, C)
    assert p in r.sa.live
    r.sa.synchronize_rcu()
    assert p not in r.sa.live
    assert r.km.kmalloc(100, GFP_KERNEL, C) == p


def test_reclaim_account_counts_sreclaimable() -> None:
    r = Rig()
    s = r.sa.kmem_cache_create("dentry_like", 192, 0, SLAB_FLAGS["SLAB_RECLAIM_ACCOUNT"])
    r.km.kmem_cache_alloc(s, GFP_KERNEL, C)
    assert r.vmstat.nr_slab_reclaimable_b == 4096 and r.vmstat.nr_slab_unreclaimable_b == 0
    assert r.pa.calls[-1][0] & 0x10  # __GFP_RECLAIMABLE on the slab page


def test_might_alloc_and_failslab_called() -> None:
    r = Rig()
    seen = []
    r.faults.active = True
    r.faults.should_failslab = lambda name, gfp, is_kmalloc: seen.append((name, is_kmalloc)) or name == "kmalloc-32"
    assert r.km.kmalloc(20, GFP_KERNEL, C) is None
    assert r.km.kmalloc(50, GFP_KERNEL, C) is not None
    assert seen == [("kmalloc-32", True), ("kmalloc-64", True)]
    r.ctx.preempt_disable()
    r.km.kmalloc(50, GFP_KERNEL, C)
    assert r.log.contains("BUG: sleeping function called from invalid context")
    r.km.kmalloc(50, GFP_ATOMIC, C)


def test_create_failure_and_panic() -> None:
    from kmscript.runtime.errors import KernelPanic
    r = Rig()
    assert r.sa.kmem_cache_create("huge", (4 << 20) + 1, 0, 0) is None
    assert r.log.contains("__kmem_cache_create_args(huge) failed with error -22")
    with pytest.raises(KernelPanic):
        r.sa.kmem_cache_create("huge", (4 << 20) + 1, 0, SLAB_FLAGS["SLAB_PANIC"])


def test_wrong_cache_free_warns_and_frees_to_real_cache() -> None:
    r = Rig()
    s = r.sa.kmem_cache_create("inode", 600, 64, SLAB_FLAGS["SLAB_HWCACHE_ALIGN"])
    p = r.km.kmalloc(50, GFP_KERNEL, C)
    r.km.kmem_cache_free(s, p, C)
    assert r.log.contains("cache_from_obj: Wrong slab cache. inode but object is from kmalloc-64")
    assert p not in r.sa.live


def test_nodebug_double_free_head_is_kernel_bug() -> None:
    r = Rig()
    p = r.km.kmalloc(50, GFP_KERNEL, C)
    r.km.kfree(p, C)
    with pytest.raises(KernelOops, match="kernel BUG at mm/slub.c"):
        r.km.kfree(p, C)  # BUG_ON -> oops_end() kills the task; the free does not happen
    assert r.log.contains("kernel BUG at mm/slub.c")
    r.check_consistency()
