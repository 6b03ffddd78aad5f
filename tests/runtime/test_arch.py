"""The architecture is data: one Arch description, selected by machine(arch=...)."""

from __future__ import annotations

import dataclasses

import pytest

from kmscript.runtime.arch import ARCHES, X86_64, Arch, get_arch
from kmscript.runtime.errors import KernelFault
from kmscript.runtime.machine import Machine, MachineConfig


def test_x86_64_facts() -> None:
    a = get_arch("x86_64")
    assert a is X86_64 and ARCHES == {"x86_64": X86_64}
    assert a.page_offset == 0xFFFF888000000000 and a.vmalloc_start == 0xFFFFC90000000000
    assert a.vmalloc_end == 0xFFFFC90000000000 + (32 << 40) - 1
    assert a.direct_map_end == 0xFFFFC88000000000          # PAGE_OFFSET + 64 TiB
    assert a.thread_size == 16384 and a.pointer_size == 8 and a.struct_page_size == 64
    assert a.page_address(0x1234) == 0xFFFF888001234000
    assert a.virt_to_pfn(a.page_address(0x1234) + 17) == 0x1234
    assert a.pfn_to_struct_page(3) == 0xFFFFEA0000000000 + 3 * 64
    assert a.is_vmalloc_addr(a.vmalloc_start) and not a.is_vmalloc_addr(a.page_offset)


def test_unknown_arch_is_refused_with_the_known_ones() -> None:
    with pytest.raises(KernelFault, match=r"arch='i386': unknown architecture \(known: x86_64\)"):
        get_arch("i386")
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
            p = mach.kmalloc(64)
            assert p is not None and mach.arch.is_direct_map_addr(p)
            assert mach.find_kmem_cache("kmalloc-64").name == "kmalloc-64"
            mach.memory_write(p, b"hello")
            assert mach.memory_read(p, 5) == b"hello"
            v = mach.vmalloc_gfp(3 * 4096, 0xCC0)
            assert v is not None and mach.is_vmalloc_addr(v)
            mach.memory_write(v, b"vm")
            assert mach.memory_read(v, 2) == b"vm"
            mach.vfree(v)
            mach.kfree(p)
        # the same allocation lands at the same pfn, at the arch's own address
        assert m.kmalloc(64) - other.page_offset == ref.kmalloc(64) - X86_64.page_offset
        assert m.vmalloc_gfp(4096, 0xCC0) - other.vmalloc_start == ref.vmalloc_gfp(4096, 0xCC0) - X86_64.vmalloc_start
        assert m.page_address(5) == other.page_offset + 5 * 4096
    finally:
        del ARCHES[other.name]
