"""The vmalloc address space allocator: struct vmap_area, vmap nodes, lazy purge (mm/vmalloc.c).

What it models: the free ranges of ``[VMALLOC_START, VMALLOC_END]`` (the kernel's
augmented rb-tree free_vmap_area_root) searched lowest-first (find_vmap_lowest_match,
va_clip), the per-CPU vmap node pools of purged areas, alloc_vmap_area /
free_vmap_area_noflush, and the lazy purge (purge_vmap_area_lazy, decay_va_pool_node,
reclaim_and_purge_vmap_areas).  It also defines struct vm_struct and struct vmap_area
(include/linux/vmalloc.h) and the VM_* flags.  ``VmapAreaAllocator`` is the lower layer
of ``Vmalloc`` (vmalloc.py): it owns the vmalloc allocator's state.

Invariants: free ranges are disjoint, sorted, never adjacent (adjacent ones are merged),
and never overlap a busy, lazy or pooled area; busy + lazy + pooled + free == the space.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left, bisect_right, insort
from dataclasses import dataclass, field
from typing import Callable

from .bug_sites import ALLOC_VMAP_AREA_MIGHT_SLEEP
from .context import HARDIRQ_MASK, NMI_MASK, SOFTIRQ_MASK, ExecContext
from .arch import Arch
from .events import URGENT, EventQueue
from .gfp import GFP_RECLAIM_MASK, __GFP_NOWARN
from .limits import ENOENT, ERANGE
from .printk import KernelLog
from .trace import Tracer
from .vmstat import VmStat
from .mm_types import PAGE_SHIFT, PAGE_SIZE, PageAllocator

# Module-level aliases: a name starting with two underscores would be mangled inside a class.
GFP_NOWARN = __GFP_NOWARN



# include/linux/vmalloc.h
VM_IOREMAP = 0x00000001
VM_ALLOC = 0x00000002
VM_MAP = 0x00000004
VM_USERMAP = 0x00000008
VM_DMA_COHERENT = 0x00000010
VM_UNINITIALIZED = 0x00000020
VM_NO_GUARD = 0x00000040
VM_ALLOW_HUGE_VMAP = 0x00000400
VM_SPARSE = 0x00001000

# mm/vmalloc.c: vmap nodes and pools
MAX_VA_SIZE_PAGES = 256
VMAP_ZONE_SIZE = (1 << 4) * PAGE_SIZE  # "Node partition is 16 pages."
MAX_VMAP_NODES = 128


IRQ_MASKS = NMI_MASK | HARDIRQ_MASK | SOFTIRQ_MASK



def fls(x: int) -> int:
    return x.bit_length()


def lazy_max_pages(nr_online_cpus: int) -> int:
    """mm/vmalloc.c: lazy_max_pages(): fls(num_online_cpus()) * (32 MiB / PAGE_SIZE)."""
    return fls(nr_online_cpus) * ((32 << 20) // PAGE_SIZE)


KmallocFn = Callable[[int, int, "str | None"], "int | None"]
KfreeFn = Callable[[int], None]


class VmStruct:
    """struct vm_struct: one vmalloc/vmap area as /proc/vmallocinfo shows it."""

    KMS_TYPE = "vm_struct"
    KMS_ATTRS = frozenset({"addr", "size", "nr_pages", "caller", "flags", "pages_addr", "kaddr",
                           "requested_size", "phys_addr", "pfns", "page_order"})
    __slots__ = ("addr", "size", "flags", "pages", "page_order", "nr_pages", "phys_addr", "caller",
                 "requested_size", "kaddr", "pages_addr", "pages_vmalloced", "ptr_digits")

    def __init__(self, addr: int, size: int, flags: int, caller: str | None, requested_size: int,
                 ptr_digits: int) -> None:
        self.addr = addr
        self.ptr_digits = ptr_digits  # hex digits of a pointer (Arch.ptr_digits): 16, or 8 on i386
        self.size = size  # includes the guard page unless VM_NO_GUARD
        self.flags = flags
        self.pages: array[int] = array("q")  # pfns, one per PAGE_SIZE of the area
        self.page_order = 0
        self.nr_pages = 0
        self.phys_addr = 0
        self.caller = caller
        self.requested_size = requested_size
        self.kaddr = 0  # where the vm_struct itself lives (kmalloc-96), 0 if not kmalloc'ed
        self.pages_addr = 0  # where pages[] lives (kmalloc or vmalloc)
        self.pages_vmalloced = False

    @property
    def pfns(self) -> list[int]:
        """The page frame behind each page of the area, in virtual order."""
        return [p for p in self.pages if p >= 0]

    def get_vm_area_size(self) -> int:
        return self.size if self.flags & VM_NO_GUARD else self.size - PAGE_SIZE

    def __str__(self) -> str:
        d = self.ptr_digits
        return f"vm_struct 0x{self.addr:0{d}x}-0x{self.addr + self.size:0{d}x} size={self.size} pages={self.nr_pages}"


@dataclass(slots=True)
class VmapArea:
    """struct vmap_area: a range of the vmalloc space (busy, lazy or pooled)."""

    va_start: int
    va_end: int
    vm: VmStruct | None = None
    vn_id: int = 0  # encode_vn_id(): node index + 1 of the allocating CPU's node, 0 = none

    @property
    def size(self) -> int:
        return self.va_end - self.va_start


@dataclass
class VmapNode:
    """struct vmap_node: per-node pools of purged areas, keyed by size in pages."""

    pool: dict[int, list[VmapArea]] = field(default_factory=dict)  # index (pages-1) -> LIFO stack
    lazy: list[VmapArea] = field(default_factory=list)


class VmapAreaAllocator:
    """The vmap_area layer of one machine's vmalloc allocator (see vmalloc.py)."""

    def __init__(self, *, arch: Arch, page_alloc: PageAllocator, kmalloc: KmallocFn, kfree: KfreeFn,
                 ctx: ExecContext, log: KernelLog, tracer: Tracer, vmstat: VmStat, nr_cpus: int,
                 totalram_pages: Callable[[], int], owner_vmalloc: int, events: EventQueue,
                 warn_alloc: Callable[[int, str, tuple[str, ...]], None] | None = None,
                 va_cache: tuple[Callable[[int], int | None], Callable[[int], None]] | None = None) -> None:
        self.arch = arch
        # the vmalloc range of the architecture: [vmalloc_start, vmalloc_end]
        self.vmalloc_start = arch.vmalloc_start
        self.vmalloc_end = arch.vmalloc_end
        self.page_alloc = page_alloc
        self.events = events
        # the page allocator's warn_alloc (mm/page_alloc.c), which vmalloc's errors go
        # through and whose rate limit they share (None: no reports)
        self.warn_alloc_fn = warn_alloc
        self._kmalloc = kmalloc
        self._kfree = kfree
        self.ctx = ctx
        self.log = log
        self.tracer = tracer
        self.vmstat = vmstat
        self.totalram_pages = totalram_pages
        self.owner = owner_vmalloc
        # free ranges, sorted; _free_end[i] belongs to _free_start[i]
        self._free_start: list[int] = [arch.vmalloc_start]
        self._free_end: list[int] = [arch.vmalloc_end]
        # busy areas by start address, plus the sorted starts for address lookups
        self.busy: dict[int, VmapArea] = {}
        self._busy_starts: list[int] = []
        self.nodes = [VmapNode() for _ in range(max(1, min(nr_cpus, MAX_VMAP_NODES)))]
        # mm/vmalloc.c: DEFINE_PER_CPU(struct vfree_deferred): the llist of addresses that
        # vfree_atomic() handed to the CPU's delayed_vfree_work, most recent last
        self.vfree_deferred: list[list[int]] = [[] for _ in range(nr_cpus)]
        self.vmap_lazy_nr = 0
        self.nr_lazy_max = lazy_max_pages(nr_cpus)  # all CPUs are online
        self.nr_purges = 0
        self._last: VmapArea | None = None  # translate() cache
        self._warned: set[str] = set()  # WARN_ON_ONCE sites already reported
        # struct vmap_area objects from the "vmap_area" kmem cache: one per busy, lazy,
        # pooled or free range (the free tree's nodes are vmap_areas too)
        self._va_cache = va_cache
        self._va_objs: list[int] = []
        self._nr_lazy_areas = 0
        self._nr_pooled_areas = 0

    # -- the free-range set --------------------------------------------------------------
    def _free_insert(self, start: int, end: int) -> None:
        """merge_or_add_vmap_area(): give [start, end) back, merging with neighbours."""
        fs, fe = self._free_start, self._free_end
        i = bisect_left(fs, start)
        merge_prev = i > 0 and fe[i - 1] == start
        merge_next = i < len(fs) and fs[i] == end
        if merge_prev and merge_next:
            fe[i - 1] = fe[i]
            del fs[i], fe[i]
        elif merge_prev:
            fe[i - 1] = end
        elif merge_next:
            fs[i] = start
        else:
            fs.insert(i, start)
            fe.insert(i, end)

    def _find_lowest_match(self, size: int, align: int, vstart: int, vend: int) -> int:
        """__alloc_vmap_area(): lowest fitting address, carved out of the free set, or an error
        as an unsigned long of the architecture (the alloc_vmap_area trace event prints it as
        the va_start of a failed attempt)."""
        fs, fe = self._free_start, self._free_end
        adjust = align > PAGE_SIZE and (vend - vstart) != size
        length = size + align - 1 if adjust else size
        # first range that ends after vstart
        i = bisect_right(fe, vstart)
        n = len(fs)
        while i < n:
            s, e = fs[i], fe[i]
            if e - s >= length:
                nva = max(s, vstart)
                nva = (nva + align - 1) & ~(align - 1)
                if nva + size <= e:
                    if nva + size > vend:
                        return self.arch.err_addr(ERANGE)  # (unsigned long)-ERANGE: past vend
                    self._clip(i, nva, size)
                    return nva
            if s >= vend:
                break
            i += 1
        return self.arch.err_addr(ENOENT)  # (unsigned long)-ENOENT: nothing fits

    def _clip(self, i: int, nva: int, size: int) -> None:
        """va_clip(): remove [nva, nva+size) from free range i (FL/LE/RE/NE fit)."""
        fs, fe = self._free_start, self._free_end
        s, e = fs[i], fe[i]
        if s == nva and e == nva + size:
            del fs[i], fe[i]
        elif s == nva:
            fs[i] = nva + size
        elif e == nva + size:
            fe[i] = nva
        else:
            fe[i] = nva
            fs.insert(i + 1, nva + size)
            fe.insert(i + 1, e)

    def free_space(self) -> int:
        return sum(e - s for s, e in zip(self._free_start, self._free_end))

    # -- vmap nodes ----------------------------------------------------------------------
    @property
    def nr_vmap_nodes(self) -> int:
        """nr_vmap_nodes = clamp(num_possible_cpus(), 1, 128) (vmap_init_nodes)."""
        return len(self.nodes)

    def addr_to_node_id(self, addr: int) -> int:
        return (addr // VMAP_ZONE_SIZE) % len(self.nodes)

    def _node_alloc(self, size: int, align: int, vstart: int, vend: int) -> tuple[VmapArea | None, int]:
        """node_alloc(): the current CPU's pool for this exact size, default range only."""
        if vstart != self.vmalloc_start or vend != self.vmalloc_end or len(self.nodes) == 1:
            return None, 0
        node_id = self.ctx.cpu % len(self.nodes)
        vn_id = node_id + 1
        idx = size // PAGE_SIZE - 1
        if idx >= MAX_VA_SIZE_PAGES:
            return None, vn_id
        stack = self.nodes[node_id].pool.get(idx)
        if not stack:
            return None, vn_id
        va = stack[-1]  # the list head
        if va.va_start & (align - 1):
            # node_pool_del_va(): an unaligned head is rotated to the tail; the global
            # heap is tried instead
            stack.insert(0, stack.pop())
            return None, vn_id
        if va.va_start < vstart or va.va_end > vend:
            return None, vn_id
        stack.pop()
        self._nr_pooled_areas -= 1
        return va, vn_id

    # -- alloc_vmap_area / free ------------------------------------------------------------
    def alloc_vmap_area(self, size: int, align: int, vstart: int, vend: int, gfp: int,
                        vm: VmStruct | None) -> VmapArea | None:
        if size == 0 or size & (PAGE_SIZE - 1) or align & (align - 1):
            return None
        ctx = self.ctx
        if ctx.preempt_count or ctx.irqs_disabled_per_cpu[ctx.cpu] or ctx.rcu_nesting:  # might_sleep() fast check
            ctx.might_sleep(ALLOC_VMAP_AREA_MIGHT_SLEEP.location, ("alloc_vmap_area", "__get_vm_area_node"))
        purged = False
        va: VmapArea | None = None
        vn_id = 0
        while True:
            va, vn_id = self._node_alloc(size, align, vstart, vend)
            if va is not None:
                addr = va.va_start
            else:
                addr = self._find_lowest_match(size, align, vstart, vend)
            failed = self.arch.is_err_value(addr)
            if self.tracer.enabled:
                self.tracer.emit("alloc_vmap_area",
                                 f"va_start: {addr} size={size} align={align} vstart=0x{vstart:x} "
                                 f"vend=0x{vend:x} failed={int(failed)}")
                if self.tracer.explain.on:
                    self.tracer.explain.note(
                        "alloc_vmap_area", "no free range fits" if failed else
                        f"range {addr:#x}-{addr + size:#x}" + (f" from node {vn_id - 1}'s pool of {size // PAGE_SIZE}-page "
                                                               "areas" if va is not None else
                                                               " (the lowest free range that fits: find_vmap_lowest_match)"),
                        size=size, align=align, vstart=f"{vstart:#x}", vend=f"{vend:#x}",
                        **({"purged_first": True} if purged else {}))
            if not failed:
                break
            if not purged:
                self.reclaim_and_purge_vmap_areas()
                purged = True
                continue
            if not gfp & GFP_NOWARN:
                self.log.printk(f"vmalloc_node_range for size {size} failed: Address range restricted "
                                f"to 0x{vstart:x} - 0x{vend:x}", "warn")
            return None
        if va is None:
            va = VmapArea(addr, addr + size)
        va.vm = vm
        va.vn_id = vn_id
        self._insert_busy(va)
        self._sync_va_objs(gfp & GFP_RECLAIM_MASK)
        return va

    def _sync_va_objs(self, gfp: int) -> None:
        """Keep one vmap_area object per range node: allocate for splits and new busy
        areas, free the ones merged away (kmem_cache_alloc/free on vmap_area_cachep)."""
        cache = self._va_cache
        if cache is None:
            return
        want = len(self.busy) + len(self._free_start) + self._nr_lazy_areas + self._nr_pooled_areas
        objs = self._va_objs
        while len(objs) < want:
            obj = cache[0](gfp)
            if not obj:
                break  # the kernel would fail the request; the count catches up later
            objs.append(obj)
        while len(objs) > want:
            cache[1](objs.pop())

    def _insert_busy(self, va: VmapArea) -> None:
        self.busy[va.va_start] = va
        insort(self._busy_starts, va.va_start)

    def _remove_busy(self, va: VmapArea) -> None:
        del self.busy[va.va_start]
        starts = self._busy_starts
        del starts[bisect_left(starts, va.va_start)]
        if self._last is va:
            self._last = None

    def free_vmap_area_noflush(self, va: VmapArea) -> None:
        """Put a busy area on its node's lazy list; purge once over the threshold."""
        self._remove_busy(va)
        va.vm = None
        nr_lazy = self.vmap_lazy_nr = self.vmap_lazy_nr + (va.size >> PAGE_SHIFT)
        node = va.vn_id - 1 if va.vn_id else self.addr_to_node_id(va.va_start)
        self.nodes[node].lazy.append(va)
        self._nr_lazy_areas += 1
        nr_lazy_max = self.nr_lazy_max
        if self.tracer.enabled:
            self.tracer.emit("free_vmap_area_noflush",
                             f"va_start=0x{va.va_start:x} nr_lazy={nr_lazy} nr_lazy_max={nr_lazy_max}")
        if nr_lazy > nr_lazy_max:
            # schedule_work(&drain_vmap_work): the drain work runs from the event queue as
            # urgent work, before the vfree that crossed the threshold goes on (events.py)
            self.events.schedule(0, URGENT, "drain_vmap_work", self._drain_vmap_work, once=True)
            self.events.run_due(URGENT)

    def _drain_vmap_work(self) -> None:
        """drain_vmap_area_work(): purge the lazy areas."""
        self.purge_vmap_area_lazy(full_pool_decay=False)

    def _decay_pools(self, node: VmapNode, full: bool) -> list[VmapArea]:
        """decay_va_pool_node(): a quarter of each pool (all with full decay) goes global."""
        out: list[VmapArea] = []
        for idx in sorted(node.pool):
            stack = node.pool[idx]
            if not stack:
                continue
            n_decay = len(stack) if full else len(stack) >> 2
            # the kernel walks the list from its head, i.e. the most recently added first
            for _ in range(n_decay):
                out.append(stack.pop())
            self._nr_pooled_areas -= n_decay
        return out

    def purge_vmap_area_lazy(self, full_pool_decay: bool = False) -> int:
        """__purge_vmap_area_lazy(): returns the number of purged areas."""
        start, end = self.arch.ulong_max, 0
        decayed: list[VmapArea] = []
        purge: list[tuple[int, list[VmapArea]]] = []
        for i, node in enumerate(self.nodes):
            decayed.extend(self._decay_pools(node, full_pool_decay))
            if node.lazy:
                lazy = sorted(node.lazy, key=lambda v: v.va_start)
                node.lazy = []
                self._nr_lazy_areas -= len(lazy)
                start = min(start, lazy[0].va_start)
                end = max(end, lazy[-1].va_end)
                purge.append((i, lazy))
        for va in decayed:
            self._free_insert(va.va_start, va.va_end)
        nr_purged = 0
        for i, lazy in purge:
            node = self.nodes[i]
            for va in lazy:
                nr_purged += 1
                self.vmap_lazy_nr -= va.size >> PAGE_SHIFT
                idx = va.size // PAGE_SIZE - 1
                if va.vn_id and not full_pool_decay and idx < MAX_VA_SIZE_PAGES:
                    node.pool.setdefault(idx, []).append(va)  # node_pool_add_va: list_add (LIFO)
                    self._nr_pooled_areas += 1
                    continue
                self._free_insert(va.va_start, va.va_end)
        if nr_purged:
            self.nr_purges += 1
        self._sync_va_objs(0)
        if self.tracer.enabled:
            self.tracer.emit("purge_vmap_area_lazy",
                             f"start=0x{start:x} end=0x{end:x} num_purged={nr_purged}")
        return nr_purged

    def reclaim_and_purge_vmap_areas(self) -> int:
        return self.purge_vmap_area_lazy(full_pool_decay=True)
