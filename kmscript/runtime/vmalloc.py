"""vmalloc: virtually contiguous kernel memory built from scattered page frames.

What it models (Linux 6.18, mm/vmalloc.c, x86_64 4-level paging):

- **The vmalloc address space** ``[VMALLOC_START, VMALLOC_END]`` (32 TiB from
  0xffffc90000000000, arch/x86/include/asm/pgtable_64_types.h; no KASLR, so the base is
  fixed).  Free space is a set of disjoint ``[start, end)`` ranges kept sorted by address
  (the kernel keeps them in an augmented rb-tree, ``free_vmap_area_root``).
- **Address choice** (alloc_vmap_area): first the CPU's *vmap node pool* for that exact
  size (``nr_vmap_nodes = clamp(nr_cpus, 1, 128)`` nodes, one pool list per size of
  1..256 pages, LIFO, used only for the default range and only if the pooled address
  is aligned; pools are refilled only by purged areas), otherwise the **lowest-addressed**
  free range that holds ``size`` at ``align`` (find_vmap_lowest_match), carved from its
  aligned start (va_clip).  When nothing fits: purge the lazy areas and retry once, then
  ``vmalloc_node_range for size %lu failed: Address range restricted to ...``.
- **Areas**: ``size = PAGE_ALIGN(request) + PAGE_SIZE`` guard page unless VM_NO_GUARD;
  the guard is part of vm_struct->size and of the vmallocinfo size column.
- **Bookkeeping from the allocators below**: the ``struct vm_struct`` (72 bytes in 6.18:
  next/llnode, addr, size, flags, pages, page_order, nr_pages, phys_addr, caller,
  requested_size; include/linux/vmalloc.h) is kzalloc'ed from kmalloc-96; the
  ``pages[]`` array (8 bytes a page) is kmalloc'ed when it is <= PAGE_SIZE and
  vmalloc'ed (recursively, same caller) otherwise, which marks the parent ``vpages``.
- **Backing pages**: one order-0 page at a time from the buddy allocator with
  ``gfp | __GFP_HIGHMEM | __GFP_NOWARN`` (vm_area_alloc_pages) owned OWNER_VMALLOC; they
  are wherever the page allocator puts them, so consecutive virtual pages are in general
  not consecutive frames.  ``nr_vmalloc_pages`` (meminfo VmallocUsed) counts them.
- **Lazy freeing**: vfree frees the pages at once but the address range goes to the
  per-node *lazy* list and still occupies VA space (vmallocinfo ``unpurged vm_area``);
  ``vmap_lazy_nr`` counts its pages (guard included).  When it exceeds
  ``lazy_max_pages() = fls(num_online_cpus) * 8192`` the purge runs: one TLB flush over
  the union, then every lazy area returns to the pool of the node that allocated it
  (size <= 256 pages) or to the global free ranges, merging with its neighbours; each
  purge decays every pool by a quarter (decay_va_pool_node).  A failing allocation
  purges with full decay (reclaim_and_purge_vmap_areas).
- **pcpu_get_vm_areas**: per-cpu chunks take their areas top-down from the end of the
  space (highest free range that fits at the chunk alignment).
- **Failures** return None and print the kernel's warn_alloc line
  ``<comm>: vmalloc error: size %lu, <what>, mode:%#x(%pGg), nodemask=(null),cpuset=/,mems_allowed=0``.
- **Context rules**: ``__get_vm_area_node`` does ``BUG_ON(in_interrupt())`` (an oops in
  interrupt context is fatal: "Fatal exception in interrupt"), ``alloc_vmap_area`` calls
  ``might_sleep()``; vfree from interrupt context is deferred (vfree_atomic): the pages
  and the range are freed by a work item once the interrupt is over.
- **Trace events** (include/trace/events/vmalloc.h): alloc_vmap_area,
  free_vmap_area_noflush, purge_vmap_area_lazy, in their TP_printk formats.

Invariants:
- free ranges are disjoint, sorted, never adjacent (adjacent ones are merged), and never
  overlap a busy, lazy or pooled area; busy + lazy + pooled + free == the whole space.
- every busy VmapArea with a vm_struct from vmalloc has ``len(vm.pages) == nr_pages``
  frames, each owned by this vm area until vfree.

Simplifications relative to the kernel:
- The lowest-match search is exact over the free ranges; for ``align > PAGE_SIZE`` the
  kernel's tree walk only descends into subtrees whose largest block is at least
  ``size + align - 1``; we apply that filter to every range (the kernel may still pick a
  smaller range it happens to pass on the walk).
- struct vmap_area objects (vmap_area_cachep, 72 bytes) are kept one per busy, lazy,
  pooled or free range when an allocator for them is injected (``va_cache``); the machine
  does not inject one yet (the cache's boot-time slab page would shift every other
  area's golden page numbers), so slabinfo has no vmap_area line.  The per-CPU preloaded
  spare (ne_fit_preload_node) is not kept, and a failed vmap_area allocation does not
  fail the request.  Page-table pages for the vmalloc mappings are not modelled.
- The drain work that the kernel schedules when the lazy threshold is crossed runs
  synchronously, right after the vfree that crossed it.
- Addresses are printed unhashed (as root reads /proc/vmallocinfo with kptr_restrict=1);
  kernel-internal callers print the symbol+offset seen on the 6.18.44 reference machine
  where one was observed, otherwise the bare symbol name.
- Huge vmalloc (VM_ALLOW_HUGE_VMAP, used by kvmalloc and vmalloc_huge for >= 2 MiB):
  the order-9 blocks are kept and freed whole instead of being split_page()d into
  order-0 pages, so the page allocator shows them as order-9 blocks.
- vfree() in interrupt context is deferred (vfree_atomic) to a work item that runs when
  the CPU leaves interrupt context; vfree()'s own might_sleep() is not checked (its 6.18
  line number could not be established).
- WARN()/WARN_ON_ONCE() reports name the function but not the line
  (``at mm/vmalloc.c __vmalloc_node_range_noprof``): line numbers of the 6.18 source
  were only established for the two sites cited below.
- The kernel's bulk allocator (alloc_pages_bulk, up to 100 pages a call, pcp lists only)
  is replaced by single-page alloc_pages() calls, which take the same pcp pages.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left, bisect_right, insort
from dataclasses import dataclass, field
from typing import Callable, Protocol

from .context import HARDIRQ_MASK, NMI_MASK, SOFTIRQ_MASK, ExecContext
from .errors import KernelFault, KernelPanic
from .gfp import (
    GFP_DMA, GFP_DMA32, GFP_KERNEL, GFP_RECLAIM_MASK, __GFP_DIRECT_RECLAIM, __GFP_HIGHMEM,
    __GFP_NOFAIL, __GFP_NOWARN, __GFP_RETRY_MAYFAIL, __GFP_ZERO, format_gfp_pGg, gfp_zone,
)
from .printk import KernelLog
from .trace import Tracer
from .vmstat import VmStat

# Module-level aliases: a name starting with two underscores would be mangled inside a class.
GFP_DIRECT_RECLAIM = __GFP_DIRECT_RECLAIM
GFP_HIGHMEM = __GFP_HIGHMEM
GFP_NOFAIL = __GFP_NOFAIL
GFP_NOWARN = __GFP_NOWARN
GFP_RETRY_MAYFAIL = __GFP_RETRY_MAYFAIL
GFP_ZERO = __GFP_ZERO

PAGE_SHIFT = 12
PAGE_SIZE = 1 << PAGE_SHIFT
PMD_SHIFT = 21
PMD_SIZE = 1 << PMD_SHIFT

# arch/x86/include/asm/pgtable_64_types.h (4-level paging, no KASLR)
VMALLOC_START = 0xFFFFC90000000000
VMALLOC_SIZE_TB = 32
VMALLOC_END = VMALLOC_START + (VMALLOC_SIZE_TB << 40) - 1

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

# sizeof(struct vm_struct) on x86_64 6.18 (see module docstring) and of a struct page *.
SIZEOF_VM_STRUCT = 72
SIZEOF_PAGE_PTR = 8

# mm/vmalloc.c: vmap nodes and pools
MAX_VA_SIZE_PAGES = 256
VMAP_ZONE_SIZE = (1 << 4) * PAGE_SIZE  # "Node partition is 16 pages."
MAX_VMAP_NODES = 128

# Where might_sleep()/BUG_ON() expand.  mm/vmalloc.c line numbers are taken from hunk
# headers of patches against the 2025 mm tree (6.17/6.18 era): alloc_vmap_area's
# might_sleep() at line 2029 ("mm/vmalloc: support non-blocking GFP flags to
# alloc_vmap_area()", base blob 6dbcdceecae1), __get_vm_area_node's BUG_ON(in_interrupt())
# at line 3118 (derived from "mm: vmalloc: support more granular vrealloc() sizing").
ALLOC_VMAP_AREA_MIGHT_SLEEP = "mm/vmalloc.c:2029"
GET_VM_AREA_NODE_BUG = "mm/vmalloc.c:3118"

_IRQ_MASKS = NMI_MASK | HARDIRQ_MASK | SOFTIRQ_MASK

# -ENOENT as an unsigned long: what __alloc_vmap_area returns when nothing fits; the
# alloc_vmap_area trace event prints it as the va_start of a failed attempt.
_ENOENT_ADDR = (1 << 64) - 2
_ERANGE_ADDR = (1 << 64) - 34


def fls(x: int) -> int:
    return x.bit_length()


def lazy_max_pages(nr_online_cpus: int) -> int:
    """mm/vmalloc.c: lazy_max_pages(): fls(num_online_cpus()) * (32 MiB / PAGE_SIZE)."""
    return fls(nr_online_cpus) * ((32 << 20) // PAGE_SIZE)


def is_vmalloc_addr(addr: int) -> bool:
    return VMALLOC_START <= addr < VMALLOC_END


class PageAllocator(Protocol):
    def alloc_pages(self, gfp: int, order: int, *, owner: int = ..., caller: str | None = None) -> int | None: ...

    def free_pages(self, pfn: int, order: int) -> None: ...


KmallocFn = Callable[[int, int, "str | None"], "int | None"]
KfreeFn = Callable[[int], None]


class VmStruct:
    """struct vm_struct: one vmalloc/vmap area as /proc/vmallocinfo shows it."""

    KMS_TYPE = "vm_struct"
    KMS_ATTRS = frozenset({"addr", "size", "nr_pages", "caller", "flags", "pages_addr", "kaddr",
                           "requested_size", "phys_addr", "pfns", "page_order"})
    __slots__ = ("addr", "size", "flags", "pages", "page_order", "nr_pages", "phys_addr", "caller",
                 "requested_size", "kaddr", "pages_addr", "pages_vmalloced")

    def __init__(self, addr: int, size: int, flags: int, caller: str | None, requested_size: int) -> None:
        self.addr = addr
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
        return f"vm_struct 0x{self.addr:016x}-0x{self.addr + self.size:016x} size={self.size} pages={self.nr_pages}"


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


class Vmalloc:
    """The vmalloc allocator of one machine.  See the module docstring."""

    def __init__(self, *, page_alloc: PageAllocator, kmalloc: KmallocFn, kfree: KfreeFn,
                 ctx: ExecContext, log: KernelLog, tracer: Tracer, vmstat: VmStat, nr_cpus: int,
                 totalram_pages: Callable[[], int], owner_vmalloc: int,
                 va_cache: tuple[Callable[[int], int | None], Callable[[int], None]] | None = None) -> None:
        self.page_alloc = page_alloc
        self._kmalloc = kmalloc
        self._kfree = kfree
        self.ctx = ctx
        self.log = log
        self.tracer = tracer
        self.vmstat = vmstat
        self.nr_cpus = nr_cpus
        self.totalram_pages = totalram_pages
        self.owner = owner_vmalloc
        # free ranges, sorted; _free_end[i] belongs to _free_start[i]
        self._free_start: list[int] = [VMALLOC_START]
        self._free_end: list[int] = [VMALLOC_END]
        # busy areas by start address, plus the sorted starts for address lookups
        self.busy: dict[int, VmapArea] = {}
        self._busy_starts: list[int] = []
        self.nr_vmap_nodes = max(1, min(nr_cpus, MAX_VMAP_NODES))
        self.nodes = [VmapNode() for _ in range(self.nr_vmap_nodes)]
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
        """__alloc_vmap_area(): lowest fitting address, carved out of the free set."""
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
                        return _ERANGE_ADDR
                    self._clip(i, nva, size)
                    return nva
            if s >= vend:
                break
            i += 1
        return _ENOENT_ADDR

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
    def addr_to_node_id(self, addr: int) -> int:
        return (addr // VMAP_ZONE_SIZE) % self.nr_vmap_nodes

    def _node_alloc(self, size: int, align: int, vstart: int, vend: int) -> tuple[VmapArea | None, int]:
        """node_alloc(): the current CPU's pool for this exact size, default range only."""
        if vstart != VMALLOC_START or vend != VMALLOC_END or self.nr_vmap_nodes == 1:
            return None, 0
        node_id = self.ctx.cpu % self.nr_vmap_nodes
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
            ctx.might_sleep(ALLOC_VMAP_AREA_MIGHT_SLEEP)
        purged = False
        va: VmapArea | None = None
        vn_id = 0
        while True:
            va, vn_id = self._node_alloc(size, align, vstart, vend)
            if va is not None:
                addr = va.va_start
            else:
                addr = self._find_lowest_match(size, align, vstart, vend)
            failed = addr >= _ERANGE_ADDR
            if self.tracer.enabled:
                self.tracer.emit("alloc_vmap_area",
                                 f"va_start: {addr} size={size} align={align} vstart=0x{vstart:x} "
                                 f"vend=0x{vend:x} failed={int(failed)}")
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
            # schedule_work(&drain_vmap_work): run at once (see module docstring)
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
        start, end = (1 << 64) - 1, 0
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

    # -- get_vm_area / vmalloc --------------------------------------------------------------
    def _comm(self) -> str:
        return self.ctx.current.comm

    def warn_alloc(self, gfp: int, text: str, caller: str | None = None) -> None:
        """mm/page_alloc.c: warn_alloc() with a NULL nodemask and the root cpuset, then
        dump_stack() and the page allocator's show_mem() block (warn_alloc_show_mem)."""
        if gfp & GFP_NOWARN:
            return
        ctx = self.ctx
        task = ctx.current
        lines = [f"{task.comm}: {text}, mode:0x{gfp:x}({format_gfp_pGg(gfp)}), "
                 "nodemask=(null),cpuset=/,mems_allowed=0",
                 f"CPU: {ctx.cpu} UID: 0 PID: {task.pid} Comm: {task.comm} {ctx.print_tainted()}",
                 "Call Trace:", " <TASK>", " dump_stack_lvl", " warn_alloc", " __vmalloc_node_range_noprof",
                 " __vmalloc_node_noprof", f" {caller or 'vmalloc_noprof'}", " </TASK>"]
        show_mem = getattr(self.page_alloc, "show_mem_lines", None)
        if show_mem is not None:
            lines += show_mem(gfp_zone(gfp))
        self.log.printk("\n".join(lines), "alloc_fail")

    def _bug_in_interrupt(self, func: str) -> None:
        """BUG_ON(in_interrupt()): the Oops is in interrupt context, so oops_end() panics the
        machine ("Fatal exception in interrupt"; see ExecContext._after_report)."""
        task = self.ctx.current
        self.log.printk(f"kernel BUG at {GET_VM_AREA_NODE_BUG}!\n"
                        "Oops: invalid opcode: 0000 [#1] SMP NOPTI\n"
                        f"CPU: {self.ctx.cpu} UID: 0 PID: {task.pid} Comm: {task.comm} {self.ctx.print_tainted()}\n"
                        f"RIP: 0010:{func}", "bug")
        raise KernelPanic("Fatal exception in interrupt")  # not reached: oops_end() panicked

    def get_vm_area_node(self, size: int, align: int, flags: int, vstart: int, vend: int,
                         gfp: int, caller: str | None, shift: int = PAGE_SHIFT) -> VmStruct | None:
        """__get_vm_area_node(): a vm_struct from kmalloc and an address range."""
        if self.ctx.preempt_count & _IRQ_MASKS:  # in_interrupt()
            self._bug_in_interrupt("__get_vm_area_node")
        requested_size = size
        size = (size + (1 << shift) - 1) & ~((1 << shift) - 1)
        if size == 0:
            return None
        if flags & VM_IOREMAP:
            order = max(PAGE_SHIFT, min((size - 1).bit_length(), 7 + PAGE_SHIFT))
            align = 1 << order
        kaddr = self._kmalloc(SIZEOF_VM_STRUCT, (gfp & GFP_RECLAIM_MASK) | GFP_ZERO, "__get_vm_area_node")
        if not kaddr:
            return None
        if not flags & VM_NO_GUARD:
            size += PAGE_SIZE
        vm = VmStruct(0, size, flags, caller, requested_size)
        vm.kaddr = kaddr
        va = self.alloc_vmap_area(size, align, vstart, vend, gfp, vm)
        if va is None:
            self._kfree(kaddr)
            return None
        vm.addr = va.va_start
        return vm

    def vmalloc_node_range(self, size: int, align: int, vstart: int, vend: int, gfp: int,
                           vm_flags: int = 0, caller: str | None = None) -> int | None:
        """__vmalloc_node_range_noprof(): reserve, back with pages, map; None on failure."""
        if size <= 0:
            if size == 0:
                self._warn_once("__vmalloc_node_range_noprof", "size == 0")
            return None
        if size >> PAGE_SHIFT > self.totalram_pages():
            self.warn_alloc(gfp, f"vmalloc error: size {size}, exceeds total pages", caller)
            return None
        if align <= 0 or align & (align - 1):
            raise KernelFault(f"vmalloc: align {align} is not a power of two")
        real_align = align
        shift = PAGE_SHIFT
        if vm_flags & VM_ALLOW_HUGE_VMAP and size >= PMD_SIZE:
            # x86_64 has HAVE_ARCH_HUGE_VMALLOC and PMD mappings: try order-9 pages
            shift = PMD_SHIFT
            align = max(real_align, PMD_SIZE)
        while True:
            vm = self.get_vm_area_node(size, align, VM_ALLOC | VM_UNINITIALIZED | vm_flags, vstart, vend,
                                       gfp, caller, shift)
            if vm is None:
                nofail = gfp & GFP_NOFAIL
                self.warn_alloc(gfp, f"vmalloc error: size {size}, vm_struct allocation failed"
                                     f"{'. Retrying.' if nofail else ''}", caller)
                return None
            if self._vmalloc_area_node(vm, gfp, shift):
                break
            if shift == PAGE_SHIFT:
                return None
            shift, align = PAGE_SHIFT, real_align  # fall back to small pages in a new area
        vm.flags &= ~VM_UNINITIALIZED  # clear_vm_uninitialized_flag()
        return vm.addr

    def _vmalloc_area_node(self, vm: VmStruct, gfp: int, shift: int = PAGE_SHIFT) -> bool:
        """__vmalloc_area_node(): the pages[] array, then the pages one by one (or order-9
        blocks for a huge mapping)."""
        nr_small_pages = vm.get_vm_area_size() >> PAGE_SHIFT
        array_size = nr_small_pages * SIZEOF_PAGE_PTR
        nested_gfp = (gfp & GFP_RECLAIM_MASK) | GFP_ZERO
        if not gfp & (GFP_DMA | GFP_DMA32):
            gfp |= GFP_HIGHMEM
        if array_size > PAGE_SIZE:
            pages_addr = self.vmalloc_node_range(array_size, 1, VMALLOC_START, VMALLOC_END, nested_gfp,
                                                 0, vm.caller)
            vm.pages_vmalloced = True
        else:
            pages_addr = self._kmalloc(array_size, nested_gfp, "__vmalloc_area_node")
        if not pages_addr:
            self.warn_alloc(gfp, f"vmalloc error: size {nr_small_pages * PAGE_SIZE}, failed to allocated "
                                 f"page array size {array_size}", vm.caller)
            self._free_vm_area(vm)
            return False
        vm.pages_addr = pages_addr
        if shift != PAGE_SHIFT:
            return self._vmalloc_huge_pages(vm, gfp, shift, nr_small_pages)
        page_gfp = gfp | GFP_NOWARN
        alloc = self.page_alloc.alloc_pages
        owner = self.owner
        caller = vm.caller
        pages = vm.pages
        append = pages.append
        for _ in range(nr_small_pages):
            pfn = alloc(page_gfp, 0, owner=owner, caller=caller)
            if pfn is None:
                break
            append(pfn)
        vm.nr_pages = len(pages)
        self.vmstat.nr_vmalloc_pages += vm.nr_pages
        if vm.nr_pages != nr_small_pages:
            self.warn_alloc(gfp, f"vmalloc error: size {vm.nr_pages * PAGE_SIZE}, failed to allocate pages",
                            vm.caller)
            self.vfree(vm.addr)
            return False
        return True

    def _vmalloc_huge_pages(self, vm: VmStruct, gfp: int, shift: int, nr_small_pages: int) -> bool:
        """vm_area_alloc_pages() with order > 0: whole blocks, no warning when they run out
        (the caller retries with order-0 pages)."""
        order = shift - PAGE_SHIFT
        vm.page_order = order
        page_gfp = (gfp & ~GFP_NOFAIL) | GFP_NOWARN
        pages = vm.pages
        for _ in range(nr_small_pages >> order):
            pfn = self.page_alloc.alloc_pages(page_gfp, order, owner=self.owner, caller=vm.caller)
            if pfn is None:
                break
            pages.extend(range(pfn, pfn + (1 << order)))
        vm.nr_pages = len(pages)
        self.vmstat.nr_vmalloc_pages += vm.nr_pages
        if vm.nr_pages != nr_small_pages:
            self.vfree(vm.addr)
            return False
        return True

    def _free_vm_area(self, vm: VmStruct) -> None:
        """free_vm_area(): remove_vm_area() + kfree() for an area without pages."""
        va = self.busy.get(vm.addr)
        if va is not None and va.vm is vm:
            self.free_vmap_area_noflush(va)
        if vm.kaddr:
            self._kfree(vm.kaddr)

    def _warn_once(self, func: str, cond: str) -> None:
        key = f"{func}:{cond}"
        if key in self._warned:
            return
        self._warned.add(key)
        self.ctx.warn("mm/vmalloc.c", func)  # WARN_ON_ONCE() prints no condition text

    # -- public entry points (kernel names) ---------------------------------------------------
    def vmalloc(self, size: int, caller: str | None = None) -> int | None:
        return self.vmalloc_node_range(size, 1, VMALLOC_START, VMALLOC_END, GFP_KERNEL, 0, caller)

    def vzalloc(self, size: int, caller: str | None = None) -> int | None:
        return self.vmalloc_node_range(size, 1, VMALLOC_START, VMALLOC_END, GFP_KERNEL | GFP_ZERO, 0, caller)

    def vmalloc_32(self, size: int, caller: str | None = None) -> int | None:
        # GFP_VMALLOC32 = GFP_DMA32 | GFP_KERNEL on 64-bit
        return self.vmalloc_node_range(size, 1, VMALLOC_START, VMALLOC_END, GFP_DMA32 | GFP_KERNEL, 0, caller)

    def vmalloc_gfp(self, size: int, gfp: int, align: int = 1, caller: str | None = None) -> int | None:
        """__vmalloc_node(size, align, gfp): the general form."""
        return self.vmalloc_node_range(size, align, VMALLOC_START, VMALLOC_END, gfp, 0, caller)

    def find_vm_area(self, addr: int) -> VmStruct | None:
        va = self.busy.get(addr)
        return va.vm if va is not None else None

    def vfree(self, addr: int) -> None:
        """vfree(): unmap, lazily free the range, free the pages and the bookkeeping."""
        if not addr:
            return
        if self.ctx.preempt_count & _IRQ_MASKS:
            # vfree_atomic(): the free is queued and done by a work item after the interrupt
            self.ctx.queue_work(lambda: self.vfree(addr))
            return
        if addr & (PAGE_SIZE - 1):
            # remove_vm_area(): WARN(!PAGE_ALIGNED(addr), ...)
            self.ctx.warn("mm/vmalloc.c", "remove_vm_area", f"Trying to vfree() bad address ({addr:016x})")
            return
        # find_unlink_vmap_area() finds the busy area *containing* addr
        va = self.busy.get(addr) or self._area_of(addr)
        if va is None or va.vm is None:
            self.ctx.warn("mm/vmalloc.c", "vfree", f"Trying to vfree() nonexistent vm area ({addr:016x})")
            return
        vm = va.vm
        self.free_vmap_area_noflush(va)
        free = self.page_alloc.free_pages
        order = vm.page_order
        # only pages vmalloc allocated (nr_pages); a vmap()ed area's frames are not ours
        pages = vm.pages if len(vm.pages) == vm.nr_pages else vm.pages[:vm.nr_pages]
        for pfn in (pages if not order else pages[::1 << order]):
            free(pfn, order)
        self.vmstat.nr_vmalloc_pages -= vm.nr_pages
        if vm.pages_addr:
            if vm.pages_vmalloced:
                self.vfree(vm.pages_addr)
            else:
                self._kfree(vm.pages_addr)
        if vm.kaddr:
            self._kfree(vm.kaddr)
        vm.pages = array("q")
        vm.nr_pages = 0

    # -- vmap() of existing pages (IRQ stacks) and pcpu areas ----------------------------------
    def vmap_area(self, nr_pages: int, flags: int, caller: str | None, gfp: int = GFP_KERNEL) -> VmStruct | None:
        """vmap(): map pages that already exist; only the VA and the vm_struct are new."""
        vm = self.get_vm_area_node(nr_pages * PAGE_SIZE, 1, flags, VMALLOC_START, VMALLOC_END, gfp, caller)
        return vm

    def vmap(self, pfns: list[int], flags: int = VM_MAP, caller: str | None = None) -> int | None:
        """vmap(pages, count, VM_MAP, PAGE_KERNEL): map existing pages contiguously.  The
        pages stay owned by whoever allocated them; vm_struct->pages is not set (no
        VM_MAP_PUT_PAGES), so vmallocinfo shows no pages= for the area."""
        if not pfns:
            return None
        vm = self.get_vm_area_node(len(pfns) * PAGE_SIZE, 1, flags, VMALLOC_START, VMALLOC_END, GFP_KERNEL,
                                   caller)
        if vm is None:
            return None
        vm.pages = array("q", pfns)  # the page-table entries; nr_pages stays 0
        return vm.addr

    def vunmap(self, addr: int) -> None:
        """vunmap(): remove the mapping (lazily, like vfree) but leave the pages alone."""
        if self.ctx.preempt_count & _IRQ_MASKS:
            self._bug_in_interrupt("vunmap")
        if not addr:
            return
        va = self.busy.get(addr)
        if va is None or va.vm is None:
            self.ctx.warn("mm/vmalloc.c", "vunmap", f"Trying to vunmap() nonexistent vm area ({addr:016x})")
            return
        vm = va.vm
        self.free_vmap_area_noflush(va)
        if vm.kaddr:
            self._kfree(vm.kaddr)
        vm.pages = array("q")

    def pcpu_get_vm_areas(self, size: int, align: int, caller: str = "pcpu_get_vm_areas") -> VmStruct | None:
        """One congruent area for a per-cpu chunk, taken top-down (single group)."""
        vm_end = VMALLOC_END & ~(align - 1)
        vstart = (VMALLOC_START + align - 1) & ~(align - 1)
        fs, fe = self._free_start, self._free_end
        for purged in (False, True):
            for i in range(len(fs) - 1, -1, -1):
                top = min(fe[i], vm_end) & ~(align - 1)
                base = top - size
                if base >= fs[i] and base >= vstart:
                    self._clip(i, base, size)
                    kaddr = self._kmalloc(SIZEOF_VM_STRUCT, GFP_KERNEL | GFP_ZERO, "pcpu_get_vm_areas")
                    vm = VmStruct(base, size, VM_ALLOC | VM_NO_GUARD, caller, size)
                    vm.kaddr = kaddr or 0
                    self._insert_busy(VmapArea(base, base + size, vm))
                    self._sync_va_objs(GFP_KERNEL)
                    return vm
            if not purged:
                self.reclaim_and_purge_vmap_areas()
        return None

    def pcpu_free_vm_areas(self, vm: VmStruct) -> None:
        """pcpu_free_vm_areas(): free_vm_area() of a chunk's area (lazily, as the kernel)."""
        self._free_vm_area(vm)

    # -- lookups -----------------------------------------------------------------------------
    def _area_of(self, vaddr: int) -> VmapArea | None:
        last = self._last
        if last is not None and last.va_start <= vaddr < last.va_end:
            return last
        starts = self._busy_starts
        i = bisect_right(starts, vaddr) - 1
        if i < 0:
            return None
        va = self.busy[starts[i]]
        if vaddr >= va.va_end:
            return None
        self._last = va
        return va

    def vmalloc_to_pfn(self, vaddr: int) -> int | None:
        """vmalloc_to_page() as a pfn; None for unmapped addresses (guard pages, holes)."""
        va = self._area_of(vaddr)
        if va is None or va.vm is None:
            return None
        idx = (vaddr - va.va_start) >> PAGE_SHIFT
        pages = va.vm.pages
        if idx >= len(pages):
            return None
        pfn = pages[idx]
        return pfn if pfn >= 0 else None  # -1: an unpopulated page of a per-cpu chunk

    def translate(self, vaddr: int) -> int | None:
        """Physical address behind a vmalloc address (page-table walk); None if unmapped."""
        pfn = self.vmalloc_to_pfn(vaddr)
        if pfn is None:
            return None
        return (pfn << PAGE_SHIFT) | (vaddr & (PAGE_SIZE - 1))

    def area_containing(self, vaddr: int) -> VmStruct | None:
        va = self._area_of(vaddr)
        return va.vm if va is not None else None

    # -- /proc ---------------------------------------------------------------------------------
    def vmallocinfo(self) -> str:
        """/proc/vmallocinfo (mm/vmalloc.c: vmalloc_info_show, show_purge_info)."""
        lines: list[str] = []
        by_node: list[list[VmapArea]] = [[] for _ in range(self.nr_vmap_nodes)]
        for start in self._busy_starts:
            va = self.busy[start]
            by_node[self.addr_to_node_id(start)].append(va)
        for node_list in by_node:
            for va in node_list:
                vm = va.vm
                if vm is None:
                    continue
                s = f"0x{vm.addr:016x}-0x{vm.addr + vm.size:016x} {vm.size:7d}"
                if vm.caller:
                    s += f" {vm.caller}"
                if vm.nr_pages:
                    s += f" pages={vm.nr_pages}"
                if vm.phys_addr:
                    s += f" phys=0x{vm.phys_addr:016x}"
                if vm.flags & VM_IOREMAP:
                    s += " ioremap"
                if vm.flags & VM_SPARSE:
                    s += " sparse"
                if vm.flags & VM_ALLOC:
                    s += " vmalloc"
                if vm.flags & VM_MAP:
                    s += " vmap"
                if vm.flags & VM_USERMAP:
                    s += " user"
                if vm.flags & VM_DMA_COHERENT:
                    s += " dma-coherent"
                if vm.pages_vmalloced:
                    s += " vpages"
                if vm.nr_pages:
                    s += f" N0={vm.nr_pages}"  # show_numa_info: one node
                lines.append(s)
        for node in self.nodes:
            for va in sorted(node.lazy, key=lambda v: v.va_start):
                lines.append(f"0x{va.va_start:016x}-0x{va.va_end:016x} {va.size:7d} unpurged vm_area")
        return "\n".join(lines) + ("\n" if lines else "")

    def vmalloc_used_kb(self) -> int:
        return int(self.vmstat.nr_vmalloc_pages) * (PAGE_SIZE // 1024)

    @staticmethod
    def vmalloc_total_kb() -> int:
        return (VMALLOC_END - VMALLOC_START) >> 10

    # -- kvmalloc (mm/util.c: kvmalloc_node_align_noprof) ---------------------------------------
    def kvmalloc(self, size: int, gfp: int, caller: str | None = None) -> int | None:
        kgfp = gfp
        if size > PAGE_SIZE:
            # kmalloc_gfp_adjust(): try a contiguous block without disrupting the system
            kgfp |= GFP_NOWARN
            if not kgfp & GFP_RETRY_MAYFAIL:
                kgfp &= ~GFP_DIRECT_RECLAIM
            kgfp &= ~GFP_NOFAIL
        ret = self._kmalloc(size, kgfp, caller)
        if ret or size <= PAGE_SIZE:
            return ret or None
        if not gfp & GFP_DIRECT_RECLAIM:
            return None  # non-sleeping allocations are not supported by vmalloc
        if size > 0x7FFFFFFF:
            if not gfp & GFP_NOWARN:
                self._warn_once("kvmalloc_node_align_noprof", "size > INT_MAX")
            return None
        # "kvmalloc() can always use VM_ALLOW_HUGE_VMAP" (mm/util.c)
        return self.vmalloc_node_range(size, 1, VMALLOC_START, VMALLOC_END, gfp, VM_ALLOW_HUGE_VMAP, caller)

    def vmalloc_huge(self, size: int, gfp: int, caller: str | None = None) -> int | None:
        """vmalloc_huge(): PMD-sized pages when size >= 2 MiB, else (or on failure) small ones."""
        return self.vmalloc_node_range(size, 1, VMALLOC_START, VMALLOC_END, gfp, VM_ALLOW_HUGE_VMAP, caller)

    def kvfree(self, addr: int) -> None:
        if is_vmalloc_addr(addr):
            self.vfree(addr)
        else:
            self._kfree(addr)
