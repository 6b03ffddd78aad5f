"""SLUB geometry against /sys/kernel/slab of all 235 caches of a real 2-CPU 6.18 machine."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from kmscript.runtime import slab_geometry as g
from kmscript.runtime.arch import X86_64

TSV = Path(__file__).parent / "data" / "linux-mm-slab-sysfs-6.18-2cpu.tsv"
ROWS = list(csv.DictReader(TSV.open(), delimiter="\t"))
# Caches created with kmem_cache_args.freeptr_offset (SLAB_TYPESAFE_BY_RCU with the free
# pointer inside the object): mm/vma_init.c vm_area_cachep, fs/file_table.c filp.
FREEPTR_OFFSET_CACHES = {"vm_area_struct": 64, "filp": 64}


def test_all_rows_present() -> None:
    assert len(ROWS) == 235


@pytest.mark.parametrize("row", ROWS, ids=[r["name"] for r in ROWS])
def test_geometry_matches_sysfs(row: dict[str, str]) -> None:
    flags = 0
    if row["destroy_by_rcu"] == "1":
        flags |= g.SLAB_TYPESAFE_BY_RCU
    if row["reclaim_account"] == "1":
        flags |= g.SLAB_RECLAIM_ACCOUNT
    if row["cache_dma"] == "1":
        flags |= g.SLAB_CACHE_DMA
    obj = int(row["object_size"])
    align = g.calculate_alignment(flags, int(row["align"]), obj)
    assert align == int(row["align"])
    geo = g.calculate_sizes(obj, align, flags, nr_cpus=2, has_ctor=bool(row["ctor"]),
                            freeptr_offset=FREEPTR_OFFSET_CACHES.get(row["name"]))
    got = (geo.size, geo.order, geo.objs_per_slab, geo.min_partial, geo.cpu_partial)
    want = (int(row["slab_size"]), int(row["order"]), int(row["objs_per_slab"]),
            int(row["min_partial"]), int(row["cpu_partial"]))
    assert got == want


def test_vm_area_struct_needs_freeptr_offset() -> None:
    # Without the RCU freeptr_offset rule the free pointer would go after the object.
    geo = g.calculate_sizes(192, 64, g.SLAB_TYPESAFE_BY_RCU, 2)
    assert geo.size == 256
    geo = g.calculate_sizes(192, 64, g.SLAB_TYPESAFE_BY_RCU, 2, freeptr_offset=64)
    assert (geo.size, geo.offset) == (192, 64)


@pytest.mark.parametrize("size,want", [(16, 16), (24, 32), (32, 32), (33, 64), (64, 64), (600, 64)])
def test_hwcache_alignment(size: int, want: int) -> None:
    assert g.calculate_alignment(g.SLAB_HWCACHE_ALIGN, 0, size) == want


def test_kmalloc_caches_from_tsv() -> None:
    by_name = {r["name"]: r for r in ROWS}
    for t in (g.KMALLOC_NORMAL, g.KMALLOC_RECLAIM, g.KMALLOC_DMA, g.KMALLOC_CGROUP):
        for idx in g.kmalloc_indices(X86_64.kmalloc_min_size):
            name = g.kmalloc_cache_name(t, idx)
            row = by_name[name]
            assert int(row["object_size"]) == g.kmalloc_class_size(idx)
            assert int(row["align"]) == g.kmalloc_cache_align(idx)


@pytest.mark.parametrize("cpus,min_objects", [(1, 8), (2, 12), (4, 16), (8, 20), (16, 24), (64, 32)])
def test_min_objects(cpus: int, min_objects: int) -> None:
    assert g.min_objects_for_cpus(cpus) == min_objects


def test_order_depends_on_cpus() -> None:
    # 2 CPUs: 12 * 400 = 4800 -> min order 1; 1 CPU: 8 * 400 = 3200 fits order 0 (waste 96)
    assert g.calculate_sizes(400, 8, 0, 2).order == 1
    assert g.calculate_sizes(400, 8, 0, 1).order == 0


def test_6_18_fraction_loop_big_objects() -> None:
    # facts 6.4: object sizes 10928..12280 give order 3 with 2 objects in 6.18
    geo = g.calculate_sizes(11000, 8, 0, 2)
    assert (geo.order, geo.objs_per_slab) == (3, 2)
    kvm = g.calculate_sizes(51472, 16, 0, 2)
    assert (kvm.order, kvm.objs_per_slab, kvm.min_partial) == (4, 1, 7)


@pytest.mark.parametrize("size,name", [(1, "kmalloc-8"), (8, "kmalloc-8"), (9, "kmalloc-16"),
                                       (17, "kmalloc-32"), (33, "kmalloc-64"), (64, "kmalloc-64"),
                                       (65, "kmalloc-96"), (96, "kmalloc-96"), (97, "kmalloc-128"),
                                       (129, "kmalloc-192"), (192, "kmalloc-192"),
                                       (193, "kmalloc-256"), (257, "kmalloc-512"),
                                       (513, "kmalloc-1k"), (1025, "kmalloc-2k"),
                                       (2049, "kmalloc-4k"), (4097, "kmalloc-8k"),
                                       (8192, "kmalloc-8k")])
def test_size_classes(size: int, name: str) -> None:
    assert g.kmalloc_cache_name(g.KMALLOC_NORMAL, g.kmalloc_index(size)) == name


def test_size_class_table_exhaustive() -> None:
    prev = 0
    for size in range(1, 8193):
        cls = g.kmalloc_class_size(g.kmalloc_index(size))
        assert cls >= size and cls >= prev
        prev = cls
        assert g.kmalloc_size_roundup(size) == cls


@pytest.mark.parametrize("n,want", [(0, 0), (1, 8), (65, 96), (8193, 16384), (16385, 32768),
                                    (40000, 65536), (4 << 20, 4 << 20), ((4 << 20) + 1, (4 << 20) + 1)])
def test_kmalloc_size_roundup(n: int, want: int) -> None:
    assert g.kmalloc_size_roundup(n) == want


@pytest.mark.parametrize("flags,size,uid", [(0, 64, ":0000064"), (g.SLAB_RECLAIM_ACCOUNT, 104, ":a-0000104"),
                                            (g.SLAB_ACCOUNT, 1280, ":A-0001280"),
                                            (g.SLAB_RECLAIM_ACCOUNT | g.SLAB_ACCOUNT, 16, ":aA-0000016"),
                                            (g.SLAB_CACHE_DMA | g.SLAB_CONSISTENCY_CHECKS, 8, ":dF-0000008")])
def test_unique_id(flags: int, size: int, uid: str) -> None:
    assert g.create_unique_id(flags, size) == uid


def test_debug_layout_kmalloc_64() -> None:
    # slab_debug=FZPU on kmalloc-64: 64 -> +8 right redzone (72) -> free pointer after (80)
    # -> 2 tracks of 32 + orig_size 4 (148) -> +8 pad, left pad 64 (220) -> align 64 = 256
    flags = g.DEBUG_DEFAULT_FLAGS | g.SLAB_KMALLOC
    geo = g.calculate_sizes(64, 64, flags, 2)
    assert (geo.inuse, geo.offset, geo.red_left_pad, geo.size) == (72, 72, 64, 256)
    assert geo.track_offset == 80 and geo.orig_size_offset == 144
    assert geo.cpu_partial == 0 and geo.flags & g.OBJECT_POISON


def test_slab_flag_bits() -> None:
    assert g.SLAB_FLAGS["SLAB_HWCACHE_ALIGN"] == 1 << 4
    assert g.SLAB_FLAGS["SLAB_TYPESAFE_BY_RCU"] == 1 << 9
    assert g.SLAB_FLAGS["SLAB_RECLAIM_ACCOUNT"] == 1 << 17
