"""The allocators' decision records (runtime/explain.py, issue 21 item 1).

Each tree is checked against figures worked out by hand from the kernel's rules and the
verified machine's numbers (tests/scenarios/pages/watermarks.out and atomic_reserves.out,
linux-mm-facts.md sections 2, 3 and 6): the watermarks and pcp batch of the 6.18 machine,
__zone_watermark_ok's reserve arithmetic, expand()'s halves, kmalloc's size classes and
SLUB's slab orders."""

from __future__ import annotations

import json
import re

import pytest

from kmscript.runtime import gfp as G
from kmscript.runtime.explain import DecisionLog, Recording, Step, pfn_runs, recording_to_json, render_tree
from kmscript.runtime.machine import Machine, MachineConfig
from kmscript.runtime.procfs import buddyinfo

GFP_KERNEL, GFP_ATOMIC, GFP_NOWAIT, GFP_DMA = G.GFP_KERNEL, G.GFP_ATOMIC, G.GFP_NOWAIT, G.GFP_DMA
MOVABLE = getattr(G, "__GFP_MOVABLE")
NOWARN = getattr(G, "__GFP_NOWARN")
NORETRY = getattr(G, "__GFP_NORETRY")
RECLAIMABLE = getattr(G, "__GFP_RECLAIMABLE")

_SPLIT = re.compile(r"split order-(\d+) block at pfn (0x[0-9a-f]+): keeps order-(\d+) at (0x[0-9a-f]+), frees (.*)$")


def verified() -> Machine:
    """The verified 6.18 machine (watermarks.kms): Normal min/low/high 6273/7841/9409, batch 63."""
    return Machine(MachineConfig(cpus=2, dma_pages=3840, dma32_pages=772917, normal_pages=458752))


def one(rec: Recording, func: str) -> Step:
    found = rec.find(func)
    assert len(found) == 1, (func, [str(s) for s in found])
    return found[0]


def check_split(step: Step) -> tuple[int, int, int]:
    """A split's text against expand(): the block keeps its low part and frees the upper
    half at each order from high-1 down to the requested one."""
    assert step.result is not None
    m = _SPLIT.match(step.result)
    assert m, step.result
    high, block, order, kept = int(m[1]), int(m[2], 16), int(m[3]), int(m[4], 16)
    assert block == kept and block % (1 << high) == 0
    expected = ", ".join(f"order-{o} at {block + (1 << o):#x}" for o in range(high - 1, order - 1, -1))
    assert m[5] == expected
    return high, block, order


# -- the page allocator ------------------------------------------------------------------------
def test_order0_gfp_kernel_pcp_hit_passes_the_high_watermark() -> None:
    m = verified()
    pa = m.page_alloc
    pa.alloc_pages(GFP_KERNEL, 0)          # the Unmovable pcp list now holds a batch
    normal = next(z for z in pa.populated if z.name == "Normal")
    free = normal.free_pages
    pfn, rec = m.tracer.explain.record(lambda: pa.alloc_pages(GFP_KERNEL, 0))
    top = rec.steps[0]
    assert (top.func, top.numbers, top.result) == ("__alloc_pages", {"order": 0, "gfp": "GFP_KERNEL"}, f"pfn {pfn:#x}")
    prep = one(rec, "prepare_alloc_pages")
    assert prep.numbers == {"highest_zoneidx": "Normal", "migratetype": "Unmovable", "zonelist": "Normal,DMA32,DMA",
                            "preferred_zone": "Normal", "alloc_flags": "ALLOC_WMARK_LOW|ALLOC_NOFRAGMENT|ALLOC_KSWAPD"}
    wm = one(rec, "zone_watermark_fast")
    # the first test is at the high mark (ZONE_BELOW_HIGH is clear): 9409 on this machine
    assert wm.numbers["zone"] == "Normal" and wm.numbers["mark"] == "high" and wm.numbers["mark_pages"] == 9409
    assert wm.numbers["nr_free_pages"] == free and wm.numbers["lowmem_reserve"] == 0
    assert wm.numbers["test"] == f"{free} > 9409 + 0" and wm.result == "pass"
    hit = one(rec, "rmqueue_pcplist")
    assert hit.result == f"hit: pfn {pfn:#x}"
    assert hit.numbers["zone"] == "Normal" and hit.numbers["migratetype"] == "Unmovable"
    assert not rec.find("rmqueue_bulk") and not rec.find("__alloc_pages_slowpath")


def test_pcp_refill_takes_batch_pages_with_rmqueue_bulk() -> None:
    m = verified()
    pa = m.page_alloc
    pfn, rec = m.tracer.explain.record(lambda: pa.alloc_pages(G.GFP_HIGHUSER_MOVABLE, 0))
    pcp = one(rec, "rmqueue_pcplist")
    assert pcp.numbers["list_pages"] == 0 and pcp.numbers["migratetype"] == "Movable"
    assert pcp.result == f"refilled, took pfn {pfn:#x}"
    bulk = one(rec, "rmqueue_bulk")
    # nr_pcp_alloc: pcp->batch (63 on Normal) << alloc_factor (1: raised by the boot's own
    # refill of this CPU's lists), capped by high - count - batch, which is larger here;
    # order 0 keeps it whole
    assert pcp.numbers["pcp_batch"] == 63 and pcp.numbers["alloc_factor"] == 1
    high, count = pcp.numbers["pcp_high"], pcp.numbers["pcp_count"]
    assert isinstance(high, int) and isinstance(count, int) and high + 63 - count - 63 > 126
    assert bulk.numbers["batch"] == 126 and bulk.numbers["taken"] == 126
    assert bulk.result == "126 blocks of order 0 moved to the pcp list"
    splits = [s for s in bulk.children if s.func == "__rmqueue_smallest"]
    # the first call splits a whole order-10 block; every later one that needs a split
    # takes the smallest block the earlier splits left
    high, block, order = check_split(splits[0])
    assert (high, order) == (10, 0) and block == pfn
    for s in splits[1:]:
        check_split(s)
    # 126 pages from one order-10 block: the splits' leftovers, no other block touched
    assert all(int(_SPLIT.match(s.result or "")[2], 16) < block + 1024 for s in splits)  # type: ignore[index]


def test_order3_split_shows_the_blocks() -> None:
    m = verified()
    pa = m.page_alloc
    pfn, rec = m.tracer.explain.record(lambda: pa.alloc_pages(GFP_KERNEL, 3))
    bulk = one(rec, "rmqueue_bulk")
    assert bulk.numbers["batch"] == 63 >> 3      # nr_pcp_alloc: max(batch >> order, 2)
    splits = [s for s in bulk.children if s.func == "__rmqueue_smallest"]
    assert splits
    first = check_split(splits[0])
    assert first[1] == pfn and first[2] == 3
    for s in splits:
        assert check_split(s)[2] == 3


def test_order4_goes_to_the_buddy_lists_directly() -> None:
    m = verified()
    pa = m.page_alloc
    pfn, rec = m.tracer.explain.record(lambda: pa.alloc_pages(GFP_KERNEL, 4))
    buddy = one(rec, "rmqueue_buddy")
    assert buddy.result == f"pfn {pfn:#x}" and not rec.find("rmqueue_pcplist")
    high, block, order = check_split(one(rec, "__rmqueue_smallest"))
    assert block == pfn and order == 4 and high > 4


def drained_dma() -> Machine:
    """atomic_reserves.kms: a 1G machine's ZONE_DMA (min 174 low 217 high 260) emptied by
    GFP_NOWAIT down to the min mark; the watermarks are boosted by a pageblock (512)."""
    m = Machine(MachineConfig(mem=1 << 30, cpus=1))
    pa = m.page_alloc
    while pa.alloc_pages(GFP_NOWAIT | GFP_DMA | MOVABLE | NOWARN, 0) is not None:
        pass
    return m


def test_gfp_atomic_below_the_low_watermark_uses_the_min_reserve() -> None:
    m = drained_dma()
    pa = m.page_alloc
    pfn, rec = m.tracer.explain.record(lambda: pa.alloc_pages(GFP_ATOMIC | GFP_DMA | MOVABLE, 0))
    assert pfn is not None
    fast, slow = rec.find("zone_watermark_fast")
    free = fast.numbers["nr_free_pages"]
    assert isinstance(free, int)
    # the fast path's test is at the (boosted) low mark: 217 + 512 = 729, and fails
    assert fast.numbers["watermark_boost"] == 512 and fast.numbers["mark"] == "low"
    assert fast.numbers["mark_pages"] == 729 and fast.result == "fail" and free <= 729
    path = one(rec, "__alloc_pages_slowpath")
    # gfp_to_alloc_flags: __GFP_HIGH -> ALLOC_MIN_RESERVE, no direct reclaim -> ALLOC_NON_BLOCK,
    # and a reserve user is not bound by the cpuset (no ALLOC_CPUSET)
    assert path.numbers["alloc_flags"] == "ALLOC_WMARK_MIN|ALLOC_NON_BLOCK|ALLOC_MIN_RESERVE|ALLOC_KSWAPD"
    assert slow.numbers["mark"] == "min" and slow.numbers["mark_pages"] == 174 + 512
    # __zone_watermark_ok: 686 - 686/2 = 343, then - 343/4 = 258 (the golden's atomic floor)
    assert slow.numbers["boosted_test"] == f"{free} > 258 + 0: fail"
    # zone_watermark_fast retries an order-0 ALLOC_MIN_RESERVE request at the unboosted
    # min 174: 174 - 87 = 87, 87 - 21 = 66
    assert slow.numbers["retry_at_unboosted_min"] == 174 and slow.numbers["min"] == 66
    assert slow.numbers["test"] == f"{free} > 66 + 0" and slow.result == "pass"
    assert rec.steps[0].result == f"pfn {pfn:#x}"


def test_failing_allocation_goes_through_the_slow_path() -> None:
    m = Machine(MachineConfig(mem=64 << 20, cpus=1))
    pa = m.page_alloc
    while pa.alloc_pages(GFP_ATOMIC | NOWARN, 0) is not None:
        pass
    pfn, rec = m.tracer.explain.record(lambda: pa.alloc_pages(GFP_KERNEL | NORETRY, 3))
    assert pfn is None and rec.steps[0].result == "NULL"
    path = next(s for s in rec.steps[0].children if s.func == "__alloc_pages_slowpath")
    assert path.result == "NULL" and path.numbers["alloc_flags"] == "ALLOC_WMARK_MIN|ALLOC_CPUSET|ALLOC_KSWAPD"
    seq = [(s.func, s.result) for s in path.children]
    funcs = [f for f, _ in seq]
    # __alloc_pages_slowpath's order: wake kswapd, retry at min, compact first (a
    # non-movable order-3 request), retry, direct reclaim, compact, __GFP_NORETRY: fail
    assert funcs[0] == "wakeup_kswapd" and funcs[1] == "get_page_from_freelist"
    assert ("__alloc_pages_slowpath", "costly or non-movable high-order request: compact first") in seq
    assert funcs.index("__alloc_pages_direct_compact") < funcs.index("__alloc_pages_direct_reclaim")
    reclaim = one(rec, "__alloc_pages_direct_reclaim")
    assert reclaim.numbers["nr_reclaimed"] == 0 and reclaim.result == "reclaimed 0 pages"
    assert reclaim.numbers["nr_free_before"] == reclaim.numbers["nr_free_after"]
    assert seq[-2] == ("__alloc_pages_slowpath", "__GFP_NORETRY: no retry, fail")
    assert seq[-1] == ("warn_alloc", "page allocation failure")
    # every watermark test failed, each with its numbers: free minus the order's
    # 2^3 - 1 pages against the mark plus the zone's lowmem_reserve
    for wm in rec.find("zone_watermark_fast"):
        n = wm.numbers
        assert wm.result == "fail" and n["free"] == n["nr_free_pages"] - 7  # type: ignore[operator]
        assert n["test"] == f"{n['free']} > {n['min']} + {n['lowmem_reserve']}"
    assert "page allocation failure: order:3" in m.log.records[-1].text


def test_oom_kill_is_recorded_with_what_it_freed() -> None:
    m = Machine(MachineConfig(mem=64 << 20, cpus=1))
    hog = m.tasks.spawn("hog", 0)
    assert hog is not None
    hog.fault(20 << 20)
    pa = m.page_alloc
    rec = Recording()
    for _ in range(20000):     # GFP_KERNEL until the OOM killer runs (a few thousand pages)
        pfn, rec = m.tracer.explain.record(lambda: pa.alloc_pages(GFP_KERNEL, 0))
        if rec.find("__alloc_pages_may_oom"):
            break
    oom = one(rec, "__alloc_pages_may_oom")
    assert oom.result == "killed 1 task" and oom.numbers["oom_kills"] == 1 and not hog.alive
    # the hog's 20 MiB came back: 5120 pages and its page tables, less what is still on pcp lists
    freed = oom.numbers["nr_free_after"] - oom.numbers["nr_free_before"]  # type: ignore[operator]
    assert freed > 4000
    # before it: the last chance at the high mark (the victim's frees are not listed)
    high = [s for s in oom.children if s.func == "get_page_from_freelist"]
    assert len(high) == 1 and high[0].numbers["alloc_flags"] == "ALLOC_WMARK_HIGH|ALLOC_CPUSET"
    assert not rec.find("free_frozen_pages")
    path = next(s for s in rec.steps[0].children if s.func == "__alloc_pages_slowpath")
    funcs = [c.func for c in path.children]
    assert funcs.index("__alloc_pages_direct_reclaim") < funcs.index("should_reclaim_retry") \
        < funcs.index("__alloc_pages_may_oom")
    assert rec.steps[0].result == f"pfn {pfn:#x}"


def test_explaining_changes_no_decision() -> None:
    """The same work with and without the records leaves the same machine."""
    def work(m: Machine) -> None:
        pa, km = m.page_alloc, m.kmalloc
        pages = [pa.alloc_pages(GFP_KERNEL, o % 4) for o in range(40)]
        objs = [km.kmalloc(s, GFP_KERNEL, "t") for s in (8, 50, 200, 3000, 9000) * 20]
        v = m.vmalloc.vmalloc(64 << 10)
        for i, p in enumerate(pages):
            if i % 3:
                pa.free_pages(p, i % 4)
        for o in objs[::2]:
            km.kfree(o, "t")
        m.vmalloc.vfree(v)

    plain, explained = verified(), verified()
    work(plain)
    explained.tracer.explain.record(lambda: work(explained))
    assert not explained.tracer.enabled          # recording is over: the fast paths are back
    assert buddyinfo(explained.page_alloc) == buddyinfo(plain.page_alloc)
    assert explained.page_alloc.nr_free_pages() == plain.page_alloc.nr_free_pages()


# -- SLUB and kmalloc ----------------------------------------------------------------------------
def test_kmalloc_that_creates_a_new_slab() -> None:
    m = verified()
    km = m.kmalloc
    obj, rec = m.tracer.explain.record(lambda: km.kmalloc(3000, GFP_KERNEL, "t"))
    slab_step = one(rec, "kmalloc_slab")
    # 3000 > 192: kmalloc_index = fls(2999) = 12, kmalloc-4k; no type bit set: KMALLOC_NORMAL
    assert slab_step.result == "kmalloc-4k" and slab_step.numbers["index"] == 12
    assert slab_step.numbers["size_class"] == "fls(3000 - 1) = 12"
    assert slab_step.numbers["kmalloc_type"] == "KMALLOC_NORMAL"
    new = one(rec, "new_slab")
    # kmalloc-4k: order 3, 8 objects per slab (linux-mm-facts.md 6)
    assert new.numbers["order"] == 3 and new.numbers["objects"] == 8
    assert new.result == f"slab at {obj:#x}, order 3, 8 objects"
    alloc = one(rec, "allocate_slab")
    # oo above the minimum order: no reclaim, __GFP_NOWARN|__GFP_NORETRY|__GFP_NOMEMALLOC
    assert alloc.numbers["gfp"] == "__GFP_IO|__GFP_FS|__GFP_NOWARN|__GFP_NORETRY|__GFP_COMP|__GFP_NOMEMALLOC"
    pages = [s for s in new.children if s.func == "__alloc_pages"]
    assert len(pages) == 1 and pages[0].numbers["order"] == 3
    # the next one comes off the cpu freelist the new slab filled
    obj2, rec2 = m.tracer.explain.record(lambda: km.kmalloc(3000, GFP_KERNEL, "t"))
    hit = one(rec2, "slab_alloc_node")
    assert hit.result == f"fast path: cpu freelist hit, object {obj2:#x}" and hit.numbers["freelist_left"] == 6
    assert not rec2.find("__alloc_pages")


def test_kmalloc_type_follows_the_gfp_bits() -> None:
    m = verified()
    _, rec = m.tracer.explain.record(lambda: m.kmalloc.kmalloc(50, GFP_KERNEL | RECLAIMABLE, "t"))
    s = one(rec, "kmalloc_slab")
    assert s.result == "kmalloc-rcl-64" and s.numbers["kmalloc_type"] == "KMALLOC_RECLAIM"
    assert s.numbers["size_class"] == "size_index[(50 - 1) / 8] = 6"
    assert s.numbers["why"] == "KMALLOC_RECLAIM: __GFP_RECLAIMABLE"


def test_kfree_that_discards_slabs() -> None:
    """kmalloc-4k (8 objects a slab, cpu_partial_slabs 2, min_partial 6): freeing 12 full
    slabs' objects in order fills the node partial list to min_partial, then a slab
    going back to a full cpu partial list pushes the list to the node, and the empty
    slabs there are discarded."""
    m = Machine(MachineConfig(mem=1 << 30, cpus=1))
    km = m.kmalloc
    objs = [km.kmalloc(4096, GFP_KERNEL, "t") for _ in range(8 * 12)]
    cache = km.kmalloc_slab(4096, GFP_KERNEL)
    assert (cache.min_partial, cache.cpu_partial_slabs) == (6, 2)
    for o in objs[:64]:
        km.kfree(o, "t")
    _, rec = m.tracer.explain.record(lambda: km.kfree(objs[64], "t"))
    top = rec.steps[0]
    assert top.func == "kfree" and top.numbers == {"ptr": f"{objs[64]:016x}"}
    put = one(rec, "put_cpu_partial")
    assert put.numbers == {"cpu_partial": 2, "cpu_partial_slabs": 2}
    discards = rec.find("discard_slab")
    assert len(discards) == 2
    for d in discards:
        assert d.numbers["order"] == 3 and d.result == "order-3 pages back to the page allocator"
    for p in rec.find("__put_partials"):
        assert p.numbers["nr_partial"] == 6 and p.numbers["min_partial"] == 6
    frees = rec.find("free_frozen_pages")
    assert [f.numbers["order"] for f in frees] == [3, 3]


# -- vmalloc and per-cpu ------------------------------------------------------------------------
def test_vmalloc_shows_the_range_and_the_pages() -> None:
    m = verified()
    addr, rec = m.tracer.explain.record(lambda: m.vmalloc.vmalloc(64 << 10))
    top = one(rec, "__vmalloc_node_range")
    assert top.result == f"{addr:#x}" and top.numbers["size"] == 64 << 10
    va = one(rec, "alloc_vmap_area")
    # 16 pages and a guard page
    assert va.numbers["size"] == 17 << 12
    assert va.result is not None and va.result.startswith(f"range {addr:#x}-{addr + (17 << 12):#x}")
    pages = one(rec, "vm_area_alloc_pages")
    area = m.vmalloc.find_vm_area(addr)
    assert area is not None
    assert pages.result == f"16 of 16 pages: {pfn_runs(area.pages)}"
    # one bulk request serves all 16 pages from a pcp list; the single-page allocator is not called
    bulk = [s for s in pages.children if s.func == "alloc_pages_bulk"]
    assert len(bulk) == 1 and bulk[0].numbers["nr_pages"] == 16
    assert bulk[0].result is not None and bulk[0].result.startswith("16 pages from the ")
    assert not [s for s in pages.children if s.func == "__alloc_pages"]
    # its watermark test: the low mark (7841 on Normal) plus the 16 pages requested
    wm = [s for s in bulk[0].children if s.func == "zone_watermark_fast"]
    assert len(wm) == 1 and wm[0].numbers["mark_pages"] == 7841 + 16 and wm[0].result == "pass"


def test_percpu_alloc_names_the_chunk() -> None:
    m = verified()
    ptr, rec = m.tracer.explain.record(lambda: m.percpu.alloc_percpu(64))
    top = one(rec, "pcpu_alloc")
    assert top.result == f"{ptr:#x}"
    fit = rec.find("pcpu_find_block_fit") or rec.find("pcpu_create_chunk")
    assert fit and fit[0].numbers["size"] == 64
    _, rec = m.tracer.explain.record(lambda: m.percpu.free_percpu(ptr))
    free = one(rec, "pcpu_free_area")
    assert free.result is not None and free.result.startswith("offset ")


def test_kmem_cache_alloc_of_a_debug_cache() -> None:
    from kmscript.runtime.slab_geometry import SLAB_RED_ZONE
    m = verified()
    cache = m.slab.kmem_cache_create("dbg", 100, flags=SLAB_RED_ZONE)
    assert cache is not None
    obj, rec = m.tracer.explain.record(lambda: m.kmalloc.kmem_cache_alloc(cache, GFP_KERNEL, "t"))
    top = rec.steps[0]
    assert (top.func, top.numbers, top.result) == ("kmem_cache_alloc", {"cache": "dbg", "gfp": "GFP_KERNEL"},
                                                   f"{obj:#x}")
    debug = [st for st in rec.find("___slab_alloc") if st.result and "debug cache" in st.result]
    assert debug and debug[0].numbers["nr_partial"] == 0
    _, rec = m.tracer.explain.record(lambda: m.kmalloc.kmem_cache_free(cache, obj, "t"))
    assert rec.steps[0].func == "kmem_cache_free"


# -- the log itself ---------------------------------------------------------------------------
def test_steps_nest_and_recordings_nest() -> None:
    toggles: list[bool] = []
    log = DecisionLog(toggles.append)
    assert not log.on

    def inner() -> int:
        s = log.begin("inner", a=1)
        log.note("leaf", "done", b=2)
        log.end(s, "ok")
        return 7

    def outer() -> int:
        s = log.begin("outer")
        v, rec = log.record(inner)
        assert [st.func for st in rec.steps] == ["inner"]
        log.end(s)
        return v

    v, rec = log.record(outer)
    assert v == 7 and toggles == [True, False] and not log.on
    assert render_tree(rec) == "outer\n  inner  a=1  -> ok\n    leaf  b=2  -> done"
    doc = recording_to_json(rec)
    assert json.loads(json.dumps(doc)) == {"steps": [{"function": "outer", "numbers": {}, "steps": [
        {"function": "inner", "numbers": {"a": 1}, "result": "ok", "steps": [
            {"function": "leaf", "numbers": {"b": 2}, "result": "done", "steps": []}]}]}], "dropped": 0}


def test_limit_counts_what_it_drops_and_errors_keep_the_partial_record() -> None:
    log = DecisionLog(limit=3)

    def many() -> None:
        for i in range(5):
            log.note("n", i=i)
        raise ValueError("boom")

    with pytest.raises(ValueError) as e:
        log.record(many)
    rec = e.value.explain_recording  # type: ignore[attr-defined]
    assert [s.numbers["i"] for s in rec.steps] == [0, 1, 2] and rec.dropped == 2
    assert render_tree(rec).endswith("... 2 more steps not recorded (at most 3 are kept)")
    assert not log.on


def test_muted_steps_are_left_out() -> None:
    log = DecisionLog()

    def work() -> None:
        log.note("first")
        log.mute(True)
        log.note("second")
        log.mute(False)
        log.note("third")

    _, rec = log.record(work)
    assert [s.func for s in rec.steps] == ["first", "third"]
    assert render_tree(Recording()) == "(no allocation or free)"
    assert pfn_runs([1, 2, 3, 7, 9, 10]) == "pfn 0x1-0x3, 0x7, 0x9-0xa"
