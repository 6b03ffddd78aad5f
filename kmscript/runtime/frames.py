"""Page frames by owner, for the memmap picture (``show memmap "map.svg"``).

What it models: what /proc/kpageflags and page_owner would say about each page frame,
reduced to one cell per run of ``per`` frames (a power of two, so a cell never straddles
two buddy blocks of its size): the owner holding most frames of the cell (the rule of
the text view, procfs.memmap), with

- for free memory, the order of the largest free buddy block in the cell (the lazy boot
  runs are MAX_PAGE_ORDER blocks, as the kernel frees them at boot);
- for slab pages, the cache of the slab (a slab page knows its cache: slab->slab_cache);
- the migratetype of the cell's pageblock (pageblock_flags), or of most of its
  pageblocks when a cell spans several.

Invariants: the cells of a zone cover [zone_start_pfn rounded down to ``per``,
zone_end_pfn) in pfn order; a cell's owner is the character the text view draws for
the same cell size.
"""

from __future__ import annotations

from collections import Counter
from typing import Callable, NamedTuple

from .buddy import BUDDY_MIN, SECTION_MASK, SECTION_SHIFT, TAIL
from .gfp import MIGRATETYPE_NAMES
from .mm_types import MAX_PAGE_ORDER, OWNER_SLAB
from .page_alloc import PageAllocator
from .procfs import MEMMAP_LEGEND, cell_owner, cell_counts

OWNERS = tuple(name for name, _c in MEMMAP_LEGEND)


class FrameCell(NamedTuple):
    pfn: int            # first pfn of the cell
    owner: str          # one of OWNERS
    detail: str         # free: "order N"; slab: the cache name; else ""
    migratetype: str    # MIGRATETYPE_NAMES entry of the cell's pageblock, "" for a hole


class ZoneFrames(NamedTuple):
    name: str
    start_pfn: int
    end_pfn: int
    per: int            # frames per cell
    free_pages: int
    managed_pages: int
    cells: list[FrameCell]


def frame_map(pa: PageAllocator, cache_of_pfn: Callable[[int], str | None], zone_name: str | None = None,
              max_cells: int = 4096) -> list[ZoneFrames]:
    """One ZoneFrames per populated zone (or the named one), at most *max_cells* cells each."""
    zones = [z for z in pa.populated if zone_name is None or z.name.lower() == zone_name.lower()]
    if zone_name is not None and not zones:
        pa.zone_by_name(zone_name)   # raises the "no zone" fault
    memmap = pa.memmap
    out = []
    for z in zones:
        span = z.zone_end_pfn - z.zone_start_pfn
        per = 1
        while -(-span // per) > max_cells:
            per *= 2
        cells = []
        p = z.zone_start_pfn - z.zone_start_pfn % per
        while p < z.zone_end_pfn:
            q = min(p + per, z.zone_end_pfn)
            counts = cell_counts(pa, z, p, q)
            owner = cell_owner(counts)
            detail = ""
            if owner == "free":
                detail = f"order {_free_order(pa, z, p, q)}"
            elif owner == "slab":
                detail = _slab_cache(memmap.sections, p, q, cache_of_pfn)
            mt = ""
            if owner != "hole":
                lo, hi = max(p, z.zone_start_pfn), q
                blocks = Counter(memmap.pageblock_mt[b] for b in range(lo >> pa.pageblock_order,
                                                                        ((hi - 1) >> pa.pageblock_order) + 1))
                mt = MIGRATETYPE_NAMES[blocks.most_common(1)[0][0]]
            cells.append(FrameCell(p, owner, detail, mt))
            p = q
        out.append(ZoneFrames(z.name, z.zone_start_pfn, z.zone_end_pfn, per, z.free_pages, z.managed_pages, cells))
    return out


def _free_order(pa: PageAllocator, z: object, lo: int, hi: int) -> int:
    """The largest free buddy block with a page in [lo, hi)."""
    best = -1
    sections = pa.memmap.sections
    p = lo
    while p < hi:
        si = p >> SECTION_SHIFT
        end = min(hi, (si + 1) << SECTION_SHIFT)
        sec = sections[si] if si < len(sections) else None
        if sec is not None:
            base = si << SECTION_SHIFT
            for i in range(p - base, end - base):
                b = sec[i]
                if b >= BUDDY_MIN and b & TAIL != TAIL and (b & TAIL) > best:
                    best = b & TAIL
        p = end
    if best < 0:
        # the cell lies inside one free block (a tail) or a lazy boot run
        for pfn in range(lo, hi):
            head = pa.block_head(pfn)
            if head is not None and pa.page_state(pfn)[0] == "buddy":
                return int(head[1])
        return MAX_PAGE_ORDER
    return best


def _slab_cache(sections: list[bytearray | None], lo: int, hi: int, cache_of_pfn: Callable[[int], str | None]) -> str:
    """The cache owning most slab pages of [lo, hi)."""
    names: Counter[str] = Counter()
    for pfn in range(lo, hi):
        sec = sections[pfn >> SECTION_SHIFT]
        if sec is not None and sec[pfn & SECTION_MASK] >> 4 == OWNER_SLAB:
            name = cache_of_pfn(pfn)
            if name is not None:
                names[name] += 1
    return names.most_common(1)[0][0] if names else ""


__all__ = ["frame_map", "FrameCell", "ZoneFrames", "OWNERS"]
