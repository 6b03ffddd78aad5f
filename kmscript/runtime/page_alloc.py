"""The zoned buddy page allocator: mm/page_alloc.c of Linux 6.18 (x86_64, one node).

Public API (other allocators code against it; see notes/common.md)
-------------------------------------------------------------------
- ``PageAllocator.alloc_pages(gfp, order, *, owner=OWNER_KERNEL, caller=None) -> int | None``
  returns the head pfn, or None after the kernel's failure handling (slow path, then
  warn_alloc unless __GFP_NOWARN).
- ``PageAllocator.free_pages(pfn, order) -> None`` (__free_pages: drops one reference).
- ``zone_of(pfn)``, ``owner_of(pfn)``, ``set_owner(pfn, nr_pages, owner)``, ``nr_free_pages()``,
  ``zones``/``populated``, ``drain_all_pages()``, ``get_page``/``put_page``, ``page(pfn)``.
- Compaction primitives: ``iter_blocks(start, end)``, ``pageblock_info(pfn)``,
  ``movable_blocks(zone)``, ``migrate_page(pfn) -> new_pfn | None``.
- Slow-path hooks: ``self.reclaim`` (None, or an object with wakeup_kswapd,
  try_to_free_pages, try_to_compact_pages, out_of_memory and optionally
  zone_reclaimable_pages(zone_idx)).
- Owner codes below; direct map ``page_address(pfn) = PAGE_OFFSET + pfn * PAGE_SIZE``.

What it models
--------------
Boot (mm/mm_init.c, mm/memblock.c): a PC layout by default (``_layout``), or exact managed
page counts per zone; memory is released in max-order chunks with FPI_TO_TAIL, then
init_per_zone_wmark_min and khugepaged's set_recommended_min_free_kbytes run as at boot.
Allocation: __alloc_frozen_pages_noprof -> get_page_from_freelist (high-watermark fast
test, ZONE_BELOW_HIGH, ALLOC_NOFRAGMENT retry) -> rmqueue (pcp for orders 0-3 and the THP
order, rmqueue_bulk refills with nr_pcp_alloc, or rmqueue_buddy) -> __rmqueue (NORMAL,
CLAIM with watermark boost, STEAL modes) -> the slow path of linux-mm-facts.md 3.6.
Freeing: __free_pages -> free_frozen_pages -> free_frozen_page_commit (nr_pcp_high,
nr_pcp_free, free_pcppages_bulk) or free_one_page -> __free_one_page (buddy.py).

Invariants
----------
- Every managed page is in exactly one state: free on a buddy list, on one CPU's pcp
  list, or allocated (head byte holds owner and order); ``page_counts()`` sums to the
  managed pages and ``check_invariants()`` verifies lists, counters and merging.
- NR_FREE_PAGES (``zone.free_pages``) counts only buddy lists; pcp pages are not free.
- An allocated block's order is kept in its head page's state byte, so every free is
  checked against it (wrong order, double free, tail or reserved page -> bad_page).
- Per-page memory is one byte per touched page (per-section bytearrays); refcounts,
  mapcounts and compound heads are sparse (only pages that differ from the default).

Simplifications
---------------
One NUMA node, no CMA, no memory hotplug or isolation users, no page shuffling, no
debug_pagealloc guard pages; per-zone LRU counters are not kept (meminfo uses node
counters); the periodic pcp ``decay_pcp_high`` of vmstat_update is not run; warn_alloc
is not rate limited (each failure is reported, so ``expect alloc_fail`` always sees it);
a __GFP_NOFAIL request that can never succeed raises KernelFault instead of looping
forever, and the slow path stops after SLOWPATH_LOOP_LIMIT rounds.  Pointer values in
trace events are printed unhashed (as with no_hash_pointers).  get_page/put_page act on
the block's head (the folio), as folio_get/folio_put do.
"""

from __future__ import annotations

PAGE_SHIFT = 12
PAGE_SIZE = 1 << PAGE_SHIFT
PAGE_OFFSET = 0xFFFF888000000000          # x86_64 direct map base (4-level paging, no KASLR)
VMEMMAP_START = 0xFFFFEA0000000000        # struct page array; sizeof(struct page) == 64
STRUCT_PAGE_SIZE = 64
MAX_PAGE_ORDER = 10
NR_PAGE_ORDERS = MAX_PAGE_ORDER + 1
PAGE_ALLOC_COSTLY_ORDER = 3
PAGEBLOCK_ORDER = 9
PAGEBLOCK_NR_PAGES = 1 << PAGEBLOCK_ORDER

# Owner codes of allocated blocks.  The values are the high nibble of the per-page state
# byte (buddy.py), so they must stay below 16 and above the non-allocated kinds.
OWNER_KERNEL = 4       # alloc_pages() by kernel code / scripts
OWNER_SLAB = 5         # SLUB slabs (PageSlab)
OWNER_VMALLOC = 6      # pages backing vmalloc areas
OWNER_USER = 7         # anonymous user pages (on the LRU, movable)
OWNER_FILE = 8         # page cache pages (on the LRU, movable)
OWNER_PAGETABLE = 9    # page-table pages
OWNER_KSTACK = 10      # kernel stacks without VMAP_STACK
OWNER_PERCPU = 11      # per-cpu allocator chunks
OWNER_NAMES = {
    OWNER_KERNEL: "kernel", OWNER_SLAB: "slab", OWNER_VMALLOC: "vmalloc", OWNER_USER: "user",
    OWNER_FILE: "file", OWNER_PAGETABLE: "pagetable", OWNER_KSTACK: "kstack", OWNER_PERCPU: "percpu",
}
OWNERS_MOVABLE = frozenset({OWNER_USER, OWNER_FILE})


def page_address(pfn: int) -> int:
    """Direct-map virtual address of a page frame (lowmem_page_address)."""
    return PAGE_OFFSET + (pfn << PAGE_SHIFT)


def virt_to_pfn(addr: int) -> int:
    """Page frame of a direct-map address (__pa(addr) >> PAGE_SHIFT)."""
    return (addr - PAGE_OFFSET) >> PAGE_SHIFT


def pfn_to_struct_page(pfn: int) -> int:
    """Address of the struct page of ``pfn`` in the vmemmap (what %p of a page shows)."""
    return VMEMMAP_START + pfn * STRUCT_PAGE_SIZE


# ---------------------------------------------------------------------------------------
# Everything below: the allocator itself.
# ---------------------------------------------------------------------------------------

import math
from collections.abc import Iterator
from typing import Any, Callable, Protocol

from .buddy import (BUDDY_MIN, BUDDY_TAIL, FALLBACKS, K_BUDDY, K_NONE, K_PCP, K_RESERVED, SECTION_MASK,
                    SECTION_SHIFT, TAIL, Memmap, migratetype_is_mergeable)
from .errors import KernelFault
from .gfp import (__GFP_COMP, __GFP_DIRECT_RECLAIM, __GFP_HARDWALL, __GFP_HIGH, __GFP_IO,
                  __GFP_KSWAPD_RECLAIM, __GFP_MEMALLOC, __GFP_NOFAIL, __GFP_NOMEMALLOC, __GFP_NORETRY,
                  __GFP_NOWARN, __GFP_RETRY_MAYFAIL, __GFP_THISNODE, __GFP_ZERO, GFP_USER, MAX_NR_ZONES,
                  MIGRATE_HIGHATOMIC, MIGRATE_ISOLATE, MIGRATE_MOVABLE, MIGRATE_PCPTYPES, MIGRATE_RECLAIMABLE,
                  MIGRATE_TYPES, MIGRATE_UNMOVABLE, MIGRATETYPE_NAMES, ZONE_DMA, ZONE_DMA32, ZONE_DEVICE,
                  ZONE_MOVABLE, ZONE_NAMES, ZONE_NORMAL, format_gfp, format_gfp_pGg, gfp_migratetype, gfp_zone)
from .zone import (PCP_BATCH_SCALE_MAX, PCPF_FREE_HIGH_BATCH, PCPF_PREV_FREE_HIGH_ORDER, WMARK_HIGH,
                   WMARK_MIN, PerCpuPages, Zone)

# mm/internal.h: ALLOC_* flags
ALLOC_WMARK_MIN = 0
ALLOC_WMARK_LOW = 1
ALLOC_WMARK_HIGH = 2
ALLOC_WMARK_MASK = 3
ALLOC_NO_WATERMARKS = 0x04
ALLOC_OOM = 0x08
ALLOC_NON_BLOCK = 0x10
ALLOC_MIN_RESERVE = 0x20
ALLOC_CPUSET = 0x40
ALLOC_CMA = 0x80
ALLOC_NOFRAGMENT = 0x100
ALLOC_HIGHATOMIC = 0x200
ALLOC_TRYLOCK = 0x400
ALLOC_KSWAPD = 0x800
ALLOC_RESERVES = ALLOC_NON_BLOCK | ALLOC_MIN_RESERVE | ALLOC_HIGHATOMIC | ALLOC_OOM

MAX_RECLAIM_RETRIES = 16
MAX_COMPACT_RETRIES = 16
PF_MEMALLOC = 0x00000800
# The kernel loops forever for __GFP_NOFAIL and keeps retrying while the OOM killer
# "makes progress"; the simulation stops after this many slow-path rounds so a script
# can never hang (see _nofail_stuck).
SLOWPATH_LOOP_LIMIT = 64

NR_LOWORDER_PCP_LISTS = MIGRATE_PCPTYPES * (PAGE_ALLOC_COSTLY_ORDER + 1)

GiB = 1 << 30
MiB = 1 << 20
MAX_DMA_PFN = (16 * MiB) >> PAGE_SHIFT          # 4096
MAX_DMA32_PFN = (4 * GiB) >> PAGE_SHIFT         # 1 << 20
PCI_HOLE_START_PFN = (3 * GiB) >> PAGE_SHIFT    # RAM below 4 GiB ends at 3 GiB when mem > 3 GiB
# Boot layout of the low zones, modelled on the verified machine (zoneinfo snapshot in
# tests/runtime/data): DMA starts at pfn 1 (pfn 0 is the BIOS data area, never in a zone),
# pfns 0x9f-0xff are the legacy VGA/BIOS hole (DMA present 3998 of 4095 spanned), and
# pfns 1-0x9e are reserved by the BIOS/trampoline, leaving 3840 managed pages.
DMA_START_PFN = 1
LEGACY_HOLE = (0x9F, 0x100)
DMA_RESERVED = (1, 0x9F)
# Kernel image, bss, early page tables and initrd: reserved at 16 MiB (the x86_64 load
# address).  9418 pages = present - managed of the machine's DMA32 zone.
KERNEL_RESERVED_START_PFN = MAX_DMA_PFN
KERNEL_RESERVED_PAGES = 9418


class ReclaimHooks(Protocol):
    """Set by the reclaim/OOM engineer as ``machine.page_alloc.reclaim``."""

    def wakeup_kswapd(self, order: int, highest_zoneidx: int) -> None: ...
    def try_to_free_pages(self, gfp: int, order: int) -> int: ...
    def try_to_compact_pages(self, gfp: int, order: int) -> bool: ...
    def out_of_memory(self, gfp: int, order: int) -> bool: ...


def _pcp_pindex(mt: int, order: int) -> int:
    """order_to_pindex (CONFIG_TRANSPARENT_HUGEPAGE)."""
    if order > PAGE_ALLOC_COSTLY_ORDER:
        return NR_LOWORDER_PCP_LISTS + (1 if mt == MIGRATE_MOVABLE else 0)
    return MIGRATE_PCPTYPES * order + mt


def _pindex_to_order(pindex: int) -> int:
    if pindex >= NR_LOWORDER_PCP_LISTS:
        return PAGEBLOCK_ORDER
    return pindex // MIGRATE_PCPTYPES


class Page:
    """A struct page handle, created on demand from a pfn (KMS_TYPE "page")."""

    KMS_TYPE = "page"
    KMS_ATTRS = frozenset({"pfn", "address", "flags", "refcount", "mapcount", "order", "zone", "owner",
                           "buddy", "slab", "reserved", "head", "compound", "free", "pcp", "phys",
                           "migratetype"})
    __slots__ = ("_pa", "pfn")

    def __init__(self, pa: "PageAllocator", pfn: int) -> None:
        self._pa = pa
        self.pfn = pfn

    @property
    def address(self) -> int:
        return page_address(self.pfn)

    @property
    def phys(self) -> int:
        return self.pfn << PAGE_SHIFT

    @property
    def zone(self) -> str:
        z = self._pa.zone_of(self.pfn)
        return z.name if z is not None else "none"

    @property
    def owner(self) -> str:
        return self._pa.owner_name(self.pfn)

    @property
    def order(self) -> int:
        st = self._pa.page_state(self.pfn)
        return st[2] if st[1] else 0

    @property
    def refcount(self) -> int:
        return self._pa.page_ref_count(self.pfn)

    @property
    def mapcount(self) -> int:
        return self._pa.mapcount.get(self.pfn, 0)

    @property
    def buddy(self) -> bool:
        kind, is_head, _ = self._pa.page_state(self.pfn)
        return kind == "buddy" and is_head

    @property
    def free(self) -> bool:
        return self._pa.page_state(self.pfn)[0] == "buddy"

    @property
    def pcp(self) -> bool:
        return self._pa.page_state(self.pfn)[0] == "pcp"

    @property
    def slab(self) -> bool:
        return self._pa.page_state(self.pfn)[0] == "slab"

    @property
    def reserved(self) -> bool:
        return self._pa.page_state(self.pfn)[0] == "reserved"

    @property
    def head(self) -> bool:
        kind, is_head, order = self._pa.page_state(self.pfn)
        return is_head and self.pfn in self._pa.compound

    @property
    def compound(self) -> bool:
        head = self._pa.block_head(self.pfn)
        return head is not None and head[0] in self._pa.compound

    @property
    def migratetype(self) -> str:
        return MIGRATETYPE_NAMES[self._pa.memmap.pageblock_mt[self.pfn >> PAGEBLOCK_ORDER]]

    @property
    def flags(self) -> str:
        return self._pa.page_flags(self.pfn)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Page) and other.pfn == self.pfn and other._pa is self._pa

    def __hash__(self) -> int:
        return hash(self.pfn)

    def __str__(self) -> str:
        return (f"page pfn:{self.pfn:#x} addr:{self.address:#x} zone:{self.zone} owner:{self.owner} "
                f"order:{self.order} refcount:{self.refcount} flags:{self.flags}")

    __repr__ = __str__

# Class bodies mangle names that start with two underscores, so the allocator uses
# single-underscore aliases of the __GFP_* bits.
_GFP_COMP = __GFP_COMP
_GFP_DIRECT_RECLAIM = __GFP_DIRECT_RECLAIM
_GFP_HARDWALL = __GFP_HARDWALL
_GFP_HIGH = __GFP_HIGH
_GFP_IO = __GFP_IO
_GFP_KSWAPD_RECLAIM = __GFP_KSWAPD_RECLAIM
_GFP_MEMALLOC = __GFP_MEMALLOC
_GFP_NOFAIL = __GFP_NOFAIL
_GFP_NOMEMALLOC = __GFP_NOMEMALLOC
_GFP_NORETRY = __GFP_NORETRY
_GFP_NOWARN = __GFP_NOWARN
_GFP_RETRY_MAYFAIL = __GFP_RETRY_MAYFAIL
_GFP_THISNODE = __GFP_THISNODE
_GFP_ZERO = __GFP_ZERO

# precomputed tail-page state bytes of blocks of order 1..3 (fast paths)
_MAXORDER_LI = MAX_PAGE_ORDER * MIGRATE_TYPES
_TAIL_BYTES = [[bytes(((k << 4) | TAIL,)) * ((1 << o) - 1) for o in range(PAGE_ALLOC_COSTLY_ORDER + 1)]
               for k in range(16)]
_PCP_TAIL_BYTES = _TAIL_BYTES[K_PCP]


class PageAllocator:
    """The zoned page allocator of one machine (mm/page_alloc.c).  See the module docstring
    at the end of this file for the model, invariants and simplifications."""

    def __init__(self, machine: Any) -> None:
        self.machine = machine
        cfg = machine.config
        self.ctx = machine.ctx
        self.log = machine.log
        self.tracer = machine.tracer
        self.faults = machine.faults
        self.nr_cpus: int = machine.nr_cpus
        self.thp_enabled: bool = bool(cfg.thp)
        self.reclaim: ReclaimHooks | None = None
        # sysctls (mm/page_alloc.c defaults)
        self.min_free_kbytes = 1024
        self.user_min_free_kbytes = -1
        self.watermark_scale_factor = 10
        self.watermark_boost_factor = 15000
        self.lowmem_reserve_ratio = [256, 256, 32, 0, 0]
        self.percpu_pagelist_high_fraction = 0
        self.totalreserve_pages = 0
        # struct page fields that are rarely not the default, kept sparse:
        self._refcount: dict[int, int] = {}       # head pfn -> refcount when != 1 (allocated)
        self.mapcount: dict[int, int] = {}        # pfn -> mapcount when != 0
        self.compound: set[int] = set()           # heads of compound (_GFP_COMP) blocks
        self._warned_order = False
        self._ac_cache: dict[int, tuple[int, int, tuple[Zone, ...], int]] = {}
        self._boot(cfg)
        self.phys_max = self.memmap.max_pfn << PAGE_SHIFT

    # =====================================================================================
    # Boot: zone layout, memblock release, watermarks
    # =====================================================================================
    def _layout(self, cfg: Any) -> list[tuple[int, int, int, list[tuple[int, int]], list[tuple[int, int]]]]:
        """(start_pfn, spanned, present, managed ranges, reserved ranges) per zone index."""
        empty: tuple[int, int, int, list[tuple[int, int]], list[tuple[int, int]]] = (0, 0, 0, [], [])
        zones = [empty] * MAX_NR_ZONES
        exact = any(getattr(cfg, n) is not None for n in ("dma_pages", "dma32_pages", "normal_pages"))
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

    def _boot(self, cfg: Any) -> None:
        layout = self._layout(cfg)
        max_pfn = max((s + sp for s, sp, _, _, _ in layout), default=0) or 1
        self.memmap = Memmap(max_pfn)
        self.zones: list[Zone] = []
        for idx, (start, spanned, present, managed, reserved) in enumerate(layout):
            self.zones.append(Zone(idx, self.memmap, start, spanned, present, managed, reserved, self.nr_cpus))
        self.populated = [z for z in self.zones if z.present_pages]
        # zone of each 128 MiB section when the section lies inside one zone (fast lookup)
        self._sec_zone: list[Zone | None] = [None] * len(self.memmap.sections)
        for z in self.populated:
            first = -(-z.zone_start_pfn // (1 << SECTION_SHIFT))
            last = z.zone_end_pfn >> SECTION_SHIFT
            for si in range(first, last):
                self._sec_zone[si] = z
        self.totalram_pages = sum(z.managed_pages for z in self.zones)
        self.reserved_pages = sum(z.present_pages - z.managed_pages for z in self.zones)
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
                zone._nr_free[MAX_PAGE_ORDER] += n
                zone.account_freepages(n << MAX_PAGE_ORDER, MIGRATE_MOVABLE)
                start = run_end
                continue
            memmap.set_block(start, order, BUDDY_TAIL, BUDDY_TAIL)
            zone.free_one_page(start, order, MIGRATE_MOVABLE, to_tail=True)
            start += 1 << order

    # -- watermarks and reserves (mm/page_alloc.c) ---------------------------------------
    def nr_free_buffer_pages(self) -> int:
        """nr_free_zone_pages(gfp_zone(GFP_USER)): managed - high over DMA..Normal."""
        hz = gfp_zone(GFP_USER)
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
        nr_zones = sum(1 for z in self.populated if z.idx <= gfp_zone(GFP_USER))
        rec = PAGEBLOCK_NR_PAGES * nr_zones * 2
        rec += PAGEBLOCK_NR_PAGES * nr_zones * MIGRATE_PCPTYPES * MIGRATE_PCPTYPES
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
        lowmem = sum(z.managed_pages for z in self.zones if z.idx not in (ZONE_MOVABLE,))
        for z in self.zones:
            z.set_watermarks(pages_min, lowmem, self.watermark_scale_factor)
        self.calculate_totalreserve_pages()
        for z in self.zones:
            z.set_pageset_high_and_batch(self.nr_cpus, self.percpu_pagelist_high_fraction)

    def setup_per_zone_lowmem_reserve(self) -> None:
        for i in range(MAX_NR_ZONES - 1):
            zone = self.zones[i]
            ratio = self.lowmem_reserve_ratio[i]
            clear = not ratio or not zone.managed_pages
            managed = 0
            for j in range(i + 1, MAX_NR_ZONES):
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
        for i, p in enumerate(parts[:MAX_NR_ZONES]):
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
        for z in self.populated:
            if z.zone_start_pfn <= pfn < z.zone_end_pfn:
                return z
        return None

    def zone_by_name(self, name: str) -> Zone:
        for z in self.zones:
            if z.name.lower() == name.lower():
                return z
        raise KernelFault(f"no zone named {name!r}: zones are {', '.join(ZONE_NAMES)}")

    def nr_free_pages(self) -> int:
        """global NR_FREE_PAGES (buddy lists only; pcp pages are not free)."""
        return sum(z.free_pages for z in self.zones)

    def nr_pcp_pages(self) -> int:
        return sum(z.pcp_count for z in self.zones)

    def pfn_valid(self, pfn: int) -> bool:
        return 0 <= pfn < self.memmap.max_pfn

    def page(self, pfn: int) -> Page:
        """pfn_to_page."""
        if not self.pfn_valid(pfn) or self.zone_of(pfn) is None:
            raise KernelFault(f"pfn {pfn:#x} has no struct page (outside RAM or in a hole)")
        return Page(self, pfn)

    # =====================================================================================
    # The allocation fast path (mm/page_alloc.c: __alloc_frozen_pages_noprof)
    # =====================================================================================
    def _alloc_context(self, gfp: int) -> tuple[int, int, tuple[Zone, ...], int]:
        """prepare_alloc_pages + alloc_flags_nofragment, cached per gfp mask."""
        ac = self._ac_cache.get(gfp)
        if ac is None:
            hz = gfp_zone(gfp)
            mt = gfp_migratetype(gfp)
            zonelist = tuple(z for z in reversed(self.populated) if z.idx <= hz and z.idx != ZONE_DEVICE)
            flags = ALLOC_WMARK_LOW | (gfp & _GFP_KSWAPD_RECLAIM)  # == ALLOC_KSWAPD
            if zonelist and zonelist[0].idx == ZONE_NORMAL:
                flags |= ALLOC_NOFRAGMENT
            ac = (hz, mt, zonelist, flags)
            if len(self._ac_cache) < 1024:
                self._ac_cache[gfp] = ac
        return ac

    def alloc_pages(self, gfp: int, order: int, *, owner: int = OWNER_KERNEL,
                    caller: str | None = None) -> int | None:
        """alloc_pages(): the head pfn of 2^order pages, or None (warn_alloc unless __GFP_NOWARN)."""
        if gfp & _GFP_DIRECT_RECLAIM and order <= MAX_PAGE_ORDER:
            # prepare_alloc_pages -> might_alloc (the order check comes first in the kernel)
            self.ctx.might_alloc(gfp)
        if order == 0 and not self.faults.active and not self.tracer.enabled:
            # The common case of get_page_from_freelist + rmqueue_pcplist, inlined: the
            # preferred zone is above its high watermark (zone_watermark_fast's order-0
            # test) and this CPU's pcp list has a page.  Anything else takes the full path.
            ac = self._ac_cache.get(gfp)
            if ac is not None and ac[2]:
                zone = ac[2][0]
                if (not zone.below_high and not zone.boosted_watermark
                        and zone.free_pages - zone.nr_free_highatomic
                        > zone._watermark[2] + zone.watermark_boost + zone.lowmem_reserve[ac[0]]):
                    pcp = zone.pcp[self.ctx.cpu]
                    lst = pcp.lists[ac[1]]
                    if lst:
                        pcp.free_count >>= 1
                        pcp.count -= 1
                        pfn: int = lst.popleft()
                        zone.numa_hit += 1
                        zone.pgalloc += 1
                        sec = self.memmap.sections[pfn >> SECTION_SHIFT]
                        assert sec is not None   # a page on a pcp list has state bytes
                        sec[pfn & SECTION_MASK] = owner << 4
                        if gfp & _GFP_ZERO:
                            self.machine.phys.clear_pages(pfn, 1)
                        return pfn
        elif 0 < order <= PAGE_ALLOC_COSTLY_ORDER and not self.faults.active and not self.tracer.enabled:
            # The same for orders 1-3: __zone_watermark_ok at the high mark, whose search for
            # a free block of a usable type is answered by the order-10 lists in the common
            # case (otherwise the full path decides).
            ac = self._ac_cache.get(gfp)
            if ac is not None and ac[2]:
                zone = ac[2][0]
                nr_list = zone.nr_list
                if (not zone.below_high and not zone.boosted_watermark
                        and zone.free_pages - ((1 << order) - 1) - zone.nr_free_highatomic
                        > zone._watermark[2] + zone.watermark_boost + zone.lowmem_reserve[ac[0]]
                        and (nr_list[_MAXORDER_LI] or nr_list[_MAXORDER_LI + 1] or nr_list[_MAXORDER_LI + 2])):
                    pcp = zone.pcp[self.ctx.cpu]
                    lst = pcp.lists[MIGRATE_PCPTYPES * order + ac[1]]
                    if lst:
                        pcp.free_count >>= 1
                        nr = 1 << order
                        pcp.count -= nr
                        hpfn: int = lst.popleft()
                        zone.numa_hit += 1
                        zone.pgalloc += nr
                        sec = self.memmap.sections[hpfn >> SECTION_SHIFT]
                        assert sec is not None
                        i = hpfn & SECTION_MASK
                        sec[i + 1:i + nr] = _TAIL_BYTES[owner][order]
                        sec[i] = (owner << 4) | order
                        if gfp & _GFP_COMP:
                            self.compound.add(hpfn)
                        if gfp & _GFP_ZERO:
                            self.machine.phys.clear_pages(hpfn, nr)
                        return hpfn
        return self._alloc_pages(gfp, order, owner, caller)

    def _alloc_pages(self, gfp: int, order: int, owner: int, caller: str | None) -> int | None:
        if order > MAX_PAGE_ORDER or order < 0:
            if order > MAX_PAGE_ORDER and not gfp & _GFP_NOWARN and not self._warned_order:
                self._warned_order = True  # WARN_ON_ONCE
                # WARN_ON_ONCE_GFP(order > MAX_PAGE_ORDER, gfp)
                self._warn_on("__alloc_frozen_pages_noprof", caller)
            if order < 0:
                raise KernelFault(f"order {order}: an order is 0..{MAX_PAGE_ORDER}")
            return None
        if self.faults.active and self.faults.should_fail_alloc_page(gfp, order):
            return None
        hz, mt, zonelist, alloc_flags = self._alloc_context(gfp)
        if not zonelist:
            pfn = None
        else:
            pfn = self.get_page_from_freelist(gfp, order, alloc_flags, hz, mt, zonelist)
            if pfn is None:
                pfn = self._alloc_pages_slowpath(gfp, order, hz, mt, zonelist, caller)
        if pfn is not None:
            self._prep_new_page(pfn, order, gfp, owner)
        if self.tracer.enabled:
            if pfn is None:
                self.tracer.emit("mm_page_alloc", f"page=(null) pfn=0x0 order={order} "
                                 f"migratetype={mt} gfp_flags={format_gfp(gfp)}")
            else:
                self.tracer.emit("mm_page_alloc", f"page={pfn_to_struct_page(pfn):016x} pfn={pfn:#x} "
                                 f"order={order} migratetype={mt} gfp_flags={format_gfp(gfp)}")
        return pfn

    def _prep_new_page(self, pfn: int, order: int, gfp: int, owner: int) -> None:
        """prep_new_page/post_alloc_hook: refcount 1, owner bytes, __GFP_ZERO, compound."""
        sec = self.memmap.sections[pfn >> SECTION_SHIFT]
        if sec is None:
            sec = self.memmap.section(pfn)
        i = pfn & SECTION_MASK
        if order:
            n = 1 << order
            sec[i + 1:i + n] = bytes(((owner << 4) | TAIL,)) * (n - 1)
            if gfp & _GFP_COMP:
                self.compound.add(pfn)
        sec[i] = (owner << 4) | order
        if gfp & _GFP_ZERO:
            self.machine.phys.clear_pages(pfn, 1 << order)

    def zone_watermark_ok(self, z: Zone, order: int, mark: int, hz: int, alloc_flags: int,
                          free_pages: int | None = None) -> bool:
        """__zone_watermark_ok (linux-mm-facts.md 3.2)."""
        free = z.free_pages if free_pages is None else free_pages
        free -= (1 << order) - 1
        if not alloc_flags & ALLOC_RESERVES:
            free -= z.nr_free_highatomic
        mn = mark
        if alloc_flags & ALLOC_RESERVES:
            if alloc_flags & ALLOC_MIN_RESERVE:
                mn -= mn // 2
                if alloc_flags & ALLOC_NON_BLOCK:
                    mn -= mn // 4
            if alloc_flags & ALLOC_OOM:
                mn -= mn // 2
        if free <= mn + z.lowmem_reserve[hz]:
            return False
        if not order:
            return True
        nr_list = z.nr_list
        for o in range(order, NR_PAGE_ORDERS):
            if not z._nr_free[o]:
                continue
            base = o * MIGRATE_TYPES
            if nr_list[base] or nr_list[base + 1] or nr_list[base + 2]:
                return True
            if alloc_flags & (ALLOC_HIGHATOMIC | ALLOC_OOM) and nr_list[base + MIGRATE_HIGHATOMIC]:
                return True
        return False

    def zone_watermark_fast(self, z: Zone, order: int, mark: int, hz: int, alloc_flags: int) -> bool:
        free = z.free_pages
        if not order:
            reserved = 0 if alloc_flags & ALLOC_RESERVES else z.nr_free_highatomic
            usable = free - min(free, reserved)
            if usable > mark + z.lowmem_reserve[hz]:
                return True
        if self.zone_watermark_ok(z, order, mark, hz, alloc_flags, free):
            return True
        if (not order and alloc_flags & ALLOC_MIN_RESERVE and z.watermark_boost
                and alloc_flags & ALLOC_WMARK_MASK == ALLOC_WMARK_MIN):
            return self.zone_watermark_ok(z, order, z._watermark[WMARK_MIN], hz, alloc_flags, free)
        return False

    def get_page_from_freelist(self, gfp: int, order: int, alloc_flags: int, hz: int, mt: int,
                               zonelist: tuple[Zone, ...]) -> int | None:
        while True:
            for zone in zonelist:
                if not zone.below_high:
                    if self.zone_watermark_fast(zone, order, zone.high, hz, alloc_flags):
                        pfn = self._rmqueue(zone, order, gfp, alloc_flags, mt)
                        if pfn is not None:
                            if alloc_flags & ALLOC_HIGHATOMIC:
                                self._reserve_highatomic_pageblock(pfn, order, zone)
                            return pfn
                        continue
                    zone.below_high = True
                mark = zone.wmark_pages(alloc_flags & ALLOC_WMARK_MASK)
                if not self.zone_watermark_fast(zone, order, mark, hz, alloc_flags):
                    if not alloc_flags & ALLOC_NO_WATERMARKS:
                        continue
                pfn = self._rmqueue(zone, order, gfp, alloc_flags, mt)
                if pfn is not None:
                    if alloc_flags & ALLOC_HIGHATOMIC:
                        self._reserve_highatomic_pageblock(pfn, order, zone)
                    return pfn
            if alloc_flags & ALLOC_NOFRAGMENT:
                alloc_flags &= ~ALLOC_NOFRAGMENT
                continue
            return None

    def _rmqueue(self, zone: Zone, order: int, gfp: int, alloc_flags: int, mt: int) -> int | None:
        pfn: int | None = None
        if order <= PAGE_ALLOC_COSTLY_ORDER or (order == PAGEBLOCK_ORDER and self.thp_enabled):
            pfn = self._rmqueue_pcplist(zone, order, mt, alloc_flags)
        if pfn is None:
            pfn = self._rmqueue_buddy(zone, order, alloc_flags, mt)
            if pfn is None:
                return None
        zone.numa_hit += 1
        zone.pgalloc += 1 << order
        if alloc_flags & ALLOC_KSWAPD and zone.boosted_watermark:
            zone.boosted_watermark = False
            self._wakeup_kswapd(0, zone.idx)
        return pfn

    def _rmqueue_pcplist(self, zone: Zone, order: int, mt: int, alloc_flags: int) -> int | None:
        pcp = zone.pcp[self.ctx.cpu]
        pcp.free_count >>= 1
        lst = pcp.lists[_pcp_pindex(mt, order) if order else mt]
        if not lst:
            batch = self._nr_pcp_alloc(pcp, zone, order)
            n = self._rmqueue_bulk(zone, order, batch, lst, mt, alloc_flags)
            pcp.count += n << order
            if not lst:
                return None
        pcp.count -= 1 << order
        pfn: int = lst.popleft()
        return pfn

    def _nr_pcp_alloc(self, pcp: PerCpuPages, zone: Zone, order: int) -> int:
        base_batch = pcp.batch
        high_min = pcp.high_min
        high_max = pcp.high_max
        high = pcp.high = min(max(pcp.high, high_min), high_max)
        if high < base_batch:
            return 1
        batch = base_batch if order else base_batch << pcp.alloc_factor
        if high_min != high_max and not zone.below_high:
            high = pcp.high = min(high + batch, high_max)
        if not order:
            max_nr_alloc = max(high - pcp.count - base_batch, base_batch)
            if batch <= max_nr_alloc and pcp.alloc_factor < PCP_BATCH_SCALE_MAX:
                pcp.alloc_factor += 1
            batch = min(batch, max_nr_alloc)
        if batch > 1:
            batch = max(batch >> order, 2)
        return batch

    def _rmqueue_bulk(self, zone: Zone, order: int, count: int, lst: Any, mt: int, alloc_flags: int) -> int:
        """rmqueue_bulk: refill a pcp list (pages appended at the tail, in pfn order)."""
        mode = [0]
        memmap = self.memmap
        head = (K_PCP << 4) | order
        i = 0
        while i < count:
            pfn = self._rmqueue_mode(zone, order, mt, alloc_flags, mode)
            if pfn is None:
                break
            memmap.set_block(pfn, order, head, (K_PCP << 4) | TAIL)
            lst.append(pfn)
            i += 1
        return i

    def _rmqueue_buddy(self, zone: Zone, order: int, alloc_flags: int, mt: int) -> int | None:
        pfn = None
        if alloc_flags & ALLOC_HIGHATOMIC:
            pfn = self._rmqueue_smallest(zone, order, MIGRATE_HIGHATOMIC)
        if pfn is None:
            pfn = self._rmqueue_mode(zone, order, mt, alloc_flags, [0])
            if pfn is None and alloc_flags & (ALLOC_OOM | ALLOC_NON_BLOCK):
                pfn = self._rmqueue_smallest(zone, order, MIGRATE_HIGHATOMIC)
        return pfn

    def _rmqueue_smallest(self, zone: Zone, order: int, mt: int) -> int | None:
        r = zone.rmqueue_smallest(order, mt)
        if r is None:
            return None
        if self.tracer.enabled:
            refill = int((order <= PAGE_ALLOC_COSTLY_ORDER or (order == PAGEBLOCK_ORDER and self.thp_enabled))
                         and mt < MIGRATE_PCPTYPES)
            self.tracer.emit("mm_page_alloc_zone_locked",
                             f"page={pfn_to_struct_page(r[0]):016x} pfn={r[0]:#x} order={order} "
                             f"migratetype={mt} percpu_refill={refill}")
        return r[0]

    # __rmqueue with enum rmqueue_mode: 0 NORMAL, 1 CLAIM, 2 STEAL (no CMA)
    def _rmqueue_mode(self, zone: Zone, order: int, mt: int, alloc_flags: int, mode: list[int]) -> int | None:
        if mode[0] == 0:
            pfn = self._rmqueue_smallest(zone, order, mt)
            if pfn is not None:
                return pfn
        if mode[0] <= 1:
            pfn = self._rmqueue_claim(zone, order, mt, alloc_flags)
            if pfn is not None:
                mode[0] = 0
                return pfn
        if not alloc_flags & ALLOC_NOFRAGMENT:
            pfn = self._rmqueue_steal(zone, order, mt)
            if pfn is not None:
                mode[0] = 2
                return pfn
        return None

    @staticmethod
    def _should_try_claim_block(order: int, start_mt: int) -> bool:
        if order >= PAGEBLOCK_ORDER:
            return True
        if order >= PAGEBLOCK_ORDER // 2:
            return True
        return start_mt in (MIGRATE_RECLAIMABLE, MIGRATE_UNMOVABLE)

    def _find_suitable_fallback(self, zone: Zone, order: int, mt: int, claimable: bool) -> int:
        if claimable and not self._should_try_claim_block(order, mt):
            return -2
        if not zone._nr_free[order]:
            return -1
        for fmt in FALLBACKS[mt]:
            if zone.nr_list[order * MIGRATE_TYPES + fmt]:
                return fmt
        return -1

    def _rmqueue_claim(self, zone: Zone, order: int, start_mt: int, alloc_flags: int) -> int | None:
        if start_mt >= MIGRATE_PCPTYPES:
            return None
        min_order = order
        if order < PAGEBLOCK_ORDER and alloc_flags & ALLOC_NOFRAGMENT:
            min_order = PAGEBLOCK_ORDER
        for current in range(MAX_PAGE_ORDER, min_order - 1, -1):
            fmt = self._find_suitable_fallback(zone, current, start_mt, True)
            if fmt == -1:
                continue
            if fmt == -2:
                break
            page = zone.first_free(current, fmt)
            assert page is not None
            pfn = self._try_to_claim_block(zone, page, current, order, start_mt, fmt, alloc_flags)
            if pfn is not None:
                self._trace_extfrag(pfn, order, current, start_mt, fmt)
                return pfn
        return None

    def _rmqueue_steal(self, zone: Zone, order: int, start_mt: int) -> int | None:
        if start_mt >= MIGRATE_PCPTYPES:
            return None
        for current in range(order, NR_PAGE_ORDERS):
            fmt = self._find_suitable_fallback(zone, current, start_mt, False)
            if fmt == -1:
                continue
            page = zone.first_free(current, fmt)
            assert page is not None
            zone.page_del_and_expand(page, order, current, fmt)
            self._trace_extfrag(page, order, current, start_mt, fmt)
            return page
        return None

    def _trace_extfrag(self, pfn: int, order: int, current: int, start_mt: int, fmt: int) -> None:
        if self.tracer.enabled:
            change = int(self.memmap.pageblock_mt[pfn >> PAGEBLOCK_ORDER] == start_mt)
            self.tracer.emit("mm_page_alloc_extfrag",
                             f"page={pfn_to_struct_page(pfn):016x} pfn={pfn:#x} alloc_order={order} "
                             f"fallback_order={current} pageblock_order={PAGEBLOCK_ORDER} "
                             f"alloc_migratetype={start_mt} fallback_migratetype={fmt} "
                             f"fragmenting={int(current < PAGEBLOCK_ORDER)} change_ownership={change}")

    def _change_pageblock_range(self, pfn: int, order: int, mt: int) -> None:
        nr_blocks = max(1, 1 << (order - PAGEBLOCK_ORDER)) if order >= PAGEBLOCK_ORDER else 1
        first = pfn >> PAGEBLOCK_ORDER
        for b in range(first, first + nr_blocks):
            self.memmap.pageblock_mt[b] = mt

    def _try_to_claim_block(self, zone: Zone, pfn: int, current: int, order: int, start_mt: int,
                            block_mt: int, alloc_flags: int) -> int | None:
        if current >= PAGEBLOCK_ORDER:
            zone.del_from_free_list(pfn, current, block_mt)
            zone.account_freepages(-(1 << current), block_mt)
            self._change_pageblock_range(pfn, current, start_mt)
            added = zone.expand(pfn, order, current, start_mt)
            zone.account_freepages(added, start_mt)
            return pfn
        if self._boost_watermark(zone) and alloc_flags & ALLOC_KSWAPD:
            zone.boosted_watermark = True
        info = self._prep_move_freepages_block(zone, pfn)
        if info is None:
            return None
        start_pfn, free_pages, movable_pages = info
        if start_mt == MIGRATE_MOVABLE:
            alike = movable_pages
        elif block_mt == MIGRATE_MOVABLE:
            alike = PAGEBLOCK_NR_PAGES - (free_pages + movable_pages)
        else:
            alike = 0
        if free_pages + alike >= (1 << (PAGEBLOCK_ORDER - 1)):
            self._move_freepages_block_range(zone, start_pfn, block_mt, start_mt)
            return self._rmqueue_smallest(zone, order, start_mt)
        return None

    def _boost_watermark(self, zone: Zone) -> bool:
        if not self.watermark_boost_factor:
            return False
        if PAGEBLOCK_NR_PAGES * 4 > zone.managed_pages:
            return False
        high = zone._watermark[WMARK_HIGH]
        max_boost = (high // 10000) * self.watermark_boost_factor + \
            ((high % 10000) * self.watermark_boost_factor) // 10000   # mult_frac
        if not max_boost:
            return False
        max_boost = max(PAGEBLOCK_NR_PAGES, max_boost)
        zone.watermark_boost = min(zone.watermark_boost + PAGEBLOCK_NR_PAGES, max_boost)
        return True

    def _prep_move_freepages_block(self, zone: Zone, pfn: int) -> tuple[int, int, int] | None:
        """prep_move_freepages_block: (start_pfn, free pages, movable pages) of pfn's pageblock."""
        start = pfn & ~(PAGEBLOCK_NR_PAGES - 1)
        end = start + PAGEBLOCK_NR_PAGES
        if start < zone.zone_start_pfn or end > zone.zone_end_pfn:
            return None
        free = movable = 0
        p = start
        get = self.memmap.get
        while p < end:
            b = get(p)
            if b >= BUDDY_MIN and b & TAIL != TAIL:
                n = 1 << (b & TAIL)
                free += n
                p += n
                continue
            if b == 0 and zone.buddy_order(p) >= 0:
                n = 1 << MAX_PAGE_ORDER
                free += min(n, end - p)
                p += n
                continue
            if (b >> 4) in OWNERS_MOVABLE:
                movable += 1
            p += 1
        return start, free, movable

    def _move_freepages_block_range(self, zone: Zone, start: int, old_mt: int, new_mt: int) -> int:
        """__move_freepages_block: move every free block of the pageblock to new_mt (tail)."""
        end = start + PAGEBLOCK_NR_PAGES
        moved = 0
        p = start
        get = self.memmap.get
        while p < end:
            b = get(p)
            if b >= BUDDY_MIN and b & TAIL != TAIL:
                order = b & TAIL
                cur_mt = (b >> 4) - K_BUDDY
                self._move_to_free_list(zone, p, order, cur_mt, new_mt)
                moved += 1 << order
                p += 1 << order
                continue
            p += 1
        self.memmap.pageblock_mt[start >> PAGEBLOCK_ORDER] = new_mt
        return moved

    def _move_to_free_list(self, zone: Zone, pfn: int, order: int, old_mt: int, new_mt: int) -> None:
        zone.del_from_free_list(pfn, order, old_mt)
        zone.add_to_free_list(pfn, order, new_mt, True)
        zone.account_freepages(-(1 << order), old_mt)
        zone.account_freepages(1 << order, new_mt)

    def _reserve_highatomic_pageblock(self, pfn: int, order: int, zone: Zone) -> None:
        if zone.managed_pages // 100 < PAGEBLOCK_NR_PAGES:
            return
        max_managed = -(-(zone.managed_pages // 100) // PAGEBLOCK_NR_PAGES) * PAGEBLOCK_NR_PAGES
        if zone.nr_reserved_highatomic >= max_managed:
            return
        mt = self.memmap.pageblock_mt[pfn >> PAGEBLOCK_ORDER]
        if not migratetype_is_mergeable(mt):
            return
        if order < PAGEBLOCK_ORDER:
            start = pfn & ~(PAGEBLOCK_NR_PAGES - 1)
            if start < zone.zone_start_pfn or start + PAGEBLOCK_NR_PAGES > zone.zone_end_pfn:
                return
            self._move_freepages_block_range(zone, start, mt, MIGRATE_HIGHATOMIC)
            zone.nr_reserved_highatomic += PAGEBLOCK_NR_PAGES
        else:
            self._change_pageblock_range(pfn, order, MIGRATE_HIGHATOMIC)
            zone.nr_reserved_highatomic += 1 << order

    def unreserve_highatomic_pageblock(self, zonelist: tuple[Zone, ...], mt: int, force: bool) -> bool:
        """unreserve_highatomic_pageblock: give one highatomic block back to ``mt``."""
        for zone in zonelist:
            if not force and zone.nr_reserved_highatomic <= PAGEBLOCK_NR_PAGES:
                continue
            for order in range(NR_PAGE_ORDERS):
                pfn = zone.first_free(order, MIGRATE_HIGHATOMIC)
                if pfn is None:
                    continue
                size = min(max(PAGEBLOCK_NR_PAGES, 1 << order), zone.nr_reserved_highatomic)
                zone.nr_reserved_highatomic -= size
                if order < PAGEBLOCK_ORDER:
                    self._move_freepages_block_range(zone, pfn & ~(PAGEBLOCK_NR_PAGES - 1),
                                                     MIGRATE_HIGHATOMIC, mt)
                else:
                    self._change_pageblock_range(pfn, order, mt)
                    self._move_to_free_list(zone, pfn, order, MIGRATE_HIGHATOMIC, mt)
                return True
        return False

    # =====================================================================================
    # The slow path (mm/page_alloc.c: __alloc_pages_slowpath; linux-mm-facts.md 3.6)
    # =====================================================================================
    def gfp_to_alloc_flags(self, gfp: int, order: int) -> int:
        flags = ALLOC_WMARK_MIN | ALLOC_CPUSET
        flags |= gfp & (_GFP_HIGH | _GFP_KSWAPD_RECLAIM)   # == ALLOC_MIN_RESERVE | ALLOC_KSWAPD
        if not gfp & _GFP_DIRECT_RECLAIM:
            if not gfp & _GFP_NOMEMALLOC:
                flags |= ALLOC_NON_BLOCK
                if order > 0 and flags & ALLOC_MIN_RESERVE:
                    flags |= ALLOC_HIGHATOMIC
            if flags & ALLOC_MIN_RESERVE:
                flags &= ~ALLOC_CPUSET
        elif getattr(self.ctx.current, "rt", False) and self.ctx.in_task():
            flags |= ALLOC_MIN_RESERVE
        return flags

    def gfp_pfmemalloc_flags(self, gfp: int) -> int:
        """__gfp_pfmemalloc_flags: reserve access that replaces alloc_flags."""
        if gfp & _GFP_NOMEMALLOC:
            return 0
        if gfp & _GFP_MEMALLOC:
            return ALLOC_NO_WATERMARKS
        task = self.ctx.current
        pf = getattr(task, "flags", 0)
        if self.ctx.preempt_count & 0xFF00 and pf & PF_MEMALLOC:   # in_serving_softirq
            return ALLOC_NO_WATERMARKS
        if not self.ctx.in_interrupt():
            if pf & PF_MEMALLOC:
                return ALLOC_NO_WATERMARKS
            if getattr(task, "oom_victim", False):
                return ALLOC_OOM
        return 0

    def _wakeup_kswapd(self, order: int, hz: int) -> None:
        hooks = self.reclaim
        if hooks is not None:
            hooks.wakeup_kswapd(order, hz)
            return
        # No reclaim engine: kswapd has nothing to reclaim, and balance_pgdat() still drops
        # the boost when it finishes (mm/vmscan.c), so the boost does not stay forever.
        for z in self.zones:
            if z.idx <= hz:
                z.watermark_boost = 0

    def node_balanced(self, order: int, hz: int) -> bool:
        """pgdat_balanced: some zone <= hz passes its high watermark at ``order`` (for kswapd)."""
        for z in self.populated:
            if z.idx > hz:
                continue
            if z.watermark_boost:
                return False
        for z in self.populated:
            if z.idx <= hz and self.zone_watermark_ok(z, order, z.high, hz, 0):
                return True
        return False

    def _alloc_pages_slowpath(self, gfp: int, order: int, hz: int, mt: int, zonelist: tuple[Zone, ...],
                              caller: str | None) -> int | None:
        can_direct_reclaim = bool(gfp & _GFP_DIRECT_RECLAIM)
        can_compact = bool(gfp & _GFP_IO)
        nofail = bool(gfp & _GFP_NOFAIL)
        costly = order > PAGE_ALLOC_COSTLY_ORDER
        hooks = self.reclaim
        if nofail and order > 1 and can_direct_reclaim:
            # WARN_ON_ONCE(order > 1) for _GFP_NOFAIL (mm/page_alloc.c: __alloc_pages_slowpath)
            self._warn_on("__alloc_pages_slowpath", caller, once_key="nofail")
        compaction_retries = 0
        no_progress_loops = 0
        compact_result_skipped = True
        alloc_flags = self.gfp_to_alloc_flags(gfp, order)
        if alloc_flags & ALLOC_KSWAPD:
            self._wakeup_kswapd(order, hz)
        pfn = self.get_page_from_freelist(gfp, order, alloc_flags, hz, mt, zonelist)
        if pfn is not None:
            return pfn
        if (can_direct_reclaim and can_compact and (costly or (order > 0 and mt != MIGRATE_MOVABLE))
                and not self.gfp_pfmemalloc_flags(gfp) & ALLOC_NO_WATERMARKS):
            pfn, compact_result_skipped = self._direct_compact(gfp, order, alloc_flags, hz, mt, zonelist)
            if pfn is not None:
                return pfn
            if costly and gfp & _GFP_NORETRY and compact_result_skipped:
                return self._nopage(gfp, order, caller, zonelist, hz, mt, can_direct_reclaim, nofail)
        loops = 0
        while True:
            loops += 1
            if loops > SLOWPATH_LOOP_LIMIT:
                break
            if alloc_flags & ALLOC_KSWAPD:
                self._wakeup_kswapd(order, hz)
            reserve_flags = self.gfp_pfmemalloc_flags(gfp)
            if reserve_flags:
                alloc_flags = reserve_flags | (alloc_flags & ALLOC_KSWAPD)
            pfn = self.get_page_from_freelist(gfp, order, alloc_flags, hz, mt, zonelist)
            if pfn is not None:
                return pfn
            if not can_direct_reclaim:
                break
            if getattr(self.ctx.current, "flags", 0) & PF_MEMALLOC:
                break
            # __alloc_pages_direct_reclaim
            progress = 0
            if hooks is not None:
                progress = hooks.try_to_free_pages(gfp, order)
                if progress:
                    pfn = self.get_page_from_freelist(gfp, order, alloc_flags, hz, mt, zonelist)
                    if pfn is None:
                        self.unreserve_highatomic_pageblock(zonelist, mt, False)
                        self.drain_all_pages()
                        pfn = self.get_page_from_freelist(gfp, order, alloc_flags, hz, mt, zonelist)
                    if pfn is not None:
                        return pfn
            pfn, compact_result_skipped = self._direct_compact(gfp, order, alloc_flags, hz, mt, zonelist)
            if pfn is not None:
                return pfn
            if gfp & _GFP_NORETRY:
                break
            if costly and (not can_compact or not gfp & _GFP_RETRY_MAYFAIL):
                break
            retry, no_progress_loops = self._should_reclaim_retry(gfp, order, zonelist, hz, alloc_flags,
                                                                  progress > 0, no_progress_loops, mt)
            if retry:
                continue
            if progress > 0 and can_compact and not compact_result_skipped \
                    and compaction_retries < MAX_COMPACT_RETRIES:
                compaction_retries += 1
                continue
            # __alloc_pages_may_oom
            pfn, oom_progress = self._may_oom(gfp, order, hz, mt, zonelist)
            if pfn is not None:
                return pfn
            if getattr(self.ctx.current, "oom_victim", False) and (alloc_flags & ALLOC_OOM or gfp & _GFP_NOMEMALLOC):
                break
            if oom_progress:
                no_progress_loops = 0
                continue
            break
        return self._nopage(gfp, order, caller, zonelist, hz, mt, can_direct_reclaim, nofail)

    def _nopage(self, gfp: int, order: int, caller: str | None, zonelist: tuple[Zone, ...], hz: int, mt: int,
                can_direct_reclaim: bool, nofail: bool) -> int | None:
        if nofail and not can_direct_reclaim:
            # WARN_ON_ONCE_GFP(!can_direct_reclaim): __GFP_NOFAIL must be able to block
            self._warn_on("__alloc_pages_slowpath", caller, once_key="nofail_noblock")
        if nofail and can_direct_reclaim:
            pfn = self.get_page_from_freelist(gfp, order, ALLOC_MIN_RESERVE, hz, mt, zonelist)
            if pfn is not None:
                return pfn
            # The kernel retries forever here; a simulation cannot wait for memory that will
            # never come, so it refuses the request instead of hanging the script.
            raise KernelFault(f"__GFP_NOFAIL allocation of order {order} ({format_gfp(gfp)}) cannot make "
                              f"progress: the kernel would loop in __alloc_pages_slowpath forever")
        self.warn_alloc(gfp, order, caller)
        return None

    def _direct_compact(self, gfp: int, order: int, alloc_flags: int, hz: int, mt: int,
                        zonelist: tuple[Zone, ...]) -> tuple[int | None, bool]:
        """__alloc_pages_direct_compact: (page, compaction was skipped)."""
        if not order or self.reclaim is None:
            return None, True
        if not self.reclaim.try_to_compact_pages(gfp, order):
            return None, True
        return self.get_page_from_freelist(gfp, order, alloc_flags, hz, mt, zonelist), False

    def _should_reclaim_retry(self, gfp: int, order: int, zonelist: tuple[Zone, ...], hz: int, alloc_flags: int,
                              did_some_progress: bool, no_progress_loops: int, mt: int) -> tuple[bool, int]:
        if did_some_progress and order <= PAGE_ALLOC_COSTLY_ORDER:
            no_progress_loops = 0
        else:
            no_progress_loops += 1
        ret = False
        if no_progress_loops <= MAX_RECLAIM_RETRIES:
            reclaimable_of = getattr(self.reclaim, "zone_reclaimable_pages", None)
            for zone in zonelist:
                reclaimable = reclaimable_of(zone.idx) if reclaimable_of is not None else 0
                available = reclaimable + zone.free_pages
                if self.zone_watermark_ok(zone, order, zone.min, hz, alloc_flags, available):
                    ret = True
                    break
        if not ret:
            return self.unreserve_highatomic_pageblock(zonelist, mt, True), no_progress_loops
        return ret, no_progress_loops

    def _may_oom(self, gfp: int, order: int, hz: int, mt: int, zonelist: tuple[Zone, ...]) -> tuple[int | None, bool]:
        pfn = self.get_page_from_freelist((gfp | _GFP_HARDWALL) & ~_GFP_DIRECT_RECLAIM, order,
                                          ALLOC_WMARK_HIGH | ALLOC_CPUSET, hz, mt, zonelist)
        if pfn is not None:
            return pfn, False
        if order > PAGE_ALLOC_COSTLY_ORDER:
            return None, False
        if gfp & (_GFP_RETRY_MAYFAIL | _GFP_THISNODE):
            return None, False
        if hz < ZONE_NORMAL:
            return None, False
        if self.reclaim is None:
            return None, False
        if self.reclaim.out_of_memory(gfp, order) or gfp & _GFP_NOFAIL:
            if gfp & _GFP_NOFAIL:
                pfn = self.get_page_from_freelist(gfp, order, ALLOC_NO_WATERMARKS, hz, mt, zonelist)
            return pfn, True
        return None, False

    # =====================================================================================
    # Freeing (mm/page_alloc.c: __free_pages, free_frozen_pages, free_pcppages_bulk)
    # =====================================================================================
    def free_pages(self, pfn: int, order: int) -> None:
        """__free_pages(page, order): drop a reference; the block returns to the allocator at 0."""
        if order == 0 and pfn >= 0 and not self.tracer.enabled:
            # free_frozen_pages -> free_frozen_page_commit for a plain order-0 page that
            # stays below pcp->high, inlined; every other case takes the full path.
            try:
                sec = self.memmap.sections[pfn >> SECTION_SHIFT]
                zone = self._sec_zone[pfn >> SECTION_SHIFT]
            except IndexError:
                sec = zone = None
            if sec is not None and zone is not None:
                i = pfn & SECTION_MASK
                b = sec[i]
                mt = self.memmap.pageblock_mt[pfn >> PAGEBLOCK_ORDER]
                if (0x40 <= b < 0xC0 and not b & 0x0F and mt < MIGRATE_PCPTYPES and pfn not in self._refcount
                        and not zone.below_high and not zone.reclaim_active):
                    pcp = zone.pcp[self.ctx.cpu]
                    high = pcp.high
                    if pcp.high_min <= high <= pcp.high_max and pcp.count + 1 < high:
                        if self.mapcount:
                            self.mapcount.pop(pfn, None)
                        pcp.alloc_factor >>= 1
                        pcp.lists[mt].appendleft(pfn)
                        pcp.count += 1
                        sec[i] = K_PCP << 4
                        pcp.flags &= ~PCPF_PREV_FREE_HIGH_ORDER
                        if pcp.free_count < (pcp.batch << PCP_BATCH_SCALE_MAX):
                            pcp.free_count += 1
                        return
        elif 0 < order <= PAGE_ALLOC_COSTLY_ORDER and pfn >= 0 and not self.tracer.enabled:
            # orders 1-3: free_frozen_page_commit without a bulk free, decided before any
            # state changes (free_high, the pcp high limit) so the full path can still run
            try:
                sec = self.memmap.sections[pfn >> SECTION_SHIFT]
                zone = self._sec_zone[pfn >> SECTION_SHIFT]
            except IndexError:
                sec = zone = None
            if sec is not None and zone is not None:
                i = pfn & SECTION_MASK
                b = sec[i]
                mt = self.memmap.pageblock_mt[pfn >> PAGEBLOCK_ORDER]
                if (0x40 <= b < 0xC0 and b & 0x0F == order and mt < MIGRATE_PCPTYPES and pfn not in self._refcount
                        and not zone.below_high and not zone.reclaim_active):
                    pcp = zone.pcp[self.ctx.cpu]
                    high = pcp.high
                    batch = pcp.batch
                    nr = 1 << order
                    free_high = (pcp.free_count >= batch + pcp.high_min // 2
                                 and bool(pcp.flags & PCPF_PREV_FREE_HIGH_ORDER)
                                 and (not pcp.flags & PCPF_FREE_HIGH_BATCH or pcp.count >= batch))
                    if not free_high and pcp.high_min <= high <= pcp.high_max and pcp.count + nr < high:
                        if self.mapcount:
                            self.mapcount.pop(pfn, None)
                        self.compound.discard(pfn)
                        pcp.alloc_factor >>= 1
                        pcp.lists[MIGRATE_PCPTYPES * order + mt].appendleft(pfn)
                        pcp.count += nr
                        sec[i + 1:i + nr] = _PCP_TAIL_BYTES[order]
                        sec[i] = (K_PCP << 4) | order
                        pcp.flags |= PCPF_PREV_FREE_HIGH_ORDER
                        if pcp.free_count < (batch << PCP_BATCH_SCALE_MAX):
                            pcp.free_count += nr
                        return
        self._free_pages(pfn, order)

    def _free_pages(self, pfn: int, order: int) -> None:
        if order < 0 or order > MAX_PAGE_ORDER:
            raise KernelFault(f"order {order}: an order is 0..{MAX_PAGE_ORDER}")
        if not 0 <= pfn < self.memmap.max_pfn:
            raise KernelFault(f"pfn {pfn:#x} is outside RAM: there is no struct page to free")
        sec = self.memmap.sections[pfn >> SECTION_SHIFT]
        b = sec[pfn & SECTION_MASK] if sec is not None else 0
        kind = b >> 4
        if kind < OWNER_KERNEL or kind >= K_BUDDY or b & TAIL == TAIL or b & TAIL != order:
            self._bad_free(pfn, order, b)
            return
        rc = self._refcount.get(pfn)
        if rc is not None:
            if rc - 1 > 0:
                self._refcount[pfn] = rc - 1
                if pfn not in self.compound and order:
                    # ___free_pages: a non-compound high-order block whose head is still
                    # referenced loses its tail halves now; the head page stays (order 0).
                    self.memmap.set(pfn, (kind << 4) | 0)
                    o = order
                    while o > 0:
                        o -= 1
                        tail = pfn + (1 << o)
                        self.memmap.set_block(tail, o, (kind << 4) | o, (kind << 4) | TAIL)
                        self._free_frozen_pages(tail, o)
                return
            del self._refcount[pfn]
        self._free_frozen_pages(pfn, order)

    def _free_frozen_pages(self, pfn: int, order: int) -> None:
        if self.tracer.enabled:
            self.tracer.emit("mm_page_free", f"page={pfn_to_struct_page(pfn):016x} pfn={pfn:#x} order={order}")
        if order:
            self.compound.discard(pfn)
        if self.mapcount:
            self.mapcount.pop(pfn, None)
        zone = self.zone_of(pfn)
        assert zone is not None
        mt = self.memmap.pageblock_mt[pfn >> PAGEBLOCK_ORDER]
        if order <= PAGE_ALLOC_COSTLY_ORDER or (order == PAGEBLOCK_ORDER and self.thp_enabled):
            if mt >= MIGRATE_PCPTYPES:
                if mt == MIGRATE_ISOLATE:
                    self._buddy_free(zone, pfn, order, mt)
                    return
                mt = MIGRATE_MOVABLE
            self._free_frozen_page_commit(zone, zone.pcp[self.ctx.cpu], pfn, mt, order)
        else:
            self._buddy_free(zone, pfn, order, mt)

    def _buddy_free(self, zone: Zone, pfn: int, order: int, mt: int) -> None:
        """free_one_page: the block's bytes become free tails, then __free_one_page."""
        sec = self.memmap.sections[pfn >> SECTION_SHIFT]
        assert sec is not None
        i = pfn & SECTION_MASK
        if order:
            sec[i:i + (1 << order)] = bytes((BUDDY_TAIL,)) * (1 << order)
        else:
            sec[i] = BUDDY_TAIL
        zone.free_one_page(pfn, order, mt)

    def _free_frozen_page_commit(self, zone: Zone, pcp: PerCpuPages, pfn: int, mt: int, order: int) -> None:
        pcp.alloc_factor >>= 1
        pindex = _pcp_pindex(mt, order) if order else mt
        pcp.lists[pindex].appendleft(pfn)
        nr = 1 << order
        pcp.count += nr
        sec = self.memmap.sections[pfn >> SECTION_SHIFT]
        assert sec is not None
        i = pfn & SECTION_MASK
        if order:
            sec[i + 1:i + nr] = bytes(((K_PCP << 4) | TAIL,)) * (nr - 1)
        sec[i] = (K_PCP << 4) | order
        batch = pcp.batch
        free_high = False
        if order and order <= PAGE_ALLOC_COSTLY_ORDER:
            free_high = (pcp.free_count >= batch + pcp.high_min // 2
                         and bool(pcp.flags & PCPF_PREV_FREE_HIGH_ORDER)
                         and (not pcp.flags & PCPF_FREE_HIGH_BATCH or pcp.count >= batch))
            pcp.flags |= PCPF_PREV_FREE_HIGH_ORDER
        elif pcp.flags & PCPF_PREV_FREE_HIGH_ORDER:
            pcp.flags &= ~PCPF_PREV_FREE_HIGH_ORDER
        if pcp.free_count < (batch << PCP_BATCH_SCALE_MAX):
            pcp.free_count += nr
        high = self._nr_pcp_high(pcp, zone, batch, free_high)
        if pcp.count >= high:
            self.free_pcppages_bulk(zone, self._nr_pcp_free(pcp, batch, high, free_high), pcp, pindex)
            if zone.below_high and self.zone_watermark_ok(zone, 0, zone.high, ZONE_MOVABLE, 0):
                zone.below_high = False

    @staticmethod
    def _nr_pcp_free(pcp: PerCpuPages, batch: int, high: int, free_high: bool) -> int:
        if free_high:
            return min(pcp.count, batch << PCP_BATCH_SCALE_MAX)
        lo, hi = batch, high - batch
        # clamp_t(int, free_count, lo, hi) as include/linux/minmax.h: __clamp evaluates it
        val = pcp.free_count
        return hi if val >= hi else (lo if val <= lo else val)

    def _nr_pcp_high(self, pcp: PerCpuPages, zone: Zone, batch: int, free_high: bool) -> int:
        high_min = pcp.high_min
        high_max = pcp.high_max
        high = pcp.high = min(max(pcp.high, high_min), high_max)
        if not high:
            return 0
        if free_high:
            pcp.high = max(high - (batch << PCP_BATCH_SCALE_MAX), high_min)
            return 0
        if zone.reclaim_active:
            free_count = max(pcp.free_count, batch)
            pcp.high = max(high - free_count, high_min)
            return min(batch << 2, pcp.high)
        if high_min == high_max:
            return high
        if zone.below_high:
            free_count = max(pcp.free_count, batch)
            pcp.high = max(high - free_count, high_min)
            high = max(pcp.count, high_min)
        elif pcp.count >= high:
            need_high = pcp.free_count + batch
            if pcp.high < need_high:
                pcp.high = min(max(need_high, high_min), high_max)
        return high

    def free_pcppages_bulk(self, zone: Zone, count: int, pcp: PerCpuPages, pindex: int) -> None:
        """Return ``count`` pages to the buddy, the requested list first, each list from its tail."""
        count = min(pcp.count, count)
        pindex -= 1
        lists = pcp.lists
        memmap = self.memmap
        tracing = self.tracer.enabled
        while count > 0:
            while True:
                pindex += 1
                if pindex > len(lists) - 1:
                    pindex = 0
                if lists[pindex]:
                    break
            lst = lists[pindex]
            order = _pindex_to_order(pindex)
            nr = 1 << order
            while True:
                pfn = lst.pop()
                mt = memmap.pageblock_mt[pfn >> PAGEBLOCK_ORDER]
                count -= nr
                pcp.count -= nr
                self._buddy_free(zone, pfn, order, mt)
                if tracing:
                    self.tracer.emit("mm_page_pcpu_drain", f"page={pfn_to_struct_page(pfn):016x} pfn={pfn:#x} "
                                     f"order={order} migratetype={mt}")
                if count <= 0 or not lst:
                    break

    def drain_pages_zone(self, cpu: int, zone: Zone) -> None:
        pcp = zone.pcp[cpu]
        while pcp.count:
            self.free_pcppages_bulk(zone, min(pcp.count, pcp.batch << PCP_BATCH_SCALE_MAX), pcp, 0)

    def drain_local_pages(self, cpu: int | None = None) -> None:
        c = self.ctx.cpu if cpu is None else self.ctx.check_cpu(cpu)
        for zone in self.populated:
            self.drain_pages_zone(c, zone)

    def drain_all_pages(self, zone: Zone | None = None) -> None:
        """drain_all_pages(zone): empty every CPU's pcp lists (of one zone or all)."""
        zones = [zone] if zone is not None else self.populated
        for cpu in range(self.nr_cpus):
            for z in zones:
                self.drain_pages_zone(cpu, z)

    # =====================================================================================
    # Page state, struct page fields, owners
    # =====================================================================================
    _KIND_NAMES = {K_PCP: "pcp", K_RESERVED: "reserved", **OWNER_NAMES}

    def page_state(self, pfn: int) -> tuple[str, bool, int]:
        """(kind, is the head of its block, block order) of one page frame.

        kind: "absent" (hole / outside RAM), "reserved", "buddy" (free), "pcp", or the owner
        name of an allocated block ("kernel", "slab", ...).
        """
        if not 0 <= pfn < self.memmap.max_pfn:
            return "absent", False, 0
        b = self.memmap.get(pfn)
        if b == K_NONE:
            zone = self.zone_of(pfn)
            if zone is None:
                return "absent", False, 0
            if zone.lazy and zone.in_lazy(pfn):
                return "buddy", not pfn & ((1 << MAX_PAGE_ORDER) - 1), MAX_PAGE_ORDER
            if zone.in_ranges(pfn, zone.reserved_ranges):
                return "reserved", False, 0
            return "absent", False, 0
        kind = b >> 4
        name = "buddy" if kind >= K_BUDDY else self._KIND_NAMES.get(kind, "unknown")
        if b & TAIL != TAIL:
            return name, True, b & TAIL
        head = self.block_head(pfn)
        return name, False, head[1] if head else 0

    def block_head(self, pfn: int) -> tuple[int, int] | None:
        """(head pfn, order) of the free, pcp or allocated block containing ``pfn``."""
        get = self.memmap.get
        b = get(pfn)
        if b == K_NONE:
            zone = self.zone_of(pfn)
            if zone is not None and zone.lazy and zone.in_lazy(pfn):
                return pfn & ~((1 << MAX_PAGE_ORDER) - 1), MAX_PAGE_ORDER
            return None
        kind = b >> 4
        for o in range(NR_PAGE_ORDERS):
            h = pfn & ~((1 << o) - 1)
            hb = get(h)
            if hb & TAIL != TAIL and (hb >> 4 == kind or (kind >= K_BUDDY and hb >= BUDDY_MIN)):
                if (hb & TAIL) >= o:
                    return h, hb & TAIL
        return None

    def owner_of(self, pfn: int) -> int | None:
        """Owner code of the allocated block containing ``pfn``, or None if not allocated."""
        b = self.memmap.get(pfn) if 0 <= pfn < self.memmap.max_pfn else 0
        kind = b >> 4
        return kind if OWNER_KERNEL <= kind < K_BUDDY else None

    def owner_name(self, pfn: int) -> str:
        return self.page_state(pfn)[0]

    def set_owner(self, pfn: int, nr_pages: int, owner: int) -> None:
        """Re-tag allocated pages (e.g. a slab taking pages from alloc_pages)."""
        if not OWNER_KERNEL <= owner < K_BUDDY:
            raise KernelFault(f"owner code {owner} is not one of the OWNER_* constants")
        for p in range(pfn, pfn + nr_pages):
            b = self.memmap.get(p)
            if not OWNER_KERNEL <= b >> 4 < K_BUDDY:
                raise KernelFault(f"set_owner: pfn {p:#x} is not an allocated page")
            self.memmap.set(p, (owner << 4) | (b & TAIL))

    def page_ref_count(self, pfn: int) -> int:
        kind, is_head, _ = self.page_state(pfn)
        if kind in ("buddy", "pcp", "absent"):
            return 0
        if kind == "reserved":
            return 1
        if not is_head:
            return 0
        return self._refcount.get(pfn, 1)

    def get_page(self, pfn: int) -> None:
        """get_page/folio_get: one more reference on the block (its compound head)."""
        head = self._allocated_head(pfn, "get_page", "VM_BUG_ON_FOLIO(folio_ref_zero_or_close_to_overflow(folio))")
        if head is not None:
            self._refcount[head] = self._refcount.get(head, 1) + 1

    def put_page(self, pfn: int) -> None:
        """put_page: drop a reference on the (compound head of the) block; free it at zero."""
        head = self._allocated_head(pfn, "put_page", "VM_BUG_ON_PAGE(page_ref_count(page) == 0)")
        if head is None:
            return
        rc = self._refcount.get(head, 1) - 1
        if rc > 0:
            self._refcount[head] = rc
            return
        self._refcount.pop(head, None)
        b = self.memmap.get(head)
        order = (b & TAIL) if head in self.compound else 0
        if order == 0 and b & TAIL:
            # a non-compound block: the page itself is an order-0 folio (its tails were
            # freed already or leak as in the kernel); re-tag it as an order-0 block
            self.memmap.set(head, b & 0xF0)
        self._free_frozen_pages(head, order)

    def _allocated_head(self, pfn: int, what: str, vm_bug: str) -> int | None:
        """The pfn whose refcount get_page/put_page changes, or None after a report.

        A page with refcount 0 (free, on a pcp list, or a tail of a non-compound block)
        has no reference to take or drop: CONFIG_DEBUG_VM's VM_BUG_ON fires in the kernel;
        here the report is printed and nothing changes.
        """
        st = self.page_state(pfn)
        if st[0] == "absent":
            raise KernelFault(f"{what}: pfn {pfn:#x} has no struct page")
        if st[0] == "reserved":
            raise KernelFault(f"{what}: pfn {pfn:#x} is a reserved page, not one from the page allocator")
        head = self.block_head(pfn)
        if st[0] in ("buddy", "pcp") or head is None or (not st[1] and head[0] not in self.compound):
            self.bad_page(pfn, vm_bug, what, refcount=0)
            return None
        return head[0]

    def page_flags(self, pfn: int) -> str:
        kind, is_head, order = self.page_state(pfn)
        names: list[str] = []
        head = self.block_head(pfn)
        if head and head[0] in self.compound:
            names.append("head" if head[0] == pfn else "tail")
        if kind == "reserved":
            names.append("reserved")
        elif kind in ("user", "file"):
            names.append("lru")
        if kind == "buddy" and is_head:
            names.append("buddy")
        elif kind == "slab":
            names.append("slab")
        elif kind == "pagetable":
            names.append("table")
        return "|".join(names) if names else "none"

    def pfn_to_page(self, pfn: int) -> Page:
        return self.page(pfn)

    def virt_to_page(self, addr: int) -> Page:
        if addr < PAGE_OFFSET or addr >= PAGE_OFFSET + self.phys_max:
            raise KernelFault(f"virt_to_page({addr:#x}): not a direct-map address "
                              f"(0x{PAGE_OFFSET:x}..0x{PAGE_OFFSET + self.phys_max:x})")
        return self.page(virt_to_pfn(addr))

    # =====================================================================================
    # Kernel reports
    # =====================================================================================
    def _bad_free(self, pfn: int, order: int, b: int) -> None:
        kind = b >> 4
        if b == K_NONE:
            st = self.page_state(pfn)[0]
            if st == "absent":
                raise KernelFault(f"pfn {pfn:#x} is in a memory hole: there is no struct page to free")
            if st == "reserved":
                self.bad_page(pfn, "PAGE_FLAGS_CHECK_AT_FREE flag(s) set", "__free_pages", flags="reserved")
            else:
                self.bad_page(pfn, "nonzero mapcount", "__free_pages", mapcount=-128)
            return
        if kind >= K_BUDDY:
            # already free: PageBuddy's page_type overlays _mapcount (double free)
            self.bad_page(pfn, "nonzero mapcount", "__free_pages", mapcount=-128)
        elif kind == K_PCP:
            # already freed onto a pcp list: its refcount is 0, put_page_testzero underflows
            self.bad_page(pfn, "nonzero _refcount", "__free_pages", refcount=-1)
        elif kind == K_RESERVED:
            self.bad_page(pfn, "PAGE_FLAGS_CHECK_AT_FREE flag(s) set", "__free_pages", flags="reserved")
        elif b & TAIL == TAIL:
            self.bad_page(pfn, "nonzero _refcount", "__free_pages", refcount=0,
                          note="not the first page of its block")
        else:
            alloc_order = b & TAIL
            if pfn in self.compound:
                reason = "VM_BUG_ON_PAGE(compound && compound_order(page) != order)"
            else:
                reason = f"freed with order {order}, allocated with order {alloc_order}"
            self.bad_page(pfn, reason, "__free_pages", order=alloc_order)

    def _taint_string(self) -> str:
        """print_tainted(): "Not tainted" or "Tainted: G" with the B (bad page) and W (warning)
        letters at their positions (kernel/panic.c: taint_flags), trailing blanks dropped."""
        bad = getattr(self.ctx, "tainted_bad_page", False)
        warn = getattr(self.ctx, "tainted_warn", False)
        if not bad and not warn:
            return "Not tainted"
        flags = "G    " + ("B" if bad else " ") + "   " + ("W" if warn else " ")
        return "Tainted: " + flags.rstrip()

    def bad_page(self, pfn: int, reason: str, where: str, *, refcount: int | None = None,
                 mapcount: int = 0, flags: str | None = None, order: int | None = None,
                 note: str | None = None) -> None:
        """mm/page_alloc.c: bad_page -> dump_page: "BUG: Bad page state in process ..."."""
        task = self.ctx.current
        zone = self.zone_of(pfn)
        zidx = zone.idx if zone else 0
        rc = self.page_ref_count(pfn) if refcount is None else refcount
        fl = flags if flags is not None else self.page_flags(pfn)
        lines = [
            f"BUG: Bad page state in process {task.comm}  pfn:{pfn:05x}",
            f"page: refcount:{rc} mapcount:{mapcount} mapping:0000000000000000 index:0x0 pfn:{pfn:#x}",
        ]
        if order is not None and order > 0:
            lines.append(f"head: order:{order} mapcount:0 entire_mapcount:0 nr_pages_mapped:0 pincount:0")
        lines += [
            f"flags: {fl}(node=0|zone={zidx})",
            f"page dumped because: {reason}" + (f" ({note})" if note else ""),
            f"CPU: {self.ctx.cpu} UID: 0 PID: {task.pid} Comm: {task.comm} {self._taint_string()}",
            "Call Trace:",
            " <TASK>",
            " dump_stack_lvl",
            " bad_page",
            " free_frozen_pages" if where == "__free_pages" else f" {where}",
            f" {where}" if where == "__free_pages" else " kmscript",
            " </TASK>",
        ]
        self.log.printk("\n".join(lines), "bug")
        self.ctx.tainted_bad_page = True   # add_taint(TAINT_BAD_PAGE) after the dump

    def _warn_on(self, function: str, caller: str | None, once_key: str | None = None) -> None:
        """A WARN_ON report (kernel/panic.c: __warn) from ``function`` in mm/page_alloc.c."""
        if once_key is not None:
            done: set[str] = getattr(self, "_warned_keys", set())
            if once_key in done:
                return
            done.add(once_key)
            self._warned_keys = done
        task = self.ctx.current
        lines = [
            "------------[ cut here ]------------",
            f"WARNING: CPU: {self.ctx.cpu} PID: {task.pid} at mm/page_alloc.c {function}",
            f"CPU: {self.ctx.cpu} UID: 0 PID: {task.pid} Comm: {task.comm} {self._taint_string()}",
            f"RIP: 0010:{function}",
            "Call Trace:",
            " <TASK>",
            " alloc_pages_mpol",
            f" {caller or 'kmscript'}",
            " </TASK>",
            "---[ end trace 0000000000000000 ]---",
        ]
        self.log.printk("\n".join(lines), "warn")
        self.ctx.tainted_warn = True       # __warn: add_taint(TAINT_WARN)

    def warn_alloc(self, gfp: int, order: int, caller: str | None = None) -> None:
        """warn_alloc: the page allocation failure report plus show_mem's Mem-Info."""
        if gfp & _GFP_NOWARN:
            return
        task = self.ctx.current
        mode = f"{gfp:#x}" if gfp else "0"
        lines = [
            f"{task.comm}: page allocation failure: order:{order}, mode:{mode}({format_gfp_pGg(gfp)}), "
            f"nodemask=(null),cpuset=/,mems_allowed=0",
            f"CPU: {self.ctx.cpu} UID: 0 PID: {task.pid} Comm: {task.comm} {self._taint_string()}",
            "Call Trace:",
            " <TASK>",
            " dump_stack_lvl",
            " warn_alloc",
            " __alloc_pages_slowpath",
            " __alloc_frozen_pages_noprof",
            " alloc_pages_mpol",
            f" {caller or 'kmscript'}",
            " </TASK>",
        ]
        lines += self.show_mem_lines(gfp_zone(gfp))
        self.log.printk("\n".join(lines), "alloc_fail")

    def show_mem_lines(self, max_zone_idx: int = MAX_NR_ZONES - 1) -> list[str]:
        """mm/show_mem.c: __show_mem -> show_free_areas (the Mem-Info block)."""
        vs = self.machine.vmstat
        # show_free_areas: the first free_pcp sums the zones up to max_zone_idx only
        free_pcp = sum(z.pcp_count for z in self.populated if z.idx <= max_zone_idx)
        slab_r = vs.nr_slab_reclaimable_b // PAGE_SIZE
        slab_u = vs.nr_slab_unreclaimable_b // PAGE_SIZE

        def k(pages: int) -> int:
            return pages << (PAGE_SHIFT - 10)

        lines = [
            "Mem-Info:",
            f"active_anon:{vs.nr_active_anon} inactive_anon:{vs.nr_inactive_anon} isolated_anon:0",
            f" active_file:{vs.nr_active_file} inactive_file:{vs.nr_inactive_file} isolated_file:0",
            f" unevictable:0 dirty:{vs.nr_dirty} writeback:{vs.nr_writeback}",
            f" slab_reclaimable:{slab_r} slab_unreclaimable:{slab_u}",
            f" mapped:0 shmem:{vs.nr_shmem_pages} pagetables:{vs.nr_pagetable_pages}",
            " sec_pagetables:0 bounce:0",
            f" kernel_misc_reclaimable:{vs.nr_kernel_misc_reclaimable}",
            f" free:{self.nr_free_pages()} free_pcp:{free_pcp} free_cma:0",
            f"Node 0 active_anon:{k(vs.nr_active_anon)}kB inactive_anon:{k(vs.nr_inactive_anon)}kB "
            f"active_file:{k(vs.nr_active_file)}kB inactive_file:{k(vs.nr_inactive_file)}kB unevictable:0kB "
            f"isolated(anon):0kB isolated(file):0kB mapped:0kB dirty:{k(vs.nr_dirty)}kB "
            f"writeback:{k(vs.nr_writeback)}kB shmem:{k(vs.nr_shmem_pages)}kB shmem_thp:0kB "
            f"shmem_pmdmapped:0kB anon_thp:0kB kernel_stack:{vs.nr_kernel_stack_kb}kB "
            f"pagetables:{k(vs.nr_pagetable_pages)}kB sec_pagetables:0kB all_unreclaimable? no Balloon:0kB",
        ]
        for z in self.populated:
            if z.idx > max_zone_idx:
                continue
            local = z.pcp[self.ctx.cpu].count
            lines.append(
                f"Node 0 {z.name} free:{k(z.free_pages)}kB boost:{k(z.watermark_boost)}kB min:{k(z.min)}kB "
                f"low:{k(z.low)}kB high:{k(z.high)}kB reserved_highatomic:{k(z.nr_reserved_highatomic)}KB "
                f"free_highatomic:{k(z.nr_free_highatomic)}KB active_anon:0kB inactive_anon:0kB "
                f"active_file:0kB inactive_file:0kB unevictable:0kB writepending:0kB zspages:0kB "
                f"present:{k(z.present_pages)}kB managed:{k(z.managed_pages)}kB mlocked:0kB bounce:0kB "
                f"free_pcp:{k(z.pcp_count)}kB local_pcp:{k(local)}kB free_cma:0kB")
            lines.append("lowmem_reserve[]: " + " ".join(str(r) for r in z.lowmem_reserve))
        for z in self.populated:
            if z.idx > max_zone_idx:
                continue
            parts = []
            total = 0
            for o in range(NR_PAGE_ORDERS):
                n = z._nr_free[o]
                total += n << o
                types = "".join(c for mt, c in enumerate("UMEH") if z.nr_list[o * MIGRATE_TYPES + mt])
                parts.append(f"{n}*{4 << o}kB " + (f"({types}) " if n else ""))
            lines.append(f"Node 0 {z.name}: " + "".join(parts) + f"= {k(total)}kB")
        pagecache = self.machine.vmstat.nr_file_pages
        lines += [
            f"{pagecache} total pagecache pages",
            "0 pages in swap cache",
            "Free swap  = 0kB",
            "Total swap = 0kB",
            f"{sum(z.present_pages for z in self.zones)} pages RAM",
            "0 pages HighMem/MovableOnly",
            f"{self.reserved_pages} pages reserved",
        ]
        return lines

    # =====================================================================================
    # Queries and primitives for compaction (used by the reclaim/compaction engineer)
    # =====================================================================================
    def iter_blocks(self, start_pfn: int, end_pfn: int) -> Iterator[tuple[int, int, str]]:
        """Every block overlapping [start_pfn, end_pfn): (head pfn, order, kind) in pfn order.

        kind as ``page_state``: "buddy", "pcp", "reserved", "absent" (order 0 for those two),
        or an owner name.  Lazy max-order free blocks are reported as one block each.
        """
        p = start_pfn
        while p < end_pfn:
            head = self.block_head(p)
            if head is None:
                kind = self.page_state(p)[0]
                yield p, 0, kind
                p += 1
                continue
            h, order = head
            kind = self.page_state(h)[0]
            yield h, order, kind
            p = h + (1 << order)

    def pageblock_info(self, pfn: int) -> dict[str, int | str]:
        """The pageblock holding ``pfn``: migratetype, free/pcp/movable/used page counts."""
        start = pfn & ~(PAGEBLOCK_NR_PAGES - 1)
        counts = {"free": 0, "pcp": 0, "movable": 0, "used": 0, "reserved": 0, "absent": 0}
        for h, order, kind in self.iter_blocks(start, start + PAGEBLOCK_NR_PAGES):
            n = min(1 << order, start + PAGEBLOCK_NR_PAGES - max(h, start))
            if kind == "buddy":
                counts["free"] += n
            elif kind in ("pcp", "reserved", "absent"):
                counts[kind] += n
            else:
                counts["used"] += n
                if kind in ("user", "file"):
                    counts["movable"] += n
        info: dict[str, int | str] = dict(counts)
        info["start_pfn"] = start
        info["migratetype"] = MIGRATETYPE_NAMES[self.memmap.pageblock_mt[start >> PAGEBLOCK_ORDER]]
        return info

    def movable_blocks(self, zone: Zone, start_pfn: int | None = None, end_pfn: int | None = None) -> list[tuple[int, int]]:
        """(head pfn, order) of allocated movable (user/file) blocks in a pfn range of ``zone``,
        in ascending order (compaction's migration scanner order)."""
        s = zone.zone_start_pfn if start_pfn is None else max(start_pfn, zone.zone_start_pfn)
        e = zone.zone_end_pfn if end_pfn is None else min(end_pfn, zone.zone_end_pfn)
        out = []
        for sec_idx in range(s >> SECTION_SHIFT, ((e - 1) >> SECTION_SHIFT) + 1 if e > s else 0):
            sec = self.memmap.sections[sec_idx]
            if sec is None:
                continue
            base = sec_idx << SECTION_SHIFT
            lo = max(s, base) - base
            hi = min(e, base + (1 << SECTION_SHIFT)) - base
            for owner in OWNERS_MOVABLE:
                for o in range(NR_PAGE_ORDERS):
                    byte = bytes(((owner << 4) | o,))
                    i = sec.find(byte, lo, hi)
                    while i >= 0:
                        out.append((base + i, o))
                        i = sec.find(byte, i + 1, hi)
        out.sort()
        return out

    def migrate_page(self, pfn: int) -> int | None:
        """Move the allocated block headed by ``pfn`` to a free block at the top of its zone.

        Compaction's primitive: the destination is the highest-addressed free block (of
        at least the same order) above ``pfn`` in the same zone, as the free scanner
        (isolate_freepages) finds from the zone end.  Contents, owner, refcount, compound
        state and mapcount move with the page.  Returns the new head pfn, or None when no
        suitable free block exists above it.  Callers update their own references.
        """
        st = self.page_state(pfn)
        if not st[1] or self.owner_of(pfn) is None:
            raise KernelFault(f"migrate_page: pfn {pfn:#x} is not the head of an allocated block")
        order = st[2]
        owner = self.owner_of(pfn)
        assert owner is not None
        zone = self.zone_of(pfn)
        assert zone is not None
        best: tuple[int, int, int] | None = None   # (pfn, order, mt)
        for o in range(order, NR_PAGE_ORDERS):
            for mt in range(MIGRATE_TYPES):
                if mt == MIGRATE_ISOLATE or mt == MIGRATE_HIGHATOMIC:
                    continue
                li = o * MIGRATE_TYPES + mt
                s = -1 - li
                n = zone._next[s]
                while n != s:
                    if n > pfn and (best is None or n > best[0]):
                        best = (n, o, mt)
                    n = zone._next[n]
                if o == MAX_PAGE_ORDER and mt == MIGRATE_MOVABLE and zone.lazy:
                    top = zone.lazy[-1][1] - (1 << MAX_PAGE_ORDER)
                    if top > pfn and (best is None or top > best[0]):
                        best = (top, o, mt)
        if best is None:
            return None
        fpfn, forder, fmt = best
        zone.del_from_free_list(fpfn, forder, fmt)
        zone.account_freepages(-(1 << forder), fmt)
        # keep the top part of the free block: split off lower halves as the free scanner's
        # split_free_page does, so the page lands as high as possible
        dst = fpfn + (1 << forder) - (1 << order)
        o = forder
        base = fpfn
        while o > order:
            o -= 1
            zone.add_to_free_list(base, o, fmt, False)
            zone.account_freepages(1 << o, fmt)
            base += 1 << o
        phys = self.machine.phys
        data = phys.read(pfn << PAGE_SHIFT, PAGE_SIZE << order)
        phys.write(dst << PAGE_SHIFT, data)
        self.memmap.set_block(dst, order, (owner << 4) | order, (owner << 4) | TAIL)
        if pfn in self._refcount:
            self._refcount[dst] = self._refcount.pop(pfn)
        if pfn in self.compound:
            self.compound.discard(pfn)
            self.compound.add(dst)
        if pfn in self.mapcount:
            self.mapcount[dst] = self.mapcount.pop(pfn)
        phys.clear_pages(pfn, 1 << order)
        mt = self.memmap.pageblock_mt[pfn >> PAGEBLOCK_ORDER]
        self._buddy_free(zone, pfn, order, mt)
        return dst

    def page_counts(self) -> dict[str, int]:
        """Managed pages by state over all zones: "free" (buddy), "pcp" and each owner name.

        Conservation: the values always sum to the managed pages of the machine.
        """
        table = bytes(b >> 4 for b in range(256))
        totals = [0] * 16
        for sec in self.memmap.sections:
            if sec is not None:
                kinds = sec.translate(table)
                for k in range(1, 16):
                    totals[k] += kinds.count(k)
        out = {"free": sum(totals[K_BUDDY:]) + sum(z.lazy_blocks << MAX_PAGE_ORDER for z in self.zones),
               "pcp": totals[K_PCP]}
        for code, name in OWNER_NAMES.items():
            out[name] = totals[code]
        return out

    # =====================================================================================
    # Consistency check (tests and debugging): the invariants of buddy.py
    # =====================================================================================
    def check_invariants(self) -> None:
        for z in self.populated:
            seen_pages = 0
            per_order = [0] * NR_PAGE_ORDERS
            blocks: list[tuple[int, int]] = []
            for o in range(NR_PAGE_ORDERS):
                for mt in range(MIGRATE_TYPES):
                    li = o * MIGRATE_TYPES + mt
                    s = -1 - li
                    n = z._next[s]
                    cnt = 0
                    while n != s:
                        assert z._prev[z._next[n]] == n
                        b = self.memmap.get(n)
                        assert b == ((K_BUDDY + mt) << 4) | o, f"{z.name} pfn {n:#x} byte {b:#x} on list o{o} mt{mt}"
                        assert n % (1 << o) == 0 and z.zone_start_pfn <= n and n + (1 << o) <= z.zone_end_pfn
                        blocks.append((n, o))
                        cnt += 1
                        n = z._next[n]
                    if o == MAX_PAGE_ORDER and mt == MIGRATE_MOVABLE:
                        cnt += z.lazy_blocks
                        for run in z.lazy:
                            for p in range(run[0], run[1], 1 << MAX_PAGE_ORDER):
                                blocks.append((p, o))
                    assert cnt == z.nr_list[li], f"{z.name} list o{o} mt{mt}: {cnt} != {z.nr_list[li]}"
                    per_order[o] += cnt
                    seen_pages += cnt << o
            assert per_order == z._nr_free, f"{z.name} nr_free {z._nr_free} != {per_order}"
            assert seen_pages == z.free_pages, f"{z.name} NR_FREE_PAGES {z.free_pages} != {seen_pages}"
            blocks.sort()
            for (p1, o1), (p2, _o2) in zip(blocks, blocks[1:]):
                assert p1 + (1 << o1) <= p2, f"{z.name}: free blocks {p1:#x}/{o1} and {p2:#x} overlap"
            free_heads = {p: o for p, o in blocks}
            for p, o in blocks:
                if o < MAX_PAGE_ORDER:
                    bud = p ^ (1 << o)
                    if free_heads.get(bud) == o:
                        mt1 = self.memmap.pageblock_mt[p >> PAGEBLOCK_ORDER]
                        mt2 = self.memmap.pageblock_mt[bud >> PAGEBLOCK_ORDER]
                        assert o >= PAGEBLOCK_ORDER and not (migratetype_is_mergeable(mt1) and migratetype_is_mergeable(mt2)), \
                            f"{z.name}: free buddies {p:#x} and {bud:#x} of order {o} left unmerged"
            pcp_pages = 0
            for pcp in z.pcp:
                n = 0
                for pindex, lst in enumerate(pcp.lists):
                    for p in lst:
                        assert self.memmap.get(p) == (K_PCP << 4) | _pindex_to_order(pindex)
                        n += 1 << _pindex_to_order(pindex)
                assert n == pcp.count, f"{z.name} pcp count {pcp.count} != {n}"
                pcp_pages += n
