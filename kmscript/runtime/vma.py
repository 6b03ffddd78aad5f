"""VMAs: an address space's ordered set of vm_area_structs, with the kernel's merge and
split rules (mm/vma.c, Linux 6.18).

What it models
--------------
- ``Vma`` is a vm_area_struct: [vm_start, vm_end), vm_flags, vm_pgoff, vm_file, the
  anon_vma it allocates anonymous pages under and its anon_vma_chain (``avc``: every
  anon_vma it is linked to; after fork a child VMA is linked to its parent's anon_vma and
  its own).  Each one is an object of the ``vm_area_struct`` slab cache: ``VmaSet``
  allocates and frees it through the ``alloc``/``free`` callables it is given.
- ``VmaSet`` is an mm's VMA tree (the maple tree ``mm->mm_mt``) as two sorted lists, and
  ``map_count``.  Its operations are the kernel's:
  ``merge_new_range`` (vma_merge_new_range + vma_expand: a new range joins a compatible
  neighbour, or both), ``modify`` (vma_modify: vma_merge_existing_range, else split at the
  range edges), ``split`` (split_vma / __split_vma), ``gather_munmap``
  (vms_gather_munmap_vmas: split the edge VMAs and detach everything in the range).
- Mergeability (is_mergeable_vma, is_mergeable_anon_vma, can_vma_merge_before/after):
  equal flags ignoring VM_SOFTDIRTY, the same file, file offsets that continue, and
  compatible anon_vmas (equal, or one side without one and the other not cloned from a
  parent: vma_had_uncowed_parents).  VM_SPECIAL mappings never merge.

Invariants: VMAs never overlap and are sorted by vm_start; vm_start < vm_end, both page
aligned; ``map_count`` is the number of VMAs.

Simplifications: no maple-tree node allocation (vma_iter_prealloc never fails), no
mempolicy, userfaultfd context, anon_vma_name, uprobes or VMA locks; a VMA has no
vm_ops, so every VMA may be removed by a merge (can_merge_remove_vma).
"""

from __future__ import annotations

from bisect import bisect_right
from typing import Any, Callable, Iterator

from .limits import ENOMEM
from .mm_types import PAGE_SHIFT

# include/linux/mm.h: vm_flags
VM_READ = 0x1
VM_WRITE = 0x2
VM_EXEC = 0x4
VM_SHARED = 0x8
VM_MAYREAD = 0x10
VM_MAYWRITE = 0x20
VM_MAYEXEC = 0x40
VM_MAYSHARE = 0x80
VM_GROWSDOWN = 0x100
VM_PFNMAP = 0x400
VM_LOCKED = 0x2000
VM_IO = 0x4000
VM_DONTEXPAND = 0x40000
VM_ACCOUNT = 0x100000
VM_NORESERVE = 0x200000
VM_SOFTDIRTY = 0x8000000
VM_MIXEDMAP = 0x10000000
VM_SPECIAL = VM_IO | VM_DONTEXPAND | VM_PFNMAP | VM_MIXEDMAP


class AnonVma:
    """struct anon_vma: the reverse-map root anonymous pages point at (folio->mapping).

    ``vmas`` are the VMAs linked to it through their anon_vma_chain (the interval tree
    rmap_walk_anon walks), in every mm of a fork family.  ``oid`` is its id in the
    machine's rmap (pagecache.Rmap)."""

    __slots__ = ("oid", "vmas", "parent")

    def __init__(self, oid: int, parent: "AnonVma | None" = None) -> None:
        self.oid = oid
        self.vmas: list[Vma] = []
        self.parent = parent


class Vma:
    """struct vm_area_struct (see the module docstring)."""

    __slots__ = ("vm_start", "vm_end", "vm_flags", "vm_pgoff", "vm_file", "anon_vma", "avc", "addr", "name", "vm_mm")

    def __init__(self, start: int, end: int, flags: int, pgoff: int = 0, file: Any = None,
                 name: str = "") -> None:
        self.vm_start = start
        self.vm_end = end
        self.vm_flags = flags
        self.vm_pgoff = pgoff
        self.vm_file = file
        self.anon_vma: AnonVma | None = None
        self.avc: list[AnonVma] = []   # anon_vma_chain: every anon_vma this VMA is linked to
        self.addr = 0                  # the vm_area_struct object (slab address)
        self.name = name               # "[heap]", "[stack]" as /proc/PID/maps names them
        self.vm_mm: Any = None         # the mm the VMA belongs to

    @property
    def pages(self) -> int:
        """vma_pages()."""
        return (self.vm_end - self.vm_start) >> PAGE_SHIFT

    def pgoff_of(self, addr: int) -> int:
        """linear_page_index(): the file page an address of this VMA maps."""
        return self.vm_pgoff + ((addr - self.vm_start) >> PAGE_SHIFT)

    def __repr__(self) -> str:
        return f"Vma({self.vm_start:#x}-{self.vm_end:#x} flags={self.vm_flags:#x} pgoff={self.vm_pgoff:#x})"


def link_anon_vma(vma: Vma, av: AnonVma) -> None:
    """anon_vma_chain_link."""
    if av not in vma.avc:
        vma.avc.append(av)
        av.vmas.append(vma)


def unlink_anon_vmas(vma: Vma) -> None:
    """unlink_anon_vmas: drop every chain link of a VMA going away."""
    for av in vma.avc:
        if vma in av.vmas:
            av.vmas.remove(vma)
    vma.avc = []
    vma.anon_vma = None


def had_uncowed_parents(vma: Vma | None) -> bool:
    """vma_had_uncowed_parents: an anon_vma and more than one chain link (forked)."""
    return vma is not None and vma.anon_vma is not None and len(vma.avc) > 1


class MergeRequest:
    """struct vma_merge_struct: the range and the properties it should get."""

    __slots__ = ("start", "end", "flags", "pgoff", "file", "anon_vma", "middle", "prev", "next")

    def __init__(self, start: int, end: int, flags: int, pgoff: int, file: Any,
                 anon_vma: AnonVma | None = None, middle: Vma | None = None,
                 prev: Vma | None = None, next: Vma | None = None) -> None:
        self.start = start
        self.end = end
        self.flags = flags
        self.pgoff = pgoff
        self.file = file
        self.anon_vma = anon_vma
        self.middle = middle
        self.prev = prev
        self.next = next


def _mergeable_vma(vmg: MergeRequest, other: Vma) -> bool:
    """is_mergeable_vma."""
    return not ((other.vm_flags ^ vmg.flags) & ~VM_SOFTDIRTY) and other.vm_file is vmg.file


def _mergeable_anon_vma(vmg: MergeRequest, tgt: Vma) -> bool:
    """is_mergeable_anon_vma."""
    tgt_anon = tgt.anon_vma
    src_anon = vmg.anon_vma
    if tgt_anon is None and src_anon is not None:
        return not had_uncowed_parents(vmg.middle)
    if tgt_anon is not None and src_anon is None:
        return not had_uncowed_parents(tgt)
    return src_anon is tgt_anon


def can_merge_before(vmg: MergeRequest) -> bool:
    """can_vma_merge_before: the range goes in front of vmg.next."""
    nxt = vmg.next
    assert nxt is not None
    pglen = (vmg.end - vmg.start) >> PAGE_SHIFT
    return (_mergeable_vma(vmg, nxt) and _mergeable_anon_vma(vmg, nxt)
            and nxt.vm_pgoff == vmg.pgoff + pglen)


def can_merge_after(vmg: MergeRequest) -> bool:
    """can_vma_merge_after: the range goes after vmg.prev."""
    prev = vmg.prev
    assert prev is not None
    return (_mergeable_vma(vmg, prev) and _mergeable_anon_vma(vmg, prev)
            and prev.vm_pgoff + prev.pages == vmg.pgoff)


def can_merge_left(vmg: MergeRequest) -> bool:
    return vmg.prev is not None and vmg.prev.vm_end == vmg.start and can_merge_after(vmg)


def can_merge_right(vmg: MergeRequest, left: bool) -> bool:
    nxt = vmg.next
    if nxt is None or vmg.end != nxt.vm_start or not can_merge_before(vmg):
        return False
    if not left:
        return True
    prev = vmg.prev
    assert prev is not None
    return prev.anon_vma is None or nxt.anon_vma is None or prev.anon_vma is nxt.anon_vma


class VmaSet:
    """An mm's VMAs (see the module docstring).

    ``alloc()`` returns a vm_area_struct object address or None (vm_area_alloc /
    vm_area_dup failing: -ENOMEM); ``free(addr)`` frees one (vm_area_free).  ``max_count``
    reads vm.max_map_count at the time of the check."""

    def __init__(self, alloc: Callable[[], int | None], free: Callable[[int], None],
                 max_count: Callable[[], int], put_anon_vma: Callable[[AnonVma], None] | None = None) -> None:
        self._starts: list[int] = []
        self._vmas: list[Vma] = []
        self.alloc = alloc
        self.free = free
        self.max_count = max_count
        self.put_anon_vma = put_anon_vma  # an anon_vma lost its last VMA (anon_vma free)
        self.mm: Any = None  # the owning mm: every VMA made here gets it as vm_mm

    # -- the tree -----------------------------------------------------------------------------
    @property
    def map_count(self) -> int:
        return len(self._vmas)

    def __iter__(self) -> Iterator[Vma]:
        return iter(list(self._vmas))

    def __len__(self) -> int:
        return len(self._vmas)

    def find(self, addr: int) -> Vma | None:
        """find_vma: the first VMA with vm_end > addr."""
        i = bisect_right(self._starts, addr) - 1
        if i >= 0 and self._vmas[i].vm_end > addr:
            return self._vmas[i]
        i += 1
        return self._vmas[i] if i < len(self._vmas) else None

    def lookup(self, addr: int) -> Vma | None:
        """vma_lookup: the VMA containing addr."""
        i = bisect_right(self._starts, addr) - 1
        if i >= 0 and self._vmas[i].vm_end > addr:
            return self._vmas[i]
        return None

    def prev_of(self, addr: int) -> Vma | None:
        """The last VMA starting below addr (vma_prev from a gap or VMA at addr)."""
        i = bisect_right(self._starts, addr - 1) - 1
        return self._vmas[i] if i >= 0 else None

    def intersecting(self, start: int, end: int) -> list[Vma]:
        """find_vma_intersection over the whole range: the VMAs overlapping [start, end)."""
        i = max(0, bisect_right(self._starts, start) - 1)
        out = []
        vmas = self._vmas
        while i < len(vmas) and vmas[i].vm_start < end:
            if vmas[i].vm_end > start:
                out.append(vmas[i])
            i += 1
        return out

    def neighbours(self, start: int, end: int) -> tuple[Vma | None, Vma | None]:
        """(prev, next) around the gap [start, end): the VMAs ending at or before start and
        starting at or after end."""
        i = bisect_right(self._starts, start - 1) - 1
        prev = self._vmas[i] if i >= 0 else None
        if prev is not None and prev.vm_end > start:
            prev = None
        j = bisect_right(self._starts, end - 1)
        nxt = self._vmas[j] if j < len(self._vmas) else None
        return prev, nxt

    def _index(self, vma: Vma) -> int:
        i = bisect_right(self._starts, vma.vm_start) - 1
        assert i >= 0 and self._vmas[i] is vma, vma
        return i

    def insert(self, vma: Vma) -> None:
        """vma_iter_store_new + map_count++ (the caller allocated vma.addr)."""
        i = bisect_right(self._starts, vma.vm_start)
        self._starts.insert(i, vma.vm_start)
        self._vmas.insert(i, vma)

    def _remove(self, vma: Vma) -> None:
        i = self._index(vma)
        del self._starts[i]
        del self._vmas[i]

    def _set_range(self, vma: Vma, start: int, end: int, pgoff: int) -> None:
        """vma_set_range, keeping the sorted index right."""
        i = self._index(vma)
        vma.vm_start, vma.vm_end, vma.vm_pgoff = start, end, pgoff
        self._starts[i] = start

    def remove_vma(self, vma: Vma) -> None:
        """remove_vma / vm_area_free for a VMA leaving the tree."""
        chain = list(vma.avc)
        unlink_anon_vmas(vma)
        if self.put_anon_vma is not None:
            for av in chain:
                if not av.vmas:
                    self.put_anon_vma(av)
        self.free(vma.addr)

    # -- allocation ----------------------------------------------------------------------------
    def new_vma(self, start: int, end: int, flags: int, pgoff: int, file: Any, name: str = "") -> Vma | None:
        """vm_area_alloc + vma_set_range; None when the slab allocation fails."""
        addr = self.alloc()
        if addr is None:
            return None
        vma = Vma(start, end, flags, pgoff, file, name)
        vma.addr = addr
        vma.vm_mm = self.mm
        return vma

    # -- merging -------------------------------------------------------------------------------
    def _dup_anon_vma(self, dst: Vma, src: Vma) -> None:
        """dup_anon_vma: dst takes src's anon_vma when it has none."""
        if src.anon_vma is not None and dst.anon_vma is None:
            dst.anon_vma = src.anon_vma
            for av in src.avc:
                link_anon_vma(dst, av)

    def _commit_remove(self, target: Vma, victim: Vma) -> None:
        """vma_complete's remove: anon_vma_merge, map_count--, vm_area_free."""
        self._dup_anon_vma(target, victim)
        self._remove(victim)
        self.remove_vma(victim)

    def merge_new_range(self, vmg: MergeRequest, just_expand: bool = False) -> Vma | None:
        """vma_merge_new_range: expand prev and/or next over the new range [start, end).

        vmg.prev and vmg.next must be the neighbours of the (empty) range."""
        prev, nxt = vmg.prev, vmg.next
        if vmg.flags & VM_SPECIAL or (prev is None and nxt is None):
            return None
        left = can_merge_left(vmg)
        right = not just_expand and can_merge_right(vmg, left)
        target = None
        start, end, pgoff = vmg.start, vmg.end, vmg.pgoff
        if right:
            assert nxt is not None
            end = nxt.vm_end
            target = nxt
            pgoff = nxt.vm_pgoff - ((vmg.end - vmg.start) >> PAGE_SHIFT) if not left else pgoff
            start = vmg.start
        if left:
            assert prev is not None
            start = prev.vm_start
            target = prev
            pgoff = prev.vm_pgoff
        if target is None:
            return None
        # vma_expand: remove next when the target grows over it
        if nxt is not None and target is not nxt and end == nxt.vm_end:
            self._commit_remove(target, nxt)
        self._set_range(target, start, end, pgoff)
        return target

    def merge_existing_range(self, vmg: MergeRequest) -> Vma | None:
        """vma_merge_existing_range: [start, end) of vmg.middle gets vmg.flags; merge it
        into prev and/or next where the properties match.  vmg.prev is the VMA before the
        range (middle itself when the range starts inside middle)."""
        middle = vmg.middle
        assert middle is not None
        prev = vmg.prev
        start, end = vmg.start, vmg.end
        left_side = start == middle.vm_start
        right_side = end == middle.vm_end
        if vmg.flags & VM_SPECIAL or (not left_side and not right_side):
            return None
        merge_left = can_merge_left(vmg) if left_side else False
        nxt = None
        if right_side:
            i = self._index(middle)
            nxt = self._vmas[i + 1] if i + 1 < len(self._vmas) else None
            vmg.next = nxt
            merge_right = can_merge_right(vmg, merge_left)
        else:
            merge_right = False
        if not merge_left and not merge_right:
            return None
        remove_middle = left_side and right_side
        if merge_left and merge_right:
            assert prev is not None and nxt is not None
            self._dup_anon_vma(prev, nxt if nxt.anon_vma is not None else middle)
            new_end = nxt.vm_end
            self._commit_remove(prev, middle)
            self._commit_remove(prev, nxt)
            self._set_range(prev, prev.vm_start, new_end, prev.vm_pgoff)
            return prev
        if merge_left:
            assert prev is not None
            self._dup_anon_vma(prev, middle)
            if remove_middle:
                self._commit_remove(prev, middle)
            else:
                # __adjust_middle_start: middle keeps [end, vm_end)
                self._set_range(middle, end, middle.vm_end, middle.vm_pgoff + ((end - middle.vm_start) >> PAGE_SHIFT))
            self._set_range(prev, prev.vm_start, end, prev.vm_pgoff)
            return prev
        assert nxt is not None
        self._dup_anon_vma(nxt, middle)
        pglen = (end - start) >> PAGE_SHIFT
        if remove_middle:
            new_start, pgoff = middle.vm_start, nxt.vm_pgoff - pglen
            self._commit_remove(nxt, middle)
        else:
            # __adjust_next_start: middle shrinks to [vm_start, start)
            new_start, pgoff = start, nxt.vm_pgoff - pglen
            self._set_range(middle, middle.vm_start, start, middle.vm_pgoff)
        self._set_range(nxt, new_start, nxt.vm_end, pgoff)
        return nxt

    # -- splitting -----------------------------------------------------------------------------
    def split(self, vma: Vma, addr: int, new_below: bool, check_count: bool = True) -> int:
        """split_vma (check_count) / __split_vma: 0 or -ENOMEM.

        new_below: the new VMA is [vm_start, addr) and vma keeps the top; otherwise the new
        one is [addr, vm_end)."""
        assert vma.vm_start < addr < vma.vm_end
        if check_count and self.map_count >= self.max_count():
            return -ENOMEM
        new = self.new_vma(vma.vm_start, vma.vm_end, vma.vm_flags, vma.vm_pgoff, vma.vm_file, vma.name)
        if new is None:
            return -ENOMEM
        if new_below:
            new.vm_end = addr
        else:
            new.vm_start = addr
            new.vm_pgoff += (addr - vma.vm_start) >> PAGE_SHIFT
        # anon_vma_clone: the new VMA joins every anon_vma of the old one
        new.anon_vma = vma.anon_vma
        for av in vma.avc:
            link_anon_vma(new, av)
        if new_below:
            self._set_range(vma, addr, vma.vm_end, vma.vm_pgoff + ((addr - new.vm_start) >> PAGE_SHIFT))
        else:
            self._set_range(vma, vma.vm_start, addr, vma.vm_pgoff)
        self.insert(new)
        return 0

    def modify(self, vma: Vma, prev: Vma | None, start: int, end: int, flags: int) -> Vma | int:
        """vma_modify_flags: give [start, end) of vma the flags; returns the VMA that now
        covers the range, or -ENOMEM.  prev is the VMA before vma (vma itself when start is
        inside it)."""
        vmg = MergeRequest(start, end, flags, vma.pgoff_of(start), vma.vm_file, vma.anon_vma,
                           middle=vma, prev=prev)
        merged = self.merge_existing_range(vmg)
        if merged is not None:
            return merged
        if vma.vm_start < start:
            err = self.split(vma, start, True)
            if err:
                return err
        if vma.vm_end > end:
            err = self.split(vma, end, False)
            if err:
                return err
        vma.vm_flags = flags
        return vma

    # -- unmapping -----------------------------------------------------------------------------
    def gather_munmap(self, start: int, end: int) -> list[Vma] | int:
        """vms_gather_munmap_vmas: split the VMAs at the range edges and detach every VMA
        inside it (they leave the tree; the caller zaps and frees them).  -ENOMEM when
        splitting the first VMA in the middle would exceed vm.max_map_count."""
        first = self.find(start)
        if first is None or first.vm_start >= end:
            return []
        if start > first.vm_start:
            if end < first.vm_end and self.map_count >= self.max_count():
                return -ENOMEM
            err = self.split(first, start, True, check_count=False)
            if err:
                return err
        detached: list[Vma] = []
        for vma in self.intersecting(start, end):
            if vma.vm_end > end:
                err = self.split(vma, end, False, check_count=False)
                if err:
                    for v in detached:
                        self.insert(v)
                    return err
            self._remove(vma)
            detached.append(vma)
        return detached
