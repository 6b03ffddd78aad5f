"""i386 (32-bit x86) with CONFIG_HIGHMEM4G: the textbook's machine, on the same 6.18 mm/.

The configuration: CONFIG_X86_32, CONFIG_VMSPLIT_3G (PAGE_OFFSET 0xC0000000), CONFIG_HIGHMEM4G
without PAE (2-level paging: PGDIR_SHIFT = PMD_SHIFT = 22, PTRS_PER_PTE 1024), SMP with
CONFIG_NR_CPUS 8 (arch/x86/Kconfig: NR_CPUS_DEFAULT/NR_CPUS_RANGE_END for X86_32 SMP),
X86_LOCAL_APIC + X86_IO_APIC, PCI_MMCONFIG (PCI_GOANY with ACPI), FLATMEM (non-NUMA
X86_32: mm/Kconfig picks FLATMEM_MANUAL), CONFIG_MEMCG, M686 + X86_GENERIC, no
PARAVIRT_XXL, no ACPI_APEI_GHES, no INTEL_TXT, no DEBUG_KMAP_LOCAL.  Every figure below
is computed here with the kernel's own formula, from the sources of Linux 6.15/6.16
(torvalds/linux and a 6.16 mirror; these 32-bit macros have not changed since the
cpu_entry_area of 4.15 and the removal of HIGHMEM64G in 6.15):

- ``__PAGE_OFFSET`` = CONFIG_PAGE_OFFSET = 0xC0000000 (page_32_types.h, VMSPLIT_3G);
  TASK_SIZE = PAGE_OFFSET (asm/processor.h): the 3G/1G split.
- ``THREAD_SIZE_ORDER`` 1: 8 KiB stacks (page_32_types.h); separate hard- and soft-IRQ
  stacks per CPU (arch/x86/kernel/irq_32.c: irq_init_percpu_irqstack).
- The fixmap (asm/fixmap.h: enum fixed_addresses for X86_32, FIXADDR_TOP =
  __FIXADDR_TOP = 0xfffff000 from arch/x86/mm/pgtable_32.c) with FIX_KMAP_BEGIN ..
  FIX_KMAP_END = KM_MAX_IDX * NR_CPUS slots (KM_MAX_IDX 16, include/asm-generic/kmap_size.h).
- ``CPU_ENTRY_AREA_BASE``, ``LDT_BASE_ADDR``, ``PKMAP_BASE``, ``VMALLOC_END`` by the
  formulas of pgtable_32_areas.h; LAST_PKMAP 1024 without PAE.
- ``MAXMEM`` = VMALLOC_END - PAGE_OFFSET - __VMALLOC_RESERVE (128 MiB, pgtable_32.c);
  MAXMEM_PFN = PFN_DOWN(MAXMEM) is max_low_pfn when RAM exceeds it (arch/x86/mm/init_32.c:
  highmem_pfn_init), MAX_NONPAE_PFN = 1 << 20 caps RAM at 4 GiB (asm/setup.h).
- VMALLOC_START = high_memory + VMALLOC_OFFSET (8 MiB): it depends on the RAM size, so
  ``Arch.booted`` sets it (and the FLATMEM mem_map address) once the layout is known.
- Pointers and longs are 4 bytes; ARCH_KMALLOC_MINALIGN = ARCH_SLAB_MINALIGN =
  __alignof__(unsigned long long), which GCC makes 8 on i386 (include/linux/slab.h);
  L1_CACHE_SHIFT 6 (Kconfig.cpu: X86_GENERIC); struct page = flags + 5 words + _mapcount
  + _refcount + memcg_data = 36 bytes, aligned to 2 * sizeof(long) by
  HAVE_ALIGNED_STRUCT_PAGE (selected by x86): 40 bytes; struct vm_struct = 9 words
  without HAVE_ARCH_HUGE_VMALLOC's page_order (x86_64 only): 36 bytes.

Not derived: sizeof(struct cpu_entry_area) of i386 (the GDT page, entry stack, TSS with its
I/O bitmaps, the doublefault stack).  CPU_ENTRY_AREA_BASE rounds down to a 4 MiB PMD, so
the result is the same for any size up to ``CEA_PAGES_PER_CPU_LIMIT`` pages per CPU, far
above what those members take; a test checks the arithmetic of that margin.

Two link-time sizes no header gives are explicit parameters, each with its basis (no i386
build of this configuration was measured):

- ``KERNEL_RESERVED_PAGES``, what the kernel image, bss and early allocations reserve from
  16 MiB (CONFIG_PHYSICAL_START): the verified x86_64 machine's count stands in; a 32-bit
  image of the same configuration is smaller.
- ``PCPU_STATIC_SIZE``, the .data..percpu section: an estimate from the x86_64 machine's
  measured 185496 bytes with the page-aligned per-cpu stacks swapped for i386's - minus
  irq_stack_backing_store (IRQ_STACK_SIZE = THREAD_SIZE = 16 KiB, arch/x86/kernel/irq_64.c:
  32-bit IRQ stacks come from the page allocator), minus exception_stacks (the DF, NMI, DB
  and MCE stacks of EXCEPTION_STKSZ = 4 KiB, arch/x86/mm/cpu_entry_area.c, no
  AMD_MEM_ENCRYPT), plus doublefault_stack (one page, arch/x86/kernel/doublefault_32.c).
  The other per-cpu variables are counted at their 64-bit size, so the true figure is
  somewhat lower.  The rest of the first chunk is derived: reserved 0
  (PERCPU_FIRST_CHUNK_RESERVE is 0 on x86_32), dyn from PERCPU_DYNAMIC_RESERVE = 20 KiB
  when BITS_PER_LONG is 32 (include/linux/percpu.h), the atom PAGE_SIZE
  (arch/x86/kernel/setup_percpu.c), pcpu_build_alloc_info for the unit.

pageblock_order is 10 (4 MiB blocks): include/linux/pageblock-flags.h takes
MIN_T(HUGETLB_PAGE_ORDER, PAGE_BLOCK_MAX_ORDER) and HPAGE_SHIFT = PMD_SHIFT = 22 without PAE
(``Arch.pageblock_order`` derives it from ``pmd_shift``; a PAE kernel's PMD_SHIFT 21 gives 9).
"""

from __future__ import annotations

from ..gfp import ZoneTypes
from ..mm_types import PAGE_SHIFT, PAGE_SIZE
from .model import Arch
from .paging import I386_2LEVEL
from .x86_64 import X86_64

_MiB = 1 << 20

PAGE_OFFSET = 0xC0000000                 # CONFIG_PAGE_OFFSET (VMSPLIT_3G)
PGDIR_SHIFT = 22                          # pgtable-2level_types.h
PMD_SHIFT = PGDIR_SHIFT                   # asm-generic/pgtable-nopmd.h: the PMD is folded
PMD_SIZE = 1 << PMD_SHIFT
PMD_MASK = ~(PMD_SIZE - 1) & 0xFFFFFFFF
PTRS_PER_PTE = 1024                       # pgtable-2level_types.h
NR_CPUS = 8                               # CONFIG_NR_CPUS for X86_32 SMP
KM_MAX_IDX = 16                           # include/asm-generic/kmap_size.h (no DEBUG_KMAP_LOCAL)
MAX_IO_APICS = 64                         # asm/apicdef.h, CONFIG_X86_32
LAST_PKMAP = 1024                         # pgtable_32_areas.h, !CONFIG_X86_PAE
FIXADDR_TOP = 0xFFFFF000                  # arch/x86/mm/pgtable_32.c: __FIXADDR_TOP
VMALLOC_OFFSET = 8 * _MiB                 # pgtable_32_areas.h
VMALLOC_RESERVE = 128 << 20               # arch/x86/mm/pgtable_32.c: __VMALLOC_RESERVE
MAX_NONPAE_PFN = 1 << 20                  # asm/setup.h: RAM above 4 GiB needs PAE
# Link-time sizes (see the module docstring for their basis)
KERNEL_RESERVED_PAGES = X86_64.kernel_reserved_pages   # stand-in: the x86_64 machine's count
IRQ_STACK_SIZE_64 = 16 << 10             # x86_64 IRQ_STACK_SIZE (THREAD_SIZE): irq_64.c's backing store
EXCEPTION_STACKS_64 = 4 * PAGE_SIZE       # x86_64 DF/NMI/DB/MCE stacks of EXCEPTION_STKSZ
DOUBLEFAULT_STACK_32 = PAGE_SIZE          # struct doublefault_stack (doublefault_32.c)
PCPU_STATIC_SIZE = X86_64.pcpu_static_size - IRQ_STACK_SIZE_64 - EXCEPTION_STACKS_64 + DOUBLEFAULT_STACK_32


def _fixed_addresses() -> dict[str, int]:
    """enum fixed_addresses (asm/fixmap.h) for the configuration of the module docstring."""
    e: dict[str, int] = {}
    n = 0
    for name in ("FIX_HOLE", "FIX_DBGP_BASE", "FIX_EARLYCON_MEM_BASE", "FIX_APIC_BASE"):
        e[name] = n
        n += 1
    e["FIX_IO_APIC_BASE_0"] = n
    e["FIX_IO_APIC_BASE_END"] = n = n + MAX_IO_APICS - 1
    e["FIX_KMAP_BEGIN"] = n = n + 1
    e["FIX_KMAP_END"] = n = n + KM_MAX_IDX * NR_CPUS - 1
    e["FIX_PCIE_MCFG"] = n = n + 1
    end_perm = e["__end_of_permanent_fixed_addresses"] = n + 1
    nr_fix_btmaps, fix_btmaps_slots = 64, 8
    total = nr_fix_btmaps * fix_btmaps_slots            # TOTAL_FIX_BTMAPS: 512
    # FIX_BTMAP_END: rounded up to the next 512-page boundary when the boot-time maps
    # would otherwise straddle a page-table page
    if (end_perm ^ (end_perm + total - 1)) & -PTRS_PER_PTE:
        e["FIX_BTMAP_END"] = end_perm + total - (end_perm & (total - 1))
    else:
        e["FIX_BTMAP_END"] = end_perm
    e["FIX_BTMAP_BEGIN"] = e["FIX_BTMAP_END"] + total - 1
    e["FIX_WP_TEST"] = e["FIX_BTMAP_BEGIN"] + 1
    e["__end_of_fixed_addresses"] = e["FIX_WP_TEST"] + 1
    return e


FIXED_ADDRESSES = _fixed_addresses()


def fix_to_virt(idx: int) -> int:
    """include/asm-generic/fixmap.h: __fix_to_virt(x) = FIXADDR_TOP - (x << PAGE_SHIFT)."""
    return FIXADDR_TOP - (idx << PAGE_SHIFT)


FIXADDR_SIZE = FIXED_ADDRESSES["__end_of_permanent_fixed_addresses"] << PAGE_SHIFT
FIXADDR_START = FIXADDR_TOP - FIXADDR_SIZE
FIXADDR_TOT_SIZE = FIXED_ADDRESSES["__end_of_fixed_addresses"] << PAGE_SHIFT
FIXADDR_TOT_START = FIXADDR_TOP - FIXADDR_TOT_SIZE

# CPU_ENTRY_AREA_BASE = (FIXADDR_TOT_START - PAGE_SIZE * (CPU_ENTRY_AREA_PAGES + 1)) & PMD_MASK
# with CPU_ENTRY_AREA_PAGES = NR_CPUS * DIV_ROUND_UP(sizeof(struct cpu_entry_area), PAGE_SIZE).
# The PMD rounding gives the same base for every per-CPU size up to this many pages:
CEA_PAGES_PER_CPU_LIMIT = ((FIXADDR_TOT_START - (FIXADDR_TOT_START & PMD_MASK)) // PAGE_SIZE - 1) // NR_CPUS
CPU_ENTRY_AREA_BASE = FIXADDR_TOT_START & PMD_MASK
LDT_BASE_ADDR = (CPU_ENTRY_AREA_BASE - PAGE_SIZE) & PMD_MASK
LDT_END_ADDR = LDT_BASE_ADDR + PMD_SIZE
PKMAP_BASE = (LDT_BASE_ADDR - PAGE_SIZE) & PMD_MASK
VMALLOC_END = PKMAP_BASE - 2 * PAGE_SIZE  # CONFIG_HIGHMEM
MAXMEM = VMALLOC_END - PAGE_OFFSET - VMALLOC_RESERVE
MAXMEM_PFN = MAXMEM >> PAGE_SHIFT          # PFN_DOWN(MAXMEM)

I386_ZONES = ZoneTypes(("DMA", "Normal", "HighMem", "Movable"))

I386 = Arch(
    name="i386",
    description="i386 with CONFIG_HIGHMEM4G (2-level paging)",
    pointer_size=4,
    page_offset=PAGE_OFFSET,
    max_physmem_bits=32,                 # MAX_NONPAE_PFN << PAGE_SHIFT: 4 GiB
    # FLATMEM: mem_map is in lowmem wherever memblock put it; booted() sets it
    vmemmap_start=PAGE_OFFSET,
    struct_page_size=40,
    # before boot: as if all of lowmem were RAM; booted() moves it to high_memory + 8 MiB
    vmalloc_start=PAGE_OFFSET + MAXMEM + VMALLOC_OFFSET,
    vmalloc_end=VMALLOC_END,
    thread_size_order=1,
    cache_line_size=64,
    kmalloc_min_align=8,
    slab_min_align=8,
    task_size=PAGE_OFFSET,
    pmd_shift=PMD_SHIFT,
    sizeof_vm_struct=36,
    # the PC memory map is the same machine's (arch/x86/include/asm/dma.h: MAX_DMA_PFN)
    max_dma_pfn=X86_64.max_dma_pfn,
    max_dma32_pfn=X86_64.max_dma32_pfn,  # no ZONE_DMA32 on i386: only the 4 GiB line of e820
    pci_hole_start_pfn=X86_64.pci_hole_start_pfn,
    dma_start_pfn=X86_64.dma_start_pfn,
    legacy_hole=X86_64.legacy_hole,
    dma_reserved=X86_64.dma_reserved,
    kernel_reserved_pages=KERNEL_RESERVED_PAGES,
    pcpu_static_size=PCPU_STATIC_SIZE,
    zones=I386_ZONES,
    direct_map_size=MAXMEM,
    ip_line="EIP: ",                     # arch/x86/kernel/dumpstack.c: show_ip (32-bit)
    oops_flags=" SMP",                   # no PAGE_TABLE_ISOLATION without PAE
    last_pkmap=LAST_PKMAP,
    pkmap_base=PKMAP_BASE,
    fix_kmap_begin_addr=fix_to_virt(FIXED_ADDRESSES["FIX_KMAP_BEGIN"]),
    km_max_idx=KM_MAX_IDX,
    nr_cpus_config=NR_CPUS,
    vmalloc_offset=VMALLOC_OFFSET,
    pcpu_atom_shift=PAGE_SHIFT,          # setup_percpu.c: atom_size = PAGE_SIZE on 32-bit
    paging=I386_2LEVEL,                  # pgtable-2level_types.h (arch/paging.py)
    # the kernel half above the vmalloc area (pgtable_32_areas.h, fixmap.h); the
    # cpu_entry_area's own size is not derived (see the module docstring)
    layout_regions=(
        (PKMAP_BASE, PKMAP_BASE + LAST_PKMAP * PAGE_SIZE - 1, "pkmap: kmap()'s LAST_PKMAP entries (PKMAP_BASE)"),
        (LDT_BASE_ADDR, LDT_END_ADDR - 1, "LDT remap (LDT_BASE_ADDR)"),
        (CPU_ENTRY_AREA_BASE, FIXADDR_TOT_START - 1, "cpu_entry_area from CPU_ENTRY_AREA_BASE, up to the fixmap"),
        (FIXADDR_TOT_START, FIXADDR_START - 1, "fixmap: boot-time mappings (FIX_BTMAP_*), FIX_WP_TEST"),
        (FIXADDR_START, FIXADDR_TOP + PAGE_SIZE - 1,
         "fixmap: permanent entries (FIXADDR_START); kmap_local slots "
         f"{fix_to_virt(FIXED_ADDRESSES['FIX_KMAP_END']):08x}-{fix_to_virt(FIXED_ADDRESSES['FIX_KMAP_BEGIN']) + PAGE_SIZE - 1:08x}"),
    ),
    have_vmap_stack=False,               # HAVE_ARCH_VMAP_STACK is selected for X86_64 only
    irq_stacks_from_pages=True,          # irq_32.c: hardirq + softirq stacks per CPU
)
