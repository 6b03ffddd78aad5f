"""SLUB on the real machine: buddy pages, owners, meminfo counters, memory access, failslab."""

from __future__ import annotations

from hypothesis import given, settings, strategies as st

from kmscript.runtime.errors import KernelFault
from kmscript.runtime.gfp import GFP_ATOMIC, GFP_KERNEL, GFP_KERNEL_ACCOUNT, __GFP_RECLAIMABLE
from kmscript.runtime.machine import Machine, MachineConfig
from kmscript.runtime.mm_types import OWNER_SLAB

import pytest


def machine(**kw: object) -> Machine:
    return Machine(MachineConfig(mem=256 << 20, cpus=2, **kw))  # type: ignore[arg-type]


def free_pages(m: Machine) -> int:
    return m.page_alloc.nr_free_pages() + m.page_alloc.nr_pcp_pages()


def slab_pages(m: Machine) -> int:
    n = sum(1 << sl.order
            for s in m.slab.caches for sl in s.slabs_set)
    n += sum(1 << sl.order for sl in m.slab.rcu_pending_slabs)
    return n + sum(1 << o for (o, _c, _s) in m.kmalloc.large.values())


def test_slab_pages_come_from_the_buddy_allocator() -> None:
    m = machine()
    before = free_pages(m)
    base = slab_pages(m)
    p = m.kmalloc.kmalloc(100, GFP_KERNEL, "t.kms:1")
    sl = m.slab.slab_of(p)
    assert m.page_alloc.owner_of(sl.pfn) == OWNER_SLAB
    big = m.kmalloc.kmalloc(20000, GFP_KERNEL, "t.kms:2")
    assert before - free_pages(m) == slab_pages(m) - base == 1 + 8
    assert m.vmstat.nr_slab_unreclaimable_b == slab_pages(m) * 4096
    m.kmalloc.kfree(big)
    m.kmalloc.kfree(p)
    m.slab.kmem_cache_shrink(m.kmalloc.kmalloc_cache_for(100))
    assert free_pages(m) == before


def test_memory_access_and_zeroing() -> None:
    m = machine()
    p = m.kmalloc.kmalloc(64, GFP_KERNEL, "t.kms:1")
    m.mem.write(p, b"hello")
    assert m.mem.read(p, 5) == b"hello"
    m.kmalloc.kfree(p)
    q = m.kmalloc.kzalloc(64, GFP_KERNEL, "t.kms:2")
    assert q == p and m.mem.read(q, 64) == bytes(64)
    with pytest.raises(KernelFault):
        m.mem.read(16, 1)


def test_failslab_fault_injection() -> None:
    m = machine()
    f = m.faults
    if not hasattr(f, "failslab"):
        pytest.skip("fault injection knobs not available")
    m.faults.should_failslab = lambda *a, **k: True  # type: ignore[method-assign]
    m.faults.active = True
    assert m.kmalloc.kmalloc(64, GFP_KERNEL, "t.kms:1") is None


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(1, 12000), st.integers(0, 7)), max_size=150))
def test_random_kmalloc_kfree_matches_buddy(ops: list[tuple[bool, int, int]]) -> None:
    m = machine()
    before = free_pages(m)
    base = slab_pages(m)
    live: list[int] = []
    for alloc, size, k in ops:
        if alloc or not live:
            gfp = (GFP_KERNEL, GFP_ATOMIC, GFP_KERNEL_ACCOUNT, GFP_KERNEL | __GFP_RECLAIMABLE)[k % 4]
            m.ctx.cpu = k % 2
            p = m.kmalloc.kmalloc(size, gfp, "t.kms:1")
            assert p is not None
            live.append(p)
        else:
            m.kmalloc.kfree(live.pop(size % len(live)))
        assert before - free_pages(m) == slab_pages(m) - base
        assert m.vmstat.nr_slab_unreclaimable_b + m.vmstat.nr_slab_reclaimable_b == slab_pages(m) * 4096
    for p in live:
        m.kmalloc.kfree(p)
    for s in m.slab.caches:
        m.slab.kmem_cache_shrink(s)
    assert free_pages(m) - before == base - slab_pages(m)
