"""x86_64 with 4-level paging and no KASLR: the architecture of the verified 6.18 machine.

Sources: arch/x86/include/asm/page_64_types.h (__PAGE_OFFSET_BASE_L4, THREAD_SIZE_ORDER,
TASK_SIZE_MAX = (1 << 47) - PAGE_SIZE),
arch/x86/include/asm/pgtable_64_types.h (VMALLOC_START, VMALLOC_SIZE_TB_L4, VMEMMAP_START),
arch/x86/include/asm/sparsemem.h (MAX_PHYSMEM_BITS 46), arch/x86/include/asm/dma.h
(MAX_DMA_PFN, MAX_DMA32_PFN), arch/x86/include/asm/cache.h (L1_CACHE_SHIFT 6); the zone
layout numbers are those of the verified machine's zoneinfo (tests/runtime/data).
"""

from __future__ import annotations

from ..mm_types import PAGE_SHIFT
from .model import Arch

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
    kernel_reserved_pages=9418,
)
