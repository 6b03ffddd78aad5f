"""Buddy free lists and the compact per-page state map (mm/page_alloc.c, mm/internal.h).

What it models
--------------
``free_area[order].free_list[migratetype]`` of one zone, for orders 0..MAX_PAGE_ORDER (10)
and the migrate types UNMOVABLE, MOVABLE, RECLAIMABLE, HIGHATOMIC (ISOLATE exists as a
list but nothing isolates), with the kernel's list discipline:

- ``__rmqueue_smallest``: take the *first* (head) block of the smallest non-empty order;
  ``expand`` keeps the lowest part and puts each upper half at the *head* of its list,
  largest first.
- ``__free_one_page``: merge with ``buddy = pfn ^ (1 << order)`` while the buddy is a free
  block of the same order in the same zone (at order >= pageblock_order only between
  mergeable types), then insert at the head, or at the tail when ``buddy_merge_likely``
  (or FPI_TO_TAIL at boot).
- ``move_to_free_list`` always appends at the tail.

Invariants
----------
- A free block of order o starts at a pfn divisible by 2^o and lies inside its zone;
  its buddy is ``pfn ^ (1 << o)``.  No two free buddies of the same order are left
  unmerged below MAX_PAGE_ORDER (except across a migratetype that may not merge).
- ``nr_free[o]`` == number of blocks on all ``free_list[mt]`` of order o, and
  ``free_pages`` (NR_FREE_PAGES) == sum(nr_free[o] << o) over non-isolated lists.
- Per-page state is one byte in a per-section ``bytearray`` (``Memmap``): high nibble the
  kind (free buddy, on a pcp list, or the owner of an allocated block), low nibble the
  order on a block's head page and 0xF on its tail pages.  Untouched sections have no
  storage at all.

Lazy boot memory
----------------
At boot the kernel frees all memory in MAX_PAGE_ORDER chunks with FPI_TO_TAIL, so the
order-10 MOVABLE list is the zone's memory in ascending pfn order.  Instead of one list
entry per 4 MiB block, the untouched tail of that list is kept as ``lazy`` runs of
(start, end) pfns; a block is materialised (gets list links and state bytes) only when
an allocation takes it.  The order of the list is exactly the kernel's: materialised
entries first (head insertions happen there), then the lazy runs in ascending order.
Pages of a lazy run have state byte 0, like holes and boot-reserved pages; ``Zone``
resolves byte 0 through its range tables.

Simplifications: no CMA, no page isolation users, no debug guard pages, no shuffling.
"""

from __future__ import annotations

from collections import deque

from .gfp import MIGRATE_HIGHATOMIC, MIGRATE_ISOLATE, MIGRATE_MOVABLE, MIGRATE_TYPES

from .mm_types import MAX_PAGE_ORDER, NR_PAGE_ORDERS

SECTION_SHIFT = 15                 # 128 MiB sections (x86_64 SECTION_SIZE_BITS = 27)
SECTION_PAGES = 1 << SECTION_SHIFT
SECTION_MASK = SECTION_PAGES - 1

# Kinds (high nibble of the state byte).  Owner codes (page_alloc.OWNER_*) are 4..11.
K_NONE = 0       # not materialised: hole, boot-reserved, or part of a lazy free run
K_PCP = 1        # on a per-cpu page list (allocated from the buddy's point of view)
K_RESERVED = 2   # reserved page (PageReserved)
K_BUDDY = 12     # 12..15: on the buddy free list of migratetype kind - 12 (PageBuddy)
TAIL = 0x0F      # low nibble on tail pages of a block

BUDDY_TAIL = (K_BUDDY << 4) | TAIL   # any page inside a free block other than its head
BUDDY_MIN = K_BUDDY << 4


def buddy_byte(order: int, mt: int) -> int:
    """State byte of the head page of a free block of ``order`` on free_list[mt]."""
    return ((K_BUDDY + mt) << 4) | order

# mm/page_alloc.c: fallbacks[]
FALLBACKS: tuple[tuple[int, int], ...] = (
    (2, 1),   # UNMOVABLE -> RECLAIMABLE, MOVABLE
    (2, 0),   # MOVABLE -> RECLAIMABLE, UNMOVABLE
    (0, 1),   # RECLAIMABLE -> UNMOVABLE, MOVABLE
)


def migratetype_is_mergeable(mt: int) -> bool:
    """include/linux/mmzone.h: only the three pcp types may merge across pageblocks."""
    return mt < MIGRATE_HIGHATOMIC


class Memmap:
    """The state byte of every page frame, stored per 128 MiB section on demand."""

    __slots__ = ("sections", "pageblock_mt", "max_pfn", "pageblock_order")

    def __init__(self, max_pfn: int, pageblock_order: int) -> None:
        self.max_pfn = max_pfn
        # include/linux/pageblock-flags.h: pageblock_order (``Arch.pageblock_order``)
        self.pageblock_order = pageblock_order
        self.sections: list[bytearray | None] = [None] * ((max_pfn >> SECTION_SHIFT) + 1)
        # pageblock migratetype (4 bits in the kernel's pageblock_flags); all MOVABLE at boot
        # (mm/mm_init.c: memmap_init_range -> init_pageblock_migratetype).
        self.pageblock_mt = bytearray([MIGRATE_MOVABLE]) * ((max_pfn >> pageblock_order) + 1)

    def get(self, pfn: int) -> int:
        sec = self.sections[pfn >> SECTION_SHIFT]
        return sec[pfn & SECTION_MASK] if sec is not None else 0

    def section(self, pfn: int) -> bytearray:
        idx = pfn >> SECTION_SHIFT
        sec = self.sections[idx]
        if sec is None:
            sec = self.sections[idx] = bytearray(SECTION_PAGES)
        return sec

    def set(self, pfn: int, value: int) -> None:
        sec = self.sections[pfn >> SECTION_SHIFT]
        if sec is None:
            sec = self.section(pfn)
        sec[pfn & SECTION_MASK] = value

    def set_block(self, pfn: int, order: int, head: int, tail: int) -> None:
        """Head byte ``head``, the other 2^order - 1 bytes ``tail`` (a block never crosses a section)."""
        sec = self.sections[pfn >> SECTION_SHIFT]
        if sec is None:
            sec = self.section(pfn)
        i = pfn & SECTION_MASK
        if order:
            n = 1 << order
            sec[i + 1:i + n] = bytes((tail,)) * (n - 1)
        sec[i] = head

    def touched_sections(self) -> int:
        return sum(1 for s in self.sections if s is not None)


class BuddyZone:
    """Free lists of one zone.  ``Zone`` (zone.py) adds watermarks, reserves and pcp sizing."""

    def __init__(self, idx: int, memmap: Memmap, start_pfn: int, end_pfn: int) -> None:
        self.idx = idx
        self.memmap = memmap
        self.zone_start_pfn = start_pfn
        self.zone_end_pfn = end_pfn
        # Doubly linked free lists: one next/prev map for the whole zone (a pfn is on at
        # most one list); list li = order * MIGRATE_TYPES + mt has the sentinel key -1 - li.
        nlists = NR_PAGE_ORDERS * MIGRATE_TYPES
        self.free_next: dict[int, int] = {}
        self.free_prev: dict[int, int] = {}
        for li in range(nlists):
            s = -1 - li
            self.free_next[s] = s
            self.free_prev[s] = s
        self.nr_list = [0] * nlists          # blocks per (order, mt)
        self.free_area_nr = [0] * NR_PAGE_ORDERS  # free_area[o].nr_free
        self.free_pages = 0                  # NR_FREE_PAGES
        self.nr_free_highatomic = 0
        self.lazy: deque[list[int]] = deque()  # [start, end) runs of order-10 MOVABLE blocks
        self.lazy_blocks = 0

    # -- list primitives ---------------------------------------------------------------
    def _link_head(self, pfn: int, li: int) -> None:
        s = -1 - li
        nxt = self.free_next
        n = nxt[s]
        nxt[s] = pfn
        nxt[pfn] = n
        prv = self.free_prev
        prv[pfn] = s
        prv[n] = pfn

    def _link_tail(self, pfn: int, li: int) -> None:
        s = -1 - li
        prv = self.free_prev
        p = prv[s]
        prv[s] = pfn
        prv[pfn] = p
        nxt = self.free_next
        nxt[pfn] = s
        nxt[p] = pfn

    def _unlink(self, pfn: int) -> None:
        nxt = self.free_next
        prv = self.free_prev
        n = nxt.pop(pfn)
        p = prv.pop(pfn)
        nxt[p] = n
        prv[n] = p

    def add_to_free_list(self, pfn: int, order: int, mt: int, tail: bool) -> None:
        """__add_to_free_list + set_buddy_order (head byte only; tails are already free)."""
        li = order * MIGRATE_TYPES + mt
        if tail and order == MAX_PAGE_ORDER and self.lazy and mt == MIGRATE_MOVABLE:
            # The lazy runs are the tail of this list: append behind them.
            last = self.lazy[-1]
            if last[1] == pfn:
                last[1] = pfn + (1 << MAX_PAGE_ORDER)
            else:
                self.lazy.append([pfn, pfn + (1 << MAX_PAGE_ORDER)])
            self.lazy_blocks += 1
            self.memmap.set_block(pfn, order, 0, 0)
        elif tail:
            self._link_tail(pfn, li)
            self.memmap.set(pfn, ((K_BUDDY + mt) << 4) | order)
        else:
            self._link_head(pfn, li)
            self.memmap.set(pfn, ((K_BUDDY + mt) << 4) | order)
        self.nr_list[li] += 1
        self.free_area_nr[order] += 1

    def del_from_free_list(self, pfn: int, order: int, mt: int) -> None:
        """__del_page_from_free_list (the caller rewrites the head byte)."""
        if order == MAX_PAGE_ORDER and pfn not in self.free_next:
            self._take_lazy(pfn)
        else:
            self._unlink(pfn)
        self.nr_list[order * MIGRATE_TYPES + mt] -= 1
        self.free_area_nr[order] -= 1

    def first_free(self, order: int, mt: int) -> int | None:
        """get_page_from_free_area: the head entry of free_list[mt] of ``order``."""
        li = order * MIGRATE_TYPES + mt
        if not self.nr_list[li]:
            return None
        s = -1 - li
        n = self.free_next[s]
        if n != s:
            return n
        return self.lazy[0][0]  # only the lazy runs are left on this list

    def free_list(self, order: int, mt: int) -> list[int]:
        """free_area[order].free_list[mt] from head to tail (lazy runs expanded)."""
        s = -1 - (order * MIGRATE_TYPES + mt)
        out = []
        n = self.free_next[s]
        while n != s:
            out.append(n)
            n = self.free_next[n]
        if order == MAX_PAGE_ORDER and mt == MIGRATE_MOVABLE:
            for run in self.lazy:
                out.extend(range(run[0], run[1], 1 << MAX_PAGE_ORDER))
        return out

    def _take_lazy(self, pfn: int) -> None:
        """Remove the lazy block at ``pfn`` and give it real state bytes."""
        for i, run in enumerate(self.lazy):
            if run[0] <= pfn < run[1]:
                end = pfn + (1 << MAX_PAGE_ORDER)
                if pfn == run[0]:
                    run[0] = end
                    if run[0] == run[1]:
                        del self.lazy[i]
                elif end == run[1]:
                    run[1] = pfn
                else:
                    self.lazy.insert(i + 1, [end, run[1]])
                    run[1] = pfn
                self.lazy_blocks -= 1
                self.memmap.set_block(pfn, MAX_PAGE_ORDER, buddy_byte(MAX_PAGE_ORDER, MIGRATE_MOVABLE), BUDDY_TAIL)
                return
        raise AssertionError(f"pfn {pfn:#x} is not a free order-10 block")

    def in_lazy(self, pfn: int) -> bool:
        for run in self.lazy:
            if run[0] <= pfn < run[1]:
                return True
            if run[0] > pfn:
                return False
        return False

    def account_freepages(self, nr: int, mt: int) -> None:
        if mt == MIGRATE_ISOLATE:
            return
        self.free_pages += nr
        if mt == MIGRATE_HIGHATOMIC:
            self.nr_free_highatomic += nr

    # -- page state queries ---------------------------------------------------------------
    def buddy_order(self, pfn: int) -> int:
        """Order of the free buddy block whose head is ``pfn``, or -1 (PageBuddy + buddy_order)."""
        b = self.memmap.get(pfn)
        if b >= BUDDY_MIN and b & TAIL != TAIL:
            return b & TAIL
        if b == 0 and self.lazy and not pfn & ((1 << MAX_PAGE_ORDER) - 1) and self.in_lazy(pfn):
            return MAX_PAGE_ORDER
        return -1

    def get_pfnblock_migratetype(self, pfn: int) -> int:
        return self.memmap.pageblock_mt[pfn >> self.memmap.pageblock_order]

    def set_pageblock_migratetype(self, pfn: int, mt: int) -> None:
        self.memmap.pageblock_mt[pfn >> self.memmap.pageblock_order] = mt

    # -- the buddy algorithms ---------------------------------------------------------------
    def expand(self, pfn: int, low: int, high: int, mt: int, halves: list[tuple[int, int]] | None = None) -> int:
        """mm/page_alloc.c: expand — upper halves to the list heads; returns pages added.
        *halves* (explain) receives each (pfn, order) put back on a free list."""
        added = 0
        while high > low:
            high -= 1
            size = 1 << high
            self.add_to_free_list(pfn + size, high, mt, False)
            if halves is not None:
                halves.append((pfn + size, high))
            added += size
        return added

    def page_del_and_expand(self, pfn: int, low: int, high: int, mt: int,
                            halves: list[tuple[int, int]] | None = None) -> None:
        self.del_from_free_list(pfn, high, mt)
        nr_pages = (1 << high) - self.expand(pfn, low, high, mt, halves)
        self.account_freepages(-nr_pages, mt)

    def rmqueue_smallest(self, order: int, mt: int,
                         halves: list[tuple[int, int]] | None = None) -> tuple[int, int] | None:
        """__rmqueue_smallest: (pfn, order the block was taken from) or None.  *halves*
        (explain) receives the blocks expand() put back."""
        nr_list = self.nr_list
        li = order * MIGRATE_TYPES + mt
        for current in range(order, NR_PAGE_ORDERS):
            if nr_list[li]:
                pfn = self.first_free(current, mt)
                assert pfn is not None
                self.page_del_and_expand(pfn, order, current, mt, halves)
                return pfn, current
            li += MIGRATE_TYPES
        return None

    def rmqueue_smallest_run(self, order: int, mt: int, count: int) -> tuple[int, int] | None:
        """``t`` calls of rmqueue_smallest(order, mt) in a row, t <= count, all served by the
        one block the first call takes: (pfn of that block, t), or None if there is none.

        The first call takes the head block of the smallest non-empty order c >= order;
        the lists of the orders below c are empty, so every following call takes the
        lowest block expand() left, and the blocks come out in ascending pfn order until
        the 2^(c-order) of them are used up.  What expand() leaves after t of them is the
        remainder [pfn + t blocks, pfn + 2^c) cut into aligned blocks of growing order,
        one per set bit of 2^(c-order) - t, each at the head of its (otherwise empty)
        list: the same lists, counts and state bytes as the calls one by one.
        """
        nr_list = self.nr_list
        li = order * MIGRATE_TYPES + mt
        for current in range(order, NR_PAGE_ORDERS):
            if nr_list[li]:
                break
            li += MIGRATE_TYPES
        else:
            return None
        pfn = self.first_free(current, mt)
        assert pfn is not None
        blocks = 1 << (current - order)
        t = min(count, blocks)
        self.del_from_free_list(pfn, current, mt)
        rest = blocks - t
        q = pfn + (t << order)
        h = order
        while rest:
            if rest & 1:
                self.add_to_free_list(q, h, mt, False)
                q += 1 << h
            rest >>= 1
            h += 1
        self.account_freepages(-(t << order), mt)
        return pfn, t

    def free_pcp_run(self, pfns: list[int]) -> None:
        """free_pcppages_bulk's order-0 pages, in order: for each, the byte of a free page
        (BUDDY_TAIL, what _buddy_free writes), then free_one_page(pfn, 0, its pageblock's
        migratetype), the migratetype read just before the page goes (a merge at pageblock
        order may have changed it).

        The result is that of free_one_page page by page (tests/runtime/test_buddy_properties.py
        compares them); the cost is not.  Most blocks one page of a run inserts are merged
        away by a later page of the same run (freeing ascending pfns merges every second
        page), and a doubly linked list that had an entry inserted at its head or tail and
        then unlinked is the list it was without it: so a block this run inserts below
        MAX_PAGE_ORDER is only noted (with the head/tail choice buddy_merge_likely made at
        that moment, from the state bytes, which are written as they go), a later merge
        drops the note, and the blocks still noted at the end are linked in the order they
        were inserted.  Nothing reads the lists or their counts during the run: merges and
        buddy_merge_likely read state bytes only.
        """
        memmap = self.memmap
        sections = memmap.sections
        pageblock_mt = memmap.pageblock_mt
        pb_order = memmap.pageblock_order
        nxt, prv, nr_list, nr_free = self.free_next, self.free_prev, self.nr_list, self.free_area_nr
        noted: dict[int, int] = {}   # pfn -> li * 2 + tail of a block inserted and not linked yet
        merge = self._merge
        freed = 0
        highatomic = 0
        total = len(pfns)
        i = 0
        while i < total:
            pfn = pfns[i]
            # A whole aligned block of 2^k pages, k <= pageblock_order, given in ascending
            # order: page by page, each page merges with the ones before it inside the
            # block and stops at the next one, which is not free yet, so every block
            # inserted on the way is merged away again by a later page of the block, all
            # of one pageblock's migratetype (no merge below pageblock_order changes it);
            # only the last page's merge leaves the block, starting as an order-k block.
            # So the block is freed as one, from order k: the same bytes, counts and
            # inserted blocks.
            order = 0
            if not pfn & 1 and i + 1 < total and pfns[i + 1] == pfn + 1:
                order = min((pfn & -pfn).bit_length() - 1 if pfn else pb_order, pb_order)
                while order and (i + (1 << order) > total or pfns[i + (1 << order) - 1] != pfn + (1 << order) - 1
                                 or pfns[i:i + (1 << order)] != list(range(pfn, pfn + (1 << order)))):
                    order -= 1
            nr = 1 << order
            i += nr
            psec = sections[pfn >> SECTION_SHIFT]
            assert psec is not None   # a page on a pcp list has state bytes
            off = pfn & SECTION_MASK
            if order:
                psec[off:off + nr] = bytes((BUDDY_TAIL,)) * nr
            else:
                psec[off] = BUDDY_TAIL
            mt = pageblock_mt[pfn >> pb_order]
            if mt != MIGRATE_ISOLATE:   # account_freepages
                freed += nr
                if mt == MIGRATE_HIGHATOMIC:
                    highatomic += nr
            pfn, order, tail = merge(pfn, order, mt, noted)
            if order == MAX_PAGE_ORDER:
                self.add_to_free_list(pfn, order, mt, tail)
                continue
            sec = sections[pfn >> SECTION_SHIFT]
            if sec is None:
                sec = memmap.section(pfn)
            sec[pfn & SECTION_MASK] = ((K_BUDDY + mt) << 4) | order
            noted[pfn] = ((order * MIGRATE_TYPES + mt) << 1) | (1 if tail else 0)
        self.free_pages += freed
        self.nr_free_highatomic += highatomic
        for pfn, v in noted.items():
            li = v >> 1
            s = -1 - li
            if v & 1:
                p = prv[s]
                prv[s] = pfn
                prv[pfn] = p
                nxt[pfn] = s
                nxt[p] = pfn
            else:
                n = nxt[s]
                nxt[s] = pfn
                nxt[pfn] = n
                prv[pfn] = s
                prv[n] = pfn
            nr_list[li] += 1
            nr_free[li // MIGRATE_TYPES] += 1

    def _merge(self, pfn: int, order: int, mt: int, noted: dict[int, int] | None,
               to_tail: bool = False) -> tuple[int, int, bool]:
        """__free_one_page's merge loop and buddy_merge_likely: merge the free block at
        *pfn* (its bytes already BUDDY_TAIL) with its free buddies; returns the merged
        block's pfn and order and whether it goes to the tail of its list.  A buddy in
        *noted* (free_pcp_run's blocks not linked yet) is dropped from it, not unlinked."""
        memmap = self.memmap
        sections = memmap.sections
        nxt, prv, nr_list, nr_free = self.free_next, self.free_prev, self.nr_list, self.free_area_nr
        start = self.zone_start_pfn
        end = self.zone_end_pfn
        pb_order = memmap.pageblock_order
        buddy_pfn = pfn ^ (1 << order)
        while order < MAX_PAGE_ORDER:
            buddy_pfn = pfn ^ (1 << order)
            if buddy_pfn < start or buddy_pfn >= end:
                break
            sec = sections[buddy_pfn >> SECTION_SHIFT]  # memmap.get, inlined
            if sec is None:
                break  # an untouched section holds no free buddy below MAX_PAGE_ORDER
            b = sec[buddy_pfn & SECTION_MASK]
            if b < BUDDY_MIN or b & TAIL != order:
                break
            buddy_mt = (b >> 4) - K_BUDDY   # the list the buddy is on
            if order >= pb_order:
                if buddy_mt != mt and (not migratetype_is_mergeable(mt) or not migratetype_is_mergeable(buddy_mt)):
                    break
            if noted is None or noted.pop(buddy_pfn, -1) < 0:
                # del_from_free_list for an order below MAX_PAGE_ORDER (never lazy), inlined
                n = nxt.pop(buddy_pfn)
                p = prv.pop(buddy_pfn)
                nxt[p] = n
                prv[n] = p
                nr_list[order * MIGRATE_TYPES + buddy_mt] -= 1
                nr_free[order] -= 1
            sec[buddy_pfn & SECTION_MASK] = BUDDY_TAIL
            if buddy_mt != mt:
                # account the buddy's pages under the merged block's type
                self.account_freepages(-(1 << order), buddy_mt)
                self.account_freepages(1 << order, mt)
                if order >= pb_order:
                    self.set_pageblock_migratetype(buddy_pfn, mt)
            pfn &= buddy_pfn
            order += 1
        if to_tail:
            tail = True
        elif order >= MAX_PAGE_ORDER - 1:
            tail = False
        else:
            # buddy_merge_likely: is the buddy of the parent block free at order + 1?
            higher = buddy_pfn & pfn
            hb = higher ^ (1 << (order + 1))
            if start <= hb < end:
                hsec = sections[hb >> SECTION_SHIFT]  # memmap.get, inlined
                hbyte = hsec[hb & SECTION_MASK] if hsec is not None else 0
                tail = hbyte >= BUDDY_MIN and hbyte & TAIL == order + 1
            else:
                tail = False
        return pfn, order, tail

    def free_one_page(self, pfn: int, order: int, mt: int, to_tail: bool = False) -> int:
        """__free_one_page: merge with free buddies, insert; returns the final order.

        The caller has already written the block's bytes as a free block's tail pages
        (BUDDY_TAIL) — see ``PageAllocator._buddy_free``.
        """
        if mt != MIGRATE_ISOLATE:
            # account_freepages, inlined
            self.free_pages += 1 << order
            if mt == MIGRATE_HIGHATOMIC:
                self.nr_free_highatomic += 1 << order
        pfn, order, tail = self._merge(pfn, order, mt, None, to_tail)
        if order == MAX_PAGE_ORDER:
            self.add_to_free_list(pfn, order, mt, tail)
            return order
        # add_to_free_list below MAX_PAGE_ORDER (never lazy), inlined
        nxt, prv = self.free_next, self.free_prev
        sections = self.memmap.sections
        li = order * MIGRATE_TYPES + mt
        s = -1 - li
        if tail:
            p = prv[s]
            prv[s] = pfn
            prv[pfn] = p
            nxt[pfn] = s
            nxt[p] = pfn
        else:
            n = nxt[s]
            nxt[s] = pfn
            nxt[pfn] = n
            prv[pfn] = s
            prv[n] = pfn
        sec = sections[pfn >> SECTION_SHIFT]
        if sec is None:
            sec = self.memmap.section(pfn)
        sec[pfn & SECTION_MASK] = ((K_BUDDY + mt) << 4) | order
        self.nr_list[li] += 1
        self.free_area_nr[order] += 1
        return order
