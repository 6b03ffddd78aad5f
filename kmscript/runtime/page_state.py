"""struct page as the rest of the kernel sees it: include/linux/mm.h, mm/debug.c.

What it models: the state of one page frame read from the per-page state byte (free on a
buddy list, on a pcp list, reserved, or allocated with an owner), the head of the block
holding a pfn, page flags as dump_page prints them, the ``Page`` handle scripts get from
pfn_to_page/virt_to_page, the per-state page counts, and the consistency check of the
buddy invariants (tests and debugging).

Invariant: every managed page is in exactly one state; ``page_counts()`` sums to the
managed pages and ``check_invariants()`` verifies lists, counters and merging.
"""

from __future__ import annotations

from .buddy import BUDDY_MIN, K_BUDDY, K_NONE, K_PCP, K_RESERVED, TAIL, migratetype_is_mergeable
from .errors import KernelFault
from .gfp import MIGRATE_MOVABLE, MIGRATE_TYPES, MIGRATETYPE_NAMES
from .internal import pindex_to_order
from .mm_types import (PAGE_SHIFT, MAX_PAGE_ORDER, NR_PAGE_ORDERS,
                       OWNER_KERNEL, OWNER_NAMES)
from .mm_init import PB_ZONE_MIXED, MmInit


class Page:
    """A struct page handle, created on demand from a pfn (KMS_TYPE "page")."""

    KMS_TYPE = "page"
    KMS_ATTRS = frozenset({"pfn", "address", "flags", "refcount", "mapcount", "order", "zone", "owner",
                           "buddy", "slab", "reserved", "head", "compound", "free", "pcp", "phys",
                           "migratetype"})
    __slots__ = ("_pa", "pfn")

    def __init__(self, pa: PageState, pfn: int) -> None:
        self._pa = pa
        self.pfn = pfn

    @property
    def address(self) -> int:
        """lowmem_page_address(): the direct-map address; 0 (NULL) for a highmem page, which
        has no permanent one (page_address() also sees a kmap() mapping: highmem.py)."""
        pa = self._pa
        if self.pfn >= pa.max_low_pfn:
            return 0
        return pa.arch.page_address(self.pfn)

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
        return MIGRATETYPE_NAMES[self._pa.memmap.pageblock_mt[self.pfn >> self._pa.pageblock_order]]

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


class PageState(MmInit):
    """Per-page state queries (include/linux/mm.h, include/linux/page-flags.h)."""

    def allocated_page(self, pfn: int) -> Page:
        """The struct page handle of a pfn the allocator has just returned: alloc_pages()
        hands back a struct page, so none of page()'s pfn_valid checks can fail for it
        (tests/runtime/test_page_fast_paths.py checks that both give the same page)."""
        return Page(self, pfn)

    def page(self, pfn: int) -> Page:
        """pfn_to_page.  The checks of pfn_valid() and zone_of() inlined (this runs for every
        page a script allocates): the pageblock's zone byte answers unless the pageblock is
        PB_ZONE_MIXED, where the scan of the zones' spans decides."""
        if 0 <= pfn < self.memmap.max_pfn:
            pb_zone = self.pageblock_zone
            pb = pfn >> self.pageblock_order
            if (pb < len(pb_zone) and pb_zone[pb] != PB_ZONE_MIXED) or self.zone_of_scan(pfn) is not None:
                return Page(self, pfn)
        raise KernelFault(f"pfn {pfn:#x} has no struct page (outside RAM or in a hole)")

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

    # include/linux/page-flags.h enum pagetype: the top byte of page_type (it overlays
    # _mapcount) for pages that are not mapped to user space.
    _PAGE_TYPES = {"buddy": 0xF0, "pagetable": 0xF2, "slab": 0xF5}

    def dump_page_lines(self, pfn: int, mapping: int = 0, index: int = 0, anon: bool = False) -> list[str]:
        """mm/debug.c __dump_folio(): the page:, head:, flags: and page_type: lines
        (the raw: hex dump of struct page is not simulated)."""
        kind, _is_head, _order = self.page_state(pfn)
        head = self.block_head(pfn)
        large = head is not None and head[0] in self.compound and head[1] > 0
        page_type = self._PAGE_TYPES.get(kind) if not (kind == "buddy" and not _is_head) else None
        mapcount = 0 if page_type is not None else self.mapcount.get(pfn, 0)
        zone = self.zone_of(pfn)
        zidx = zone.idx if zone is not None else 0
        ref_pfn = head[0] if large and head is not None else pfn
        lines = [f"page: refcount:{self.page_ref_count(ref_pfn)} mapcount:{mapcount} mapping:{mapping:0{self.arch.ptr_digits}x} "
                 f"index:{index:#x} pfn:{pfn:#x}"]
        if large and head is not None:
            lines.append(f"head: order:{head[1]} mapcount:0 entire_mapcount:0 nr_pages_mapped:0 pincount:0")
        lines.append(f"{'anon ' if anon else ''}flags: {self.page_flags(pfn)}(node=0|zone={zidx})")
        if page_type is not None:
            name = {"pagetable": "table"}.get(kind, kind)
            lines.append(f"page_type: {page_type:x}({name})")
        return lines

    def pfn_to_page(self, pfn: int) -> Page:
        return self.page(pfn)

    def virt_to_page(self, addr: int) -> Page:
        page_offset = self.arch.page_offset
        # the direct map ends at the end of RAM, or of lowmem on a highmem kernel
        end = page_offset + min(self.phys_max, self.arch.direct_map_size)
        if addr < page_offset or addr >= end:
            raise KernelFault(f"virt_to_page({addr:#x}): not a direct-map address "
                              f"(0x{page_offset:x}..0x{end:x})")
        return self.page(self.arch.virt_to_pfn(addr))

    def virt_to_phys(self, addr: int) -> int:
        """__pa(addr) of a direct-map address."""
        self.virt_to_page(addr)
        return addr - self.arch.page_offset

    def phys_to_virt(self, paddr: int) -> int:
        """__va(paddr): the direct-map address of a physical address."""
        return self.arch.page_offset + paddr

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
                    n = z.free_next[s]
                    cnt = 0
                    while n != s:
                        assert z.free_prev[z.free_next[n]] == n
                        b = self.memmap.get(n)
                        assert b == ((K_BUDDY + mt) << 4) | o, f"{z.name} pfn {n:#x} byte {b:#x} on list o{o} mt{mt}"
                        assert n % (1 << o) == 0 and z.zone_start_pfn <= n and n + (1 << o) <= z.zone_end_pfn
                        blocks.append((n, o))
                        cnt += 1
                        n = z.free_next[n]
                    if o == MAX_PAGE_ORDER and mt == MIGRATE_MOVABLE:
                        cnt += z.lazy_blocks
                        for run in z.lazy:
                            for p in range(run[0], run[1], 1 << MAX_PAGE_ORDER):
                                blocks.append((p, o))
                    assert cnt == z.nr_list[li], f"{z.name} list o{o} mt{mt}: {cnt} != {z.nr_list[li]}"
                    per_order[o] += cnt
                    seen_pages += cnt << o
            assert per_order == z.free_area_nr, f"{z.name} nr_free {z.free_area_nr} != {per_order}"
            assert seen_pages == z.free_pages, f"{z.name} NR_FREE_PAGES {z.free_pages} != {seen_pages}"
            blocks.sort()
            for (p1, o1), (p2, _o2) in zip(blocks, blocks[1:]):
                assert p1 + (1 << o1) <= p2, f"{z.name}: free blocks {p1:#x}/{o1} and {p2:#x} overlap"
            free_heads = {p: o for p, o in blocks}
            for p, o in blocks:
                if o < MAX_PAGE_ORDER:
                    bud = p ^ (1 << o)
                    if free_heads.get(bud) == o:
                        mt1 = self.memmap.pageblock_mt[p >> self.pageblock_order]
                        mt2 = self.memmap.pageblock_mt[bud >> self.pageblock_order]
                        assert o >= self.pageblock_order and not (migratetype_is_mergeable(mt1) and migratetype_is_mergeable(mt2)), \
                            f"{z.name}: free buddies {p:#x} and {bud:#x} of order {o} left unmerged"
            pcp_pages = 0
            for pcp in z.pcp:
                n = 0
                for pindex, lst in enumerate(pcp.lists):
                    for p in lst:
                        assert self.memmap.get(p) == (K_PCP << 4) | pindex_to_order(pindex, self.hpage_pmd_order)
                        n += 1 << pindex_to_order(pindex, self.hpage_pmd_order)
                assert n == pcp.count, f"{z.name} pcp count {pcp.count} != {n}"
                pcp_pages += n
