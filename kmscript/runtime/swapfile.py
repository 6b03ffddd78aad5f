"""The swap device (mm/swapfile.c): total_swap_pages, the free slot count (nr_swap_pages)
and the swap_map, the references each used slot has (every pte holding its entry).

Invariants: ``free_swap_pages`` plus the number of used slots is ``nr_swap_pages``, and
vmstat's nr_swap_used is the number of used slots.  Slots are handed out lowest first
(slot 0 holds the swap header); a freed slot is reused before a new one.

Simplifications: one swap device, no swap cache (a slot is freed as soon as no pte refers
to it), no clusters, no readahead.
"""

from __future__ import annotations

import heapq

from .mm_types import PAGE_SIZE
from .vmstat import VmStat


class SwapSpace:
    """The swap device: total_swap_pages, the free slot count (nr_swap_pages) and the
    swap_map (references per used slot: every pte holding the entry; slots are handed out
    lowest first)."""

    __slots__ = ("nr_swap_pages", "free_swap_pages", "swap_map", "_next", "_freed", "vmstat")

    def __init__(self, swap_bytes: int, vmstat: VmStat) -> None:
        self.nr_swap_pages = swap_bytes // PAGE_SIZE
        self.free_swap_pages = self.nr_swap_pages
        self.swap_map: dict[int, int] = {}
        self._next = 1  # slot 0 holds the swap header
        self._freed: list[int] = []
        self.vmstat = vmstat

    def alloc(self) -> int | None:
        """get_swap_page: a free slot, or None when swap is full."""
        if self.free_swap_pages <= 0:
            return None
        if self._freed:
            slot = heapq.heappop(self._freed)
        else:
            slot = self._next
            self._next += 1
        self.swap_map[slot] = 1  # the swap cache's reference until the ptes hold it
        self.free_swap_pages -= 1
        self.vmstat.nr_swap_used += 1
        return slot

    def dup(self, slot: int) -> None:
        """swap_duplicate."""
        self.swap_map[slot] += 1

    def put(self, slot: int) -> None:
        """free_swap_and_cache / swap_free: the slot is free once no pte refers to it."""
        n = self.swap_map[slot] - 1
        if n > 0:
            self.swap_map[slot] = n
            return
        del self.swap_map[slot]
        heapq.heappush(self._freed, slot)
        self.free_swap_pages += 1
        self.vmstat.nr_swap_used -= 1
