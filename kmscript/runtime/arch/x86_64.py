"""x86_64 with 4-level paging and no KASLR: the architecture of the verified 6.18 machine.

Sources: arch/x86/include/asm/page_64_types.h (__PAGE_OFFSET_BASE_L4, THREAD_SIZE_ORDER,
TASK_SIZE_MAX = (1 << 47) - PAGE_SIZE),
arch/x86/include/asm/pgtable_64_types.h (VMALLOC_START, VMALLOC_SIZE_TB_L4, VMEMMAP_START),
arch/x86/include/asm/sparsemem.h (MAX_PHYSMEM_BITS 46), arch/x86/include/asm/dma.h
(MAX_DMA_PFN, MAX_DMA32_PFN), arch/x86/include/asm/cache.h (L1_CACHE_SHIFT 6); the zone
layout numbers are those of the verified machine's zoneinfo (tests/runtime/data).
"""

from __future__ import annotations

from ..gfp import X86_64_ZONES
from ..mm_types import PAGE_SHIFT
from dataclasses import replace

from .model import Arch
from .paging import X86_64_5LEVEL

_GiB = 1 << 30
_MiB = 1 << 20
_VMALLOC_START = 0xFFFFC90000000000
_VMALLOC_SIZE_TB = 32

X86_64 = Arch(
    name="x86_64",
    description="x86_64 with 4-level paging",
    pointer_size=8,
    page_offset=0xFFFF888000000000,
    max_physmem_bits=46,
    vmemmap_start=0xFFFFEA0000000000,
    struct_page_size=64,
    vmalloc_start=_VMALLOC_START,
    vmalloc_end=_VMALLOC_START + (_VMALLOC_SIZE_TB << 40) - 1,
    thread_size_order=2,
    cache_line_size=64,
    kmalloc_min_align=8,
    slab_min_align=8,
    task_size=(1 << 47) - (1 << PAGE_SHIFT),    # page_64_types.h: TASK_SIZE_MAX (4-level paging)
    pmd_shift=21,
    sizeof_vm_struct=72,
    max_dma_pfn=(16 * _MiB) >> PAGE_SHIFT,
    max_dma32_pfn=(4 * _GiB) >> PAGE_SHIFT,
    pci_hole_start_pfn=(3 * _GiB) >> PAGE_SHIFT,
    dma_start_pfn=1,
    legacy_hole=(0x9F, 0x100),
    dma_reserved=(1, 0x9F),
    kernel_reserved_pages=9418,  # measured: the verified machine's zoneinfo (present - managed)
    pcpu_static_size=185496,     # measured: the verified machine's boot line "percpu: ... s185496"
    zones=X86_64_ZONES,          # DMA, DMA32, Normal, Movable, Device
    direct_map_size=1 << 46,     # 1 << MAX_PHYSMEM_BITS
    ip_line="RIP: 0010:",        # arch/x86/kernel/dumpstack.c: show_ip (64-bit)
    oops_flags=" SMP NOPTI",
    # Documentation/arch/x86/x86_64/mm.rst (4-level, no KASAN); MODULES_END 0xffffffffff000000,
    # FIXADDR_TOP 0xffffffffff7ff000 (arch/x86/include/asm/fixmap.h), the fixmap growing down
    layout_regions=(
        (0xFFFF800000000000, 0xFFFF87FFFFFFFFFF, "guard hole, also reserved for hypervisor"),
        (0xFFFF880000000000, 0xFFFF887FFFFFFFFF, "LDT remap for PTI"),
        (0xFFFFFE0000000000, 0xFFFFFE7FFFFFFFFF, "cpu_entry_area mapping"),
        (0xFFFFFF0000000000, 0xFFFFFF7FFFFFFFFF, "%esp fixup stacks"),
        (0xFFFFFFEF00000000, 0xFFFFFFFEFFFFFFFF, "EFI region mapping space"),
        (0xFFFFFFFF80000000, 0xFFFFFFFF9FFFFFFF, "kernel text mapping, mapped to physical address 0"),
        (0xFFFFFFFFA0000000, 0xFFFFFFFFFEFFFFFF, "module mapping space"),
        (0xFFFFFFFFFF000000, 0xFFFFFFFFFF7FFFFF, "fixmap (FIXADDR_TOP 0xffffffffff7ff000, growing down; "
                                                 "vsyscall page at 0xffffffffff600000)"),
    ),
)

_L5_VMALLOC_START = 0xFFA0000000000000
_VMALLOC_SIZE_TB_L5 = 12800

# machine(la57=true): CONFIG_X86_5LEVEL on a CPU with la57.  The kernel half moves
# (Documentation/arch/x86/x86_64/mm.rst, 5-level: __PAGE_OFFSET_BASE_L5, VMALLOC_START,
# VMEMMAP_START), MAX_PHYSMEM_BITS is 52, TASK_SIZE_MAX (1 << 56) - PAGE_SIZE; mmap without a
# hint still stays below DEFAULT_MAP_WINDOW (47 bits).
X86_64_LA57 = replace(
    X86_64,
    description="x86_64 with 5-level paging",
    page_offset=0xFF11000000000000,
    max_physmem_bits=52,
    vmemmap_start=0xFFD4000000000000,
    vmalloc_start=_L5_VMALLOC_START,
    vmalloc_end=_L5_VMALLOC_START + (_VMALLOC_SIZE_TB_L5 << 40) - 1,
    task_size=(1 << 56) - (1 << PAGE_SHIFT),
    direct_map_size=1 << 52,     # 1 << MAX_PHYSMEM_BITS (5-level)
    paging=X86_64_5LEVEL,
    layout_regions=(
        (0xFF00000000000000, 0xFF0FFFFFFFFFFFFF, "guard hole, also reserved for hypervisor"),
        (0xFF10000000000000, 0xFF10FFFFFFFFFFFF, "LDT remap for PTI"),
    ) + X86_64.layout_regions[2:],
)
