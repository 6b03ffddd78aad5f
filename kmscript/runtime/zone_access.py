"""What reclaim, compaction and the OOM report read and do on the zones (mm/vmscan.c,
mm/compaction.c, mm/show_mem.c views of struct zone).

What it models: the zone facts the layers above the page allocator use - watermarks, free
counts per order, the zone of a pfn - and compaction's two operations on the buddy lists
(__isolate_free_page + split_page of the free scanner, the migration target taking its
source's owner).  It works on the page allocator's public zone and memmap state.

Invariant: isolating free pages never takes a zone below min + 2^order (the watermark
check of __isolate_free_page); every isolated page is order 0 and owned until migrated.
"""

from __future__ import annotations

from .buddy import K_BUDDY, SECTION_MASK, SECTION_SHIFT
from .gfp import MIGRATE_ISOLATE, MIGRATE_MOVABLE, MIGRATE_TYPES
from .internal import ALLOC_CMA, zone_watermark_ok
from .mm_types import OWNER_FILE, OWNER_KERNEL, OWNER_USER
from .mm_init import PB_ZONE_MIXED
from .page_alloc import PageAllocator
from .zone import Zone

# memmap state bytes (buddy.py: owner code in the high nibble, order in the low nibble) of
# an order-0 anonymous page and an order-0 page-cache page
_USER_PAGE_B = bytes((OWNER_USER << 4,))
_FILE_PAGE_B = bytes((OWNER_FILE << 4,))


class ZoneAccess:
    """The zone facts reclaim, compaction and the OOM report read from the page allocator.

    Reads the public attributes of ``zone.Zone`` (watermarks, ``free_pages``, ``nr_free``,
    ``nr_list``, ``lowmem_reserve``, the memmap state bytes); watermark tests use the page
    allocator's own __zone_watermark_ok (internal.py), so reclaim decisions use the kernel's
    arithmetic, reserves included.  Compaction's two page-allocator operations (isolating free pages
    as migration targets, giving them an owner) work on the buddy lists and the memmap
    directly, as mm/compaction.c does with __isolate_free_page and split_page.
    """

    def __init__(self, page_alloc: PageAllocator) -> None:
        self.pa = page_alloc
        # include/linux/gfp.h: gfp_zone() as this kernel's GFP_ZONE_TABLE maps it (arch/)
        self.gfp_zone = page_alloc.zt.gfp_zone
        self._bounds: list[tuple[int, int, int]] | None = None

    def all_zones(self) -> list[Zone]:
        return list(self.pa.zones)

    def populated(self) -> list[Zone]:
        return [z for z in self.pa.zones if z.present_pages > 0 and z.managed_pages > 0]

    @staticmethod
    def idx(z: Zone) -> int:
        return int(z.idx)

    @staticmethod
    def min_wmark(z: Zone) -> int:
        return int(z.min)

    @staticmethod
    def low_wmark(z: Zone) -> int:
        return int(z.low)

    @staticmethod
    def high_wmark(z: Zone) -> int:
        return int(z.high)

    @staticmethod
    def boost(z: Zone) -> int:
        return int(z.watermark_boost)

    def set_reclaim_active(self, highest_zoneidx: int, on: bool) -> None:
        """set_reclaim_active / clear_reclaim_active (ZONE_RECLAIM_ACTIVE) of mm/vmscan.c."""
        for z in self.populated():
            if z.idx <= highest_zoneidx:
                z.reclaim_active = on

    def clear_boost(self) -> None:
        for z in self.pa.zones:
            if z.watermark_boost:
                z.watermark_boost = 0
            if z.boosted_watermark:
                z.boosted_watermark = False

    @staticmethod
    def span(z: Zone) -> tuple[int, int]:
        return int(z.zone_start_pfn), int(z.zone_end_pfn)

    @staticmethod
    def nr_free(z: Zone) -> list[int]:
        return [int(x) for x in z.free_area_counts()]

    @staticmethod
    def free_list_nonempty(z: Zone, order: int, mt: int) -> bool:
        return bool(z.nr_list[order * MIGRATE_TYPES + mt] > 0)

    @staticmethod
    def watermark_ok(z: Zone, order: int, mark: int, highest_zoneidx: int, alloc_flags: int = 0) -> bool:
        """mm/page_alloc.c: __zone_watermark_ok (internal.py, the allocator's own)."""
        return zone_watermark_ok(z, order, mark, highest_zoneidx, alloc_flags)

    def _zone_bounds(self) -> list[tuple[int, int, int]]:
        b = self._bounds
        if b is None:
            b = self._bounds = sorted((int(z.zone_start_pfn), int(z.zone_end_pfn), int(z.idx))
                                      for z in self.pa.zones if z.zone_end_pfn > z.zone_start_pfn)
        return b

    def pfn_zone_idx(self, pfn: int) -> int:
        """The index of the zone whose span holds pfn (0 outside every zone): the page
        allocator's per-pageblock zone table, the zone spans where it has no answer."""
        if pfn >= 0:
            pb_zone = self.pa.pageblock_zone
            pb = pfn >> self.pa.memmap.pageblock_order
            if pb < len(pb_zone):
                zi = pb_zone[pb]
                if zi != PB_ZONE_MIXED:
                    return zi
        return self.pfn_zone_idx_scan(pfn)

    def pfn_zone_idx_scan(self, pfn: int) -> int:
        """pfn_zone_idx by a scan of the zone spans."""
        for start, end, idx in self._bounds or self._zone_bounds():
            if pfn < end:
                return idx if pfn >= start else 0
        return 0  # not in any zone: cannot hold an LRU page

    def range_zone_idx(self, first: int, end: int) -> int:
        """The zone holding all of [first, end), or -1 if the range crosses a zone boundary."""
        for start, zend, idx in self._zone_bounds():
            if start <= first and end <= zend:
                return idx
        return -1

    def drain_all_pages(self) -> None:
        """drain_all_pages: per-cpu lists back to the buddy allocator, so freed pages merge."""
        self.pa.drain_all_pages()

    # -- compaction scanners ---------------------------------------------------------------------
    def movable_pages(self, z: Zone, start: int, end: int) -> list[int]:
        """The migration scanner over [start, end) (one pageblock, inside one memmap section):
        the order-0 anonymous and page-cache pages, found by their state bytes."""
        memmap = self.pa.memmap
        sec = memmap.sections[start >> SECTION_SHIFT]
        if sec is None:
            return []
        base = start & ~SECTION_MASK
        lo = start - base
        hi = end - base
        out: list[int] = []
        for byte in (_USER_PAGE_B, _FILE_PAGE_B):
            i = sec.find(byte, lo, hi)
            while i >= 0:
                out.append(base + i)
                i = sec.find(byte, i + 1, hi)
        out.sort()
        return out

    def isolate_free_pages(self, z: Zone, start: int, end: int) -> list[int]:
        """The free scanner over one pageblock (isolate_freepages_block): free pages isolated
        as order-0 migration targets, or [] if the block is no suitable target."""
        memmap = self.pa.memmap
        if memmap.pageblock_mt[start >> memmap.pageblock_order] != MIGRATE_MOVABLE:
            # suitable_migration_target: only whole free pageblocks of another type qualify
            if z.buddy_order(start) < memmap.pageblock_order:
                return []
        out: list[int] = []
        pfn = start
        while pfn < end:
            order = z.buddy_order(pfn)
            if order < 0:
                pfn += 1
                continue
            b = memmap.get(pfn)
            mt = (b >> 4) - K_BUDDY if b else MIGRATE_MOVABLE  # byte 0: a lazy boot block
            # __isolate_free_page: never take the zone below min + 2^order
            if mt != MIGRATE_ISOLATE and not self.watermark_ok(z, 0, z.watermarks[0] + (1 << order), 0, ALLOC_CMA):
                break
            z.del_from_free_list(pfn, order, mt)
            z.account_freepages(-(1 << order), mt)
            n = 1 << order
            # split_page: order-0 pages, allocated until a migration hands each its owner
            for p in range(pfn, pfn + n):
                memmap.set(p, OWNER_KERNEL << 4)
            out.extend(range(pfn, pfn + n))
            pfn += n
        return out

    def set_page_owner(self, pfn: int, like: int) -> None:
        """The migration target takes the state byte (owner, order 0) of the page it replaces."""
        memmap = self.pa.memmap
        memmap.set(pfn, memmap.get(like) & 0xF0)
