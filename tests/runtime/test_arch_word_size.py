"""The word size comes from the Arch (issue 12 item 5): ULONG_MAX / SIZE_MAX, (unsigned long)-errno,
BITS_TO_LONGS and KMALLOC_MIN_SIZE are the architecture's - 64-bit values on x86_64 (unchanged),
32-bit ones on i386.

Sources: include/linux/limits.h (SIZE_MAX), include/linux/err.h (IS_ERR_VALUE, MAX_ERRNO),
include/linux/slab.h (KMALLOC_MIN_SIZE, KMALLOC_SHIFT_LOW), mm/slab_common.c
(setup_kmalloc_cache_index_table, create_kmalloc_caches), mm/vmalloc.c (__alloc_vmap_area),
mm/slab_common.c (kfree -> free_large_kmalloc on a non-slab folio).
"""

from __future__ import annotations

import pytest

from kmscript.runtime import slab_geometry as g
from kmscript.runtime.arch import I386, X86_64
from kmscript.runtime.errors import KernelOops
from kmscript.runtime.gfp import GFP_KERNEL
from kmscript.runtime.limits import ENOENT, ERANGE
from kmscript.runtime.machine import Machine, MachineConfig
from kmscript.runtime.mm_types import PAGE_SHIFT, PAGE_SIZE

MiB = 1 << 20


def boot(arch: str) -> Machine:
    return Machine(MachineConfig(mem=256 * MiB, cpus=2, arch=arch))


def test_word_size_facts() -> None:
    assert (X86_64.ulong_bits, X86_64.ulong_max) == (64, 0xFFFF_FFFF_FFFF_FFFF)
    assert (I386.ulong_bits, I386.ulong_max) == (32, 0xFFFF_FFFF)
    assert X86_64.err_addr(ENOENT) == 0xFFFF_FFFF_FFFF_FFFE and I386.err_addr(ENOENT) == 0xFFFF_FFFE
    assert X86_64.err_addr(ERANGE) == 0xFFFF_FFFF_FFFF_FFDE and I386.err_addr(ERANGE) == 0xFFFF_FFDE
    # IS_ERR_VALUE: the last MAX_ERRNO (4095) values of the word
    assert I386.is_err_value(0xFFFF_F001) and not I386.is_err_value(0xFFFF_F000)
    assert not X86_64.is_err_value(0xFFFF_FFFE)


def test_kmalloc_minimum_is_the_arch_alignment() -> None:
    # ARCH_KMALLOC_MINALIGN = __alignof__(unsigned long long): 8 on both, so KMALLOC_MIN_SIZE
    # is 1 << 3 and the classes are 96, 192, 8 .. 8k
    for arch in (X86_64, I386):
        assert (arch.kmalloc_min_size, arch.kmalloc_shift_low) == (8, 3)
        assert g.kmalloc_indices(arch.kmalloc_min_size) == (1, 2) + tuple(range(3, 14))
        assert g.kmalloc_size_index_table(arch.kmalloc_min_size) == g._SIZE_INDEX


def test_a_larger_kmalloc_minimum_patches_the_index_table() -> None:
    # setup_kmalloc_cache_index_table for an arch whose ARCH_KMALLOC_MINALIGN is 64 (arm64
    # without DMA bouncing): sizes below 64 go to kmalloc-64, no kmalloc-96 ...
    t = g.kmalloc_size_index_table(64)
    assert [g.kmalloc_index(n, t) for n in (1, 8, 9, 64, 65, 96, 97, 129, 192)] == [6, 6, 6, 6, 7, 7, 7, 2, 2]
    assert g.kmalloc_indices(64) == (2,) + tuple(range(6, 14))
    # ... and from 128 no kmalloc-192 either
    t = g.kmalloc_size_index_table(128)
    assert [g.kmalloc_index(n, t) for n in (1, 128, 129, 192, 193)] == [7, 7, 8, 8, 8]
    assert g.kmalloc_indices(128) == tuple(range(7, 14))


@pytest.mark.parametrize("arch", ["x86_64", "i386"])
def test_kmalloc_array_overflows_at_size_max(arch: str) -> None:
    m = boot(arch)
    size_max = m.arch.ulong_max
    assert m.kmalloc.kmalloc_array(size_max // 16 + 1, 16) is None       # check_mul_overflow
    p = m.kmalloc.kmalloc_array(4, 16)
    assert p is not None
    m.kmalloc.kfree(p)


@pytest.mark.parametrize("arch,addr,want", [
    # virt_to_folio of a vmalloc address: the struct page address wraps as an unsigned long,
    # and compound_head sits after the unsigned long flags
    ("x86_64", 0xFFFFC90000001000,
     (0xFFFFEA0000000000 + ((0xFFFFC90000001000 - 0xFFFF888000000000) >> PAGE_SHIFT) * 64 + 8) & (2**64 - 1)),
    ("i386", 0x0000_1000, None),
])
def test_kfree_of_a_bad_pointer_masks_to_the_word(arch: str, addr: int, want: int | None) -> None:
    m = boot(arch)
    a = m.arch
    if want is None:
        # a user address below PAGE_OFFSET: (addr - PAGE_OFFSET) wraps at 32 bits on i386
        want = (a.vmemmap_start + (((addr - a.page_offset) & 0xFFFF_FFFF) >> PAGE_SHIFT) * a.struct_page_size
                + 4) & 0xFFFF_FFFF
    with pytest.raises(KernelOops):
        m.kmalloc.kfree(addr, "t")
    assert want <= a.ulong_max
    assert f"BUG: unable to handle page fault for address: {want:0{a.ptr_digits}x}" in m.log.dmesg()


@pytest.mark.parametrize("arch,erange", [("x86_64", 2**64 - 34), ("i386", 2**32 - 34)])
def test_a_failed_vmap_area_traces_the_words_minus_erange(arch: str, erange: int) -> None:
    m = boot(arch)
    m.tracer.record(True)
    vstart = m.arch.vmalloc_start
    # a range of one page cannot hold two: __alloc_vmap_area returns -ERANGE
    assert m.vmalloc.alloc_vmap_area(2 * PAGE_SIZE, 1, vstart, vstart + PAGE_SIZE, GFP_KERNEL, None) is None
    failed = [f for e, f in m.tracer.events if e == "alloc_vmap_area" and f.endswith("failed=1")]
    assert failed and failed[0].startswith(f"va_start: {erange} size=8192 ")


@pytest.mark.parametrize("arch,width", [("x86_64", 72), ("i386", 48)])
def test_maps_pads_the_header_to_six_pointers(arch: str, width: int) -> None:
    # fs/proc/task_mmu.c: show_vma_header_prefix: seq_setwidth(m, 25 + sizeof(void *) * 6 - 1)
    from kmscript.session import Session
    out: list[str] = []
    s = Session(out=out.append)
    s.run_text(f'machine(arch="{arch}", mem=256M)\nt = spawn("w")\nf = open("data")\n'
               'mmap(t, 0, 8K, PROT_READ, MAP_PRIVATE, f)\nshow maps t\nshow smaps_rollup t\n')
    text = "\n".join(out).splitlines()
    maps = next(ln for ln in text if ln.endswith(" data"))
    rollup = next(ln for ln in text if ln.endswith(" [rollup]"))
    assert maps.index(" data") == rollup.index(" [rollup]") == width

