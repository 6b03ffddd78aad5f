"""kmalloc on top of SLUB, the slab views and the leak report (Linux 6.18).

What it models (include/linux/slab.h, mm/slab_common.c, mm/slub.c; linux-mm-facts.md 5, 11.3):

- The kmalloc caches created at boot by create_kmalloc_caches: types KMALLOC_NORMAL
  (``kmalloc-<sz>``), KMALLOC_RECLAIM (``kmalloc-rcl-``), KMALLOC_DMA (``dma-kmalloc-``) and
  KMALLOC_CGROUP (``kmalloc-cg-``), sizes 8..8k plus 96 and 192, aligned to the largest
  power-of-two divisor of their size; they are never merge targets (usersize = size).
- Size-to-class mapping (kmalloc_size_index for <= 192, fls(size-1) above), type by GFP
  (kmalloc_type: DMA, then RECLAIMABLE, then ACCOUNT), requests > 8192 served by the buddy
  allocator at get_order(size) with __GFP_COMP and counted in NR_SLAB_UNRECLAIMABLE_B,
  ZERO_SIZE_PTR for 0, kfree(NULL/ZERO_SIZE_PTR) as no-ops, kzalloc, kcalloc and
  kmalloc_array with size_mul overflow -> NULL, krealloc (__do_krealloc), ksize,
  kmalloc_size_roundup, kfree_rcu; the tracepoints kmalloc, kfree, kmem_cache_alloc and
  kmem_cache_free in include/trace/events/kmem.h format.
- Views: /proc/slabinfo 2.1, a per-cache slab dump, slabtop, and a kmemleak-like leak report
  grouped by allocation call site.

Invariants: every live kmalloc object is in ``SlabAllocator.live`` or ``large``; a large
kmalloc of order o holds exactly 4096 << o bytes of NR_SLAB_UNRECLAIMABLE_B.

Simplifications: CONFIG_RANDOM_KMALLOC_CACHES and kmem_buckets are not modeled (off on the
reference machine / private arrays); call_site (%pS) is the script's "file.kms:LINE";
pointers print unhashed (as with no_hash_pointers).
"""

from __future__ import annotations

import re
from typing import Any

from . import slab_geometry as g
from .bug_sites import (ALLOC_ORDER_TOO_LARGE, FREE_LARGE_KMALLOC_WARN, KSIZE_NOT_FOLIO_START, KSIZE_NOT_KMALLOC,
                        VIRT_TO_CACHE_WARN)
from . import gfp as _gfp
from .explain import DecisionLog
from .gfp import GFP_KERNEL, format_gfp
from .mm_types import MAX_PAGE_ORDER, OWNER_KERNEL, PAGE_SHIFT, PAGE_SIZE, PageAllocator
from .slab import SlabAllocator
from .slab_types import (GFP_SLAB_BUG_MASK, SLAB_CPU, SLAB_CPU_PARTIAL, SLAB_DEAD, SLAB_FULL, SLAB_NODE_PARTIAL,
                         SLAB_RCU_FREE, KmemCache)

# module-level aliases: double-underscore names would be mangled inside classes
_GFP_ACCOUNT = _gfp.__GFP_ACCOUNT
_GFP_COMP = _gfp.__GFP_COMP
_GFP_DMA = _gfp.__GFP_DMA
_GFP_NOWARN = _gfp.__GFP_NOWARN
_GFP_RECLAIMABLE = _gfp.__GFP_RECLAIMABLE
_GFP_ZERO = _gfp.__GFP_ZERO
_GFP_DIRECT_RECLAIM = _gfp.__GFP_DIRECT_RECLAIM


ZERO_SIZE_PTR = g.ZERO_SIZE_PTR
KMALLOC_MAX_CACHE_SIZE = g.KMALLOC_MAX_CACHE_SIZE
KMALLOC_MAX_SIZE = g.KMALLOC_MAX_SIZE
KMALLOC_NOT_NORMAL_BITS = _GFP_RECLAIMABLE | _GFP_DMA | _GFP_ACCOUNT
NUMA_NO_NODE = -1


def kmalloc_type(gfp: int) -> int:
    """include/linux/slab.h: kmalloc_type (CONFIG_ZONE_DMA, CONFIG_MEMCG, no random caches)."""
    return kmalloc_type_why(gfp)[0]


def kmalloc_type_why(gfp: int) -> tuple[int, str]:
    """kmalloc_type with the test that decided it, in the kernel's order (explain)."""
    if not gfp & KMALLOC_NOT_NORMAL_BITS:
        return g.KMALLOC_NORMAL, "KMALLOC_NORMAL: none of __GFP_DMA, __GFP_RECLAIMABLE, __GFP_ACCOUNT"
    if gfp & _GFP_DMA:
        return g.KMALLOC_DMA, "KMALLOC_DMA: __GFP_DMA"
    if gfp & _GFP_RECLAIMABLE:
        return g.KMALLOC_RECLAIM, "KMALLOC_RECLAIM: __GFP_RECLAIMABLE"
    return g.KMALLOC_CGROUP, "KMALLOC_CGROUP: __GFP_ACCOUNT"


_KMALLOC_TYPE_NAMES = {g.KMALLOC_NORMAL: "KMALLOC_NORMAL", g.KMALLOC_RECLAIM: "KMALLOC_RECLAIM",
                       g.KMALLOC_DMA: "KMALLOC_DMA", g.KMALLOC_CGROUP: "KMALLOC_CGROUP"}


def kmalloc_index_why(size: int, size_index: tuple[int, ...]) -> str:
    """How kmalloc_index chose the size class of *size* (explain)."""
    if size <= 192:
        return f"size_index[({size} - 1) / 8] = {g.kmalloc_index(size, size_index)}"
    return f"fls({size} - 1) = {g.kmalloc_index(size, size_index)}"


class Kmalloc:
    """kmalloc/kfree and friends; owns the kmalloc caches and the large allocations."""

    def __init__(self, slab: SlabAllocator, page_alloc: PageAllocator) -> None:
        self.slab = slab
        self.page_alloc = page_alloc
        self.arch = slab.arch
        self.page_offset = slab.arch.page_offset
        # KMALLOC_MIN_SIZE of the architecture: the classes and kmalloc_size_index
        self.size_index = g.kmalloc_size_index_table(slab.arch.kmalloc_min_size)
        self.caches: dict[int, dict[int, KmemCache]] = {}
        for t in (g.KMALLOC_NORMAL, g.KMALLOC_RECLAIM, g.KMALLOC_DMA, g.KMALLOC_CGROUP):
            row: dict[int, KmemCache] = {}
            for idx in g.kmalloc_indices(slab.arch.kmalloc_min_size):
                size = g.kmalloc_class_size(idx)
                s = slab.kmem_cache_create(g.kmalloc_cache_name(t, idx), size, g.kmalloc_cache_align(idx),
                                           g.KMALLOC_TYPE_FLAGS[t] | g.SLAB_KMALLOC, usersize=size,
                                           is_kmalloc=True)
                assert s is not None
                s.boot = True
                s.refcount = -1  # create_boot_cache: never a merge target
                row[idx] = s
            self.caches[t] = row
        # size -> cache lookup tables per type (index 0 unused: kmalloc(0) is ZERO_SIZE_PTR)
        self.by_size: dict[int, list[KmemCache]] = {}
        index = [3] + [g.kmalloc_index(size, self.size_index) for size in range(1, KMALLOC_MAX_CACHE_SIZE + 1)]
        for t, row in self.caches.items():
            self.by_size[t] = [row[i] for i in index]
        self.normal = self.by_size[g.KMALLOC_NORMAL]
        # large kmalloc: head address -> (order, caller, requested size); pfn -> head address
        self.large: dict[int, tuple[int, str, int]] = {}
        self.large_pfn: dict[int, int] = {}

    # ------------------------------------------------------------------ allocation
    def kmalloc_slab(self, size: int, gfp: int) -> KmemCache:
        return self.by_size[kmalloc_type(gfp)][size]

    def kmalloc_cache_for(self, size: int, gfp: int = GFP_KERNEL) -> KmemCache | None:
        """The cache kmalloc(size, gfp) would use (None above KMALLOC_MAX_CACHE_SIZE or for 0)."""
        if size == 0 or size > KMALLOC_MAX_CACHE_SIZE:
            return None
        return self.kmalloc_slab(size, gfp)

    def kmalloc_size_roundup(self, size: int) -> int:
        """mm/slab_common.c: kmalloc_size_roundup with this architecture's size classes."""
        return g.kmalloc_size_roundup(size, self.size_index)

    def kzalloc(self, size: int, gfp: int = GFP_KERNEL, caller: str = "kzalloc") -> int | None:
        """kzalloc(): kmalloc with __GFP_ZERO (include/linux/slab.h)."""
        return self.kmalloc(size, gfp | _GFP_ZERO, caller)

    def kmem_cache_zalloc(self, s: KmemCache, gfp: int = GFP_KERNEL, caller: str = "kmem_cache_zalloc") -> int | None:
        """kmem_cache_zalloc(): kmem_cache_alloc with __GFP_ZERO (include/linux/slab.h)."""
        return self.kmem_cache_alloc(s, gfp | _GFP_ZERO, caller)

    def kmalloc(self, size: int, gfp: int = GFP_KERNEL, caller: str = "kmalloc") -> int | None:
        """__do_kmalloc_node."""
        if size > KMALLOC_MAX_CACHE_SIZE:
            return self.kmalloc_large(size, gfp, caller)
        if size == 0:
            return ZERO_SIZE_PTR
        if gfp & KMALLOC_NOT_NORMAL_BITS:
            s = self.by_size[kmalloc_type(gfp)][size]
        else:
            s = self.normal[size]
        slab = self.slab
        c = s.cpu_slab[slab.ctx.cpu]
        fl = c.freelist
        if fl and not gfp & _GFP_ZERO and not slab.faults.active:
            # slab_alloc_node fast path, inlined: one object off this CPU's lockless freelist
            ctx = slab.ctx
            if gfp & _GFP_DIRECT_RECLAIM and (ctx.preempt_count or ctx.irqs_disabled_per_cpu[ctx.cpu]
                                              or ctx.rcu_nesting):
                # might_alloc's own test inlined: a caller that may sleep pays nothing more
                ctx.might_alloc(gfp, ("__kmalloc_noprof", caller))
            o = fl.pop()
            # LiveObjects: the record id in the object's slot of the cpu slab it came from
            live = slab.live
            rid = live.ids.get((caller, size)) or live.record_id(caller, size)
            sl = c.slab
            assert sl is not None
            sl.owners[(o - sl.first) // s.size] = rid
            if slab.kasan is not None:
                slab.kasan.slab_alloc(s, o, size, gfp, caller, True)  # slab_post_alloc_hook -> kasan_kmalloc
            obj: int | None = o
        else:
            if slab.tracer.explain.on:
                return self._kmalloc_explained(slab.tracer.explain, s, size, gfp, caller, None)
            obj = slab.slab_alloc(s, gfp, caller, size, True)
        if slab.tracer.enabled:
            if slab.tracer.explain.on:
                # (only the inlined fast path gets here while explaining: the other branch
                # returned) the fast path took the object: recorded as it decided
                return self._kmalloc_explained(slab.tracer.explain, s, size, gfp, caller, obj)
            self._trace_kmalloc(caller, obj, size, s.size, gfp)
        return obj

    def _kmalloc_explained(self, ex: DecisionLog, s: KmemCache, size: int, gfp: int, caller: str,
                           fast_obj: int | None) -> int | None:
        """kmalloc's record: the size class and type, then either the object the inlined
        fast path took (*fast_obj*: the cpu freelist hit) or the generic slab_alloc."""
        t, why_type = kmalloc_type_why(gfp)
        step = ex.begin("kmalloc", size=size, gfp=format_gfp(gfp))
        ex.note("kmalloc_slab", s.name, index=g.kmalloc_index(size, self.size_index),
                size_class=kmalloc_index_why(size, self.size_index), kmalloc_type=_KMALLOC_TYPE_NAMES[t], why=why_type, object_size=s.object_size, slot_size=s.size)
        obj = fast_obj
        try:
            if fast_obj is not None:
                c = s.cpu_slab[self.slab.ctx.cpu]
                ex.note("slab_alloc_node", f"fast path: cpu freelist hit, object {fast_obj:#x}", cache=s.name,
                        cpu=self.slab.ctx.cpu, freelist_left=len(c.freelist))
            else:
                obj = self.slab.slab_alloc(s, gfp, caller, size, True)
        finally:
            ex.end(step, "NULL" if obj is None else f"{obj:#x}")
        self._trace_kmalloc(caller, obj, size, s.size, gfp)
        return obj

    def _trace_kmalloc(self, caller: str, ptr: int | None, size: int, bytes_alloc: int, gfp: int) -> None:
        """The kmalloc tracepoint (include/trace/events/kmem.h: TRACE_EVENT(kmalloc))."""
        self.slab.tracer.emit("kmalloc", f"call_site={caller} ptr={_p(ptr, self.arch.ptr_digits)} bytes_req={size} "
                                         f"bytes_alloc={bytes_alloc} gfp_flags={format_gfp(gfp)} node={NUMA_NO_NODE} "
                                         f"accounted={'true' if gfp & _GFP_ACCOUNT else 'false'}")

    def kmalloc_large(self, size: int, gfp: int, caller: str) -> int | None:
        """___kmalloc_large_node: whole pages with _GFP_COMP, charged to SUnreclaim."""
        slab = self.slab
        order = g.get_order(size)
        ex = slab.tracer.explain
        step = None
        if ex.on:
            step = ex.begin("kmalloc", size=size, gfp=format_gfp(gfp))
            ex.note("kmalloc_large", f"size > KMALLOC_MAX_CACHE_SIZE ({KMALLOC_MAX_CACHE_SIZE}): whole pages, "
                    f"order {order} (get_order)", order=order)
        if gfp & GFP_SLAB_BUG_MASK:
            gfp = slab.kmalloc_fix_flags(gfp)
        ptr: int | None = None
        if order > MAX_PAGE_ORDER:
            # __alloc_frozen_pages_noprof: WARN_ON_ONCE_GFP(order > MAX_PAGE_ORDER, gfp)
            slab.ctx.might_alloc(gfp)
            if not gfp & _GFP_NOWARN and "order>MAX" not in slab.warned_once:
                slab.warned_once.add("order>MAX")
                lines = slab.warn_lines(ALLOC_ORDER_TOO_LARGE,
                                         frames=("alloc_pages_mpol", "___kmalloc_large_node", caller))
                slab.add_warn_taint()
                slab.log.printk("\n".join(lines), "warn")
        else:
            pfn = self.page_alloc.alloc_pages(gfp | _GFP_COMP, order, owner=OWNER_KERNEL, caller=caller)
            if pfn is not None:
                ptr = self.page_offset + (pfn << PAGE_SHIFT)
                self.large[ptr] = (order, caller, size)
                for p in range(pfn, pfn + (1 << order)):
                    self.large_pfn[p] = ptr
                slab.vmstat.nr_slab_unreclaimable_b += PAGE_SIZE << order
                if slab.kasan is not None:
                    slab.kasan.kmalloc_large(ptr, size, order, gfp, caller)  # __kasan_kmalloc_large
        if step is not None:
            ex.end(step, "NULL" if ptr is None else f"{ptr:#x}")
        if slab.tracer.enabled:
            self._trace_kmalloc(caller, ptr, size, PAGE_SIZE << order, gfp)
        return ptr

    def kmalloc_array(self, n: int, size: int, gfp: int = GFP_KERNEL, caller: str = "kmalloc_array") -> int | None:
        """include/linux/slab.h: kmalloc_array: check_mul_overflow -> NULL."""
        if n < 0 or size < 0:
            return None
        nbytes = n * size
        if nbytes > self.arch.ulong_max:   # check_mul_overflow on size_t
            return None
        return self.kmalloc(nbytes, gfp, caller)

    def kcalloc(self, n: int, size: int, gfp: int = GFP_KERNEL, caller: str = "kcalloc") -> int | None:
        return self.kmalloc_array(n, size, gfp | _GFP_ZERO, caller)

    def kmem_cache_alloc(self, s: KmemCache, gfp: int = GFP_KERNEL, caller: str = "kmem_cache_alloc") -> int | None:
        slab = self.slab
        ex = slab.tracer.explain
        if ex.on:
            step = ex.begin("kmem_cache_alloc", cache=s.name, gfp=format_gfp(gfp))
            obj = None
            try:
                obj = slab.slab_alloc(s, gfp, caller, s.object_size, False)
            finally:
                ex.end(step, "NULL" if obj is None else f"{obj:#x}")
        else:
            obj = slab.slab_alloc(s, gfp, caller, s.object_size, False)
        if slab.tracer.enabled:
            acc = bool(gfp & _GFP_ACCOUNT or s.flags & g.SLAB_ACCOUNT)
            slab.tracer.emit("kmem_cache_alloc",
                             f"call_site={caller} ptr={_p(obj, slab.arch.ptr_digits)} name={s.name} bytes_req={s.object_size} "
                             f"bytes_alloc={s.size} gfp_flags={format_gfp(gfp)} node={NUMA_NO_NODE} "
                             f"accounted={'true' if acc else 'false'}")
        return obj

    # ------------------------------------------------------------------ free
    def kfree(self, addr: int, caller: str = "kfree") -> None:
        slab = self.slab
        step = None
        if slab.tracer.enabled:
            slab.tracer.emit("kfree", f"call_site={caller} ptr={_p(addr, slab.arch.ptr_digits)}")
            if slab.tracer.explain.on:
                step = slab.tracer.explain.begin("kfree", ptr=_p(addr, slab.arch.ptr_digits))
        try:
            if addr <= ZERO_SIZE_PTR:
                if step is not None:
                    slab.tracer.explain.note("kfree", "NULL or ZERO_SIZE_PTR: nothing to free")
                return
            # fast path (do_slab_free): a live object in this CPU's cpu slab (debug caches have none)
            sl = slab.slab_by_pfn.get((addr - self.page_offset) >> PAGE_SHIFT)
            if sl is not None and slab.kasan is None:
                s = sl.cache
                c = s.cpu_slab[slab.ctx.cpu]
                if sl is c.slab:
                    # LiveObjects.release, inlined: only non-debug caches have a cpu slab, so
                    # there is no left red zone (addr >= first) and every stride has a slot
                    off = addr - sl.first
                    size = s.size
                    i = off // size
                    owners = sl.owners
                    if i * size == off and owners[i]:
                        owners[i] = 0
                        c.freelist.append(addr)
                        if step is not None:
                            slab.tracer.explain.note("do_slab_free", "fast path: onto this CPU's cpu slab freelist",
                                                     cache=s.name, cpu=slab.ctx.cpu, freelist=len(c.freelist))
                        return
            if slab.slab_free(addr, caller):
                return
            if not self._free_large(addr, caller):
                self._not_kmalloc(addr)
        finally:
            if step is not None:
                slab.tracer.explain.end(step)

    def kmem_cache_free(self, s: KmemCache, addr: int, caller: str = "kmem_cache_free") -> None:
        slab = self.slab
        real = slab.slab_of(addr)
        if real is None:
            # virt_to_cache: WARN_ONCE "Object is not a Slab page!"
            lines = slab.warn_lines(VIRT_TO_CACHE_WARN, "virt_to_cache: Object is not a Slab page!", frames=(caller,))
            slab.add_warn_taint()
            slab.log.printk("\n".join(lines), "warn")
            return
        if slab.tracer.enabled:
            slab.tracer.emit("kmem_cache_free", f"call_site={caller} ptr={_p(addr, slab.arch.ptr_digits)} name={real.cache.name}")
            ex = slab.tracer.explain
            if ex.on:
                step = ex.begin("kmem_cache_free", cache=s.name, ptr=_p(addr, slab.arch.ptr_digits))
                try:
                    slab.slab_free(addr, caller, expect=s, api="kmem_cache_free")
                finally:
                    ex.end(step)
                return
        slab.slab_free(addr, caller, expect=s, api="kmem_cache_free")

    def kfree_rcu(self, addr: int, caller: str = "kfree_rcu") -> None:
        """kvfree_rcu (mm/slab_common.c): slab objects and large kmallocs alike."""
        self.slab.kfree_rcu(addr, caller, self._free_large)

    def _free_large(self, addr: int, caller: str = "kfree_rcu") -> bool:
        """free_large_kmalloc: the whole folio goes back, whatever offset was passed
        (under KASAN, __kasan_kfree_large reports a pointer that is not the folio's start
        as an invalid free and the folio stays allocated)."""
        pfn = (addr - self.page_offset) >> PAGE_SHIFT
        head = self.large_pfn.get(pfn)
        if head is None:
            return False
        kasan = self.slab.kasan
        if kasan is not None and kasan.kfree_large(addr, head, self.large[head][0], caller):
            return True
        order, _caller, _size = self.large.pop(head)
        hpfn = (head - self.page_offset) >> PAGE_SHIFT
        for p in range(hpfn, hpfn + (1 << order)):
            del self.large_pfn[p]
        self.slab.vmstat.nr_slab_unreclaimable_b -= PAGE_SIZE << order
        if self.slab.tracer.explain.on:
            self.slab.tracer.explain.note("free_large_kmalloc", f"a large kmalloc: its order-{order} pages go back",
                                          order=order)
        self.page_alloc.free_pages(hpfn, order)
        return True

    def _not_kmalloc(self, addr: int) -> None:
        """free_large_kmalloc on a folio that is not a large kmalloc: WARN_ON_ONCE + dump_page."""
        slab = self.slab
        lines: list[str] = []
        if not self.page_offset <= addr < self.arch.direct_map_end:
            # virt_to_folio() of an address outside the direct map (a vmalloc pointer, say)
            # computes a struct page address in unmapped vmemmap: reading page->compound_head
            # (after the unsigned long flags: offset sizeof(long)) oopses.  The arithmetic is
            # unsigned long: it wraps at the architecture's word size.
            mask = self.arch.ulong_max
            page = self.arch.pfn_to_struct_page(((addr - self.page_offset) & mask) >> PAGE_SHIFT)
            bogus = (page + self.arch.pointer_size) & mask
            lines = [f"BUG: unable to handle page fault for address: {bogus:0{slab.arch.ptr_digits}x}",
                     "#PF: supervisor read access in kernel mode",
                     "#PF: error_code(0x0000) - not-present page",
                     f"Oops: Oops: 0000 [#1]{self.arch.oops_flags}",
                     slab.ctx.dump_stack_header(),
                     f"{self.arch.ip_line}kfree"]
            slab.ctx.add_taint("D")  # oops_end taints after the report
            slab.log.printk("\n".join(lines), "bug")
            return
        if "free_large_kmalloc" not in slab.warned_once:
            slab.warned_once.add("free_large_kmalloc")
            lines += slab.warn_lines(FREE_LARGE_KMALLOC_WARN)
            slab.add_warn_taint()
        pfn = (addr - self.page_offset) >> PAGE_SHIFT
        lines.append(f"page: refcount:1 mapcount:0 mapping:{0:0{self.arch.ptr_digits}x} index:0x0 pfn:0x{pfn:x}")
        lines.append(f"flags: 0x0(node=0|zone={0 if pfn < 4096 else 1 if pfn < (1 << 20) else 2})")
        lines.append(f"raw: {self.arch.pfn_to_struct_page(pfn):0{self.arch.ptr_digits}x}")
        lines.append("page dumped because: Not a kmalloc allocation")
        slab.log.printk("\n".join(lines), "warn")

    # ------------------------------------------------------------------ queries
    def ksize(self, addr: int, caller: str = "ksize") -> int:
        """ksize/__ksize/slab_ksize (6.18).  Under KASAN, ksize first checks the pointer with
        kasan_check_byte (a use-after-free is reported and ksize returns 0); it does not
        unpoison anything (the caller may only use what it asked for)."""
        if addr <= ZERO_SIZE_PTR:
            return 0
        kasan = self.slab.kasan
        if kasan is not None and not kasan.check_byte(addr, caller, "ksize"):
            return 0
        slab = self.slab.slab_of(addr)
        if slab is None:
            head = self.large_pfn.get((addr - self.page_offset) >> PAGE_SHIFT)
            if head is None or head != addr:
                # not a large kmalloc: an order-0 page fails the folio size check first
                lines = self.slab.warn_lines(KSIZE_NOT_KMALLOC if head is None else KSIZE_NOT_FOLIO_START)
                self.slab.add_warn_taint()
                self.slab.log.printk("\n".join(lines), "warn")
                return 0
            return PAGE_SIZE << self.large[head][0]
        s = slab.cache
        if s.keeps_orig_size:
            s.orig_size[addr] = s.object_size  # skip_orig_size_check: the caller may use it all
        if s.flags & (g.SLAB_RED_ZONE | g.SLAB_POISON | g.SLAB_KASAN):
            return s.object_size  # slab_ksize: SLAB_KASAN caches report object_size
        if s.flags & (g.SLAB_TYPESAFE_BY_RCU | g.SLAB_STORE_USER):
            return s.inuse
        return s.size

    def krealloc(self, addr: int, new_size: int, gfp: int = GFP_KERNEL, caller: str = "krealloc") -> int | None:
        """krealloc_node_align_noprof / __do_krealloc (6.18)."""
        slab = self.slab
        if new_size == 0:
            self.kfree(addr, caller)
            return ZERO_SIZE_PTR
        ks = 0
        orig_size = 0
        s: KmemCache | None = None
        kasan = slab.kasan
        # __do_krealloc: "Check for double-free before calling ksize" (kasan_check_byte)
        if addr > ZERO_SIZE_PTR and kasan is not None and not kasan.check_byte(addr, caller, "krealloc_noprof"):
            return None
        if addr > ZERO_SIZE_PTR:
            sl = slab.slab_of(addr)
            if sl is not None:
                s = sl.cache
                orig_size = s.orig_size.get(addr, s.object_size) if s.keeps_orig_size else s.object_size
                ks = s.object_size
            else:
                head = self.large_pfn.get((addr - self.page_offset) >> PAGE_SHIFT)
                if head is None:
                    self._not_kmalloc(addr)
                    return None
                ks = PAGE_SIZE << self.large[head][0]
            if new_size <= ks:
                phys = slab.phys
                if gfp & _GFP_ZERO and phys is not None:
                    if orig_size and orig_size < new_size:
                        phys.fill(addr - self.page_offset + orig_size, new_size - orig_size, 0)
                    else:
                        phys.fill(addr - self.page_offset + new_size, ks - new_size, 0)
                if s is not None and s.keeps_orig_size:
                    s.orig_size[addr] = new_size
                    if s.flags & g.SLAB_RED_ZONE and new_size < ks and phys is not None:
                        phys.fill(addr - self.page_offset + new_size, ks - new_size, 0xCC)
                rec = slab.live.get(addr)
                if rec is not None:
                    slab.live[addr] = (rec[0], new_size)
                if kasan is not None:
                    kasan.krealloc(addr, new_size, s, ks)  # kasan_krealloc: re-poison the tail
                return addr
        ret = self.kmalloc(new_size, gfp, caller)
        if ret and addr > ZERO_SIZE_PTR:
            n = orig_size or ks
            phys = slab.phys
            if phys is not None:
                phys.write(ret - self.page_offset, phys.read(addr - self.page_offset, n))
            self.kfree(addr, caller)
        return ret

    def mem_dump_obj(self, addr: int) -> str:
        """mm/util.c mem_dump_obj + mm/slab_common.c kmem_dump_obj: what the pointer points into
        (the text the kernel appends with pr_cont, without the caller's prefix)."""
        slab = self.slab
        sl = slab.slab_of(addr) if addr > ZERO_SIZE_PTR else None
        if sl is not None:
            s = sl.cache
            off = addr - sl.base
            idx = max(0, off - s.red_left_pad) // s.size if off >= s.red_left_pad else 0
            objp = sl.base + s.red_left_pad + min(idx, sl.objects - 1) * s.size
            text = f" slab {s.name} start {objp:0{slab.arch.ptr_digits}x} pointer offset {addr - objp} size {s.object_size}"
            tr = s.tracks.get(objp) if s.flags & g.SLAB_STORE_USER else None
            if tr and tr[0] is not None:
                text += f" allocated at {tr[0][0]}"
            return text
        if addr == 0:
            return " NULL pointer"
        if addr == ZERO_SIZE_PTR:
            return " zero-size pointer"
        if 0xFFFFC90000000000 <= addr < 0xFFFFE90000000000:
            return " vmalloc memory"
        if self.page_offset <= addr < self.arch.direct_map_end:
            return " non-slab/vmalloc memory"
        return " non-paged memory"


def _p(addr: int | None, digits: int) -> str:
    """``%p`` as the trace prints it unhashed (lib/vsprintf.c: pointer_string: 2 * sizeof(void *)
    zero-padded hex digits, no ``0x``; NULL prints as zeros, ptr_to_id)."""
    return f"{addr or 0:0{digits}x}"


# ====================================================================== views
def slabinfo(slab: SlabAllocator) -> str:
    """/proc/slabinfo (mm/slab_common.c: print_slabinfo_header, cache_show)."""
    lines = ["slabinfo - version: 2.1",
             "# name            <active_objs> <num_objs> <objsize> <objperslab> <pagesperslab> : tunables "
             "<limit> <batchcount> <sharedfactor> : slabdata <active_slabs> <num_slabs> <sharedavail>"]
    for s in slab.caches_visible():
        active, total, nslabs = slab.slabinfo_row(s)
        lines.append("%-17s %6d %6d %6d %4d %4d : tunables %4d %4d %4d : slabdata %6d %6d %6d"
                     % (s.name, active, total, s.size, s.objs_per_slab, 1 << s.order, 0, 0, 0,
                        nslabs, nslabs, 0))
    return "\n".join(lines)


def slab_detail(slab: SlabAllocator, s: KmemCache) -> str:
    """A cache's sysfs attributes, per-CPU slabs, partial lists and every object's state."""
    out = [f"cache {s.name}" + (f" (sysfs {s.sysfs_name}, aliases: {', '.join(s.alias_names)})"
                                 if s.alias_names else (f" (sysfs {s.sysfs_name})" if s.sysfs_name != s.name else "")),
           f"  object_size {s.object_size}  slab_size {s.size}  align {s.align}  order {s.order}  "
           f"objs_per_slab {s.objs_per_slab}",
           f"  min_partial {s.min_partial}  cpu_partial {s.cpu_partial}  cpu_partial_slabs {s.cpu_partial_slabs}  "
           f"flags {g.format_slab_flags(s.flags & ~g.OBJECT_POISON)}" + (f"  ctor {s.ctor}" if s.ctor else ""),
           f"  slabs {s.nr_slabs}  objects {s.objects}  total_objects {s.total_objects}  partial {s.partial}  "
           f"cpu_slabs {s.cpu_slabs}  live {s.live_objects()}"]

    groups: dict[str, list[str]] = {"full": [], "partial": [], "empty": []}
    code = {"allocated": "A", "free(cpu)": "c", "free": "."}
    for sl, on, states in slab_rows(slab, s):
        inuse = sum(1 for st in states if st not in ("free", "free(cpu)"))
        kind = "full" if inuse == sl.objects else "empty" if inuse == 0 else "partial"
        groups[kind] += [f"    slab pfn 0x{sl.pfn:x} @0x{sl.base:0{slab.arch.ptr_digits}x}  inuse {inuse}/{sl.objects}  on {on}",
                         "      [" + "".join(code.get(st, "?") for st in states) + "]"]
    for kind in ("full", "partial", "empty"):
        n = len(groups[kind]) // 2
        out.append(f"  {kind} slabs: {n}")
        out += groups[kind]
    out.append("  legend: A allocated, c free on the cpu freelist, . free, ? lost")
    return "\n".join(out)


def slab_rows(slab: SlabAllocator, s: KmemCache) -> list[tuple[Any, str, list[str]]]:
    """Every slab of a cache with the list it is on and each object's state (allocated,
    free(cpu), free, lost): cpu slabs and cpu partial lists by CPU, the node partial list,
    then the slabs on no list.  (`show slab` draws these as text or as a picture.)"""
    # The textbook draws a cache as three lists of slabs - full, partial, empty - by how
    # many objects are in use.  SLUB keeps no such lists (mm/slub.c, "Slab lists"): a slab
    # is the cpu slab of one CPU (frozen), on a cpu partial list, on the node partial
    # list, or - when full - on no list at all (only debug caches with SLAB_STORE_USER keep
    # a node full list: add_full()); each line says which.
    entries: list[tuple[Any, int, str]] = []
    for cpu, c in enumerate(s.cpu_slab):
        if c.slab is not None:
            entries.append((c.slab, len(c.freelist), f"cpu{cpu} slab (c->slab, frozen)"))
        for sl in reversed(c.partial):
            entries.append((sl, 0, f"cpu{cpu} partial list (c->partial)"))
    for sl in s.node_partial:
        entries.append((sl, 0, "node partial list (n->partial)"))
    where_names = {SLAB_FULL: "node full list (n->full, debug cache)",
                   SLAB_RCU_FREE: "no list: waiting for an RCU grace period to be freed",
                   SLAB_DEAD: "no list: failed consistency checks, never reused"}
    for sl in slab.iter_slabs(s):
        if sl.where not in (SLAB_CPU, SLAB_CPU_PARTIAL, SLAB_NODE_PARTIAL):
            entries.append((sl, 0, where_names.get(sl.where, "no list (SLUB does not track full slabs)")))

    return [(sl, on, [slab.object_state(s, sl, a) for a in sl.object_addrs()]) for sl, _cpu_free, on in entries]


def slabtop(slab: SlabAllocator, kmalloc: Kmalloc | None = None, limit: int = 20) -> str:
    """procps slabtop -o: summary and caches sorted by number of objects."""
    rows = []
    tot_objs = act_objs = tot_slabs = 0
    tot_size = act_size = 0.0
    active_caches = 0
    caches = slab.caches_visible()
    sizes = []
    for s in caches:
        active, total, nslabs = slab.slabinfo_row(s)
        tot_objs += total
        act_objs += active
        tot_slabs += nslabs
        tot_size += total * s.size / 1024
        act_size += active * s.size / 1024
        if total:
            active_caches += 1
        sizes.append(s.size)
        rows.append((total, active, s, nslabs))
    rows.sort(key=lambda r: (-r[0], r[2].name))

    def pct(a: float, b: float) -> str:
        return f"{(100.0 * a / b if b else 0.0):.1f}%"

    avg = (tot_size / tot_objs) if tot_objs else 0.0
    out = [f" Active / Total Objects (% used)    : {act_objs} / {tot_objs} ({pct(act_objs, tot_objs)})",
           f" Active / Total Slabs (% used)      : {tot_slabs} / {tot_slabs} ({pct(tot_slabs, tot_slabs)})",
           f" Active / Total Caches (% used)     : {active_caches} / {len(caches)} ({pct(active_caches, len(caches))})",
           f" Active / Total Size (% used)       : {act_size:.2f}K / {tot_size:.2f}K ({pct(act_size, tot_size)})",
           f" Minimum / Average / Maximum Object : {min(sizes) / 1024:.2f}K / {avg:.2f}K / "
           f"{max(sizes) / 1024:.2f}K",
           "",
           "  OBJS ACTIVE  USE OBJ SIZE  SLABS OBJ/SLAB CACHE SIZE NAME"]
    for total, active, s, nslabs in rows[:limit]:
        use = (100 * active // total) if total else 0
        cache_kb = (nslabs << s.order) * 4
        out.append(f"{total:6d} {active:6d} {use:3d}% {s.size / 1024:7.2f}K {nslabs:6d} {s.objs_per_slab:8d} "
                   f"{cache_kb:9d}K {s.name}")
    return "\n".join(out)


_SCRIPT_SITE = re.compile(r"^(.*):(\d+)$")


def _site_key(caller: str) -> tuple[str, int, str]:
    m = _SCRIPT_SITE.match(caller)
    return (m.group(1), int(m.group(2)), caller) if m else (caller, 0, caller)


def leak_report(slab: SlabAllocator, kmalloc: Kmalloc) -> str:
    """Live objects grouped by allocation call site, in kmemleak's words.

    Only objects allocated by script lines ("file.kms:LINE") are listed: objects the simulated
    kernel allocates for itself (a vmap_area for vmalloc, ...) are referenced by their owner,
    which kmemleak's scan would find, so they are not leaks.
    """
    groups: dict[str, list[tuple[int, int, str]]] = {}
    kasan = slab.kasan
    for addr, (caller, size) in slab.live.items():
        if not _SCRIPT_SITE.match(caller):
            continue
        if kasan is not None and kasan.is_quarantined(addr):
            continue  # freed (kmemleak_free ran in slab_free_hook), waiting in KASAN's quarantine
        sl = slab.slab_of(addr)
        name = sl.cache.name if sl is not None else "?"
        groups.setdefault(caller, []).append((addr, size, name))
    for addr, (order, caller, size) in kmalloc.large.items():
        if _SCRIPT_SITE.match(caller):
            groups.setdefault(caller, []).append((addr, size, f"large kmalloc order-{order}"))
    if not groups:
        return "kmemleak: 0 new suspected memory leaks"
    n = sum(len(v) for v in groups.values())
    nbytes = sum(sz for v in groups.values() for _a, sz, _n in v)
    out = [f"kmemleak: {n} new suspected memory leak{'s' if n != 1 else ''} ({nbytes} bytes) "
           f"from {len(groups)} call site{'s' if len(groups) != 1 else ''}"]
    for caller in sorted(groups, key=_site_key):
        objs = sorted(groups[caller])
        total = sum(sz for _a, sz, _n in objs)
        caches = sorted({nm for _a, _s, nm in objs})
        out.append(f"{caller}: {len(objs)} object{'s' if len(objs) != 1 else ''}, {total} bytes "
                   f"({', '.join(caches)})")
        for addr, size, _nm in objs:
            out.append(f"  unreferenced object 0x{addr:0{slab.arch.ptr_digits}x} (size {size}):")
            out.append(f"    backtrace: {caller}")
    return "\n".join(out)
