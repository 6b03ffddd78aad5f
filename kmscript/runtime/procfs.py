"""Renderers of /proc files for the physical memory views, in the kernel's exact formats.

- ``buddyinfo``    mm/vmstat.c: frag_show_print
- ``zoneinfo``     mm/vmstat.c: zoneinfo_show_print (6.18 fields: promo, nr_free_pages_blocks,
                   pagesets with high_min/high_max)
- ``pagetypeinfo`` mm/vmstat.c: pagetypeinfo_showfree / pagetypeinfo_showblockcount
- ``meminfo``      fs/proc/meminfo.c: the lines whose values the simulation knows, in the
                   kernel's order; MemAvailable as si_mem_available (mm/show_mem.c)
- ``memmap``       not a kernel file: a compact picture of the page frames of every zone

Every number comes from the allocators' own state (zones, free lists, pcp lists,
``page_alloc.vmstat``); nothing is estimated separately.  Field lists follow the verified
6.18.44 machine (tests/runtime/data/*-6.18.44.txt).

Simplifications: one node; per-zone LRU counters (nr_zone_*_anon/file) are 0 because the
LRU model keeps node-wide counters only; event counters the simulation does not model
(workingset_*, pgpromote_*, nr_dirtied ...) print 0 in zoneinfo's per-node block.
"""

from __future__ import annotations

from typing import Any

from .buddy import K_NONE, SECTION_SHIFT
from .gfp import MIGRATE_TYPES, MIGRATETYPE_NAMES
from .mm_types import MAX_PAGE_ORDER, NR_PAGE_ORDERS, OWNER_NAMES, PAGE_SHIFT, PAGE_SIZE
from .direct_map import direct_map_pages_32, init_mem_mapping
from .page_alloc import PageAllocator
from .zone import Zone

# include/linux/mmzone.h: enum node_stat_item names as the machine prints them
NODE_STAT_NAMES = (
    "nr_inactive_anon nr_active_anon nr_inactive_file nr_active_file nr_unevictable nr_slab_reclaimable "
    "nr_slab_unreclaimable nr_isolated_anon nr_isolated_file workingset_nodes workingset_refault_anon "
    "workingset_refault_file workingset_activate_anon workingset_activate_file workingset_restore_anon "
    "workingset_restore_file workingset_nodereclaim nr_anon_pages nr_mapped nr_file_pages nr_dirty nr_writeback "
    "nr_shmem nr_shmem_hugepages nr_shmem_pmdmapped nr_file_hugepages nr_file_pmdmapped "
    "nr_anon_transparent_hugepages nr_vmscan_write nr_vmscan_immediate_reclaim nr_dirtied nr_written "
    "nr_throttled_written nr_kernel_misc_reclaimable nr_foll_pin_acquired nr_foll_pin_released nr_kernel_stack "
    "nr_page_table_pages nr_sec_page_table_pages nr_iommu_pages nr_swapcached pgpromote_success "
    "pgpromote_candidate pgpromote_candidate_nrl pgdemote_kswapd pgdemote_direct pgdemote_khugepaged "
    "pgdemote_proactive nr_hugetlb nr_balloon_pages nr_kernel_file_pages"
).split()
ZONE_STAT_NAMES = ("nr_free_pages nr_free_pages_blocks nr_zone_inactive_anon nr_zone_active_anon "
                   "nr_zone_inactive_file nr_zone_active_file nr_zone_unevictable nr_zone_write_pending "
                   "nr_mlock nr_zspages nr_free_cma").split()
NUMA_STAT_NAMES = "numa_hit numa_miss numa_foreign numa_interleave numa_local numa_other".split()


def _node_stats(vs: Any) -> dict[str, int]:
    return {
        "nr_inactive_anon": vs.nr_inactive_anon, "nr_active_anon": vs.nr_active_anon,
        "nr_inactive_file": vs.nr_inactive_file, "nr_active_file": vs.nr_active_file,
        "nr_slab_reclaimable": vs.nr_slab_reclaimable_b // PAGE_SIZE,
        "nr_slab_unreclaimable": vs.nr_slab_unreclaimable_b // PAGE_SIZE,
        "nr_anon_pages": vs.nr_anon_pages, "nr_file_pages": vs.nr_file_pages, "nr_dirty": vs.nr_dirty,
        "nr_writeback": vs.nr_writeback, "nr_shmem": vs.nr_shmem_pages,
        "nr_kernel_misc_reclaimable": vs.nr_kernel_misc_reclaimable, "nr_kernel_stack": vs.nr_kernel_stack_kb,
        "nr_page_table_pages": vs.nr_pagetable_pages,
    }


def buddyinfo(pa: PageAllocator) -> str:
    out = []
    for z in pa.populated:
        out.append(f"Node 0, zone {z.name:>8} " + "".join(f"{n:6d} " for n in z.free_area_nr) + "\n")
    return "".join(out)


def zoneinfo(pa: PageAllocator, node_unreclaimable: bool = False) -> str:
    vs = pa.vmstat
    out: list[str] = []
    first = True
    for z in pa.zones:
        out.append(f"Node 0, zone {z.name:>8}")
        if z.populated and first:
            first = False
            out.append("\n  per-node stats")
            stats = _node_stats(vs)
            for name in NODE_STAT_NAMES:
                out.append(f"\n      {name:<12} {stats.get(name, 0)}")
        out.append(f"\n  pages free     {z.free_pages}"
                   f"\n        boost    {z.watermark_boost}"
                   f"\n        min      {z.min}"
                   f"\n        low      {z.low}"
                   f"\n        high     {z.high}"
                   f"\n        promo    {z.promo}"
                   f"\n        spanned  {z.spanned}"
                   f"\n        present  {z.present_pages}"
                   f"\n        managed  {z.managed_pages}"
                   f"\n        cma      0")
        out.append("\n        protection: (" + ", ".join(str(r) for r in z.lowmem_reserve) + ")")
        if not z.populated:
            out.append("\n")
            continue
        blocks = sum(z.free_area_nr[o] << o for o in range(pa.pageblock_order, NR_PAGE_ORDERS))
        zstats = {"nr_free_pages": z.free_pages, "nr_free_pages_blocks": blocks}
        for name in ZONE_STAT_NAMES:
            out.append(f"\n      {name:<12} {zstats.get(name, 0)}")
        numa = {"numa_hit": z.numa_hit, "numa_local": z.numa_hit}
        for name in NUMA_STAT_NAMES:
            out.append(f"\n      {name:<12} {numa.get(name, 0)}")
        out.append("\n  pagesets")
        for cpu, pcp in enumerate(z.pcp):
            out.append(f"\n    cpu: {cpu}"
                       f"\n              count:    {pcp.count}"
                       f"\n              high:     {pcp.high}"
                       f"\n              batch:    {pcp.batch}"
                       f"\n              high_min: {pcp.high_min}"
                       f"\n              high_max: {pcp.high_max}"
                       f"\n  vm stats threshold: {z.stat_threshold}")
        # pgdat->kswapd_failures >= MAX_RECLAIM_RETRIES (the caller asks reclaim)
        unreclaimable = int(node_unreclaimable)
        out.append(f"\n  node_unreclaimable:  {unreclaimable}"
                   f"\n  start_pfn:           {z.zone_start_pfn}\n")
    return "".join(out)


def _valid_sections(z: Zone) -> list[tuple[int, int]]:
    """pfn ranges of the zone's sections that hold present memory (pfn_valid)."""
    secs: set[int] = set()
    for s, e in z.managed_ranges + z.reserved_ranges:
        for si in range(s >> SECTION_SHIFT, ((e - 1) >> SECTION_SHIFT) + 1):
            secs.add(si)
    ranges: list[tuple[int, int]] = []
    for si in sorted(secs):
        lo = max(si << SECTION_SHIFT, z.zone_start_pfn)
        hi = min((si + 1) << SECTION_SHIFT, z.zone_end_pfn)
        if ranges and ranges[-1][1] == lo:
            ranges[-1] = (ranges[-1][0], hi)
        else:
            ranges.append((lo, hi))
    return ranges


def pagetypeinfo(pa: PageAllocator) -> str:
    out = [f"Page block order: {pa.pageblock_order}\n", f"Pages per block:  {pa.pageblock_nr_pages}\n", "\n",
           f"{'Free pages count per migrate type at order':<43} " + "".join(f"{o:6d} " for o in range(NR_PAGE_ORDERS))
           + "\n"]
    for z in pa.populated:
        for mt in range(MIGRATE_TYPES):
            row = f"Node {0:4d}, zone {z.name:>8}, type {MIGRATETYPE_NAMES[mt]:>12} "
            for o in range(NR_PAGE_ORDERS):
                n = z.nr_list[o * MIGRATE_TYPES + mt]
                row += f">{100000:6d} " if n >= 100000 else f"{n:6d} "
            out.append(row + "\n")
    out.append(f"\n{'Number of blocks type ':<23}" + "".join(f"{MIGRATETYPE_NAMES[mt]:>12} " for mt in range(MIGRATE_TYPES))
               + "\n")
    pb = pa.memmap.pageblock_mt
    for z in pa.populated:
        counts = [0] * MIGRATE_TYPES
        for lo, hi in _valid_sections(z):
            # pagetypeinfo_showblockcount visits lo, then every pageblock boundary below hi
            first = lo >> pa.pageblock_order
            last = (hi - 1) >> pa.pageblock_order
            chunk = pb[first:last + 1]
            for mt in range(MIGRATE_TYPES):
                counts[mt] += chunk.count(mt)
        out.append(f"Node 0, zone {z.name:>8} " + "".join(f"{c:12d} " for c in counts) + "\n")
    return "".join(out)


def si_mem_available(pa: PageAllocator) -> int:
    """mm/show_mem.c: si_mem_available, in pages."""
    vs = pa.vmstat
    wmark_low = sum(z.low for z in pa.zones)
    available = pa.nr_free_pages() - pa.totalreserve_pages
    pagecache = vs.nr_active_file + vs.nr_inactive_file
    pagecache -= min(pagecache // 2, wmark_low)
    available += pagecache
    reclaimable = vs.nr_slab_reclaimable_b // PAGE_SIZE + vs.nr_kernel_misc_reclaimable
    reclaimable -= min(reclaimable // 2, wmark_low)
    available += reclaimable
    return int(max(available, 0))


def meminfo(pa: PageAllocator, swap_bytes: int = 0, committed_pages: int = 0) -> str:
    """fs/proc/meminfo.c: meminfo_proc_show, every line of the 6.18 file in its order.

    Computed from the simulation: the memory, LRU, slab, stack, page-table, vmalloc and
    percpu lines, Mapped (NR_FILE_MAPPED), Committed_AS (``committed_pages``: the
    accounted private anonymous mappings of the tasks, vm_memory_committed) and DirectMap*
    (direct_map.py).  Printed as the kernel prints them on the reference configuration
    because the simulation has nothing that changes them: Buffers (no block-device page
    cache), SwapCached (swap-ins are not kept in the swap cache), Unevictable and Mlocked
    (no mlock, no unevictable LRU), VmallocChunk (0 since 5.3), Zswap/Zswapped (no zswap pool),
    SecPageTables, NFS_Unstable and Bounce (always 0 in 6.18), WritebackTmp, the THP
    lines (no transparent huge pages are modelled), Balloon, and hugetlb_report_meminfo's
    lines with no huge pages reserved (Hugepagesize 2048 kB, the x86_64 default)."""
    vs = pa.vmstat
    k = PAGE_SIZE >> 10
    swap_total = swap_bytes >> PAGE_SHIFT
    buffers = 0
    cached = max(vs.nr_file_pages - buffers, 0)
    sreclaimable = vs.nr_slab_reclaimable_b >> 10
    sunreclaim = vs.nr_slab_unreclaimable_b >> 10
    commit_limit = pa.totalram_pages * 50 // 100 + swap_total   # overcommit_ratio 50
    # memblock.memory: the present pages of the zones (their managed and boot-reserved
    # ranges), contiguous runs merged as memblock merges them
    ram: list[tuple[int, int]] = []
    for s, e in sorted(r for z in pa.populated for r in (*z.managed_ranges, *z.reserved_ranges)):
        if ram and ram[-1][1] == s:
            ram[-1] = (ram[-1][0], e)
        else:
            ram.append((s, e))
    highmem = pa.arch.has_highmem
    if highmem:
        k4, m4 = direct_map_pages_32(ram, pa.max_low_pfn)
        dm4k, dm2m, dm1g = k4 * k, m4 * k, 0
    else:
        dm4k, dm2m, dm1g = init_mem_mapping(ram, pa.arch).meminfo_kb()
    # mm/highmem.c: __totalhigh_pages, __nr_free_highpages - the zones above max_low_pfn
    high_zones = [z for z in pa.populated if pa.zt.is_highmem_idx(z.idx)]
    totalhigh = sum(z.managed_pages for z in high_zones)
    freehigh = sum(z.free_pages for z in high_zones)
    rows: list[tuple[str, int]] = [
        ("MemTotal:", pa.totalram_pages * k),
        ("MemFree:", pa.nr_free_pages() * k),
        ("MemAvailable:", si_mem_available(pa) * k),
        ("Buffers:", buffers * k),
        ("Cached:", cached * k),
        ("SwapCached:", 0),
        ("Active:", (vs.nr_active_anon + vs.nr_active_file) * k),
        ("Inactive:", (vs.nr_inactive_anon + vs.nr_inactive_file) * k),
        ("Active(anon):", vs.nr_active_anon * k),
        ("Inactive(anon):", vs.nr_inactive_anon * k),
        ("Active(file):", vs.nr_active_file * k),
        ("Inactive(file):", vs.nr_inactive_file * k),
        ("Unevictable:", 0),
        ("Mlocked:", 0),
    ]
    if highmem:
        # fs/proc/meminfo.c, CONFIG_HIGHMEM: si_meminfo's totalhigh/freehigh
        rows += [("HighTotal:", totalhigh * k), ("HighFree:", freehigh * k),
                 ("LowTotal:", (pa.totalram_pages - totalhigh) * k),
                 ("LowFree:", (pa.nr_free_pages() - freehigh) * k)]
    rows += [
        ("SwapTotal:", swap_total * k),
        ("SwapFree:", max(swap_total - vs.nr_swap_used, 0) * k),
        ("Zswap:", 0),
        ("Zswapped:", 0),
        ("Dirty:", vs.nr_dirty * k),
        ("Writeback:", vs.nr_writeback * k),
        ("AnonPages:", vs.nr_anon_pages * k),
        ("Mapped:", vs.nr_mapped * k),
        ("Shmem:", vs.nr_shmem_pages * k),
        ("KReclaimable:", sreclaimable + vs.nr_kernel_misc_reclaimable * k),
        ("Slab:", sreclaimable + sunreclaim),
        ("SReclaimable:", sreclaimable),
        ("SUnreclaim:", sunreclaim),
        ("KernelStack:", vs.nr_kernel_stack_kb),
        ("PageTables:", vs.nr_pagetable_pages * k),
        ("SecPageTables:", 0),
        ("NFS_Unstable:", 0),
        ("Bounce:", 0),
        ("WritebackTmp:", 0),
        ("CommitLimit:", commit_limit * k),
        ("Committed_AS:", committed_pages * k),
        ("VmallocTotal:", (pa.arch.vmalloc_end - pa.arch.vmalloc_start) >> 10),   # 32 TiB - 1 kB on x86_64
        ("VmallocUsed:", vs.nr_vmalloc_pages * k),
        ("VmallocChunk:", 0),
        ("Percpu:", vs.nr_percpu_pages * k),
        ("AnonHugePages:", 0),
        ("ShmemHugePages:", 0),
        ("ShmemPmdMapped:", 0),
        ("FileHugePages:", 0),
        ("FilePmdMapped:", 0),
        ("Balloon:", 0),
    ]
    out = [f"{name:<16}{value:8d} kB\n" for name, value in rows]
    # mm/hugetlb.c: hugetlb_report_meminfo
    out += ["HugePages_Total:   %5d\n" % 0, "HugePages_Free:    %5d\n" % 0, "HugePages_Rsvd:    %5d\n" % 0,
            "HugePages_Surp:    %5d\n" % 0,
            # HPAGE_SHIFT = PMD_SHIFT: 2 MiB on x86_64, 4 MiB with i386's 2-level paging
            "Hugepagesize:   %8d kB\n" % ((1 << pa.arch.pmd_shift) >> 10), "Hugetlb:        %8d kB\n" % 0]
    # arch/x86/mm/pat/set_memory.c: arch_report_meminfo (32-bit without PAE: DirectMap4M,
    # no 1G line)
    if highmem:
        out += [f"DirectMap4k:    {dm4k:8d} kB\n", f"DirectMap4M:    {dm2m:8d} kB\n"]
    else:
        out += [f"DirectMap4k:    {dm4k:8d} kB\n", f"DirectMap2M:    {dm2m:8d} kB\n",
                f"DirectMap1G:    {dm1g:8d} kB\n"]
    return "".join(out)


# -- memmap ---------------------------------------------------------------------------------
MEMMAP_LEGEND = (
    ("free", "."), ("pcp", ":"), ("kernel", "k"), ("slab", "S"), ("vmalloc", "v"), ("user", "u"),
    ("file", "f"), ("pagetable", "t"), ("kstack", "s"), ("percpu", "c"), ("reserved", "R"), ("hole", " "),
)
_CHAR = dict(MEMMAP_LEGEND)
_KIND_OF_NIBBLE = {1: "pcp", 2: "reserved", **OWNER_NAMES}
_NIBBLE = bytes(b >> 4 for b in range(256))   # state byte -> kind nibble
_PRIORITY = ["kernel", "slab", "vmalloc", "user", "file", "pagetable", "kstack", "percpu", "pcp", "reserved", "free",
             "hole"]


def _overlap(lo: int, hi: int, ranges: Any) -> int:
    n = 0
    for r in ranges:
        s, e = r[0], r[1]
        if e > lo and s < hi:
            n += min(e, hi) - max(s, lo)
    return n


def _cell_counts(pa: PageAllocator, z: Zone, lo: int, hi: int) -> dict[str, int]:
    counts: dict[str, int] = {}
    nonzero = 0
    p = lo
    while p < hi:
        si = p >> SECTION_SHIFT
        end = min(hi, (si + 1) << SECTION_SHIFT)
        sec = pa.memmap.sections[si] if si < len(pa.memmap.sections) else None
        if sec is not None:
            chunk = sec[p - (si << SECTION_SHIFT):end - (si << SECTION_SHIFT)]
            kinds = chunk.translate(_NIBBLE)
            for nib in range(1, 16):
                c = kinds.count(nib)
                if c:
                    name = "free" if nib >= 12 else _KIND_OF_NIBBLE.get(nib, "kernel")
                    counts[name] = counts.get(name, 0) + c
                    nonzero += c
        p = end
    lazy = _overlap(lo, hi, z.lazy)
    reserved = _overlap(lo, hi, z.reserved_ranges)
    if lazy:
        counts["free"] = counts.get("free", 0) + lazy
    if reserved:
        counts["reserved"] = counts.get("reserved", 0) + reserved
    hole = (hi - lo) - nonzero - lazy - reserved
    if hole > 0:
        counts["hole"] = hole
    return counts


def cell_owner(counts: dict[str, int]) -> str:
    """The kind a run of frames is drawn as: the allocated kind holding most of its pages
    (ties: legend order); with nothing allocated pcp, else reserved, else free, else hole."""
    used = [k for k in _PRIORITY[:8] if counts.get(k)]
    if used:
        return max(used, key=lambda k: (counts[k], -_PRIORITY.index(k)))
    return next((k for k in _PRIORITY[8:] if counts.get(k)), "hole")


def cell_counts(pa: PageAllocator, z: Zone, lo: int, hi: int) -> dict[str, int]:
    """Pages of [lo, hi) by kind (free, pcp, reserved, hole and the owners)."""
    return _cell_counts(pa, z, lo, hi)


def memmap(pa: PageAllocator, zone_name: str | None = None, width: int = 64, max_lines: int = 8) -> str:
    """Each character is a run of page frames: the allocated kind with most pages in it; a run
    with nothing allocated shows pcp, else reserved, else free; it is a hole only if all hole."""
    out = ["Legend: " + "  ".join(f"{c!r}={name}" for name, c in MEMMAP_LEGEND) + "\n"]
    zones = [z for z in pa.populated if zone_name is None or z.name.lower() == zone_name.lower()]
    if zone_name is not None and not zones:
        pa.zone_by_name(zone_name)
    for z in zones:
        span = z.zone_end_pfn - z.zone_start_pfn
        per = 1
        while -(-span // per) > width * max_lines:
            per *= 2
        out.append(f"Node 0, zone {z.name:>8}: pfn {z.zone_start_pfn:#x}-{z.zone_end_pfn:#x}, "
                   f"1 char = {per} page{'s' if per > 1 else ''}, free {z.free_pages} of {z.managed_pages} managed\n")
        line = ""
        # the grid is aligned to multiples of the cell size, so a cell never straddles two
        # buddy blocks of its size; pfns before the zone start count as hole
        p = z.zone_start_pfn - z.zone_start_pfn % per
        addr = p
        while p < z.zone_end_pfn:
            q = min(p + per, z.zone_end_pfn)
            line += _CHAR[cell_owner(_cell_counts(pa, z, p, q))]
            p = q
            if len(line) == width:
                out.append(f"  {addr:#010x} {line}\n")
                line = ""
                addr = p
        if line:
            out.append(f"  {addr:#010x} {line}\n")
    return "".join(out)


__all__ = ["buddyinfo", "zoneinfo", "pagetypeinfo", "meminfo", "memmap", "si_mem_available", "MAX_PAGE_ORDER",
           "K_NONE"]
