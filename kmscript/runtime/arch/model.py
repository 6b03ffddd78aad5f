"""What an architecture is to the memory-management model: one frozen description.

Everything the allocators need that differs between architectures lives here - the
direct map (PAGE_OFFSET) and its size, the vmemmap and the size of struct page, the
vmalloc range, the zone layout rules of the PC memory map (DMA below 16 MiB, DMA32 below
4 GiB with the PCI hole, the BIOS and kernel-image reservations), the pointer size,
THREAD_SIZE, the cache line and the kmalloc minimum alignment, and the sizes of structs
that feed slab and vmalloc bookkeeping.  Subsystems receive the ``Arch`` in their
constructor and read these fields; nothing below the Machine hard-codes an address.

Invariant: an ``Arch`` is immutable, and the address conversions below are pure
functions of it (page_address(virt_to_pfn(a)) == a for a page-aligned direct-map a).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ..gfp import ZoneTypes
from ..mm_types import PAGE_BLOCK_MAX_ORDER, PAGE_SHIFT
from .paging import X86_64_4LEVEL, Paging


@dataclass(frozen=True, slots=True)
class Arch:
    """One architecture (see the module docstring)."""

    name: str
    description: str             # how messages name it ("x86_64 with 4-level paging")
    pointer_size: int            # sizeof(void *) == sizeof(long)
    page_offset: int             # __PAGE_OFFSET: the direct map of all RAM
    max_physmem_bits: int        # MAX_PHYSMEM_BITS: the direct map spans 1 << this
    vmemmap_start: int           # VMEMMAP_START: the struct page array
    struct_page_size: int        # sizeof(struct page)
    vmalloc_start: int           # VMALLOC_START
    vmalloc_end: int             # VMALLOC_END (inclusive, as the kernel defines it)
    thread_size_order: int       # THREAD_SIZE_ORDER (no KASAN)
    cache_line_size: int         # cache_line_size() / L1_CACHE_BYTES
    kmalloc_min_align: int       # ARCH_KMALLOC_MINALIGN
    slab_min_align: int          # ARCH_SLAB_MINALIGN (include/linux/slab.h: __alignof__(unsigned long long))
    task_size: int               # TASK_SIZE_MAX: the user address space
    pmd_shift: int               # PMD_SHIFT: the huge-mapping and percpu atom size
    sizeof_vm_struct: int        # sizeof(struct vm_struct) (vmalloc bookkeeping in kmalloc-96)
    # The PC memory map (arch/x86/mm/init.c: zone_sizes_init; e820 on the verified machine)
    max_dma_pfn: int             # MAX_DMA_PFN: ZONE_DMA ends here (16 MiB)
    max_dma32_pfn: int           # MAX_DMA32_PFN: ZONE_DMA32 ends here (4 GiB)
    pci_hole_start_pfn: int      # RAM below 4 GiB ends here when there is more (3 GiB)
    dma_start_pfn: int           # pfn 0 is the BIOS data area, never in a zone
    legacy_hole: tuple[int, int]        # the legacy VGA/BIOS hole [start, end)
    dma_reserved: tuple[int, int]       # BIOS/trampoline reservations in ZONE_DMA
    # Link-time figures no header gives (each arch module states its basis):
    kernel_reserved_pages: int   # kernel image, bss, early page tables at 16 MiB
    pcpu_static_size: int        # the .data..percpu section: the first chunk's static part
    zones: ZoneTypes             # enum zone_type of this configuration, its GFP_ZONE_TABLE
    # The direct map's reach: 1 << MAX_PHYSMEM_BITS on x86_64; on a highmem kernel MAXMEM
    # (the lowmem limit) before boot and max_low_pfn << PAGE_SHIFT after (``booted``).
    direct_map_size: int
    ip_line: str                 # show_ip(): "RIP: 0010:" on x86_64, "EIP: " on i386
    oops_flags: str              # __die_header(): " SMP NOPTI" / " SMP" (no PTI without PAE)
    # the page-table shape (arch/paging.py)
    paging: Paging = X86_64_4LEVEL
    # where exec puts the heap (mm->start_brk).  The kernel puts it after the ELF image's
    # bss (fs/binfmt_elf.c: load_elf_binary); the simulated program has no image, so the
    # heap starts at a PUD-aligned 1 GiB and its page tables are plain arithmetic
    brk_start: int = 1 << 30
    # kernel regions beyond the direct map, vmalloc and vmemmap, for ``show layout``:
    # (start, end inclusive, what)
    layout_regions: tuple[tuple[int, int, str], ...] = ()
    # CONFIG_HIGHMEM only (arch/x86/include/asm/pgtable_32_areas.h, fixmap.h): 0 elsewhere
    last_pkmap: int = 0          # LAST_PKMAP: entries of the permanent kmap pool
    pkmap_base: int = 0          # PKMAP_BASE
    fix_kmap_begin_addr: int = 0  # __fix_to_virt(FIX_KMAP_BEGIN): the first kmap_local slot
    km_max_idx: int = 0          # KM_MAX_IDX (include/asm-generic/kmap_size.h)
    nr_cpus_config: int = 0      # CONFIG_NR_CPUS: the fixmap reserves KM_MAX_IDX slots for each
    vmalloc_offset: int = 0      # VMALLOC_OFFSET: the hole between high_memory and VMALLOC_START
    # arch/x86/kernel/setup_percpu.c: the embedded first chunk's atom_size - PMD_SIZE on
    # 64-bit, PAGE_SIZE on 32-bit ("vmalloc space is highly contended"); 0 means PMD_SIZE
    pcpu_atom_shift: int = 0
    # arch/x86/Kconfig: HAVE_ARCH_VMAP_STACK if X86_64 - 32-bit stacks are page blocks
    have_vmap_stack: bool = True
    # arch/x86/kernel/irq_32.c: irq_init_percpu_irqstack allocates a hard- and a soft-irq
    # stack per CPU from the page allocator (THREADINFO_GFP, THREAD_SIZE_ORDER); x86_64 maps
    # one IRQ stack from the per-cpu area (irq_64.c: map_irq_stack)
    irq_stacks_from_pages: bool = False
    # FLATMEM (i386): the size of mem_map, set by ``booted`` (0: a vmemmap of MAX_PHYSMEM)
    mem_map_size: int = 0

    # -- derived facts ---------------------------------------------------------------------
    @property
    def thread_size(self) -> int:
        return (1 << PAGE_SHIFT) << self.thread_size_order

    @property
    def sizeof_track(self) -> int:
        """sizeof(struct track) (mm/slub.c, CONFIG_STACKDEPOT): unsigned long addr,
        depot_stack_handle_t handle, int cpu, int pid, unsigned long when - C layout, the
        longs aligned to the pointer size: 32 bytes on a 64-bit arch, 20 on a 32-bit one."""
        p = self.pointer_size
        off = p + 4 + 4 + 4             # addr, handle, cpu, pid
        off = (off + p - 1) // p * p    # pad to align ``when``
        return off + p

    # -- C integer widths (LP64 / ILP32: unsigned long, size_t and pointers share a width) --
    @property
    def ulong_bits(self) -> int:
        """BITS_PER_LONG: 64 on x86_64, 32 on i386."""
        return 8 * self.pointer_size

    @property
    def ulong_max(self) -> int:
        """ULONG_MAX, which is also SIZE_MAX (include/linux/limits.h: SIZE_MAX = ~(size_t)0);
        ``x & ulong_max`` is C's wrap-around of an unsigned long."""
        return (1 << (8 * self.pointer_size)) - 1

    def err_addr(self, errno: int) -> int:
        """(unsigned long)-errno: an error returned where an address is expected
        (include/linux/err.h: IS_ERR_VALUE - the last MAX_ERRNO values of the range)."""
        return -errno & self.ulong_max

    def is_err_value(self, addr: int) -> bool:
        """IS_ERR_VALUE(addr): one of the last MAX_ERRNO (4095) values of an unsigned long."""
        return addr >= self.ulong_max + 1 - 4095

    # -- kmalloc's smallest class (include/linux/slab.h) ---------------------------------------
    @property
    def kmalloc_min_size(self) -> int:
        """KMALLOC_MIN_SIZE: ARCH_KMALLOC_MINALIGN when that exceeds 8, else 1 << 3."""
        return max(self.kmalloc_min_align, 8)

    @property
    def kmalloc_shift_low(self) -> int:
        """KMALLOC_SHIFT_LOW: ilog2(ARCH_KMALLOC_MINALIGN) when that exceeds 8, else 3."""
        return self.kmalloc_min_size.bit_length() - 1

    @property
    def task_size_pages(self) -> int:
        return self.task_size >> PAGE_SHIFT

    @property
    def direct_map_end(self) -> int:
        return self.page_offset + self.direct_map_size

    @property
    def pcpu_atom_size(self) -> int:
        return 1 << (self.pcpu_atom_shift or self.pmd_shift)

    @property
    def hpage_pmd_order(self) -> int:
        """HPAGE_PMD_ORDER = HPAGE_PMD_SHIFT - PAGE_SHIFT, HPAGE_PMD_SHIFT = PMD_SHIFT
        (include/linux/huge_mm.h): the THP order, 9 on x86_64, 10 on 2-level i386."""
        return self.pmd_shift - PAGE_SHIFT

    @property
    def pageblock_order(self) -> int:
        """include/linux/pageblock-flags.h: pageblock_order = MIN_T(unsigned int,
        HUGETLB_PAGE_ORDER, PAGE_BLOCK_MAX_ORDER) with CONFIG_HUGETLB_PAGE, where x86 has
        HUGETLB_PAGE_ORDER = HPAGE_SHIFT - PAGE_SHIFT and HPAGE_SHIFT = PMD_SHIFT
        (arch/x86/include/asm/page_types.h).  PMD_SHIFT is 21 on x86_64 (order 9, 2 MiB
        blocks), 22 on non-PAE i386 (pgtable-2level_types.h: order 10, 4 MiB blocks) and 21
        with PAE.  The header's THP-only form gives the same order (HPAGE_PMD_ORDER); a
        kernel with neither hugetlb nor THP (PAGE_BLOCK_MAX_ORDER, 10) is not modelled."""
        return min(self.hpage_pmd_order, PAGE_BLOCK_MAX_ORDER)

    @property
    def pageblock_nr_pages(self) -> int:
        return 1 << self.pageblock_order

    @property
    def has_highmem(self) -> bool:
        return self.zones.HIGHMEM >= 0

    @property
    def ptr_digits(self) -> int:
        """How many hex digits %px and the kernel's views print for a pointer."""
        return 2 * self.pointer_size

    def fmt_ptr(self, addr: int) -> str:
        """A pointer as the kernel prints it with %px / %016lx (8 hex digits on 32-bit)."""
        return f"{addr:0{2 * self.pointer_size}x}"

    @property
    def vmalloc_last(self) -> int:
        """The last byte of the vmalloc area: x86_64 defines VMALLOC_END inclusive (…ffff),
        i386 exclusive (PKMAP_BASE - 2 * PAGE_SIZE, page aligned)."""
        return self.vmalloc_end - 1 if self.vmalloc_end % (1 << PAGE_SHIFT) == 0 else self.vmalloc_end

    def booted(self, max_low_pfn: int, mem_map_phys: int, mem_map_size: int = 0) -> "Arch":
        """The description as a booted highmem kernel sees it: the direct map ends at
        high_memory = __va(max_low_pfn << PAGE_SHIFT) (arch/x86/mm/init_32.c: initmem_init),
        VMALLOC_START = high_memory + VMALLOC_OFFSET (pgtable_32_areas.h), and the FLATMEM
        mem_map sits where memblock put it in lowmem.  An arch without highmem has nothing
        that depends on the RAM size: it is returned as it is."""
        if not self.has_highmem:
            return self
        return replace(self, direct_map_size=max_low_pfn << PAGE_SHIFT,
                       vmalloc_start=self.page_offset + (max_low_pfn << PAGE_SHIFT) + self.vmalloc_offset,
                       vmemmap_start=self.page_offset + mem_map_phys, mem_map_size=mem_map_size)

    # -- the highmem mapping areas (mm/highmem.c, arch/x86/include/asm/fixmap.h) ----------
    def pkmap_addr(self, nr: int) -> int:
        """PKMAP_ADDR(nr): the virtual address of pkmap entry ``nr``."""
        return self.pkmap_base + (nr << PAGE_SHIFT)

    def kmap_local_addr(self, cpu: int, idx: int) -> int:
        """__fix_to_virt(FIX_KMAP_BEGIN + idx + KM_MAX_IDX * cpu): fixmap slots grow downwards
        (include/asm-generic/fixmap.h: __fix_to_virt(x) = FIXADDR_TOP - (x << PAGE_SHIFT))."""
        return self.fix_kmap_begin_addr - ((idx + self.km_max_idx * cpu) << PAGE_SHIFT)

    @property
    def max_physmem(self) -> int:
        return 1 << self.max_physmem_bits

    @property
    def max_physmem_pfn(self) -> int:
        return (1 << self.max_physmem_bits) >> PAGE_SHIFT

    # -- address conversions (include/asm-generic/memory_model.h, asm/page.h) ---------------
    def page_address(self, pfn: int) -> int:
        """Direct-map virtual address of a page frame (lowmem_page_address)."""
        return self.page_offset + (pfn << PAGE_SHIFT)

    def virt_to_pfn(self, addr: int) -> int:
        """Page frame of a direct-map address (__pa(addr) >> PAGE_SHIFT)."""
        return (addr - self.page_offset) >> PAGE_SHIFT

    def pfn_to_struct_page(self, pfn: int) -> int:
        """Address of the struct page of ``pfn`` in the vmemmap (what %p of a page shows)."""
        return self.vmemmap_start + pfn * self.struct_page_size

    def is_direct_map_addr(self, addr: int) -> bool:
        return self.page_offset <= addr < self.direct_map_end

    def is_vmalloc_addr(self, addr: int) -> bool:
        return self.vmalloc_start <= addr < self.vmalloc_end


def physmem_limit(arch: Arch) -> str:
    """1 << MAX_PHYSMEM_BITS as messages write it ("64T")."""
    for shift, unit in ((40, "T"), (30, "G"), (20, "M")):
        if arch.max_physmem >> shift and not arch.max_physmem & ((1 << shift) - 1):
            return f"{arch.max_physmem >> shift}{unit}"
    return str(arch.max_physmem)
