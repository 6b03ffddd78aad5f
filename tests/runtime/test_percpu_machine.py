"""The per-cpu allocator on a whole Machine: static and dynamic variables, memory through
per-cpu addresses, new chunks in the vmalloc space, invariants under random use."""

from __future__ import annotations

from hypothesis import given, settings, strategies as st

from kmscript.runtime.gfp import GFP_KERNEL
from kmscript.runtime.arch import X86_64

is_vmalloc_addr = X86_64.is_vmalloc_addr

from test_vmalloc_machine import boot


def test_percpu_static_and_dynamic_on_machine() -> None:
    m = boot()
    m.percpu.define_per_cpu("ctx", 5)
    m.ctx.enter_cpu(1)
    assert m.percpu.this_cpu_add("ctx", 1) == 6
    m.ctx.preempt_enable()
    m.ctx.cpu = 0
    assert m.percpu.per_cpu("ctx", 0) == 5 and m.percpu.per_cpu("ctx", 1) == 6 and m.percpu.percpu_sum("ctx") == 11
    p = m.percpu.alloc_percpu(64)
    m.mem.write(m.percpu.per_cpu_ptr(p, 1), b"\x07")
    assert m.mem.read(m.percpu.per_cpu_ptr(p, 0), 1) == b"\x00"
    assert m.mem.read(m.percpu.per_cpu_ptr(p, 1), 1) == b"\x07"
    # exhaust the first chunk: a new chunk appears at the top of the vmalloc space
    ptrs = [m.percpu.alloc_percpu(8192) for _ in range(4)]
    assert any(is_vmalloc_addr(x) for x in ptrs)
    assert "pcpu_get_vm_areas" in m.vmalloc.vmallocinfo()
    assert m.vmstat.nr_percpu_pages > 106
    for x in ptrs:
        m.percpu.free_percpu(x)
    m.percpu.free_percpu(p)


def test_static_percpu_variable_bytes_follow_its_value() -> None:
    m = boot()
    m.percpu.define_per_cpu("c", 258)
    a = m.percpu.var_addr("c", 1)
    assert m.mem.read(a, 8) == (258).to_bytes(8, "little")
    m.mem.write(a, b"\x05")
    assert m.percpu.per_cpu("c", 1) == 261 and m.percpu.per_cpu("c", 0) == 258
    m.percpu.set_per_cpu("c", 1, -1)
    assert m.mem.read(a, 8) == b"\xff" * 8


@settings(max_examples=20, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(1, 20000), st.sampled_from([4, 8, 64, 4096]),
                          st.booleans()), min_size=1, max_size=30))
def test_random_percpu_alloc_free_keeps_chunk_invariants(ops: list[tuple[bool, int, int, bool]]) -> None:
    from kmscript.runtime.gfp import GFP_ATOMIC
    m = boot()
    pc = m.percpu
    live: list[int] = []
    for alloc, size, align, atomic in ops:
        if alloc or not live:
            p = m.percpu.alloc_percpu(size, align, GFP_ATOMIC if atomic else GFP_KERNEL)
            if p is not None:
                chunk, off, bits = pc.allocs[p]
                assert (off * 4) % align == 0 and bits == -(-size // 4)
                assert chunk.is_populated(off, bits)  # every byte of a live area is backed
                live.append(p)
        else:
            m.percpu.free_percpu(live.pop(size % len(live)))
        for chunk in pc.chunks:
            used = sum(chunk.bound.values())
            hidden = (chunk.start_offset + chunk.end_offset) // 4
            assert chunk.alloc_map.count(1) == used + hidden  # no overlap, nothing leaked
            assert chunk.free_bytes == (len(chunk.alloc_map) - used - hidden) * 4
            for page, pfns in chunk.page_pfns.items():
                assert chunk.populated[page] and len(pfns) == m.nr_cpus
        assert m.vmstat.nr_percpu_pages == pc.nr_populated * pc.nr_units
    for p in live:
        m.percpu.free_percpu(p)
    assert len([c for c in pc.chunks if not c.immutable]) <= 1  # spare empty chunks are freed


def test_atomic_failure_queues_balance_work_that_makes_room() -> None:
    from kmscript.runtime.gfp import GFP_ATOMIC
    m = boot()
    for _ in range(3):
        m.percpu.alloc_percpu(8192)
    m.ctx.spin_lock("l")
    first = m.percpu.alloc_percpu(28 << 10, 4, GFP_ATOMIC)  # no populated 28K run anywhere
    m.ctx.spin_unlock("l")
    assert first is None and "atomic alloc failed, no space left" in m.log.dmesg()
    assert "sleeping function" not in m.log.dmesg()  # the balance work runs in process context
    m.ctx.spin_lock("l")
    again = m.percpu.alloc_percpu(8192, 4, GFP_ATOMIC)  # the work populated pages of a new chunk
    m.ctx.spin_unlock("l")
    assert again is not None and is_vmalloc_addr(again)
