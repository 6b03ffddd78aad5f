"""The per-cpu allocator against the stand-in page allocator of test_vmalloc_unit: the
first-chunk layout of the boot log, dynamic allocation, new chunks, illegal and atomic
requests, static variables."""

from __future__ import annotations

import pytest

from kmscript.runtime.errors import KernelFault
from kmscript.runtime.gfp import GFP_ATOMIC
from kmscript.runtime.percpu import PerCpu
from kmscript.runtime.percpu_internal import pcpu_build_alloc_info, sizeof_pcpu_chunk
from kmscript.runtime.mm_types import PAGE_SIZE
from kmscript.runtime.arch import X86_64

from test_vmalloc_unit import VMALLOC_END, is_vmalloc_addr, make


def test_percpu_first_chunk_layout_matches_boot_log() -> None:
    ai = pcpu_build_alloc_info(2, atom_size=2 << 20)
    assert ai.embedded_line() == "percpu: Embedded 53 pages/cpu s185496 r0 d31592 u1048576"
    assert ai.dump_alloc_info() == "pcpu-alloc: s185496 r0 d31592 u1048576 alloc=1*2097152\npcpu-alloc: [0] 0 1 "
    assert pcpu_build_alloc_info(4, atom_size=2 << 20).unit_size == 512 << 10
    assert pcpu_build_alloc_info(3, atom_size=2 << 20).nr_units == 4  # one wasted unit (<= 3/3)


def make_percpu(nr_cpus: int = 2):
    vm, buddy, km, log, tracer, ctx, vmstat = make(nr_cpus)
    pc = PerCpu(arch=X86_64, page_alloc=buddy, vmalloc=vm, kmalloc=km.kmalloc, kfree=km.kfree, ctx=ctx, log=log,
                tracer=tracer, vmstat=vmstat, nr_cpus=nr_cpus, first_chunk_paddr=lambda size: 0x7FC00000,
                owner_percpu=11)
    return pc, vm, buddy, km, log, tracer, ctx, vmstat


def test_percpu_dynamic_alloc_first_chunk_then_new_chunk() -> None:
    pc, vm, buddy, km, log, tracer, ctx, vmstat = make_percpu()
    assert vmstat.nr_percpu_pages == 53 * 2
    assert log.contains("percpu: Embedded 53 pages/cpu s185496 r0 d31592 u1048576")
    p = pc.alloc_percpu(6)  # rounded up to 8
    fc = pc.first_chunk
    assert p == fc.base_addr + fc.start_offset  # first free byte after the static area
    assert fc.base_addr == pc.pcpu_base_addr + 45 * PAGE_SIZE and fc.start_offset == 1176
    assert pc.per_cpu_ptr(p, 1) - p == 1 << 20
    q = pc.alloc_percpu(4, 64)
    assert (q - fc.base_addr) % 64 == 0
    # fill the first chunk, then a new chunk is made at the top of the vmalloc space
    big = [pc.alloc_percpu(8192) for _ in range(3)]
    assert all(fc.base_addr <= b < fc.base_addr + fc.nr_pages * PAGE_SIZE for b in big)
    r = pc.alloc_percpu(16384)
    assert r is not None and is_vmalloc_addr(r)
    chunk = pc.allocs[r][0]
    assert chunk.vm is not None and chunk.vm.addr + chunk.vm.size == (VMALLOC_END & ~((2 << 20) - 1))
    assert "pcpu_create_chunk+0x217/0x230 pages=512 vmalloc" in vm.vmallocinfo()
    # 4 pages populated on each of 2 CPUs for the allocation itself, plus balance top-up
    assert chunk.nr_populated >= 4
    assert vmstat.nr_percpu_pages == (53 + chunk.nr_populated) * 2
    assert vm.translate(pc.per_cpu_ptr(r, 1)) is not None
    pc.free_percpu(r)
    pc.free_percpu(0)
    assert any(e == "percpu_free_percpu" for e, _ in tracer.events)


def test_percpu_illegal_and_atomic() -> None:
    pc, vm, buddy, km, log, tracer, ctx, vmstat = make_percpu()
    assert pc.alloc_percpu(0) is None
    assert log.contains("illegal size (0) or align (4) for percpu allocation")
    assert pc.alloc_percpu(40000) is None
    assert pc.alloc_percpu(8, 3) is not None  # align < 4 becomes 4 before the check
    assert pc.alloc_percpu(8, 12) is None
    assert log.contains("illegal size (8) or align (12)")
    for _ in range(3):
        assert pc.alloc_percpu(8192) is not None
    # atomic callers cannot create a chunk
    assert pc.alloc_percpu(16384, gfp=GFP_ATOMIC) is None
    assert log.contains("percpu: allocation failed, size=16384 align=4 atomic=1, atomic alloc failed, no space left")


def test_percpu_static_vars() -> None:
    pc, *_ , ctx, _vs = make_percpu(4)
    v = pc.define_per_cpu("ctx", 5)
    assert v.values == [5, 5, 5, 5]
    with pytest.raises(KernelFault):
        pc.define_per_cpu("ctx", 1)
    assert pc.var_addr("ctx", 2) - pc.var_addr("ctx", 0) == 2 * pc.unit_size
    with pytest.raises(KernelFault):
        pc.var_addr("ctx", 4)


def test_new_chunk_struct_is_sizeof_pcpu_chunk_plus_the_populated_bitmap() -> None:
    # mm/percpu.c: pcpu_chunk_struct_size = struct_size(chunk, populated, BITS_TO_LONGS(
    # pcpu_unit_pages)); struct pcpu_chunk (mm/percpu-internal.h) is padded to the cache
    # line because base_addr is ____cacheline_aligned_in_smp: 192 bytes on x86_64, not the
    # 136 of populated[]'s offset.
    assert sizeof_pcpu_chunk(8, 64) == 192
    assert sizeof_pcpu_chunk(4, 64) == 128  # i386: populated[] at 108
    vm, buddy, km, log, tracer, ctx, vmstat = make(2)
    asked: list[tuple[int, str]] = []

    def kmalloc(size: int, gfp: int, caller: str) -> int | None:
        asked.append((size, caller))
        return km.kmalloc(size, gfp, caller)

    pc = PerCpu(arch=X86_64, page_alloc=buddy, vmalloc=vm, kmalloc=kmalloc, kfree=km.kfree, ctx=ctx, log=log,
                tracer=tracer, vmstat=vmstat, nr_cpus=2, first_chunk_paddr=lambda size: 0x7FC00000,
                owner_percpu=11)
    assert pc.unit_pages == 256  # u1048576
    before = len(asked)
    [pc.alloc_percpu(8192) for _ in range(3)]
    assert pc.alloc_percpu(16384) is not None  # does not fit the first chunk: pcpu_create_chunk
    assert asked[before][0] == 192 + 256 // 8  # the chunk struct and its populated[] bitmap: 224
