"""The LRU lists keep the kernel's order when pages leave and come back.

``LruVec`` leaves the entry of a page taken off a list in its deque (stale) and skips it
later; a page freed and allocated again before its stale entry is met is on the same list
again, with two entries.  An exact model (one ordered dict per list: list_add at the head,
list_del, isolation from the tail, putback at the tail) must agree with it on every page
isolated, on the counts and on the order of every list, through random adds, removals,
moves, isolations and putbacks of a few reused pfns, enough of them to compact the deques."""

from __future__ import annotations

from collections import OrderedDict

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kmscript.runtime.pagecache import NR_LRU_LISTS, LruVec
from kmscript.runtime.vmstat import VmStat


class ExactLru:
    def __init__(self) -> None:
        self.lists: list[OrderedDict[int, None]] = [OrderedDict() for _ in range(NR_LRU_LISTS)]
        self.on: dict[int, int] = {}

    def add(self, pfn: int, lru: int) -> None:
        self.lists[lru][pfn] = None
        self.on[pfn] = lru

    def remove(self, pfn: int) -> None:
        lru = self.on.pop(pfn, None)
        if lru is not None:
            del self.lists[lru][pfn]

    def move(self, pfn: int, lru: int) -> None:
        self.remove(pfn)
        self.add(pfn, lru)

    def pop_tail(self, lru: int) -> int | None:
        if not self.lists[lru]:
            return None
        pfn, _ = self.lists[lru].popitem(last=False)
        del self.on[pfn]
        return pfn

    def putback_tail(self, pfns: list[int], lru: int) -> None:
        for pfn in reversed(pfns):
            self.add(pfn, lru)
            self.lists[lru].move_to_end(pfn, last=False)


def live_order(lru: LruVec, which: int) -> list[int]:
    """The deque's live entries, tail first, as pop_tail would isolate them."""
    got = []
    while (pfn := lru.pop_tail(which)) is not None:
        got.append(pfn)
    lru.putback_tail(got, which)
    return got


OP = st.tuples(st.sampled_from(["add", "add_run", "remove", "remove_many", "move", "pop", "pop_putback"]),
               st.integers(0, 15), st.integers(0, NR_LRU_LISTS - 1), st.integers(1, 3000))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(OP, max_size=60))
def test_lru_lists_keep_the_exact_order(ops: list[tuple[str, int, int, int]]) -> None:
    lru = LruVec(VmStat())
    ref = ExactLru()
    base = 1 << 16
    for kind, a, which, n in ops:
        pfn = base + a
        if kind == "add" and pfn not in ref.on:
            lru.add(pfn, which)
            ref.add(pfn, which)
        elif kind == "add_run":
            # many fresh pages at once: deques long enough to be compacted
            for p in range(base + 1000 + a * 200, base + 1000 + a * 200 + n):
                if p not in ref.on:
                    lru.add(p, which)
                    ref.add(p, which)
        elif kind == "remove":
            lru.remove(pfn)
            ref.remove(pfn)
        elif kind == "remove_many":
            pfns = [p for p in list(ref.on)[a % 7::3]][:n]
            lru.remove_many(pfns)
            for p in pfns:
                ref.remove(p)
        elif kind == "move" and pfn in ref.on:
            lru.move(pfn, which)
            ref.move(pfn, which)
        elif kind in ("pop", "pop_putback"):
            got = [lru.pop_tail(which) for _ in range(min(n, 40))]
            want = [ref.pop_tail(which) for _ in range(min(n, 40))]
            assert got == want
            if kind == "pop_putback":
                back = [p for p in got if p is not None]
                lru.putback_tail(back, which)
                ref.putback_tail(back, which)
        assert lru.nr == [len(lst) for lst in ref.lists]
    for which in range(NR_LRU_LISTS):
        assert live_order(lru, which) == list(ref.lists[which])


def test_a_page_freed_and_allocated_again_is_isolated_in_its_new_place() -> None:
    lru = LruVec(VmStat())
    first = list(range(100, 164))
    for p in first:
        lru.add(p, 0)
    lru.remove_many(first)                 # an exit: the entries stay, stale
    again = list(reversed(first))          # the pcp list hands them back newest first
    for p in again:
        lru.add(p, 0)
    assert [lru.pop_tail(0) for _ in range(5)] == again[:5]


def test_a_page_moved_hundreds_of_times_keeps_one_live_entry() -> None:
    # more stale entries of one page than a stale count holds (255): the list is compacted
    lru = LruVec(VmStat())
    for p in (1, 2, 3):
        lru.add(p, 2)
    for _ in range(600):
        lru.move(2, 2)                     # folio_mark_accessed-like moves to the head
    lru.move(1, 3)
    assert len(lru.lists[2]) < 600
    assert live_order(lru, 2) == [3, 2] and live_order(lru, 3) == [1]


def _lru_state(lru: LruVec) -> tuple[object, ...]:
    return ([list(dq) for dq in lru.lists], [{k: bytes(v) for k, v in st.sections.items()} for st in lru.stale],
            {k: bytes(v) for k, v in lru.state.sections.items()}, list(lru.nr), [list(z) for z in lru.zone_nr])


def _pattern(lru: LruVec, kind: str, base: int) -> list[int]:
    """100 pages added to list 0 in order (or two of them the other way round), then one
    of: a page taken off and put back (a stale entry inside the run), a page moved to
    another list, the tail isolated, nothing; returns the batch to remove (in order, or
    with two pages swapped)."""
    pages = list(range(base, base + 100))
    order = pages[:]
    if kind == "added_out_of_order":
        order[1], order[2] = order[2], order[1]
    for p in order:
        lru.add(p, 0)
    if kind == "readded":
        lru.remove(base + 50)
        lru.add(base + 50, 0)
    elif kind == "moved":
        lru.move(base + 30, 1)
    elif kind == "swapped":
        pages[10], pages[11] = pages[11], pages[10]
    elif kind == "head_taken":
        lru.pop_tail(0)
        pages = pages[1:] + [base + 100]
        lru.add(base + 100, 0)
    return pages


@pytest.mark.parametrize("kind", ["plain", "readded", "moved", "swapped", "head_taken", "added_out_of_order"])
def test_remove_many_is_remove_one_by_one(kind: str) -> None:
    """remove_many takes a run of pages that is the list's tail in one step; the run must
    really be the tail in that order, on that list, for the result to be remove() on each
    page in turn: deques, stale counts, states and counts."""
    got = []
    for batched in (True, False):
        lru = LruVec(VmStat())
        for p in range(10, 20):        # other pages on the lists before (gone) and after
            lru.add(p, 0)
        lru.remove_many(list(range(10, 20)))
        pages = _pattern(lru, kind, 1 << 16)
        lru.add(7, 0)
        if batched:
            lru.remove_many(pages)
        else:
            for p in pages:
                lru.remove(p)
        got.append(_lru_state(lru))
    assert got[0] == got[1]
