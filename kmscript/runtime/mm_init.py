"""Boot of the zoned page allocator: mm/mm_init.c, mm/memblock.c and the watermark setup.

What it models: the PC memory layout (``_layout``: DMA from pfn 1 with the legacy hole,
DMA32 up to 4 GiB with the kernel image reserved at 16 MiB, Normal above, the memmap
allocated top-down by memblock) or exact managed page counts per zone; memblock_free_all
releasing every managed range in max-order chunks with FPI_TO_TAIL; then
init_per_zone_wmark_min (calculate_min_free_kbytes, setup_per_zone_wmarks,
setup_per_zone_lowmem_reserve) and khugepaged's set_recommended_min_free_kbytes, the
vm.* sysctls that recompute them, and the zone lookups every other layer uses.

``MmInit`` is the bottom of the allocator's class stack (mm_init -> page_state -> show_mem
-> page_free -> migrate -> page_alloc): it owns the per-machine state every layer reads.

Invariants: zones are laid out in ascending pfn order and never overlap; untouched memory
stays as lazy max-order runs (buddy.py), so boot cost does not grow with the RAM size.
"""

from __future__ import annotations

import math
from typing import Any, Callable

from .buddy import BUDDY_TAIL, Memmap
from .errors import KernelFault
from .gfp import (ZoneTypes, GFP_USER, MAX_NR_ZONES, MIGRATE_MOVABLE, MIGRATE_PCPTYPES, MIGRATE_TYPES, MIGRATE_UNMOVABLE,
                  ZONE_DMA, ZONE_DMA32, ZONE_MOVABLE, ZONE_NORMAL)
from .config import MachineConfig
from .context import ExecContext
from .fault_inject import FaultInjector
from .history import zone_name_of
from .internal import SlowPathHooks
from .physmem import PhysMem
from .printk import KernelLog
from .trace import Tracer
from .vmstat import VmStat
from .arch import Arch, physmem_limit
from .mm_types import PAGE_SHIFT, PAGE_SIZE, MAX_PAGE_ORDER
from .events import HZ
from .ratelimit import RatelimitState
from .zone import Zone


MiB = 1 << 20



PB_ZONE_MIXED = 0xFF  # pageblock_zone: a pageblock not inside one zone

class MmInit:
    """Zones, memmap and watermarks of one machine as boot leaves them (mm/mm_init.c)."""

    def __init__(self, config: MachineConfig, *, arch: Arch, ctx: ExecContext, log: KernelLog, tracer: Tracer,
                 faults: FaultInjector, vmstat: VmStat) -> None:
        cfg = config
        self.arch = arch                   # replaced by arch.booted(...) once the layout is known
        self.ctx = ctx
        self.log = log
        self.tracer = tracer
        self.faults = faults
        self.vmstat = vmstat
        self.nr_cpus: int = config.cpus
        # mm/page_alloc.c: DEFINE_RATELIMIT_STATE(nopage_rs, 10*HZ, 1), warn_alloc's limit
        self.nopage_rs = RatelimitState(self.log, 10 * HZ, 1)
        self.show_mem: Callable[[int], list[str]] | None = None   # install_show_mem
        self.thp_enabled: bool = bool(cfg.thp)
        # The slow path's calls up into reclaim, compaction and the OOM killer: installed
        # once those layers exist (install_slowpath_hooks), as the kernel links vmscan.c.
        self.reclaim: SlowPathHooks | None = None
        # sysctls (mm/page_alloc.c defaults)
        self.min_free_kbytes = 1024
        self.user_min_free_kbytes = -1
        self.watermark_scale_factor = 10
        self.watermark_boost_factor = 15000
        self.lowmem_reserve_ratio = list(arch.zones.lowmem_reserve_ratio)
        self.percpu_pagelist_high_fraction = 0
        self.totalreserve_pages = 0
        # struct page fields that are rarely not the default, kept sparse:
        self._refcount: dict[int, int] = {}       # head pfn -> refcount when != 1 (allocated)
        self.mapcount: dict[int, int] = {}        # pfn -> mapcount when != 0
        self.compound: set[int] = set()           # heads of compound (_GFP_COMP) blocks
        self._warned_keys: set[str] = set()   # WARN_ON_ONCE sites that fired
        self._ac_cache: dict[int, tuple[int, int, tuple[Zone, ...], int]] = {}
        self._boot(cfg)
        # The bytes of RAM (physmem.py): sized by the layout, so the allocator owns them.
        self.phys = PhysMem(self.phys_max)

    # include/linux/pageblock-flags.h: pageblock_order, from the arch's huge page size (9 on
    # x86_64, 10 on non-PAE i386: Arch.pageblock_order); the memmap holds it beside the
    # pageblock flags it indexes (the hot paths read memmap.pageblock_order)
    @property
    def pageblock_order(self) -> int:
        return self.memmap.pageblock_order

    @property
    def pageblock_nr_pages(self) -> int:
        return 1 << self.memmap.pageblock_order

    @property
    def hpage_pmd_order(self) -> int:
        """HPAGE_PMD_ORDER: the order of the THP pcp lists (mm/page_alloc.c: pcp_allowed_order)."""
        return self.arch.hpage_pmd_order

    @property
    def zt(self) -> ZoneTypes:
        """enum zone_type of this kernel and its gfp_zone() (the arch's)."""
        return self.arch.zones

    @property
    def max_low_pfn(self) -> int:
        """The end of the direct map (lowmem): max_pfn on a 64-bit kernel."""
        return min(self.memmap.max_pfn, self.arch.direct_map_size >> PAGE_SHIFT)

    @property
    def phys_max(self) -> int:
        """The end of physical memory in bytes (max_pfn << PAGE_SHIFT)."""
        return self.memmap.max_pfn << PAGE_SHIFT

    def install_show_mem(self, show_mem: Callable[[int], list[str]]) -> None:
        """Connect warn_alloc to mm/show_mem.c's __show_mem, which the layer keeping the LRU
        lists computes (oom.show_mem): one Mem-Info block for every report."""
        self.show_mem = show_mem

    def install_slowpath_hooks(self, hooks: SlowPathHooks) -> None:
        """Connect the slow path to kswapd, direct reclaim, compaction and the OOM killer."""
        self.reclaim = hooks

    # =====================================================================================
    # Boot: zone layout, memblock release, watermarks
    # =====================================================================================
    def _layout(self, cfg: MachineConfig) -> list[tuple[int, int, int, list[tuple[int, int]], list[tuple[int, int]]]]:
        """(start_pfn, spanned, present, managed ranges, reserved ranges) per zone index."""
        if self.arch.has_highmem:
            zones, max_low_pfn, mem_map_phys, mem_map_size = self._layout_highmem(cfg)
            # the booted description: VMALLOC_START after high_memory, the FLATMEM mem_map
            self.arch = self.arch.booted(max_low_pfn, mem_map_phys, mem_map_size)
            return zones
        # The PC memory map of the architecture (arch/): the kernel's names, as locals.
        arch = self.arch
        MAX_DMA_PFN, MAX_DMA32_PFN = arch.max_dma_pfn, arch.max_dma32_pfn
        PCI_HOLE_START_PFN, DMA_START_PFN = arch.pci_hole_start_pfn, arch.dma_start_pfn
        LEGACY_HOLE, DMA_RESERVED = arch.legacy_hole, arch.dma_reserved
        KERNEL_RESERVED_PAGES, STRUCT_PAGE_SIZE = arch.kernel_reserved_pages, arch.struct_page_size
        empty: tuple[int, int, int, list[tuple[int, int]], list[tuple[int, int]]] = (0, 0, 0, [], [])
        zones = [empty] * MAX_NR_ZONES
        exact = cfg.dma_pages is not None or cfg.dma32_pages is not None or cfg.normal_pages is not None
        if exact:
            dma = cfg.dma_pages or 0
            dma32 = cfg.dma32_pages or 0
            normal = cfg.normal_pages or 0
            movable = cfg.movable_pages or 0
            if min(dma, dma32, normal, movable) < 0:
                raise KernelFault("zone page counts must not be negative")
            if dma > MAX_DMA_PFN - DMA_START_PFN:
                raise KernelFault(f"dma_pages={dma}: ZONE_DMA spans at most {MAX_DMA_PFN - 1} pages (16 MiB)")
            if dma32 > MAX_DMA32_PFN - MAX_DMA_PFN:
                raise KernelFault(f"dma32_pages={dma32}: ZONE_DMA32 spans at most {MAX_DMA32_PFN - MAX_DMA_PFN} pages")
            if dma:
                first = MAX_DMA_PFN - dma
                if first >= LEGACY_HOLE[1]:
                    present = (MAX_DMA_PFN - DMA_START_PFN) - (LEGACY_HOLE[1] - LEGACY_HOLE[0])
                    reserved = [DMA_RESERVED] + ([(LEGACY_HOLE[1], first)] if first > LEGACY_HOLE[1] else [])
                else:
                    present = MAX_DMA_PFN - DMA_START_PFN
                    reserved = [(DMA_START_PFN, first)] if first > DMA_START_PFN else []
                zones[ZONE_DMA] = (DMA_START_PFN, MAX_DMA_PFN - DMA_START_PFN, present, [(first, MAX_DMA_PFN)], reserved)
            high_exists = bool(normal or movable)
            if dma32:
                kres = min(KERNEL_RESERVED_PAGES, (MAX_DMA32_PFN - MAX_DMA_PFN) - dma32)
                present = kres + dma32
                spanned = MAX_DMA32_PFN - MAX_DMA_PFN if high_exists else present
                zones[ZONE_DMA32] = (MAX_DMA_PFN, spanned, present,
                                     [(MAX_DMA_PFN + kres, MAX_DMA_PFN + present)],
                                     [(MAX_DMA_PFN, MAX_DMA_PFN + kres)] if kres else [])
            total_present = sum(z[2] for z in zones) + normal + movable
            memmap_pages = -(-total_present * STRUCT_PAGE_SIZE // PAGE_SIZE)
            start = MAX_DMA32_PFN
            if normal:
                present = normal + memmap_pages
                zones[ZONE_NORMAL] = (start, present, present, [(start, start + normal)],
                                      [(start + normal, start + present)])
                start += present
            if movable:
                zones[ZONE_MOVABLE] = (start, movable, movable, [(start, start + movable)], [])
            return zones
        mem_pages = cfg.mem >> PAGE_SHIFT
        if cfg.mem < 64 * MiB:
            raise KernelFault(f"mem={cfg.mem}: a machine needs at least 64M")
        if mem_pages > PCI_HOLE_START_PFN:
            low_end = PCI_HOLE_START_PFN
            high_pages = mem_pages - PCI_HOLE_START_PFN
        else:
            low_end = mem_pages
            high_pages = 0
        movable = cfg.movable_pages or 0
        if movable > high_pages:
            raise KernelFault(f"movable_pages={movable}: only {high_pages} pages lie above 4 GiB")
        present_dma = (MAX_DMA_PFN - DMA_START_PFN) - (LEGACY_HOLE[1] - LEGACY_HOLE[0])
        zones[ZONE_DMA] = (DMA_START_PFN, MAX_DMA_PFN - DMA_START_PFN, present_dma,
                           [(LEGACY_HOLE[1], MAX_DMA_PFN)], [DMA_RESERVED])
        total_present = present_dma + (low_end - MAX_DMA_PFN) + high_pages
        memmap_pages = -(-total_present * STRUCT_PAGE_SIZE // PAGE_SIZE)
        kres_end = MAX_DMA_PFN + KERNEL_RESERVED_PAGES
        if high_pages - movable > memmap_pages:
            zones[ZONE_DMA32] = (MAX_DMA_PFN, (MAX_DMA32_PFN if high_pages else low_end) - MAX_DMA_PFN,
                                 low_end - MAX_DMA_PFN, [(kres_end, low_end)], [(MAX_DMA_PFN, kres_end)])
            nstart = MAX_DMA32_PFN
            npresent = high_pages - movable
            # memblock allocates the memmap top-down: the last pages of ZONE_NORMAL.
            zones[ZONE_NORMAL] = (nstart, npresent, npresent, [(nstart, nstart + npresent - memmap_pages)],
                                  [(nstart + npresent - memmap_pages, nstart + npresent)])
        else:
            zones[ZONE_DMA32] = (MAX_DMA_PFN, low_end - MAX_DMA_PFN, low_end - MAX_DMA_PFN,
                                 [(kres_end, low_end - memmap_pages)],
                                 [(MAX_DMA_PFN, kres_end), (low_end - memmap_pages, low_end)])
        if movable:
            mstart = MAX_DMA32_PFN + high_pages - movable
            zones[ZONE_MOVABLE] = (mstart, movable, movable, [(mstart, mstart + movable)], [])
        return zones

    def _layout_highmem(self, cfg: MachineConfig) -> tuple[
            list[tuple[int, int, int, list[tuple[int, int]], list[tuple[int, int]]]], int, int, int]:
        """The zones of a 32-bit CONFIG_HIGHMEM kernel on the same PC memory map.

        arch/x86/mm/init_32.c: find_low_pfn_range - all of RAM is lowmem when it fits below
        MAXMEM (lowmem_pfn_init: max_low_pfn = max_pfn), else max_low_pfn = MAXMEM_PFN and
        the rest is highmem (highmem_pfn_init), max_pfn capped at MAX_NONPAE_PFN (4 GiB:
        RAM the BIOS remaps above 4 GiB is lost, with the kernel's warning).
        arch/x86/mm/init.c: zone_sizes_init - ZONE_DMA to min(MAX_DMA_PFN, max_low_pfn),
        ZONE_NORMAL to max_low_pfn, ZONE_HIGHMEM to max_pfn.  FLATMEM's mem_map covers pfn 0
        to max_pfn rounded up to MAX_ORDER_NR_PAGES (mm/mm_init.c: alloc_node_mem_map), and
        memblock takes it top-down below its current limit, the end of lowmem."""
        arch, zt = self.arch, self.zt
        if cfg.dma_pages is not None or cfg.dma32_pages is not None or cfg.normal_pages is not None:
            raise KernelFault(f"dma_pages=/dma32_pages=/normal_pages= size the x86_64 zones; an {arch.name} "
                              "machine is sized by mem= (ZONE_NORMAL ends at max_low_pfn, HighMem above)")
        if cfg.mem < 64 * MiB:
            raise KernelFault(f"mem={cfg.mem}: a machine needs at least 64M")
        MAX_DMA_PFN, DMA_START_PFN = arch.max_dma_pfn, arch.dma_start_pfn
        LEGACY_HOLE, DMA_RESERVED = arch.legacy_hole, arch.dma_reserved
        mem_pages = cfg.mem >> PAGE_SHIFT
        # e820: RAM below the PCI hole, the rest remapped above 4 GiB
        low_ram_end = min(mem_pages, arch.pci_hole_start_pfn)
        max_pfn = mem_pages if mem_pages <= arch.pci_hole_start_pfn else arch.max_dma32_pfn + (mem_pages - low_ram_end)
        maxmem_pfn = arch.direct_map_size >> PAGE_SHIFT   # MAXMEM_PFN (the unbooted arch's MAXMEM)
        if max_pfn <= maxmem_pfn:
            max_low_pfn = max_pfn                       # lowmem_pfn_init
        else:
            max_low_pfn = maxmem_pfn                    # highmem_pfn_init
            if max_pfn > arch.max_physmem_pfn:
                max_pfn = arch.max_physmem_pfn
                self.log.printk("Warning: only 4GB will be used. Support for CONFIG_HIGHMEM64G was removed!", "warn")
        empty: tuple[int, int, int, list[tuple[int, int]], list[tuple[int, int]]] = (0, 0, 0, [], [])
        zones = [empty] * zt.MAX_NR_ZONES
        present_dma = (MAX_DMA_PFN - DMA_START_PFN) - (LEGACY_HOLE[1] - LEGACY_HOLE[0])
        zones[zt.DMA] = (DMA_START_PFN, MAX_DMA_PFN - DMA_START_PFN, present_dma,
                         [(LEGACY_HOLE[1], MAX_DMA_PFN)], [DMA_RESERVED])
        max_order_nr_pages = 1 << MAX_PAGE_ORDER
        mem_map_size = -(-max_pfn // max_order_nr_pages) * max_order_nr_pages * arch.struct_page_size
        top = max_low_pfn << PAGE_SHIFT
        mem_map_phys = (top - mem_map_size) & ~(arch.cache_line_size - 1)  # SMP_CACHE_BYTES
        memmap_start = mem_map_phys >> PAGE_SHIFT
        kres_end = MAX_DMA_PFN + arch.kernel_reserved_pages
        normal_pages = max_low_pfn - MAX_DMA_PFN
        zones[zt.NORMAL] = (MAX_DMA_PFN, normal_pages, normal_pages, [(kres_end, memmap_start)],
                            [(MAX_DMA_PFN, kres_end), (memmap_start, max_low_pfn)])
        high_ram_end = min(low_ram_end, max_pfn)
        high_present = max(0, high_ram_end - max_low_pfn)
        movable = cfg.movable_pages or 0
        if movable > high_present:
            raise KernelFault(f"movable_pages={movable}: only {high_present} pages of highmem can be ZONE_MOVABLE")
        if max_pfn > max_low_pfn:
            hend = high_ram_end - movable
            zones[zt.HIGHMEM] = (max_low_pfn, (max_pfn if not movable else hend) - max_low_pfn,
                                 high_present - movable, [(max_low_pfn, hend)], [])
            if movable:
                # kernelcore=/movablecore= on a highmem kernel: ZONE_MOVABLE takes the top of
                # highmem (mm/mm_init.c: find_zone_movable_pfns_for_nodes, movable_zone HighMem)
                zones[zt.MOVABLE] = (hend, max_pfn - hend, movable, [(hend, high_ram_end)], [])
        return zones, max_low_pfn, mem_map_phys, mem_map_size

    def _boot(self, cfg: MachineConfig) -> None:
        layout = self._layout(cfg)
        max_pfn = max((s + sp for s, sp, _, _, _ in layout), default=0) or 1
        if max_pfn > self.arch.max_physmem_pfn:
            # arch/x86/include/asm/sparsemem.h: MAX_PHYSMEM_BITS; e820__end_of_ram_pfn
            # never goes beyond MAX_ARCH_PFN.  Refused rather than silently clipped.
            raise KernelFault(f"the memory map would end at {max_pfn << PAGE_SHIFT:#x}: {self.arch.description} "
                              f"addresses at most {physmem_limit(self.arch)} of physical memory "
                              f"(MAX_PHYSMEM_BITS {self.arch.max_physmem_bits})")
        self.memmap = Memmap(max_pfn, self.arch.pageblock_order)
        self.zones: list[Zone] = []
        for idx, (start, spanned, present, managed, reserved) in enumerate(layout):
            self.zones.append(Zone(idx, self.memmap, start, spanned, present, managed, reserved, self.nr_cpus,
                                   self.zt))
        self.populated = [z for z in self.zones if z.present_pages]
        # page_zone() in O(1): the kernel keeps the zone id in page->flags; here one byte per
        # pageblock (like pageblock_mt) holds the index of the zone spanning the whole
        # pageblock, PB_ZONE_MIXED where a zone boundary or a hole falls inside it (zone_of)
        pb_zone = bytearray([PB_ZONE_MIXED]) * len(self.memmap.pageblock_mt)
        for z in self.populated:
            first = -(-z.zone_start_pfn // self.pageblock_nr_pages)
            last = z.zone_end_pfn // self.pageblock_nr_pages
            if first < last:
                pb_zone[first:last] = bytes([z.idx]) * (last - first)
        self.pageblock_zone = pb_zone
        # mm/mm_init.c: memmap_init_range sets MIGRATE_MOVABLE only on pageblock-aligned pfns it
        # initialises; a zone that starts inside a pageblock (DMA at pfn 1: pfn 0 is the BIOS
        # page, in no zone) leaves that pageblock's flags at 0, MIGRATE_UNMOVABLE, and the free
        # pages released into it later go onto the Unmovable lists (the reference machine's
        # pagetypeinfo: one Unmovable block in DMA, with an order-8 free block on its list)
        for z in self.populated:
            start = z.zone_start_pfn
            if start % self.pageblock_nr_pages and not any(
                    o.zone_start_pfn <= start - start % self.pageblock_nr_pages < o.zone_end_pfn for o in self.populated):
                self.memmap.pageblock_mt[start // self.pageblock_nr_pages] = MIGRATE_UNMOVABLE
        self.totalram_pages = sum(z.managed_pages for z in self.zones)
        # mm/memblock.c: memblock_free_all -> __free_pages_memory: release every managed
        # range in max-order aligned chunks, each freed with FPI_TO_TAIL.
        for zone in self.populated:
            for start, end in zone.managed_ranges:
                self._free_memory_range(zone, start, end)
        # mm/page_alloc.c: init_per_zone_wmark_min (postcore_initcall)
        self.calculate_min_free_kbytes()
        self.setup_per_zone_wmarks()
        self.refresh_zone_stat_thresholds()
        self.setup_per_zone_lowmem_reserve()
        # mm/khugepaged.c: start_stop_khugepaged -> set_recommended_min_free_kbytes (late_initcall)
        self.set_recommended_min_free_kbytes()

    def _free_memory_range(self, zone: Zone, start: int, end: int) -> None:
        memmap = self.memmap
        while start < end:
            order = min(MAX_PAGE_ORDER, (start & -start).bit_length() - 1 if start else MAX_PAGE_ORDER)
            while start + (1 << order) > end:
                order -= 1
            if order == MAX_PAGE_ORDER:
                # A whole aligned stretch of max-order blocks: one lazy run (see buddy.py).
                n = (end - start) >> MAX_PAGE_ORDER
                run_end = start + (n << MAX_PAGE_ORDER)
                if zone.lazy and zone.lazy[-1][1] == start:
                    zone.lazy[-1][1] = run_end
                else:
                    zone.lazy.append([start, run_end])
                zone.lazy_blocks += n
                li = MAX_PAGE_ORDER * MIGRATE_TYPES + MIGRATE_MOVABLE
                zone.nr_list[li] += n
                zone.free_area_nr[MAX_PAGE_ORDER] += n
                zone.account_freepages(n << MAX_PAGE_ORDER, MIGRATE_MOVABLE)
                start = run_end
                continue
            memmap.set_block(start, order, BUDDY_TAIL, BUDDY_TAIL)
            # __free_pages_ok -> free_one_page: the pageblock's migratetype
            zone.free_one_page(start, order, memmap.pageblock_mt[start >> self.pageblock_order], to_tail=True)
            start += 1 << order

    # -- watermarks and reserves (mm/page_alloc.c) ---------------------------------------
    def nr_free_buffer_pages(self) -> int:
        """nr_free_zone_pages(gfp_zone(GFP_USER)): managed - high over DMA..Normal (never
        HighMem: GFP_USER has no __GFP_HIGHMEM)."""
        hz = self.zt.gfp_zone(GFP_USER)
        total = 0
        for z in self.zones:
            if z.idx <= hz and z.populated:
                high = z.high
                if z.managed_pages > high:
                    total += z.managed_pages - high
        return total

    def calculate_min_free_kbytes(self) -> None:
        lowmem_kbytes = self.nr_free_buffer_pages() * (PAGE_SIZE >> 10)
        new = math.isqrt(lowmem_kbytes * 16)
        if new > self.user_min_free_kbytes:
            self.min_free_kbytes = min(max(new, 128), 262144)
        else:
            self.log.printk(f"min_free_kbytes is not updated to {new} because user defined value "
                            f"{self.user_min_free_kbytes} is preferred", "warn")

    def set_recommended_min_free_kbytes(self) -> None:
        """mm/khugepaged.c: THP raises min_free_kbytes to keep pageblocks free."""
        if not self.thp_enabled:
            self.calculate_min_free_kbytes()
            self.setup_per_zone_wmarks()
            return
        nr_zones = sum(1 for z in self.populated if z.idx <= self.zt.gfp_zone(GFP_USER))
        rec = self.pageblock_nr_pages * nr_zones * 2
        rec += self.pageblock_nr_pages * nr_zones * MIGRATE_PCPTYPES * MIGRATE_PCPTYPES
        rec = min(rec, self.nr_free_buffer_pages() // 20)
        rec <<= PAGE_SHIFT - 10
        if rec > self.min_free_kbytes:
            if self.user_min_free_kbytes >= 0:
                self.log.printk(f"raising min_free_kbytes from {self.min_free_kbytes} to {rec} to help "
                                f"transparent hugepage allocations", "info")
            self.min_free_kbytes = rec
        self.setup_per_zone_wmarks()

    def setup_per_zone_wmarks(self) -> None:
        pages_min = self.min_free_kbytes >> (PAGE_SHIFT - 10)
        # mm/page_alloc.c: __setup_per_zone_wmarks - lowmem_pages counts the zones that are
        # neither highmem nor ZONE_MOVABLE; those get a clamped min of their own (zone.py)
        lowmem = sum(z.managed_pages for z in self.zones if not z.clamped_min)
        for z in self.zones:
            z.set_watermarks(pages_min, lowmem, self.watermark_scale_factor)
        self.calculate_totalreserve_pages()
        for z in self.zones:
            z.set_pageset_high_and_batch(self.nr_cpus, self.percpu_pagelist_high_fraction)

    def setup_per_zone_lowmem_reserve(self) -> None:
        nr_zones = self.zt.MAX_NR_ZONES
        for i in range(nr_zones - 1):
            zone = self.zones[i]
            ratio = self.lowmem_reserve_ratio[i]
            clear = not ratio or not zone.managed_pages
            managed = 0
            for j in range(i + 1, nr_zones):
                managed += self.zones[j].managed_pages
                zone.lowmem_reserve[j] = 0 if clear else managed // ratio
        self.calculate_totalreserve_pages()

    def calculate_totalreserve_pages(self) -> None:
        total = 0
        for z in self.zones:
            m = max([0] + z.lowmem_reserve[z.idx:]) + z.high
            total += min(m, z.managed_pages)
        self.totalreserve_pages = total

    def refresh_zone_stat_thresholds(self) -> None:
        for z in self.zones:
            z.calculate_normal_threshold(self.nr_cpus)

    # -- sysctl handlers (kernel/sysctl tables in mm/page_alloc.c) ------------------------
    def sysctl_min_free_kbytes(self, value: Any) -> None:
        v = self._sysctl_int("vm.min_free_kbytes", value, 0, None)
        self.min_free_kbytes = v
        self.user_min_free_kbytes = v
        self.setup_per_zone_wmarks()

    def sysctl_watermark_scale_factor(self, value: Any) -> None:
        self.watermark_scale_factor = self._sysctl_int("vm.watermark_scale_factor", value, 1, 3000)
        self.setup_per_zone_wmarks()

    def sysctl_watermark_boost_factor(self, value: Any) -> None:
        self.watermark_boost_factor = self._sysctl_int("vm.watermark_boost_factor", value, 0, None)

    def sysctl_lowmem_reserve_ratio(self, value: Any) -> None:
        if isinstance(value, str):
            parts: list[Any] = value.split()
        elif isinstance(value, (list, tuple)):
            parts = list(value)
        else:
            parts = [value]
        vals = list(self.lowmem_reserve_ratio)
        for i, p in enumerate(parts[:self.zt.MAX_NR_ZONES]):
            try:
                v = int(p)
            except (TypeError, ValueError):
                raise KernelFault(f"vm.lowmem_reserve_ratio: {p!r} is not an integer (EINVAL)") from None
            vals[i] = v if v >= 1 else 0
        self.lowmem_reserve_ratio = vals
        self.setup_per_zone_lowmem_reserve()

    def sysctl_percpu_pagelist_high_fraction(self, value: Any) -> None:
        v = self._sysctl_int("vm.percpu_pagelist_high_fraction", value, 0, None)
        if v and v < 8:
            raise KernelFault("vm.percpu_pagelist_high_fraction: must be 0 or >= 8 (EINVAL)")
        self.percpu_pagelist_high_fraction = v
        for z in self.zones:
            z.set_pageset_high_and_batch(self.nr_cpus, v)

    @staticmethod
    def _sysctl_int(name: str, value: Any, lo: int, hi: int | None) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            try:
                value = int(str(value).strip())
            except ValueError:
                raise KernelFault(f"{name}: {value!r} is not an integer (EINVAL)") from None
        if value < lo or (hi is not None and value > hi):
            rng = f"{lo}..{hi}" if hi is not None else f">= {lo}"
            raise KernelFault(f"{name}: {value} is out of range ({rng}) (EINVAL)")
        return int(value)

    def register_sysctls(self, register: Callable[[str, Callable[[], Any], Callable[[Any], None]], None]) -> None:
        register("vm.min_free_kbytes", lambda: self.min_free_kbytes, self.sysctl_min_free_kbytes)
        register("vm.watermark_scale_factor", lambda: self.watermark_scale_factor,
                 self.sysctl_watermark_scale_factor)
        register("vm.watermark_boost_factor", lambda: self.watermark_boost_factor,
                 self.sysctl_watermark_boost_factor)
        register("vm.lowmem_reserve_ratio", lambda: "\t".join(str(v) for v in self.lowmem_reserve_ratio),
                 self.sysctl_lowmem_reserve_ratio)
        register("vm.percpu_pagelist_high_fraction", lambda: self.percpu_pagelist_high_fraction,
                 self.sysctl_percpu_pagelist_high_fraction)

    # =====================================================================================
    # Zone queries used by other subsystems
    # =====================================================================================
    def zone_of(self, pfn: int) -> Zone | None:
        """page_zone(): the populated zone whose span holds pfn (None in a hole)."""
        if pfn >= 0:
            pb = pfn >> self.pageblock_order
            if pb < len(self.pageblock_zone):
                zi = self.pageblock_zone[pb]
                if zi != PB_ZONE_MIXED:
                    return self.zones[zi]
        return self.zone_of_scan(pfn)

    def zone_of_scan(self, pfn: int) -> Zone | None:
        """The zone lookup by a scan of the zones' spans (what zone_of's table shortcuts)."""
        for z in self.populated:
            if z.zone_start_pfn <= pfn < z.zone_end_pfn:
                return z
        return None

    def zone_by_name(self, name: str) -> Zone:
        """A zone by the name /proc/zoneinfo prints, or by its enum zone_type name (ZONE_NORMAL)."""
        name = zone_name_of(name)
        for z in self.zones:
            if z.name.lower() == name.lower():
                return z
        if name == "HighMem" and not self.arch.has_highmem:
            # include/linux/mmzone.h: ZONE_HIGHMEM exists only with CONFIG_HIGHMEM, which
            # arch/x86/Kconfig offers on X86_32 only: a 64-bit kernel direct-maps all of RAM.
            raise KernelFault("this machine has no ZONE_HIGHMEM: x86_64 direct-maps all RAM, so CONFIG_HIGHMEM "
                              "exists only on 32-bit kernels (boot machine(arch=\"i386\") for one)")
        raise KernelFault(f"no zone named {name!r}: zones are {', '.join(self.zt.names)}")

    def nr_free_pages(self) -> int:
        """global NR_FREE_PAGES (buddy lists only; pcp pages are not free)."""
        return sum(z.free_pages for z in self.zones)

    def nr_pcp_pages(self) -> int:
        return sum(z.pcp_count for z in self.zones)

    def pfn_valid(self, pfn: int) -> bool:
        return 0 <= pfn < self.memmap.max_pfn
