"""kmalloc: size classes, types, large allocations, the API corner cases, tracepoints."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

sys.path.insert(0, str(Path(__file__).parent))
from slab_fakes import Rig  # noqa: E402

from kmscript.runtime.errors import KernelOops  # noqa: E402
from kmscript.runtime.gfp import (GFP_ATOMIC, GFP_DMA, GFP_KERNEL, GFP_KERNEL_ACCOUNT, __GFP_DMA32,  # noqa: E402
                                  __GFP_HIGHMEM, __GFP_NOWARN, __GFP_RECLAIMABLE, __GFP_ZERO)

C = "t.kms:1"


@pytest.mark.parametrize("size,name", [(1, "kmalloc-8"), (50, "kmalloc-64"), (65, "kmalloc-96"),
                                       (96, "kmalloc-96"), (97, "kmalloc-128"), (129, "kmalloc-192"),
                                       (193, "kmalloc-256"), (8192, "kmalloc-8k")])
def test_object_comes_from_class_cache(size: int, name: str) -> None:
    r = Rig()
    p = r.km.kmalloc(size, GFP_KERNEL, C)
    assert r.sa.slab_of(p).cache.name == name


@pytest.mark.parametrize("gfp,prefix", [(GFP_KERNEL, "kmalloc-"), (GFP_ATOMIC, "kmalloc-"),
                                        (GFP_KERNEL | __GFP_RECLAIMABLE, "kmalloc-rcl-"),
                                        (GFP_KERNEL | GFP_DMA, "dma-kmalloc-"),
                                        (GFP_KERNEL_ACCOUNT, "kmalloc-cg-"),
                                        (GFP_DMA | __GFP_RECLAIMABLE | GFP_KERNEL_ACCOUNT, "dma-kmalloc-"),
                                        (__GFP_RECLAIMABLE | GFP_KERNEL_ACCOUNT, "kmalloc-rcl-")])
def test_kmalloc_type(gfp: int, prefix: str) -> None:
    r = Rig()
    p = r.km.kmalloc(100, gfp, C)
    assert r.sa.slab_of(p).cache.name == prefix + "128"


def test_boot_caches_and_slabinfo_order() -> None:
    r = Rig()
    names = [s.name for s in r.sa.caches_visible()]
    assert len(names) == 52
    assert names[:3] == ["kmalloc-cg-8k", "kmalloc-cg-4k", "kmalloc-cg-2k"]
    assert names[-3:] == ["kmalloc-8", "kmalloc-192", "kmalloc-96"]
    k96 = r.sa.by_name["kmalloc-96"]
    assert (k96.align, k96.size, k96.objs_per_slab, k96.order) == (32, 96, 42, 0)


def test_zero_size_and_null_frees() -> None:
    r = Rig()
    assert r.km.kmalloc(0, GFP_KERNEL, C) == 16
    r.km.kfree(0, C)
    r.km.kfree(16, C)
    assert r.km.ksize(16) == 0
    assert not r.log.records


def test_large_kmalloc_pages_and_sunreclaim() -> None:
    r = Rig()
    p = r.km.kmalloc(8193, GFP_KERNEL, C)
    assert r.pa.calls[-1] == (GFP_KERNEL | 0x40000, 2)  # __GFP_COMP, get_order(8193) = 2
    assert r.vmstat.nr_slab_unreclaimable_b == 16384 and r.km.ksize(p) == 16384
    q = r.km.kmalloc(40000, GFP_KERNEL, C)
    assert r.km.ksize(q) == 65536
    r.km.kfree(p + 100, C)  # free_large_kmalloc frees the whole folio
    r.km.kfree(q, C)
    assert r.vmstat.nr_slab_unreclaimable_b == 0 and r.pa.pages_in_use() == 0


def test_too_large_kmalloc_warns_and_fails() -> None:
    r = Rig()
    assert r.km.kmalloc((4 << 20) + 1, GFP_KERNEL, C) is None
    assert r.log.contains("WARNING: CPU: 0 PID: 1000 at mm/page_alloc.c:5187 __alloc_frozen_pages_noprof")
    n = len(r.log.records)
    assert r.km.kmalloc(8 << 20, GFP_KERNEL | __GFP_NOWARN, C) is None
    assert len(r.log.records) == n


def test_kmalloc_array_overflow_and_kcalloc_zeroes() -> None:
    r = Rig()
    assert r.km.kmalloc_array(1 << 33, 1 << 31, GFP_KERNEL, C) is None
    assert r.km.kcalloc(1 << 62, 8, GFP_KERNEL, C) is None
    assert not r.log.records  # the overflow check returns NULL quietly
    p = r.km.kmalloc(64, GFP_KERNEL, C)
    r.write(p, b"\xff" * 64)
    r.km.kfree(p, C)
    q = r.km.kcalloc(8, 8, GFP_KERNEL, C)
    assert q == p and r.read(q, 64) == bytes(64)


def test_krealloc_in_place_and_move() -> None:
    r = Rig()
    p = r.km.kmalloc(40, GFP_KERNEL, C)
    r.write(p, bytes(range(40)))
    assert r.km.krealloc(p, 64, GFP_KERNEL, C) == p  # fits kmalloc-64
    q = r.km.krealloc(p, 100, GFP_KERNEL, C)
    assert q != p and r.sa.slab_of(q).cache.name == "kmalloc-128"
    assert r.read(q, 40) == bytes(range(40))
    assert p not in r.sa.live
    assert r.km.krealloc(q, 0, GFP_KERNEL, C) == 16 and q not in r.sa.live
    z = r.km.krealloc(0, 30, GFP_KERNEL, C)
    assert r.sa.slab_of(z).cache.name == "kmalloc-32"


def test_krealloc_zero_tail() -> None:
    r = Rig()
    p = r.km.kmalloc(64, GFP_KERNEL, C)
    r.write(p, b"\xee" * 64)
    assert r.km.krealloc(p, 16, GFP_KERNEL | __GFP_ZERO, C) == p
    assert r.read(p, 64) == b"\xee" * 16 + bytes(48)


def test_ksize_rules() -> None:
    r = Rig(slub_debug="U,kmalloc-256")
    assert r.km.ksize(r.km.kmalloc(100, GFP_KERNEL, C)) == 128
    s = r.sa.by_name["kmalloc-256"]
    assert r.km.ksize(r.km.kmalloc(200, GFP_KERNEL, C)) == s.inuse == 256
    r2 = Rig(slub_debug="Z,kmalloc-256")
    assert r2.km.ksize(r2.km.kmalloc(200, GFP_KERNEL, C)) == 256


def test_gfp_slab_bug_mask_fixup() -> None:
    r = Rig()
    p = r.km.kmalloc(100, GFP_KERNEL | __GFP_DMA32, C)
    assert r.sa.slab_of(p).cache.name == "kmalloc-128"
    assert r.log.contains("Unexpected gfp: 0x4 (GFP_DMA32). Fixing up to gfp: 0xcc0 (GFP_KERNEL). Fix your code!")
    assert not r.pa.calls[-1][0] & __GFP_DMA32
    r.km.kmalloc(9000, GFP_KERNEL | __GFP_HIGHMEM, C)
    assert r.log.contains("Unexpected gfp: 0x2 (__GFP_HIGHMEM)")


def test_kfree_not_a_kmalloc_allocation() -> None:
    r = Rig()
    pfn = r.pa.alloc_pages(GFP_KERNEL, 0)
    r.km.kfree(0xFFFF888000000000 + pfn * 4096, C)
    assert r.log.contains("page dumped because: Not a kmalloc allocation")
    assert r.log.contains("at mm/slub.c:6795 free_large_kmalloc")


def test_tracepoints() -> None:
    r = Rig()
    r.tracer.record(True)
    s = r.sa.kmem_cache_create("inode", 600, 64, 1 << 4)
    p = r.km.kmalloc(50, GFP_ATOMIC, "t.kms:3")
    r.km.kfree(p, "t.kms:4")
    o = r.km.kmem_cache_alloc(s, GFP_KERNEL_ACCOUNT, "t.kms:5")
    r.km.kmem_cache_free(s, o, "t.kms:6")
    ev = r.tracer.events
    assert ev[0] == ("kmalloc", f"call_site=t.kms:3 ptr={p:016x} bytes_req=50 bytes_alloc=64 "
                                "gfp_flags=GFP_ATOMIC node=-1 accounted=false")
    assert ev[1] == ("kfree", f"call_site=t.kms:4 ptr={p:016x}")
    assert ev[2] == ("kmem_cache_alloc", f"call_site=t.kms:5 ptr={o:016x} name=inode bytes_req=600 "
                                         "bytes_alloc=640 gfp_flags=GFP_KERNEL_ACCOUNT node=-1 accounted=true")
    assert ev[3] == ("kmem_cache_free", f"call_site=t.kms:6 ptr={o:016x} name=inode")


def test_leak_report_groups_by_caller() -> None:
    r = Rig()
    r.km.kmalloc(50, GFP_KERNEL, "a.kms:1")
    r.km.kmalloc(50, GFP_KERNEL, "a.kms:1")
    x = r.km.kmalloc(300, GFP_KERNEL, "a.kms:2")
    r.km.kmalloc(10000, GFP_KERNEL, "a.kms:3")
    r.km.kfree(x, C)
    rep = r.km and __import__("kmscript.runtime.kmalloc", fromlist=["leak_report"]).leak_report(r.sa, r.km)
    lines = rep.splitlines()
    assert lines[0] == "kmemleak: 3 new suspected memory leaks (10100 bytes) from 2 call sites"
    assert lines[1] == "a.kms:1: 2 objects, 100 bytes (kmalloc-64)"
    assert "a.kms:3: 1 object, 10000 bytes (large kmalloc order-2)" in lines
    assert "a.kms:2" not in rep


ops = st.lists(st.tuples(st.sampled_from(["alloc", "free", "cpu", "shrink", "cache"]),
                         st.integers(0, 20000), st.integers(0, 1 << 30)), max_size=300)


@settings(max_examples=40, deadline=None)
@given(ops)
def test_random_sequences_keep_counts_consistent(seq: list[tuple[str, int, int]]) -> None:
    r = Rig(cpus=3)
    live: list[tuple[int, object]] = []
    cache = r.sa.kmem_cache_create("prop", 700, 0, 0)
    for op, a, b in seq:
        if op == "alloc":
            gfp = [GFP_KERNEL, GFP_ATOMIC, GFP_KERNEL_ACCOUNT, GFP_KERNEL | __GFP_RECLAIMABLE][b % 4]
            p = r.km.kmalloc(a % 9000 if b % 5 else a, gfp, C)
            if p is not None and p > 16:
                live.append((p, None))
        elif op == "cache":
            p = r.km.kmem_cache_alloc(cache, GFP_KERNEL, C)
            assert p is not None
            live.append((p, cache))
        elif op == "free" and live:
            p, c = live.pop(b % len(live))
            if c is None:
                r.km.kfree(p, C)
            else:
                r.km.kmem_cache_free(c, p, C)
        elif op == "cpu":
            r.ctx.cpu = b % 3
        elif op == "shrink":
            r.sa.kmem_cache_shrink(r.sa.by_name["kmalloc-64"])
            r.sa.kmem_cache_shrink(cache)
        r.check_consistency()
    assert not [rec for rec in r.log.records if rec.kind == "bug"]
    addrs = [p for p, _ in live]
    assert len(set(addrs)) == len(addrs)
    for p, c in live:
        if c is None:
            r.km.kfree(p, C)
        else:
            r.km.kmem_cache_free(c, p, C)
    for s in r.sa.caches:
        r.sa.kmem_cache_shrink(s)
    r.check_consistency()
    assert r.pa.pages_in_use() == 0


@settings(max_examples=15, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(1, 3000), st.integers(0, 5)), max_size=200))
def test_random_sequences_with_slub_debug(seq: list[tuple[bool, int, int]]) -> None:
    r = Rig(cpus=2, slub_debug="FZPU")
    live: list[int] = []
    for alloc, size, k in seq:
        r.ctx.cpu = k % 2
        if alloc or not live:
            p = r.km.kmalloc(size, GFP_KERNEL, C)
            assert p is not None
            live.append(p)
        else:
            r.km.kfree(live.pop(size % len(live)), C)
        r.check_consistency()
    for s in r.sa.caches:
        assert r.sa.validate_slab_cache(s) == 0
    assert not r.bugs()


def test_kfree_of_a_vmalloc_address_oopses() -> None:
    r = Rig()
    with pytest.raises(KernelOops, match="BUG: unable to handle page fault"):
        r.km.kfree(0xFFFFC90000001000, C)  # oops_end() kills the task
    assert r.log.contains("BUG: unable to handle page fault for address: ffffeb")
    assert r.log.contains("Oops: Oops: 0000 [#1] SMP NOPTI")


def test_mem_dump_obj() -> None:
    r = Rig(slub_debug="U,kmalloc-64")
    p = r.km.kmalloc(50, GFP_KERNEL, "d.kms:2")
    assert r.km.mem_dump_obj(p + 8) == f" slab kmalloc-64 start {p:016x} pointer offset 8 size 64 allocated at d.kms:2"
    q = r.km.kmalloc(100, GFP_KERNEL, C)
    assert r.km.mem_dump_obj(q) == f" slab kmalloc-128 start {q:016x} pointer offset 0 size 128"
    assert r.km.mem_dump_obj(0) == " NULL pointer" and r.km.mem_dump_obj(16) == " zero-size pointer"
