"""Compaction's primitives: page migration and the pageblock scanners' queries.

What it models: mm/migrate.c's move of a movable block (contents, owner, refcount,
compound state and mapcount) to a free block found the way compaction's free scanner
finds one (isolate_freepages from the zone end, split_free_page keeping the top part),
and the block/pageblock queries the migration scanner walks (iter_blocks,
pageblock_info, movable_blocks).

Invariant: a migration conserves pages: the destination leaves the free lists and the
source goes back to them, merged with its buddies.
"""

from __future__ import annotations

from collections.abc import Iterator

from .buddy import SECTION_SHIFT, TAIL
from .errors import KernelFault
from .gfp import MIGRATE_HIGHATOMIC, MIGRATE_ISOLATE, MIGRATE_MOVABLE, MIGRATE_TYPES, MIGRATETYPE_NAMES
from .mm_types import (PAGE_SHIFT, PAGE_SIZE, MAX_PAGE_ORDER, NR_PAGE_ORDERS,
                       OWNERS_MOVABLE)
from .zone import Zone
from .page_free import PageFree


class Migrate(PageFree):
    """Migration of movable blocks and pageblock queries (mm/migrate.c, mm/compaction.c)."""

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
        start = pfn & ~(self.pageblock_nr_pages - 1)
        counts = {"free": 0, "pcp": 0, "movable": 0, "used": 0, "reserved": 0, "absent": 0}
        for h, order, kind in self.iter_blocks(start, start + self.pageblock_nr_pages):
            n = min(1 << order, start + self.pageblock_nr_pages - max(h, start))
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
        info["migratetype"] = MIGRATETYPE_NAMES[self.memmap.pageblock_mt[start >> self.pageblock_order]]
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
                n = zone.free_next[s]
                while n != s:
                    if n > pfn and (best is None or n > best[0]):
                        best = (n, o, mt)
                    n = zone.free_next[n]
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
        phys = self.phys
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
        mt = self.memmap.pageblock_mt[pfn >> self.pageblock_order]
        self._buddy_free(zone, pfn, order, mt)
        return dst
