"""Zones: sizes, watermarks, lowmem reserves, pcp sizing (mm/page_alloc.c, mm/vmstat.c).

What it models
--------------
``struct zone`` of Linux 6.18 on one node: on x86_64 ZONE_DMA, ZONE_DMA32, ZONE_NORMAL,
ZONE_MOVABLE and the always-empty ZONE_DEVICE (it exists on the verified machine, so
``protection:`` has five entries); on i386 ZONE_DMA, ZONE_NORMAL, ZONE_HIGHMEM and
ZONE_MOVABLE (the arch's ``ZoneTypes``).  Each zone has ``spanned``/``present``/``managed``
page counts, ``watermarks[min, low, high, promo]`` + ``watermark_boost``,
``lowmem_reserve[]`` and the per-cpu pageset parameters ``batch``/``high_min``/``high_max``.

Formulas (linux-mm-facts.md section 2, all VERIFIED against the machine; the code cites
the kernel function each follows):
- __setup_per_zone_wmarks: min = pages_min * managed / lowmem_pages (HighMem and Movable:
  clamp(managed/1024, 32, 128)); delta = max(tmp/4, managed * wsf / 10000); low = min + delta,
  high = low + delta, promo = high + delta.
- setup_per_zone_lowmem_reserve: lowmem_reserve[j] = sum(managed[i+1..j]) / ratio[i].
- zone_batchsize / zone_highsize: pcp batch, high_min, high_max.
- calculate_normal_threshold: the "vm stats threshold".

Invariants: watermarks and reserves are recomputed whenever managed pages or a sysctl
change, exactly where the kernel recomputes them (``PageAllocator`` drives this).
"""

from __future__ import annotations

from collections import deque
from typing import Any

from .buddy import BuddyZone, Memmap
from .gfp import X86_64_ZONES, ZoneTypes

WMARK_MIN = 0
WMARK_LOW = 1
WMARK_HIGH = 2
WMARK_PROMO = 3

SWAP_CLUSTER_MAX = 32
MIN_PERCPU_PAGELIST_HIGH_FRACTION = 8
NR_PCP_LISTS = 14           # 3 types x 4 orders + 2 THP lists (include/linux/mmzone.h)
PCP_BATCH_SCALE_MAX = 5     # CONFIG_PCP_BATCH_SCALE_MAX default
PCPF_PREV_FREE_HIGH_ORDER = 1
PCPF_FREE_HIGH_BATCH = 2


def fls(x: int) -> int:
    return x.bit_length()


def rounddown_pow_of_two(x: int) -> int:
    return 1 << (x.bit_length() - 1) if x > 0 else 0


class PerCpuPages:
    """struct per_cpu_pages of one CPU in one zone.

    ``lists[pindex]`` are deques whose *left* end is the list head: allocation pops the
    head (cache-hot, LIFO), free pushes at the head, rmqueue_bulk appends refills at the
    tail and free_pcppages_bulk drains from the tail.  Entries are head pfns.
    """

    __slots__ = ("lists", "count", "high", "high_min", "high_max", "batch", "free_count",
                 "alloc_factor", "flags")

    def __init__(self) -> None:
        self.lists: list[deque[int]] = [deque() for _ in range(NR_PCP_LISTS)]
        self.count = 0
        # per_cpu_pages_init: boot pageset values; pcp->high is only clamped into
        # [high_min, high_max] when the pageset is first used (zoneinfo shows "high: 0").
        self.high = 0
        self.high_min = 0
        self.high_max = 0
        self.batch = 1
        self.free_count = 0
        self.alloc_factor = 0
        self.flags = 0


class Zone(BuddyZone):
    """One zone.  Also the script handle ``zone(DMA)`` (KMS_TYPE "zone")."""

    KMS_TYPE = "zone"
    KMS_ATTRS = frozenset({
        "name", "idx", "min", "low", "high", "promo", "boost", "spanned", "present", "managed",
        "start_pfn", "end_pfn", "nr_free_pages", "free_pages", "protection", "lowmem_reserve",
        "nr_free", "nr_free_highatomic", "nr_reserved_highatomic", "batch", "high_min", "high_max",
        "pcp_count", "populated", "threshold",
    })

    def __init__(self, idx: int, memmap: Memmap, start_pfn: int, spanned: int, present: int,
                 managed_ranges: list[tuple[int, int]], reserved_ranges: list[tuple[int, int]],
                 nr_cpus: int, zones: ZoneTypes = X86_64_ZONES) -> None:
        super().__init__(idx, memmap, start_pfn, start_pfn + spanned)
        self.name = zones.names[idx]
        # is_highmem(zone) || zone_idx(zone) == ZONE_MOVABLE: the zones whose min watermark
        # is clamped instead of proportional (__setup_per_zone_wmarks)
        self.is_highmem = zones.is_highmem_idx(idx) and zones.names[idx] == "HighMem"
        self.clamped_min = self.is_highmem or idx == zones.MOVABLE
        self.spanned = spanned
        self.present_pages = present
        self.managed_pages = sum(e - s for s, e in managed_ranges)
        self.managed_ranges = managed_ranges
        self.reserved_ranges = reserved_ranges
        self.watermarks = [0, 0, 0, 0]  # struct zone._watermark[NR_WMARK]: min, low, high, promo
        self.watermark_boost = 0
        self.lowmem_reserve = [0] * zones.MAX_NR_ZONES
        self.nr_reserved_highatomic = 0
        # zone->flags bits
        self.below_high = False
        self.boosted_watermark = False
        self.reclaim_active = False
        self.pageset_batch = 1
        self.pageset_high_min = 0
        self.pageset_high_max = 0
        self.pcp = [PerCpuPages() for _ in range(nr_cpus)]
        self.stat_threshold = 0
        # zone statistics shown by zoneinfo
        self.numa_hit = 0
        self.pgalloc = 0

    # -- watermarks ---------------------------------------------------------------------
    @property
    def min(self) -> int:
        return self.watermarks[WMARK_MIN] + self.watermark_boost

    @property
    def low(self) -> int:
        return self.watermarks[WMARK_LOW] + self.watermark_boost

    @property
    def high(self) -> int:
        return self.watermarks[WMARK_HIGH] + self.watermark_boost

    @property
    def promo(self) -> int:
        return self.watermarks[WMARK_PROMO] + self.watermark_boost

    def wmark_pages(self, i: int) -> int:
        return self.watermarks[i] + self.watermark_boost

    @property
    def boost(self) -> int:
        return self.watermark_boost

    @property
    def managed(self) -> int:
        return self.managed_pages

    @property
    def present(self) -> int:
        return self.present_pages

    @property
    def start_pfn(self) -> int:
        return self.zone_start_pfn

    @property
    def end_pfn(self) -> int:
        return self.zone_end_pfn

    @property
    def nr_free_pages(self) -> int:
        return self.free_pages

    @property
    def protection(self) -> list[int]:
        return list(self.lowmem_reserve)

    @property
    def nr_free(self) -> list[int]:
        return list(self.free_area_nr)

    @property
    def populated(self) -> bool:
        return self.present_pages > 0

    @property
    def batch(self) -> int:
        return self.pageset_batch

    @property
    def high_min(self) -> int:
        return self.pageset_high_min

    @property
    def high_max(self) -> int:
        return self.pageset_high_max

    @property
    def pcp_count(self) -> int:
        return sum(p.count for p in self.pcp)

    @property
    def threshold(self) -> int:
        return self.stat_threshold

    def set_watermarks(self, pages_min: int, lowmem_pages: int, watermark_scale_factor: int) -> None:
        """mm/page_alloc.c: __setup_per_zone_wmarks for this zone."""
        managed = self.managed_pages
        tmp = pages_min * managed // lowmem_pages if lowmem_pages else 0
        if self.clamped_min:
            # is_highmem(zone) || ZONE_MOVABLE: clamp(managed / 1024, SWAP_CLUSTER_MAX, 128)
            wmin = min(max(managed // 1024, SWAP_CLUSTER_MAX), 128)
        else:
            wmin = tmp
        delta = max(tmp >> 2, managed * watermark_scale_factor // 10000)  # mult_frac
        self.watermark_boost = 0
        self.watermarks = [wmin, wmin + delta, wmin + 2 * delta, wmin + 3 * delta]

    # -- pcp sizing -------------------------------------------------------------------------
    def zone_batchsize(self) -> int:
        batch = min(self.managed_pages >> 10, (1 << 20) // 4096)
        batch //= 4
        if batch < 1:
            batch = 1
        return rounddown_pow_of_two(batch + batch // 2) - 1

    def zone_highsize(self, batch: int, nr_cpus: int, high_fraction: int) -> int:
        if not high_fraction:
            total = self.wmark_pages(WMARK_LOW)
        else:
            total = self.managed_pages // high_fraction
        high = total // nr_cpus
        return max(high, batch << 2)

    def set_pageset_high_and_batch(self, nr_cpus: int, high_fraction: int) -> None:
        """zone_set_pageset_high_and_batch + __zone_set_pageset_high_and_batch."""
        batch = max(1, self.zone_batchsize())
        if high_fraction:
            high_min = high_max = self.zone_highsize(batch, nr_cpus, high_fraction)
        else:
            high_min = self.zone_highsize(batch, nr_cpus, 0)
            high_max = self.zone_highsize(batch, nr_cpus, MIN_PERCPU_PAGELIST_HIGH_FRACTION)
        if (self.pageset_high_min, self.pageset_high_max, self.pageset_batch) == (high_min, high_max, batch):
            return
        self.pageset_high_min = high_min
        self.pageset_high_max = high_max
        self.pageset_batch = batch
        for pcp in self.pcp:
            pcp.high_min = high_min
            pcp.high_max = high_max
            pcp.batch = batch

    def calculate_normal_threshold(self, nr_cpus: int) -> None:
        """mm/vmstat.c: calculate_normal_threshold ("vm stats threshold")."""
        mem = self.managed_pages >> (27 - 12)
        self.stat_threshold = min(125, 2 * fls(nr_cpus) * (1 + fls(mem)))

    # -- page state of never-materialised frames --------------------------------------------
    def in_ranges(self, pfn: int, ranges: list[tuple[int, int]]) -> bool:
        for s, e in ranges:
            if s <= pfn < e:
                return True
        return False

    def free_area_counts(self) -> list[int]:
        return list(self.free_area_nr)

    def __str__(self) -> str:
        return (f"zone {self.name}: free {self.free_pages} min {self.min} low {self.low} high {self.high} "
                f"managed {self.managed_pages} present {self.present_pages} spanned {self.spanned}")

    def __repr__(self) -> str:
        return f"<Zone {self.name}>"

    def kms_get(self, name: str) -> Any:
        return getattr(self, name)
