"""SLUB debugging: byte patterns, every report, the error counter (as lib/slub_kunit.c counts)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from slab_fakes import Rig  # noqa: E402

from kmscript.runtime import slab_geometry as g  # noqa: E402
from kmscript.runtime.gfp import GFP_KERNEL, __GFP_ZERO  # noqa: E402

C = "t.kms:1"
RZ = g.SLAB_RED_ZONE
POISON = g.SLAB_POISON
F = g.SLAB_CONSISTENCY_CHECKS


def test_slub_debug_per_cache_geometry_and_patterns() -> None:
    r = Rig(slub_debug="FZPU,kmalloc-64")
    s = r.sa.by_name["kmalloc-64"]
    assert (s.size, s.red_left_pad, s.inuse, s.offset, s.cpu_partial) == (256, 64, 72, 72, 0)
    assert r.sa.by_name["kmalloc-32"].size == 32  # only the named cache is debugged
    p = r.km.kmalloc(50, GFP_KERNEL, C)
    obj = r.read(p - 64, 256)
    assert obj[:64] == b"\xcc" * 64  # left redzone, active
    assert obj[64:64 + 49] == b"\x6b" * 49 and obj[64 + 49] == 0xA5  # poison up to orig_size
    assert obj[64 + 50:64 + 72] == b"\xcc" * 22  # kmalloc redzone + right redzone
    q = r.km.kmalloc(64, GFP_KERNEL, C)
    r.km.kfree(q, C)
    free = r.read(q - 64, 256)
    assert free[:64] == b"\xbb" * 64 and free[64:127] == b"\x6b" * 63 and free[127] == 0xA5
    assert free[128:136] == b"\xbb" * 8
    assert free[212:] == b"\x5a" * 44  # padding stays POISON_INUSE
    z = r.km.kmalloc(40, GFP_KERNEL | __GFP_ZERO, C)
    assert r.read(z, 40) == bytes(40) and r.read(z + 40, 24) == b"\xcc" * 24


def test_right_redzone_report_on_free() -> None:
    r = Rig(slub_debug="FZPU,kmalloc-64")
    p = r.km.kmalloc(64, GFP_KERNEL, C)
    r.write(p + 64, b"\x00")
    r.km.kfree(p, "t.kms:2")
    bug = r.bugs()[0].split("\n")
    assert bug[0] == (f"[Right Redzone overwritten] 0x{p + 64:016x}-0x{p + 64:016x} @offset={p + 64 - (p & ~0xFFF)}. "
                      "First byte 0x0 instead of 0xcc")
    assert bug[1].startswith("=====") and bug[2] == "BUG kmalloc-64 (Not tainted): Object corrupt"
    assert "Allocated in t.kms:1 age=0 cpu=0 pid=1000" in bug
    assert bug[-1] == f"FIX kmalloc-64: Restoring Right Redzone 0x{p + 64:016x}-0x{p + 64:016x}=0xcc"
    assert r.log.contains(f"FIX kmalloc-64: Object at 0x{p:016x} not freed")
    assert p in r.sa.live  # not freed: leaked
    # the next report carries the taint B and W
    q = r.km.kmalloc(64, GFP_KERNEL, C)
    r.write(q - 1, b"\x01")
    r.km.kfree(q, C)
    assert r.log.contains("[Left Redzone overwritten]")
    assert r.log.contains("BUG kmalloc-64 (Tainted: G    B   W          ): Object corrupt")


def test_kmalloc_redzone() -> None:
    r = Rig(slub_debug="ZU,kmalloc-32")
    s = r.sa.by_name["kmalloc-32"]
    p = r.km.kmalloc(18, GFP_KERNEL, C)
    r.write(p + 18, b"\xab\xab")
    assert r.sa.validate_slab_cache(s) == 2  # one report, one fix (slub_kunit: test_kmalloc_redzone_access)
    assert r.log.contains("[kmalloc Redzone overwritten]")
    assert r.read(p + 18, 2) == b"\xcc\xcc"


def test_use_after_free_poison() -> None:
    r = Rig()
    s = r.sa.kmem_cache_create("TestSlub_1th_word_free", 64, 0, POISON | F)
    p = r.km.kmem_cache_alloc(s, GFP_KERNEL, C)
    r.km.kmem_cache_free(s, p, C)
    r.write(p, b"\x78")
    assert r.sa.validate_slab_cache(s) == 2  # slub_kunit: test_first_word
    assert r.log.contains("[Poison overwritten]") and r.log.contains("Restoring Poison")
    assert r.sa.validate_slab_cache(s) == 0
    r.write(p + 63, b"\x00")
    assert r.sa.validate_slab_cache(s) == 2
    assert r.log.contains("[End Poison overwritten]")


def test_clobber_redzone_free() -> None:
    r = Rig()
    s = r.sa.kmem_cache_create("TestSlub_RZ_free", 64, 0, RZ)
    p = r.km.kmem_cache_alloc(s, GFP_KERNEL, C)
    r.km.kmem_cache_free(s, p, C)
    r.write(p + 64, b"\xab")
    assert r.sa.validate_slab_cache(s) == 2


def test_clobber_zone_alloc() -> None:
    r = Rig()
    s = r.sa.kmem_cache_create("TestSlub_RZ_alloc", 64, 0, RZ)
    p = r.km.kmem_cache_alloc(s, GFP_KERNEL, C)
    r.write(p + 64, b"\x12")
    assert r.sa.validate_slab_cache(s) == 2


def test_next_pointer_corruption_counts_like_kunit() -> None:
    r = Rig()
    s = r.sa.kmem_cache_create("TestSlub_next_ptr_free", 64, 0, POISON)
    p = r.km.kmem_cache_alloc(s, GFP_KERNEL, C)
    r.km.kmem_cache_free(s, p, C)
    saved = r.read(p + s.offset, 8)
    r.write(p + s.offset, bytes([saved[0] ^ 0xFF]))
    assert r.sa.validate_slab_cache(s) == 3  # Freechain corrupt, Wrong object count + fix
    assert r.log.contains("BUG TestSlub_next_ptr_free (Not tainted): Freechain corrupt")
    assert r.log.contains(f"Wrong object count. Counter is 0 but counted were {s.objs_per_slab - 1}")
    r.write(p + s.offset, saved)
    assert r.sa.validate_slab_cache(s) == 2
    assert r.sa.validate_slab_cache(s) == 0


def test_freepointer_corrupt_on_allocated_object() -> None:
    r = Rig()
    s = r.sa.kmem_cache_create("fpc", 64, 0, POISON | F)
    p = r.km.kmem_cache_alloc(s, GFP_KERNEL, C)
    r.write(p + s.offset, b"\x01" * 8)  # free pointer lives after the object
    assert r.sa.validate_slab_cache(s) == 1
    assert r.log.contains("Freepointer corrupt")


def test_double_free_object_already_free() -> None:
    r = Rig(slub_debug="F,kmalloc-96")
    p = r.km.kmalloc(80, GFP_KERNEL, C)
    r.km.kfree(p, C)
    r.km.kfree(p, "t.kms:7")
    assert r.log.contains("BUG kmalloc-96 (Not tainted): Object already free")
    assert r.log.contains(f"FIX kmalloc-96: Object at 0x{p:016x} not freed")
    assert r.sa.errors == 2


def test_invalid_object_pointer() -> None:
    r = Rig(slub_debug="F,kmalloc-96")
    p = r.km.kmalloc(80, GFP_KERNEL, C)
    r.km.kfree(p + 8, C)
    assert r.log.contains(f"BUG kmalloc-96 (Not tainted): Invalid object pointer 0x{p + 8:016x}")
    assert p in r.sa.live


def test_alloc_checks_mark_slab_used_and_retry() -> None:
    r = Rig()
    s = r.sa.kmem_cache_create("uaf", 64, 0, POISON | F | g.SLAB_NO_MERGE)
    p = r.km.kmem_cache_alloc(s, GFP_KERNEL, C)
    r.km.kmem_cache_alloc(s, GFP_KERNEL, C)  # keep the slab alive
    r.km.kmem_cache_free(s, p, C)
    r.write(p + 10, b"\x00")  # use after free
    q = r.km.kmem_cache_alloc(s, GFP_KERNEL, C)
    assert r.log.contains("[Poison overwritten]") and r.log.contains("FIX uaf: Marking all objects used")
    assert r.sa.slab_of(q) is not r.sa.slab_of(p)


def test_objects_remaining_with_tracks() -> None:
    r = Rig()
    s = r.sa.kmem_cache_create("busy", 100, 0, g.SLAB_STORE_USER)
    p = r.km.kmem_cache_alloc(s, GFP_KERNEL, "t.kms:4")
    assert not r.sa.kmem_cache_destroy(s, "t.kms:5")
    text = r.log.dmesg()
    assert "BUG busy (Not tainted): Objects remaining on __kmem_cache_shutdown()" in text
    assert f"Object 0x{p:016x} @offset=0" in text and "Allocated in t.kms:4" in text


def test_full_list_only_with_store_user_and_validate_covers_it() -> None:
    r = Rig()
    s = r.sa.kmem_cache_create("fulltrack", 2048, 0, g.SLAB_STORE_USER | RZ)
    objs = [r.km.kmem_cache_alloc(s, GFP_KERNEL, C) for _ in range(s.objs_per_slab)]
    assert len(s.full) == 1 and s.partial == 0
    r.write(objs[0] + 2048, b"\x00")
    assert r.sa.validate_slab_cache(s) == 2


def test_slab_debug_trace_flag() -> None:
    r = Rig(slub_debug="T,kmalloc-128")
    p = r.km.kmalloc(100, GFP_KERNEL, C)
    r.write(p, b"AB")
    r.km.kfree(p, C)
    text = r.log.dmesg()
    assert f"TRACE kmalloc-128 alloc 0x{p:016x} inuse=1 fp=0x{p + 128:016x}" in text
    assert f"TRACE kmalloc-128 free 0x{p:016x} inuse=1" in text
    assert f"Object {p:016x}: 41 42 00" in text


def test_freelist_random_is_a_permutation_per_slab() -> None:
    import random

    r = Rig()
    r.sa.freelist_random = random.Random(1)
    s = r.sa.kmem_cache_create("rnd", 256, 0, g.SLAB_NO_MERGE)
    objs = [r.km.kmem_cache_alloc(s, GFP_KERNEL, C) for _ in range(s.objs_per_slab)]
    base = min(objs)
    idx = [(p - base) // 256 for p in objs]
    assert sorted(idx) == list(range(s.objs_per_slab)) and idx != sorted(idx)


def test_slab_padding_overwritten() -> None:
    r = Rig()
    s = r.sa.kmem_cache_create("padded", 1000, 0, POISON | F)  # 1008-byte stride, order 2: 256 bytes of padding
    p = r.km.kmem_cache_alloc(s, GFP_KERNEL, C)
    end = r.sa.slab_of(p).base + (4096 << s.order)
    assert r.read(end - 8, 8) == b"\x5a" * 8
    r.write(end - 3, b"\x00")
    assert r.sa.validate_slab_cache(s) == 2
    assert r.log.contains(f"BUG padded (Not tainted): Padding overwritten. 0x{end - 3:016x}-0x{end - 3:016x}")
    assert r.log.contains("FIX padded: Restoring slab padding")
    assert r.sa.validate_slab_cache(s) == 0
