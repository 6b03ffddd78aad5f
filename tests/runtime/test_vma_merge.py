"""VMA merge/split cases ported from the kernel's own VMA tests (tools/testing/vma/vma.c:
test_merge_new, test_vma_merge_special_flags, test_merge_existing,
test_anon_vma_non_mergeable, test_dup_anon_vma), with their expected results; plus the
split and munmap-gather rules of mm/vma.c (split_vma, vms_gather_munmap_vmas)."""

from __future__ import annotations

import pytest

from kmscript.runtime.limits import ENOMEM
from kmscript.runtime.vma import (VM_DONTEXPAND, VM_IO, VM_MAYREAD, VM_MAYWRITE, VM_MIXEDMAP, VM_PFNMAP, VM_READ,
                                  VM_SPECIAL, VM_WRITE, AnonVma, MergeRequest, Vma, VmaSet, link_anon_vma)

FLAGS = VM_READ | VM_WRITE | VM_MAYREAD | VM_MAYWRITE


class Slab:
    def __init__(self) -> None:
        self.live: set[int] = set()
        self.next = 0x1000

    def alloc(self) -> int:
        self.next += 0xc0
        self.live.add(self.next)
        return self.next

    def free(self, addr: int) -> None:
        self.live.remove(addr)


def make(max_count: int = 65530) -> tuple[VmaSet, Slab]:
    slab = Slab()
    return VmaSet(slab.alloc, slab.free, lambda: max_count), slab


def link(vs: VmaSet, start: int, end: int, pgoff: int, flags: int = FLAGS) -> Vma:
    """alloc_and_link_vma."""
    vma = vs.new_vma(start, end, flags, pgoff, None)
    assert vma is not None
    vs.insert(vma)
    return vma


def with_anon(vma: Vma, av: AnonVma) -> None:
    vma.anon_vma = av
    link_anon_vma(vma, av)


def merge_new(vs: VmaSet, start: int, end: int, pgoff: int, flags: int = FLAGS) -> Vma | None:
    prev, nxt = vs.neighbours(start, end)
    return vs.merge_new_range(MergeRequest(start, end, flags, pgoff, None, prev=prev, next=nxt))


def try_merge_new(vs: VmaSet, start: int, end: int, pgoff: int) -> tuple[Vma, bool]:
    """try_merge_new_vma: merge, or link a new VMA."""
    vma = merge_new(vs, start, end, pgoff)
    if vma is not None:
        return vma, True
    return link(vs, start, end, pgoff), False


def merge_existing(vs: VmaSet, vma: Vma, prev: Vma | None, start: int, end: int, pgoff: int,
                   flags: int = FLAGS) -> Vma | None:
    return vs.merge_existing_range(MergeRequest(start, end, flags, pgoff, None, vma.anon_vma, middle=vma, prev=prev))


def spans(vs: VmaSet) -> list[tuple[int, int, int]]:
    return [(v.vm_start, v.vm_end, v.vm_pgoff) for v in vs]


def test_merge_new() -> None:
    vs, slab = make()
    dummy = AnonVma(1)
    vma_a = link(vs, 0, 0x2000, 0)
    vma_b = link(vs, 0x3000, 0x4000, 3)
    vma_c = link(vs, 0xb000, 0xc000, 0xb)
    # NO merge: AA B   **  CC
    vma_d, merged = try_merge_new(vs, 0x7000, 0x9000, 7)
    assert not merged and vs.map_count == 4
    # merge BOTH sides: AA*B
    with_anon(vma_b, dummy)
    vma, merged = try_merge_new(vs, 0x2000, 0x3000, 2)
    assert vma is vma_a and merged
    assert (vma.vm_start, vma.vm_end, vma.vm_pgoff) == (0, 0x4000, 0)
    assert vma.anon_vma is dummy and vs.map_count == 3
    # merge to PREVIOUS
    vma, merged = try_merge_new(vs, 0x4000, 0x5000, 4)
    assert vma is vma_a and (vma.vm_start, vma.vm_end) == (0, 0x5000) and vs.map_count == 3
    # merge to NEXT: prepend D
    with_anon(vma_d, dummy)
    vma, merged = try_merge_new(vs, 0x6000, 0x7000, 6)
    assert vma is vma_d and (vma.vm_start, vma.vm_end, vma.vm_pgoff) == (0x6000, 0x9000, 6)
    assert vs.map_count == 3
    # merge BOTH sides: A and D
    vma, merged = try_merge_new(vs, 0x5000, 0x6000, 5)
    assert vma is vma_a and (vma.vm_start, vma.vm_end, vma.vm_pgoff) == (0, 0x9000, 0) and vs.map_count == 2
    # merge to NEXT: prepend C
    with_anon(vma_c, dummy)
    vma, merged = try_merge_new(vs, 0xa000, 0xb000, 0xa)
    assert vma is vma_c and (vma.vm_start, vma.vm_end, vma.vm_pgoff) == (0xa000, 0xc000, 0xa)
    # merge BOTH sides: A and C
    vma, merged = try_merge_new(vs, 0x9000, 0xa000, 9)
    assert vma is vma_a and merged
    assert spans(vs) == [(0, 0xc000, 0)] and vma.anon_vma is dummy
    # the removed VMAs went back to their slab cache
    assert slab.live == {vma_a.addr}


@pytest.mark.parametrize("special", [VM_IO, VM_DONTEXPAND, VM_PFNMAP, VM_MIXEDMAP])
def test_vma_merge_special_flags(special: int) -> None:
    assert VM_IO | VM_DONTEXPAND | VM_PFNMAP | VM_MIXEDMAP == VM_SPECIAL
    vs, _ = make()
    left = link(vs, 0, 0x3000, 0)
    left.vm_flags = FLAGS | special
    assert merge_new(vs, 0x3000, 0x4000, 3, FLAGS | special) is None
    vma = link(vs, 0x3000, 0x4000, 3)
    assert merge_existing(vs, vma, left, 0x3000, 0x4000, 3, FLAGS | special) is None


def test_merge_existing() -> None:
    dummy = AnonVma(1)
    # merge right, partial span: VVVVNNN -> VNNNNNN
    vs, _ = make()
    vma = link(vs, 0x2000, 0x6000, 2)
    nxt = link(vs, 0x6000, 0x9000, 6)
    with_anon(vma, dummy)
    assert merge_existing(vs, vma, vma, 0x3000, 0x6000, 3) is nxt
    assert (nxt.vm_start, nxt.vm_end, nxt.vm_pgoff) == (0x3000, 0x9000, 3) and nxt.anon_vma is dummy
    assert (vma.vm_start, vma.vm_end, vma.vm_pgoff) == (0x2000, 0x3000, 2) and vs.map_count == 2
    # merge right, full span
    vs, _ = make()
    vma = link(vs, 0x2000, 0x6000, 2)
    nxt = link(vs, 0x6000, 0x9000, 6)
    with_anon(vma, dummy)
    assert merge_existing(vs, vma, None, 0x2000, 0x6000, 2) is nxt
    assert (nxt.vm_start, nxt.vm_end, nxt.vm_pgoff) == (0x2000, 0x9000, 2) and vs.map_count == 1
    # merge left, partial span: PPPVVVV -> PPPPPPV
    vs, _ = make()
    prev = link(vs, 0, 0x3000, 0)
    vma = link(vs, 0x3000, 0x7000, 3)
    with_anon(vma, dummy)
    assert merge_existing(vs, vma, prev, 0x3000, 0x6000, 3) is prev
    assert (prev.vm_start, prev.vm_end, prev.vm_pgoff) == (0, 0x6000, 0) and prev.anon_vma is dummy
    assert (vma.vm_start, vma.vm_end, vma.vm_pgoff) == (0x6000, 0x7000, 6) and vs.map_count == 2
    # merge left, full span
    vs, _ = make()
    prev = link(vs, 0, 0x3000, 0)
    vma = link(vs, 0x3000, 0x7000, 3)
    with_anon(vma, dummy)
    assert merge_existing(vs, vma, prev, 0x3000, 0x7000, 3) is prev
    assert spans(vs) == [(0, 0x7000, 0)]
    # merge both
    vs, _ = make()
    prev = link(vs, 0, 0x3000, 0)
    vma = link(vs, 0x3000, 0x7000, 3)
    link(vs, 0x7000, 0x9000, 7)
    with_anon(vma, dummy)
    assert merge_existing(vs, vma, prev, 0x3000, 0x7000, 3) is prev
    assert spans(vs) == [(0, 0x9000, 0)] and prev.anon_vma is dummy
    # non-merge ranges: strictly inside the VMA
    vs, _ = make()
    link(vs, 0, 0x3000, 0)
    vma = link(vs, 0x3000, 0x8000, 3)
    link(vs, 0x8000, 0xa000, 8)
    for start, end in ((0x4000, 0x5000), (0x5000, 0x6000), (0x6000, 0x7000), (0x4000, 0x7000), (0x4000, 0x6000)):
        assert merge_existing(vs, vma, vma, start, end, start >> 12) is None
    assert vs.map_count == 3


def test_anon_vma_non_mergeable() -> None:
    av1, av2 = AnonVma(1), AnonVma(2)
    vs, _ = make()
    prev = link(vs, 0, 0x3000, 0)
    vma = link(vs, 0x3000, 0x7000, 3)
    nxt = link(vs, 0x7000, 0x9000, 7)
    with_anon(prev, av1)
    with_anon(nxt, av2)
    # prev and next are each compatible with the range but not with each other: prev only
    assert merge_existing(vs, vma, prev, 0x3000, 0x7000, 3) is prev
    assert spans(vs) == [(0, 0x7000, 0), (0x7000, 0x9000, 7)]
    vs, _ = make()
    prev = link(vs, 0, 0x3000, 0)
    nxt = link(vs, 0x7000, 0x9000, 7)
    with_anon(prev, av1)
    with_anon(nxt, av2)
    assert merge_new(vs, 0x3000, 0x7000, 3) is prev
    assert spans(vs) == [(0, 0x7000, 0), (0x7000, 0x9000, 7)]


def test_dup_anon_vma() -> None:
    dummy = AnonVma(1)
    # next has the anon_vma: prev gets it (prev, vma, next -> prev)
    vs, _ = make()
    prev = link(vs, 0, 0x3000, 0)
    vma = link(vs, 0x3000, 0x5000, 3)
    nxt = link(vs, 0x5000, 0x8000, 5)
    with_anon(nxt, dummy)
    assert merge_existing(vs, vma, prev, 0x3000, 0x5000, 3) is prev
    assert (prev.vm_start, prev.vm_end) == (0, 0x8000) and prev.anon_vma is dummy
    assert prev in dummy.vmas and nxt not in dummy.vmas
    # vma has it, merged into prev with shrink
    vs, _ = make()
    prev = link(vs, 0, 0x3000, 0)
    vma = link(vs, 0x3000, 0x8000, 3)
    with_anon(vma, dummy)
    assert merge_existing(vs, vma, prev, 0x3000, 0x5000, 3) is prev
    assert (prev.vm_start, prev.vm_end) == (0, 0x5000) and prev.anon_vma is dummy
    # vma has it, next gets it
    vs, _ = make()
    vma = link(vs, 0, 0x5000, 0)
    nxt = link(vs, 0x5000, 0x8000, 5)
    with_anon(vma, dummy)
    assert merge_existing(vs, vma, vma, 0x3000, 0x5000, 3) is nxt
    assert (nxt.vm_start, nxt.vm_end) == (0x3000, 0x8000) and nxt.anon_vma is dummy


def test_forked_vma_does_not_merge() -> None:
    """vma_had_uncowed_parents: a VMA linked to its parent's anon_vma and its own does not
    take a neighbour's anon_vma-less range over."""
    parent_av, own = AnonVma(1), AnonVma(2)
    vs, _ = make()
    prev = link(vs, 0, 0x3000, 0)
    link_anon_vma(prev, parent_av)
    with_anon(prev, own)
    vma = link(vs, 0x3000, 0x5000, 3)
    assert merge_existing(vs, vma, prev, 0x3000, 0x5000, 3) is None


def test_split_and_modify() -> None:
    vs, slab = make()
    vma = link(vs, 0x1000, 0x9000, 1)
    got = vs.modify(vma, vma, 0x3000, 0x5000, FLAGS & ~VM_WRITE)
    assert isinstance(got, Vma)
    assert spans(vs) == [(0x1000, 0x3000, 1), (0x3000, 0x5000, 3), (0x5000, 0x9000, 5)]
    assert [v.vm_flags & VM_WRITE for v in vs] == [VM_WRITE, 0, VM_WRITE]
    # and back: the middle merges with both sides again
    prev = vs.prev_of(0x3000)
    assert vs.modify(got, prev, 0x3000, 0x5000, FLAGS) is prev
    assert spans(vs) == [(0x1000, 0x9000, 1)] and len(slab.live) == 1


def test_split_respects_max_map_count() -> None:
    vs, _ = make(max_count=2)
    vma = link(vs, 0x1000, 0x9000, 1)
    assert vs.modify(vma, vma, 0x3000, 0x5000, FLAGS & ~VM_WRITE) == -ENOMEM  # second split fails
    # munmap in the middle of a VMA at the limit: -ENOMEM before anything changes
    vs, _ = make(max_count=1)
    vma = link(vs, 0x1000, 0x9000, 1)
    assert vs.gather_munmap(0x3000, 0x5000) == -ENOMEM
    assert spans(vs) == [(0x1000, 0x9000, 1)]
    # unmapping a VMA's end needs no extra VMA: allowed at the limit
    detached = vs.gather_munmap(0x5000, 0x9000)
    assert isinstance(detached, list) and [(v.vm_start, v.vm_end) for v in detached] == [(0x5000, 0x9000)]
    assert spans(vs) == [(0x1000, 0x5000, 1)]


def test_gather_munmap_spans_several() -> None:
    vs, _ = make()
    link(vs, 0x1000, 0x4000, 1)
    link(vs, 0x5000, 0x6000, 5, FLAGS & ~VM_WRITE)
    link(vs, 0x7000, 0xa000, 7)
    detached = vs.gather_munmap(0x2000, 0x8000)
    assert isinstance(detached, list)
    assert [(v.vm_start, v.vm_end, v.vm_pgoff) for v in detached] == [
        (0x2000, 0x4000, 2), (0x5000, 0x6000, 5), (0x7000, 0x8000, 7)]
    assert spans(vs) == [(0x1000, 0x2000, 1), (0x8000, 0xa000, 8)]
