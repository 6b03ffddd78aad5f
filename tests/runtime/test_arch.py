"""The architecture is data: one Arch description, selected by machine(arch=...)."""

from __future__ import annotations

import dataclasses

import pytest

from kmscript.runtime import slab_geometry as g
from kmscript.runtime.arch import ARCHES, I386, X86_64, Arch, get_arch
from kmscript.runtime.errors import KernelFault
from kmscript.runtime.machine import Machine, MachineConfig


def test_x86_64_facts() -> None:
    a = get_arch("x86_64")
    assert a is X86_64 and ARCHES == {"x86_64": X86_64, "i386": I386}
    assert a.page_offset == 0xFFFF888000000000 and a.vmalloc_start == 0xFFFFC90000000000
    assert a.vmalloc_end == 0xFFFFC90000000000 + (32 << 40) - 1
    assert a.direct_map_end == 0xFFFFC88000000000          # PAGE_OFFSET + 64 TiB
    assert a.thread_size == 16384 and a.pointer_size == 8 and a.struct_page_size == 64
    assert a.page_address(0x1234) == 0xFFFF888001234000
    assert a.virt_to_pfn(a.page_address(0x1234) + 17) == 0x1234
    assert a.pfn_to_struct_page(3) == 0xFFFFEA0000000000 + 3 * 64
    assert a.is_vmalloc_addr(a.vmalloc_start) and not a.is_vmalloc_addr(a.page_offset)


def test_unknown_arch_is_refused_with_the_known_ones() -> None:
    with pytest.raises(KernelFault, match=r"arch='arm': unknown architecture \(known: i386, x86_64\)"):
        get_arch("arm")
    with pytest.raises(KernelFault, match="unknown architecture"):
        Machine(MachineConfig(mem=64 << 20, cpus=1, arch="sparc"))


def test_machine_takes_every_address_fact_from_its_arch() -> None:
    """A different (made-up) direct map base moves every address the allocators hand out:
    nothing below the facade hard-codes x86_64's PAGE_OFFSET or vmalloc range."""
    other = dataclasses.replace(X86_64, name="x86_64-shifted", page_offset=0xFFFF800000000000,
                                vmalloc_start=0xFFFFD00000000000, vmalloc_end=0xFFFFD00000000000 + (1 << 40) - 1)
    ARCHES[other.name] = other
    try:
        m = Machine(MachineConfig(mem=256 << 20, cpus=2, arch=other.name))
        ref = Machine(MachineConfig(mem=256 << 20, cpus=2))
        assert m.arch is other and isinstance(m.arch, Arch)
        for mach in (m, ref):
            p = mach.kmalloc.kmalloc(64)
            assert p is not None and mach.arch.is_direct_map_addr(p)
            assert mach.slab.find_cache("kmalloc-64").name == "kmalloc-64"
            mach.mem.write(p, b"hello")
            assert mach.mem.read(p, 5) == b"hello"
            v = mach.vmalloc.vmalloc_gfp(3 * 4096, 0xCC0)
            assert v is not None and mach.arch.is_vmalloc_addr(v)
            mach.mem.write(v, b"vm")
            assert mach.mem.read(v, 2) == b"vm"
            mach.vmalloc.vfree(v)
            mach.kmalloc.kfree(p)
        # the same allocation lands at the same pfn, at the arch's own address
        assert m.kmalloc.kmalloc(64) - other.page_offset == ref.kmalloc.kmalloc(64) - X86_64.page_offset
        assert m.vmalloc.vmalloc_gfp(4096, 0xCC0) - other.vmalloc_start == ref.vmalloc.vmalloc_gfp(4096, 0xCC0) - X86_64.vmalloc_start
        assert m.highmem.page_address(5) == other.page_offset + 5 * 4096
    finally:
        del ARCHES[other.name]


def _with_arch(arch: Arch, mem: int = 256 << 20, cpus: int = 2) -> Machine:
    ARCHES[arch.name] = arch
    try:
        return Machine(MachineConfig(mem=mem, cpus=cpus, arch=arch.name))
    finally:
        del ARCHES[arch.name]


# A made-up 32-bit arch: 4-byte pointers and longs, 32-byte cache lines, ARCH_SLAB_MINALIGN 4.
ARCH32 = dataclasses.replace(X86_64, name="made-up-32", pointer_size=4, cache_line_size=32,
                             slab_min_align=4, kmalloc_min_align=4)


def test_slab_alignment_follows_the_arch() -> None:
    """mm/slab_common.c: calculate_alignment: SLAB_HWCACHE_ALIGN starts from cache_line_size()
    and halves it while the object fits twice; then max(ARCH_SLAB_MINALIGN) and
    ALIGN(align, sizeof(void *)) (include/linux/slab.h: ARCH_SLAB_MINALIGN)."""
    hw = g.SLAB_HWCACHE_ALIGN
    assert g.calculate_alignment(hw, 0, 40, X86_64) == 64 and g.calculate_alignment(hw, 0, 40, ARCH32) == 32
    assert g.calculate_alignment(hw, 0, 12, X86_64) == 16 == g.calculate_alignment(hw, 0, 12, ARCH32)
    assert g.calculate_alignment(0, 0, 10, X86_64) == 8 and g.calculate_alignment(0, 0, 10, ARCH32) == 4
    assert g.calculate_alignment(0, 2, 10, ARCH32) == 4 and g.calculate_alignment(0, 6, 10, ARCH32) == 8
    # the default is the verified machine's
    assert g.calculate_alignment(hw, 0, 40) == 64


def test_slab_layout_follows_the_pointer_size() -> None:
    """mm/slub.c: calculate_sizes: the object is rounded to sizeof(void *), the free pointer
    sits at ALIGN_DOWN(object_size / 2, sizeof(void *)) or past the object (a void *), the
    right red zone word is a void *, SLAB_STORE_USER adds 2 * sizeof(struct track)."""
    assert (ARCH32.sizeof_track, X86_64.sizeof_track) == (20, 32)   # 4+4+4+4+4 / 8+4+4+4+pad 4+8
    plain32 = g.calculate_sizes(10, 4, 0, 2, arch=ARCH32)
    plain64 = g.calculate_sizes(10, 8, 0, 2, arch=X86_64)
    assert (plain32.size, plain32.inuse, plain32.offset) == (12, 12, 4)
    assert (plain64.size, plain64.inuse, plain64.offset) == (16, 16, 0)
    assert plain32.objs_per_slab == 4096 // 12 and plain64.objs_per_slab == 4096 // 16
    dbg = g.SLAB_RED_ZONE | g.SLAB_STORE_USER | g.SLAB_POISON
    d32 = g.calculate_sizes(12, 4, dbg, 2, arch=ARCH32)
    # 12, +4 right red zone (size == object_size), free pointer at 16 (+4), 2 tracks at 20 (+40),
    # +4 padding word, red_left_pad ALIGN(4, 4) = 4: 68
    assert (d32.inuse, d32.offset, d32.track_offset, d32.red_left_pad, d32.size) == (16, 16, 20, 4, 68)
    d64 = g.calculate_sizes(12, 8, dbg, 2, arch=X86_64)
    # ALIGN(12, 8) = 16, free pointer at 16 (+8), 2 tracks at 24 (+64), +8, red_left_pad 8: 104
    assert (d64.inuse, d64.offset, d64.track_offset, d64.red_left_pad, d64.size) == (16, 16, 24, 8, 104)
    assert g.calculate_sizes(12, 8, dbg, 2) == d64


def test_the_slub_allocator_takes_its_geometry_from_the_machines_arch() -> None:
    """kmem_cache_create on a machine whose arch has 128-byte cache lines and
    ARCH_SLAB_MINALIGN 16: SLAB_HWCACHE_ALIGN and the minimum alignment follow."""
    wide = dataclasses.replace(X86_64, name="made-up-wide-lines", cache_line_size=128, slab_min_align=16)
    m, ref = _with_arch(wide), Machine(MachineConfig(mem=256 << 20, cpus=2))
    got = {}
    for mach in (m, ref):
        hw = mach.slab.kmem_cache_create("hw_obj", 100, 0, g.SLAB_HWCACHE_ALIGN)
        small = mach.slab.kmem_cache_create("small_obj", 20, 0, g.SLAB_NO_MERGE)
        got[mach.arch.name] = (hw.align, hw.size, small.align, small.size)
        p = mach.kmalloc.kmem_cache_alloc(hw)
        assert p is not None and (p - mach.arch.page_offset) % hw.align == 0
    assert got["x86_64"] == (64, 128, 8, 24)
    assert got["made-up-wide-lines"] == (128, 128, 16, 32)


def test_limits_and_thread_size_come_from_the_arch() -> None:
    """MAX_PHYSMEM_BITS (arch/x86/include/asm/sparsemem.h), TASK_SIZE (TASK_SIZE_MAX,
    arch/x86/include/asm/page_64_types.h) and THREAD_SIZE (PAGE_SIZE << THREAD_SIZE_ORDER)
    are the machine's arch's."""
    assert X86_64.max_physmem == 1 << 46 and X86_64.task_size == (1 << 47) - 4096
    # (the heap of a 2 MiB address space starts at mmap_min_addr: brk_start is arch data too)
    small = dataclasses.replace(X86_64, name="made-up-small", description="made-up-small",
                                max_physmem_bits=32, task_size=2 << 20, thread_size_order=1, brk_start=0x10000)
    with pytest.raises(KernelFault, match=r"made-up-small addresses at most 4G of physical memory "
                                          r"\(MAX_PHYSMEM_BITS 32\)"):
        _with_arch(small, mem=8 << 30)
    with pytest.raises(KernelFault, match=r"x86_64 with 4-level paging addresses at most 64T of physical "
                                          r"memory \(MAX_PHYSMEM_BITS 46\)"):
        Machine(MachineConfig(mem=1 << 47, cpus=1))
    m, ref = _with_arch(small), Machine(MachineConfig(mem=256 << 20, cpus=2))
    assert m.kstacks.thread_size == 8192 and ref.kstacks.thread_size == 16384
    assert m.config.thread_size is None and ref.config.thread_size is None
    for mach, want in ((m, -12), (ref, 4 << 20)):
        t = mach.tasks.spawn("a")
        assert mach.tasks.fault(t, 4 << 20) == want      # -ENOMEM past TASK_SIZE
        assert mach.tasks.fault(t, 4096) == 4096         # what fits still faults in
