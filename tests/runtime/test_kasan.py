"""Generic KASAN (runtime/kasan.py): shadow values, cache metadata, quarantine, reports."""
from kmscript.runtime.gfp import GFP_KERNEL
from kmscript.runtime.kasan import (KASAN_PAGE_FREE, KASAN_PAGE_REDZONE, KASAN_SLAB_FREE, KASAN_SLAB_FREE_META,
                                    KASAN_SLAB_REDZONE, KASAN_VMALLOC_INVALID, QUARANTINE_PERCPU_SIZE)
from kmscript.runtime.machine import Machine, MachineConfig
from kmscript.runtime.reports import classify
from kmscript.runtime.slab_geometry import SLAB_KMALLOC, calculate_sizes


def kasan_machine(**kw: object) -> Machine:
    return Machine(MachineConfig(cpus=2, mem=256 << 20, kasan=True, **kw))  # type: ignore[arg-type]


def kasan_reports(m: Machine) -> list[str]:
    return [classify(r).title for r in m.log.records if classify(r).cls == "kasan"]


def test_kasan_cache_create_grows_the_object_slot() -> None:
    # kmalloc-64: alloc meta at 64 (+16), free meta inside the object, optimal redzone 32:
    # 96, aligned to the cache's 64 -> 128, 32 objects per order-0 slab
    geo = calculate_sizes(64, 64, SLAB_KMALLOC, 2, kasan=True)
    assert (geo.size, geo.objs_per_slab, geo.kasan_alloc_meta_offset, geo.kasan_free_meta_offset) == (128, 32, 64, 0)
    plain = calculate_sizes(64, 64, SLAB_KMALLOC, 2)
    assert (plain.size, plain.objs_per_slab) == (64, 64)
    # an 8-byte object: free meta does not fit, its tail goes after the object and alloc meta moves
    small = calculate_sizes(8, 8, SLAB_KMALLOC, 2, kasan=True)
    assert small.kasan_alloc_meta_offset == 16 and small.size == 32
    m = kasan_machine()
    assert m.kmalloc.kmalloc_cache_for(64).slab_size == 128
    assert m.kstacks.thread_size == 32768  # THREAD_SIZE_ORDER 2 + KASAN_STACK_ORDER 1


def test_shadow_of_a_kmalloc_object_and_its_life() -> None:
    m = kasan_machine()
    k = m.kasan
    assert k is not None
    p = m.kmalloc.kmalloc(50, GFP_KERNEL)
    assert p is not None
    assert [k.shadow_byte(p + 8 * i) for i in range(9)] == [0] * 6 + [2, KASAN_SLAB_REDZONE, KASAN_SLAB_REDZONE]
    m.kmalloc.kfree(p)
    assert k.shadow_byte(p) == KASAN_SLAB_FREE_META and k.shadow_byte(p + 8) == KASAN_SLAB_FREE
    assert k.is_quarantined(p)
    q = m.page_alloc.alloc_pages(GFP_KERNEL, 0)
    assert q is not None
    a = m.highmem.page_address(q)
    assert k.shadow_byte(a) == 0
    m.page_alloc.free_pages(q, 0)
    assert k.shadow_byte(a) == KASAN_PAGE_FREE
    big = m.kmalloc.kmalloc(10000, GFP_KERNEL)
    assert big is not None
    assert k.shadow_byte(big + 9992) == 0 and k.shadow_byte(big + 10000) == KASAN_PAGE_REDZONE
    v = m.vmalloc.vmalloc_gfp(100, GFP_KERNEL, 1, "t")
    assert v is not None
    assert k.shadow_byte(v + 96) == 4 and k.shadow_byte(v + 104) == KASAN_VMALLOC_INVALID


def test_out_of_bounds_and_use_after_free_are_reported_once_unless_multi_shot() -> None:
    m = kasan_machine()
    p = m.kmalloc.kmalloc(64, GFP_KERNEL)
    assert p is not None
    m.mem.write(p + 64, b"\x01", "t.kms:3")
    m.kmalloc.kfree(p)
    m.mem.read(p, 1, "t.kms:5")
    assert kasan_reports(m) == ["BUG: KASAN: slab-out-of-bounds in t.kms:3"]  # kasan_multi_shot off
    assert "B" in m.ctx.print_tainted()
    m2 = kasan_machine(kasan_multi_shot=True)
    p = m2.kmalloc.kmalloc(64, GFP_KERNEL)
    assert p is not None
    m2.mem.write(p + 64, b"\x01", "t.kms:3")
    m2.kmalloc.kfree(p)
    m2.mem.read(p, 1, "t.kms:5")
    m2.kmalloc.kfree(p)
    assert kasan_reports(m2) == ["BUG: KASAN: slab-out-of-bounds in t.kms:3",
                                 "BUG: KASAN: slab-use-after-free in t.kms:5", "BUG: KASAN: double-free in kfree"]


def test_report_layout_follows_report_c() -> None:
    m = kasan_machine()
    p = m.kmalloc.kmalloc(123, GFP_KERNEL)
    assert p is not None
    m.mem.write(p + 123, b"\x01", "t.kms:9")
    text = [r for r in m.log.records if "KASAN" in r.text][0].text.split("\n")
    assert text[0] == "=" * 66 and text[-1] == "=" * 66
    assert text[2] == f"Write of size 1 at addr {p + 123:016x} by task kmscript/{m.ctx.current.pid}"
    assert "The buggy address is located 0 bytes to the right of" in text
    assert f" allocated 123-byte region [{p:016x}, {p + 123:016x})" in text
    row = [ln for ln in text if ln.startswith(">")][0]
    caret = text[text.index(row) + 1]
    # the caret sits under the first digit of the first bad granule's shadow byte (the
    # partial 03), as in Documentation/dev-tools/kasan.rst's sample
    assert row[caret.index("^"):caret.index("^") + 2] == "03"


def test_quarantine_delays_reuse_and_drains_when_over_its_size() -> None:
    # 64 MiB: totalram / 32 is less than 2 CPUs x 1 MiB, so the global queue's maximum is 0
    m = Machine(MachineConfig(cpus=2, mem=64 << 20, kasan=True))
    k = m.kasan
    assert k is not None
    p = m.kmalloc.kmalloc(64, GFP_KERNEL)
    m.kmalloc.kfree(p)
    seen = set()
    per_cpu = QUARANTINE_PERCPU_SIZE // 128  # kmalloc-64 objects take 128 bytes with KASAN
    for _ in range(per_cpu - 10):  # still in this CPU's queue: never handed out again
        q = m.kmalloc.kmalloc(64, GFP_KERNEL)
        seen.add(q)
        m.kmalloc.kfree(q)
    assert p not in seen and k.is_quarantined(p)
    for _ in range(20):  # the queue passes 1 MiB, moves to the global FIFO, the next reduce frees it
        q = m.kmalloc.kmalloc(64, GFP_KERNEL)
        seen.add(q)
        m.kmalloc.kfree(q)
    assert not k.is_quarantined(p) and k.quarantine_max_size == 0
    # the batch went back to SLUB: its objects, p among them, are handed out again
    assert p in {m.kmalloc.kmalloc(64, GFP_KERNEL) for _ in range(per_cpu)}
    assert not kasan_reports(m)


def test_no_kasan_machine_has_no_handle_and_is_unchanged() -> None:
    m = Machine(MachineConfig(cpus=2, mem=256 << 20))
    assert m.kasan is None
    assert m.kmalloc.kmalloc_cache_for(64).slab_size == 64
    assert m.kstacks.thread_size == 16384


def test_random_kmalloc_traffic_has_exact_shadow_and_no_false_report() -> None:
    """Every byte below the requested size is accessible and the first byte past it is not,
    for every kmalloc class (objects of 96/192/... straddle pages under KASAN's sizes)."""
    import random
    rng = random.Random(19)
    m = Machine(MachineConfig(cpus=2, mem=128 << 20, kasan=True))
    k = m.kasan
    assert k is not None
    live: list[tuple[int, int]] = []
    for step in range(3000):
        if live and rng.random() < 0.45:
            p, size = live.pop(rng.randrange(len(live)))
            m.kmalloc.kfree(p)
            assert k.shadow_byte(p) == (0xFF if size > 8192 else 0xFA)  # a large kmalloc frees its pages
            continue
        size = rng.choice((1, 7, 8, 13, 50, 64, 95, 96, 100, 129, 191, 250, 700, 1000, 3000, 8000, 9000, 20000))
        p = m.kmalloc.kmalloc(size, GFP_KERNEL)
        assert p is not None
        assert not k._poisoned(p, size), (step, size)
        assert k._poisoned(p + size, 1), (step, size)
        live.append((p, size))
    assert not kasan_reports(m)
