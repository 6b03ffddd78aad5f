"""SLUB: slab caches, per-CPU slabs and partial lists, merging, debugging (Linux 6.18).

The allocator is a stack of layers, one file each: slab_types.py (struct slab,
kmem_cache_cpu, kmem_cache and its sysfs attributes) -> slab_common.py (registry,
creation, merging, slab_debug=) -> slub_debug.py (debug layout, checks, reports) ->
this file (slab pages, the allocation and free paths, RCU, shrink and destroy).

What it models (mm/slub.c, mm/slab_common.c; linux-mm-facts.md section 6):

- A cache (``KmemCache``) has the kernel's geometry (slab_geometry.py), one
  ``kmem_cache_cpu`` per CPU (the active "frozen" cpu slab with its lockless freelist, and
  the cpu partial list) and one node (a single NUMA node): the node partial list and, for
  debug caches with SLAB_STORE_USER, the full list.
- Allocation order as ___slab_alloc: cpu freelist; the cpu slab's own freelist (remote
  frees); the cpu partial list; the node partial list (first slab becomes the cpu slab, up to
  cpu_partial_slabs/2 + 1 more go to the cpu partial list); a new slab from the buddy
  allocator at ``oo`` with __GFP_NOWARN|__GFP_NORETRY, falling back to ``min``.
- Free as do_slab_free/__slab_free: to the current CPU's cpu slab -> its freelist (LIFO);
  to a full slab -> the freeing CPU's partial list (draining the list to the node when it
  holds cpu_partial_slabs slabs); an empty node-partial slab is discarded when
  nr_partial >= min_partial.
- Debug caches (SLAB_CONSISTENCY_CHECKS/RED_ZONE/POISON/STORE_USER, or slub_debug=) take
  the kernel's debug path: no cpu slabs, one object at a time from the node lists, red
  zones / poison / padding in the object bytes (machine.phys) with the kernel's byte
  values, and the kernel's reports (slab_err/object_err/check_bytes_and_report/slab_fix).
- Merging (find_mergeable), sysfs unique ids, aliases, kmem_cache_destroy with live
  objects, kmem_cache_shrink, RCU-deferred slab freeing (SLAB_TYPESAFE_BY_RCU) and
  kfree_rcu grace periods (synchronize_rcu / rcu_barrier).

Invariants (checked by tests/runtime/test_slab_*.py):
- every slab page is registered in ``slab_by_pfn``; a slab's pages come from one
  alloc_pages(order) and go back with one free_pages(order);
- per cache: sum of slab.objects == total_objects; live objects + free objects == total;
- nr_slab_(un)reclaimable_b == bytes of slab pages (+ large kmalloc pages) held.

Simplifications relative to the kernel:
- The freelist is a Python list per slab / per CPU (end of the list = head).  For debug
  caches the free pointer is also written into the object bytes (not obfuscated: the
  CONFIG_SLAB_FREELIST_HARDENED xor is not modeled) so that "Freepointer corrupt" and
  "Freechain corrupt" can be detected; non-debug caches keep no free pointer in memory.
- CONFIG_SLAB_FREELIST_RANDOM shuffling is not modeled: a fresh slab hands out objects in
  address order (the reference machine shuffles them).
- Sheaves (6.18 per-CPU object arrays for caches created with sheaf_capacity) are not
  modeled; no cache here is created with them.
- One NUMA node.  struct track is kept in a Python dict (the bytes reserved for it in the
  object are not written); the allocation "stack" is the caller string.
- Double frees and invalid pointers in caches without SLAB_CONSISTENCY_CHECKS corrupt a
  real kernel's freelist silently (except the naive head check); here they are refused with
  a clearly marked kmscript note so the simulation stays consistent.
- WARN reports print the function name where the kernel prints file:line+offset.
- Taint (B, W) is tracked here for the SLUB report banners.
"""

from __future__ import annotations

__all__ = ["SLAB_FLAGS", "KmemCache", "Slab", "SlabAllocator", "parse_slub_debug"]

from collections import deque
from typing import Callable

from . import slab_geometry as g
from .bug_sites import CACHE_FROM_OBJ_WARN, KMEM_CACHE_DESTROY_BUSY, NEW_SLAB_CTOR_ZERO, SET_FREEPOINTER_BUG
from .errors import KernelFault
from . import gfp as _gfp
from .gfp import format_gfp
from .mm_types import OWNER_SLAB, PAGE_SHIFT, PAGE_SIZE
from .slab_geometry import (SLAB_CONSISTENCY_CHECKS, SLAB_FLAGS, SLAB_RECLAIM_ACCOUNT, SLAB_STORE_USER,
                            SLAB_TYPESAFE_BY_RCU)
from .slab_types import (SLUB_RED_INACTIVE, SLUB_RED_ACTIVE, SHRINK_PROMOTE_MAX, GFP_SLAB_BUG_MASK,
                         SLAB_NOLIST, SLAB_NODE_PARTIAL, SLAB_CPU_PARTIAL, SLAB_CPU, SLAB_RCU_FREE,
                         SLAB_DEAD, Slab, KmemCacheCpu, KmemCache)
from .slab_common import parse_slub_debug
from .slub_debug import SlubDebug

# module-level aliases: double-underscore names would be mangled inside classes
_GFP_DIRECT_RECLAIM = _gfp.__GFP_DIRECT_RECLAIM
_GFP_NOFAIL = _gfp.__GFP_NOFAIL
_GFP_NOMEMALLOC = _gfp.__GFP_NOMEMALLOC
_GFP_NORETRY = _gfp.__GFP_NORETRY
_GFP_NOWARN = _gfp.__GFP_NOWARN
_GFP_RECLAIM = _gfp.__GFP_RECLAIM
_GFP_ZERO = _gfp.__GFP_ZERO
_SLAB_PAGE_GFP_MASK = _gfp.GFP_RECLAIM_MASK | _gfp.GFP_CONSTRAINT_MASK


class SlabAllocator(SlubDebug):
    """All SLUB caches of one machine plus the kernel-named entry points."""

    # ============================================================================ slab pages
    def _allocate_slab(self, s: KmemCache, gfp: int) -> Slab | None:
        """mm/slub.c: new_slab/allocate_slab: oo first (NOWARN|NORETRY), then min.

        new_slab passes only ``flags & (GFP_RECLAIM_MASK | GFP_CONSTRAINT_MASK)`` on and
        allocate_slab adds the cache's ``allocflags``: the caller's zone, migratetype,
        __GFP_ZERO and __GFP_ACCOUNT bits never reach the page allocator (a plain cache's
        slab pages are Unmovable pages of the normal zonelist whatever the object's gfp)."""
        if gfp & GFP_SLAB_BUG_MASK:
            gfp = self.kmalloc_fix_flags(gfp)
        if s.ctor and gfp & _GFP_ZERO and "new_slab:ctor" not in self.warned_once:
            # new_slab: WARN_ON_ONCE(s->ctor && (flags & __GFP_ZERO)): a constructed object
            # must not be zeroed (the allocation goes on)
            self.warned_once.add("new_slab:ctor")
            lines = self.warn_lines(NEW_SLAB_CTOR_ZERO, frames=("___slab_alloc", "kmem_cache_alloc_noprof"))
            self.add_warn_taint()
            self.log.printk("\n".join(lines), "warn")
        flags = (gfp & _SLAB_PAGE_GFP_MASK) | s.allocflags
        alloc_gfp = (flags | _GFP_NOWARN | _GFP_NORETRY) & ~_GFP_NOFAIL
        order = s.order
        if (alloc_gfp & _GFP_DIRECT_RECLAIM) and order > s.geo.min_order:
            alloc_gfp = (alloc_gfp | _GFP_NOMEMALLOC) & ~_GFP_RECLAIM
        ex = self.tracer.explain
        if ex.on:
            ex.note("allocate_slab", f"order {order} (oo: the cache's preferred order) with __GFP_NOWARN|__GFP_NORETRY",
                    cache=s.name, order=order, objects=s.objs_per_slab, min_order=s.geo.min_order,
                    gfp=format_gfp(alloc_gfp))
        pfn = self.page_alloc.alloc_pages(alloc_gfp, order, owner=OWNER_SLAB, caller=s.name)
        objects = s.objs_per_slab
        if pfn is None:
            # allocate_slab: retry at s->min with the caller's gfp (ORDER_FALLBACK)
            order = s.geo.min_order
            objects = s.geo.min_objects
            if ex.on:
                ex.note("allocate_slab", f"order {s.order} failed: fall back to min order {order} (ORDER_FALLBACK)",
                        order=order, objects=objects, gfp=format_gfp(flags))
            pfn = self.page_alloc.alloc_pages(flags, order, owner=OWNER_SLAB, caller=s.name)
            if pfn is None:
                self._slab_out_of_memory(s, gfp)
                return None
        slab = Slab(s, pfn, order, objects, self.arch.page_address(pfn))
        for p in range(pfn, pfn + (1 << order)):
            self.slab_by_pfn[p] = slab
        nbytes = PAGE_SIZE << order
        if s.flags & SLAB_RECLAIM_ACCOUNT:
            self.vmstat.nr_slab_reclaimable_b += nbytes
        else:
            self.vmstat.nr_slab_unreclaimable_b += nbytes
        first = slab.base + s.red_left_pad
        size = s.size
        if self.freelist_random is not None:
            slab.freelist = self._shuffle_freelist(s, first, objects)
        else:
            # address order: the first object is handed out first (end of list = head)
            slab.freelist = [first + i * size for i in range(objects - 1, -1, -1)]
        s.nr_slabs += 1
        s.total_objects_count += objects
        s.slabs_set.add(slab)
        if s.debug:
            self._setup_slab_debug(s, slab)
        if self.kasan is not None:
            self.kasan.poison_slab(slab)  # allocate_slab -> kasan_poison_slab
        return slab

    def _shuffle_freelist(self, s: KmemCache, first: int, objects: int) -> list[int]:
        """shuffle_freelist: the cache's random sequence (init_cache_random_seq, computed once
        for objs_per_slab entries) walked from a random start for every new slab; entries beyond a
        fallback slab's object count are skipped (next_freelist_entry)."""
        rng = self.freelist_random
        assert rng is not None  # called only with CONFIG_SLAB_FREELIST_RANDOM
        if s.random_seq is None:
            seq = list(range(s.objs_per_slab))
            rng.shuffle(seq)
            s.random_seq = seq
        seq = s.random_seq
        count = len(seq)
        pos = rng.randrange(count)
        order = [seq[(pos + i) % count] for i in range(count)]
        idxs = [i for i in order if i < objects]
        return [first + i * s.size for i in reversed(idxs)]

    def _slab_out_of_memory(self, s: KmemCache, gfp: int) -> None:
        """mm/slub.c: slab_out_of_memory (rate-limited; skipped with _GFP_NOWARN)."""
        if gfp & _GFP_NOWARN:
            return
        free = sum(len(sl.freelist) for sl in s.node_partial)
        lines = [f"SLUB: Unable to allocate memory on CPU {self.ctx.cpu} (of node 0) on node -1, "
                 f"gfp={gfp:#x}({format_gfp(gfp)})",
                 f"  cache: {s.name}, object size: {s.object_size}, buffer size: {s.size}, "
                 f"default order: {s.order}, min order: {s.geo.min_order}",
                 *([f"  {s.name} debugging increased min order, use slab_debug=O to disable."]
                   if s.geo.min_order > g.get_order(s.object_size) else []),
                 f"  node 0: slabs: {s.nr_slabs}, objs: {s.total_objects_count}, free: {free}"]
        self.log.printk("\n".join(lines), "warn")

    def kmalloc_fix_flags(self, flags: int) -> int:
        """mm/slub.c: kmalloc_fix_flags: strip _GFP_DMA32/__GFP_HIGHMEM with the kernel's warning."""
        invalid = flags & GFP_SLAB_BUG_MASK
        fixed = flags & ~GFP_SLAB_BUG_MASK
        lines = [f"Unexpected gfp: {invalid:#x} ({format_gfp(invalid)}). Fixing up to gfp: {fixed:#x} "
                 f"({format_gfp(fixed)}). Fix your code!",
                 self.ctx.dump_stack_header(),
                 "Call Trace:", " <TASK>", " kmalloc_fix_flags", " </TASK>"]
        self.log.printk("\n".join(lines), "warn")
        return fixed

    def discard_slab(self, s: KmemCache, slab: Slab) -> None:
        """dec_slabs_node + free_slab (after a grace period for SLAB_TYPESAFE_BY_RCU)."""
        s.nr_slabs -= 1
        s.total_objects_count -= slab.objects
        s.slabs_set.discard(slab)
        slab.freelist = []
        if self.tracer.explain.on:
            self.tracer.explain.note("discard_slab", "after an RCU grace period (SLAB_TYPESAFE_BY_RCU)"
                                     if s.flags & SLAB_TYPESAFE_BY_RCU else
                                     f"order-{slab.order} pages back to the page allocator",
                                     cache=s.name, slab=f"{slab.base:#x}", order=slab.order)
        if s.flags & SLAB_TYPESAFE_BY_RCU:
            slab.where = SLAB_RCU_FREE
            self.rcu_pending_slabs.append(slab)
            self._queue_rcu_batch()
            return
        self._free_slab_pages(slab)

    def _free_slab_pages(self, slab: Slab) -> None:
        s = slab.cache
        if self.kasan is not None:
            self.kasan.release_slab(slab)
        for p in range(slab.pfn, slab.pfn + (1 << slab.order)):
            del self.slab_by_pfn[p]
        nbytes = PAGE_SIZE << slab.order
        if s.flags & SLAB_RECLAIM_ACCOUNT:
            self.vmstat.nr_slab_reclaimable_b -= nbytes
        else:
            self.vmstat.nr_slab_unreclaimable_b -= nbytes
        slab.where = SLAB_NOLIST
        self.page_alloc.free_pages(slab.pfn, slab.order)

    # ============================================================================ allocation
    def slab_alloc(self, s: KmemCache, gfp: int, caller: str, req: int, is_kmalloc: bool = False) -> int | None:
        """slab_alloc_node: the per-CPU fast path, else ___slab_alloc."""
        ctx = self.ctx
        if gfp & _GFP_DIRECT_RECLAIM:
            # slab_pre_alloc_hook -> might_alloc; the entry point is the innermost frame
            ctx.might_alloc(gfp, ("__kmalloc_noprof" if is_kmalloc else "kmem_cache_alloc_noprof", caller))
        faults = self.faults
        # should_failslab answers False whenever no fault attribute is armed (faults.active)
        if faults.active and faults.should_failslab(s.name, gfp, is_kmalloc):
            return None
        c = s.cpu_slab[ctx.cpu]
        fl = c.freelist
        obj: int | None
        if fl:
            obj = fl.pop()
            if self.tracer.enabled and self.tracer.explain.on:
                self.tracer.explain.note("slab_alloc_node", f"fast path: cpu freelist hit, object {obj:#x}",
                                         cache=s.name, cpu=ctx.cpu, freelist_left=len(fl))
        else:
            ex = self.tracer.explain
            if ex.on:
                step = ex.begin("___slab_alloc", cache=s.name, cpu=ctx.cpu)
                obj = None
                try:
                    obj = self._slab_alloc_slow(s, c, gfp, req, caller)
                finally:
                    ex.end(step, "NULL" if obj is None else f"object {obj:#x}")
            else:
                obj = self._slab_alloc_slow(s, c, gfp, req, caller)
            if obj is None:
                return None
        self.live[obj] = (caller, req)
        if gfp & _GFP_ZERO and self.phys is not None:
            zero = req if (s.debug and s.keeps_orig_size) else s.object_size
            self.phys.fill(obj - self.page_offset, zero, 0)
        if self.kasan is not None:
            # slab_post_alloc_hook -> kasan_slab_alloc; kmalloc -> kasan_kmalloc
            self.kasan.slab_alloc(s, obj, req, gfp, caller, is_kmalloc)
        return obj

    def _slab_alloc_slow(self, s: KmemCache, c: KmemCacheCpu, gfp: int, req: int, caller: str) -> int | None:
        if s.destroyed:
            raise KernelFault(f"kmem_cache_alloc: cache {s.name} was destroyed (use after kmem_cache_destroy)")
        if s.debug:
            if self.tracer.explain.on:
                self.tracer.explain.note("___slab_alloc", "a debug cache: no cpu slab, one object at a time from "
                                         "the node lists (alloc_debug_processing)", cache=s.name,
                                         nr_partial=len(s.node_partial))
            return self._alloc_debug(s, gfp, req, caller)
        cpu = self.ctx.cpu
        slab = c.slab
        ex = self.tracer.explain
        if slab is not None:
            if slab.freelist:
                # get_freelist: take the objects other CPUs freed into our cpu slab
                if ex.on:
                    ex.note("get_freelist", "the cpu slab's own freelist (objects freed by other CPUs)",
                            slab=f"{slab.base:#x}", objects=len(slab.freelist))
                c.freelist = slab.freelist
                slab.freelist = []
                slab.inuse = slab.objects
                return c.freelist.pop()
            # full cpu slab: unfrozen, goes on no list
            if ex.on:
                ex.note("deactivate_slab", "the cpu slab is full: unfrozen, on no list", slab=f"{slab.base:#x}",
                        objects=slab.objects)
            slab.where = SLAB_NOLIST
            slab.cpu = -1
            c.slab = None
        while c.partial:
            slab = c.partial.pop()
            if slab.freelist:
                if ex.on:
                    ex.note("slub_percpu_partial", "a slab from the cpu partial list becomes the cpu slab",
                            slab=f"{slab.base:#x}", free_objects=len(slab.freelist), cpu_partial_left=len(c.partial))
                self._activate(c, slab, cpu)
                return c.freelist.pop()
            slab.where = SLAB_NOLIST  # cannot happen in the kernel's accounting; be safe
        nr_partial = len(s.node_partial)
        if self.node_partial_to_cpu(s, c, cpu):
            if ex.on:
                assert c.slab is not None
                ex.note("get_partial_node", "the first node partial slab becomes the cpu slab"
                        + (f", {len(c.partial)} more go to the cpu partial list" if c.partial else ""),
                        nr_partial=nr_partial, slab=f"{c.slab.base:#x}", free_objects=len(c.freelist),
                        cpu_partial_slabs=s.cpu_partial_slabs)
            return c.freelist.pop()
        if ex.on:
            step = ex.begin("new_slab", cache=s.name, nr_partial=0,
                            why="no cpu slab, cpu partial or node partial slab with free objects")
            slab = None
            try:
                slab = self._allocate_slab(s, gfp)
            finally:
                ex.end(step, "failed" if slab is None else
                       f"slab at {slab.base:#x}, order {slab.order}, {slab.objects} objects",
                       **({} if slab is None else {"order": slab.order, "objects": slab.objects}))
        else:
            slab = self._allocate_slab(s, gfp)
        if slab is None:
            return None
        self._activate(c, slab, cpu)
        return c.freelist.pop()

    def _activate(self, c: KmemCacheCpu, slab: Slab, cpu: int) -> None:
        c.slab = slab
        slab.where = SLAB_CPU
        slab.cpu = cpu
        c.freelist = slab.freelist
        slab.freelist = []
        slab.inuse = slab.objects  # frozen: every object belongs to the cpu or is in use

    def node_partial_to_cpu(self, s: KmemCache, c: KmemCacheCpu, cpu: int) -> bool:
        """get_partial_node: first slab -> cpu slab; more -> cpu partial list."""
        n = s.node_partial
        if not n:
            return False
        first = n.popleft()
        self._activate(c, first, cpu)
        taken = 0
        limit = s.cpu_partial_slabs // 2
        if s.cpu_partial_slabs == 0:
            return True
        while n:
            slab = n.popleft()
            slab.where = SLAB_CPU_PARTIAL
            slab.cpu = cpu
            c.partial.append(slab)
            taken += 1
            if taken > limit:
                break
        return True

    # ============================================================================ free
    def slab_free(self, addr: int, caller: str, expect: KmemCache | None = None, api: str = "kfree") -> bool:
        """Free a slab object; False if *addr* is not in a slab (the caller handles that)."""
        slab = self.slab_by_pfn.get((addr - self.page_offset) >> PAGE_SHIFT)
        if slab is None or slab.where == SLAB_RCU_FREE:
            return False
        s = slab.cache
        if expect is not None and expect is not s:
            self._wrong_cache(expect, s, addr, caller)
        # slab_free_hook -> kasan_slab_pre_free / kasan_slab_free: a bad free is reported
        # and skipped, a good one poisons the object and parks it in the quarantine
        if self.kasan is not None and self.kasan.slab_free(s, slab, addr, caller, api):
            return True
        return self.cache_free(s, slab, addr, caller, api)

    def cache_free(self, s: KmemCache, slab: Slab, addr: int, caller: str, api: str = "kfree") -> bool:
        """___cache_free: the object goes back to SLUB (also where KASAN's quarantine
        releases an object to, mm/kasan/quarantine.c: qlink_free)."""
        if s.debug:
            self._free_debug(s, slab, addr, caller)
            return True
        if not self.live.release(slab, addr):
            self._bad_free_nodebug(s, slab, addr, api)
            return True
        c = s.cpu_slab[self.ctx.cpu]
        if slab is c.slab:
            c.freelist.append(addr)
            if self.tracer.enabled and self.tracer.explain.on:
                self.tracer.explain.note("do_slab_free", "fast path: onto this CPU's cpu slab freelist",
                                         cache=s.name, cpu=self.ctx.cpu, freelist=len(c.freelist))
        elif self.tracer.explain.on:
            step = self.tracer.explain.begin("__slab_free", cache=s.name, slab=f"{slab.base:#x}",
                                             inuse=slab.inuse, objects=slab.objects)
            try:
                self._slab_free_slow(s, slab, addr)
            finally:
                self.tracer.explain.end(step)
        else:
            self._slab_free_slow(s, slab, addr)
        return True

    def _slab_free_slow(self, s: KmemCache, slab: Slab, addr: int) -> None:
        """__slab_free for a slab that is not this CPU's cpu slab."""
        where = slab.where
        prior = bool(slab.freelist)
        slab.freelist.append(addr)
        slab.inuse -= 1
        ex = self.tracer.explain
        if where == SLAB_CPU:
            if ex.on:
                ex.note("__slab_free", f"the slab is CPU {slab.cpu}'s cpu slab: a remote free onto its freelist")
            return  # frozen by another CPU: a remote free onto slab->freelist
        if where == SLAB_CPU_PARTIAL:
            if ex.on:
                ex.note("__slab_free", "the slab is on a cpu partial list: no list change")
            return  # on some CPU's partial list: no list change
        if not prior and where == SLAB_NOLIST:
            # the slab was full: it goes to this CPU's partial list
            if ex.on:
                ex.note("__slab_free", "the slab was full: it goes to this CPU's partial list (put_cpu_partial)")
            self.put_cpu_partial(s, slab, drain=True)
            return
        # on the node partial list
        if slab.inuse == 0 and len(s.node_partial) >= s.min_partial:
            if ex.on:
                ex.note("__slab_free", "the slab is empty and the node keeps enough partial slabs: discard it",
                        nr_partial=len(s.node_partial), min_partial=s.min_partial)
            s.node_partial.remove(slab)
            self.discard_slab(s, slab)
        elif ex.on:
            ex.note("__slab_free", "stays on the node partial list" +
                    (" (empty, but nr_partial < min_partial)" if slab.inuse == 0 else ""),
                    inuse=slab.inuse, nr_partial=len(s.node_partial), min_partial=s.min_partial)

    def put_cpu_partial(self, s: KmemCache, slab: Slab, drain: bool) -> None:
        if s.cpu_partial_slabs == 0:
            # no cpu partial lists (cpu_partial=0): straight to the node list tail
            slab.where = SLAB_NODE_PARTIAL
            s.node_partial.append(slab)
            return
        cpu = self.ctx.cpu
        c = s.cpu_slab[cpu]
        if drain and c.partial and len(c.partial) >= s.cpu_partial_slabs:
            if self.tracer.explain.on:
                self.tracer.explain.note("put_cpu_partial", "the cpu partial list is full: move it to the node "
                                         "(__put_partials)", cpu_partial=len(c.partial),
                                         cpu_partial_slabs=s.cpu_partial_slabs)
            old = c.partial
            c.partial = []
            self._put_partials(s, old)
        slab.where = SLAB_CPU_PARTIAL
        slab.cpu = cpu
        c.partial.append(slab)

    def _put_partials(self, s: KmemCache, slabs: list[Slab]) -> None:
        """__put_partials: from the list head (most recent) on, to the node list tail."""
        discard = []
        for slab in reversed(slabs):
            slab.cpu = -1
            if slab.inuse == 0 and len(s.node_partial) >= s.min_partial:
                discard.append(slab)
            else:
                slab.where = SLAB_NODE_PARTIAL
                s.node_partial.append(slab)
        for slab in discard:
            if self.tracer.explain.on:
                self.tracer.explain.note("__put_partials", "an empty slab with enough node partial slabs: discard",
                                         slab=f"{slab.base:#x}", nr_partial=len(s.node_partial),
                                         min_partial=s.min_partial)
            self.discard_slab(s, slab)

    def deactivate_slab(self, s: KmemCache, c: KmemCacheCpu) -> None:
        """deactivate_slab: return the cpu freelist to the slab and put the slab on a list."""
        slab = c.slab
        if slab is None:
            return
        remote = bool(slab.freelist)
        slab.freelist = slab.freelist + c.freelist  # the cpu freelist becomes the head
        c.freelist = []
        c.slab = None
        slab.cpu = -1
        slab.inuse = slab.objects - len(slab.freelist)
        if slab.inuse == 0 and len(s.node_partial) >= s.min_partial:
            self.discard_slab(s, slab)
        elif slab.freelist:
            slab.where = SLAB_NODE_PARTIAL
            if remote:
                s.node_partial.append(slab)
            else:
                s.node_partial.appendleft(slab)
        else:
            slab.where = SLAB_NOLIST

    def flush_all(self, s: KmemCache) -> None:
        """flush_all: deactivate every cpu slab and drain every cpu partial list."""
        for c in s.cpu_slab:
            self.deactivate_slab(s, c)
            if c.partial:
                old = c.partial
                c.partial = []
                self._put_partials(s, old)

    def _wrong_cache(self, expect: KmemCache, real: KmemCache, addr: int, caller: str) -> None:
        """cache_from_obj: WARN "Wrong slab cache"; the object is freed to its real cache.
        cache_from_obj is inlined into kmem_cache_free, the RIP's function, so the Call Trace
        starts at kmem_cache_free's caller (the script line)."""
        lines = self.warn_lines(CACHE_FROM_OBJ_WARN,
                                f"cache_from_obj: Wrong slab cache. {expect.name} but object is from {real.name}",
                                frames=(caller,))
        if real.flags & SLAB_STORE_USER:
            lines += self._tracking_lines(real, addr)
        self.add_warn_taint()
        self.log.printk("\n".join(lines), "warn")

    def _bad_free_nodebug(self, s: KmemCache, slab: Slab, addr: int, api: str) -> None:
        c = s.cpu_slab[self.ctx.cpu]
        head = c.freelist[-1] if (slab is c.slab and c.freelist) else (slab.freelist[-1] if slab.freelist else 0)
        if addr == head:
            # CONFIG_SLAB_FREELIST_HARDENED: set_freepointer's BUG_ON(object == fp)
            lines = [f"kernel BUG at {SET_FREEPOINTER_BUG.location}!",
                     f"Oops: invalid opcode: 0000 [#1]{self.arch.oops_flags}",
                     self.ctx.dump_stack_header(),
                     f"{self.arch.ip_line}{api}"]
            self.ctx.add_taint("D")
            self.log.printk("\n".join(lines), "bug")
            return
        what = "double free" if self._is_object_start(s, slab, addr) else "invalid pointer"
        self.log.printk(
            f"kmscript: {api}(0x{addr:0{self.arch.ptr_digits}x}): {what} in {s.name}; SLUB without slab_debug does not detect "
            f"this (a real kernel corrupts the freelist); boot with slub_debug=F for the kernel's report. "
            f"The free was ignored.", "bug")

    @staticmethod
    def _is_object_start(s: KmemCache, slab: Slab, addr: int) -> bool:
        off = addr - slab.base - s.red_left_pad
        return off >= 0 and off % s.size == 0 and off // s.size < slab.objects

    # ============================================================================ RCU
    def kfree_rcu(self, addr: int, caller: str, free_large: Callable[[int], bool] | None = None) -> None:
        """kvfree_rcu: free *addr* once a grace period has passed; *free_large* is the
        kmalloc layer's free of an object that is not in a slab (a large kmalloc)."""
        if addr <= g.ZERO_SIZE_PTR:
            return
        self.rcu_pending_objects.append((addr, caller, free_large))
        self._queue_rcu_batch()

    def _queue_rcu_batch(self) -> None:
        if not self._rcu_batch_queued:
            self._rcu_batch_queued = True
            self.rcu.call_rcu(self._rcu_batch)

    def _rcu_batch(self) -> None:
        """After the grace period (kfree_rcu_work, rcu_free_slab): pending kfree_rcu frees,
        then the deferred SLAB_TYPESAFE_BY_RCU slabs."""
        self._rcu_batch_queued = False
        objs, self.rcu_pending_objects = self.rcu_pending_objects, []
        for addr, caller, free_large in objs:
            if not self.slab_free(addr, caller, api="kfree_rcu"):
                if free_large is None or not free_large(addr):
                    self.log.printk(f"kfree_rcu: 0x{addr:0{self.arch.ptr_digits}x} is not a slab object", "warn")
        slabs, self.rcu_pending_slabs = self.rcu_pending_slabs, []
        for slab in slabs:
            self._free_slab_pages(slab)

    def synchronize_rcu(self) -> None:
        """Wait for a grace period (events.Rcu): the pending batch runs from the event queue."""
        self.rcu.synchronize_rcu()

    # ============================================================================ shrink / destroy
    def kmem_cache_shrink(self, s: KmemCache) -> int:
        """__kmem_cache_do_shrink: flush cpus, free empty partial slabs, sort the rest."""
        if self.kasan is not None:
            self.kasan.remove_cache(s)  # kmem_cache_shrink -> kasan_cache_shrink
        self.flush_all(s)
        freed = 0
        promote: list[list[Slab]] = [[] for _ in range(SHRINK_PROMOTE_MAX)]
        keep: list[Slab] = []
        for slab in list(s.node_partial):
            free = slab.objects - slab.inuse
            if free == slab.objects:
                self.discard_slab(s, slab)
                freed += 1
            elif free < SHRINK_PROMOTE_MAX:
                promote[free].append(slab)
            else:
                keep.append(slab)
        s.node_partial = deque(x for bucket in promote for x in bucket)
        s.node_partial.extend(keep)
        return freed

    def kmem_cache_destroy(self, s: KmemCache, caller: str | None = None) -> bool:
        """kmem_cache_destroy; False (with the kernel's reports) if objects remain."""
        if s.destroyed:
            raise KernelFault(f"kmem_cache_destroy: cache {s.name} was already destroyed")
        if s.boot:
            raise KernelFault(f"kmem_cache_destroy: {s.name} is a kmalloc cache and cannot be destroyed")
        self.synchronize_rcu()  # kvfree_rcu_barrier() / rcu_barrier() for RCU caches
        s.refcount -= 1
        if s.refcount > 0:
            # an alias goes away; the cache stays for the other users
            return True
        if self.kasan is not None:
            self.kasan.remove_cache(s)  # kasan_cache_shutdown -> kasan_quarantine_remove_cache
        self.flush_all(s)
        for slab in list(s.node_partial):
            if slab.inuse == 0:
                s.node_partial.remove(slab)
                self.discard_slab(s, slab)
        busy = [sl for sl in sorted(s.slabs_set, key=lambda x: x.pfn)]
        s.destroyed = True
        if s in self.caches:
            self.caches.remove(s)
        for nm in [s.name, *s.alias_names]:
            if self.by_name.get(nm) is s:
                del self.by_name[nm]
        if busy:
            # free_partial: only slabs on the node partial list are listed; full slabs of a
            # non-debug cache are on no list, so the kernel cannot name their objects
            for slab in list(s.node_partial):
                self._list_slab_objects(s, slab, caller)
            lines = self.warn_lines(KMEM_CACHE_DESTROY_BUSY,
                                    f"kmem_cache_destroy {s.name}: Slab cache still has objects when called from "
                                    f"{caller or 'kmem_cache_destroy'}",
                                    frames=(caller or "kmem_cache_destroy",))
            self.add_warn_taint()
            self.log.printk("\n".join(lines), "warn")
            return False
        self.synchronize_rcu()
        return True

    def _list_slab_objects(self, s: KmemCache, slab: Slab, caller: str | None) -> None:
        """mm/slub.c: list_slab_objects: one report per slab with live objects: slab_bug's
        banner, an ``Object`` line (and tracks) per live object, then __slab_err: the Slab
        line, taint B and WARN_ON(1).  list_slab_objects and free_partial have one caller
        each and are taken as inlined into __kmem_cache_shutdown in the Call Trace."""
        lines = self._slab_bug_lines(s, "Objects remaining on __kmem_cache_shutdown()")
        free = set(slab.freelist)
        for addr in slab.object_addrs():
            if addr in free or addr not in self.live:
                continue
            lines.append(f"Object 0x{addr:0{self.arch.ptr_digits}x} @offset={addr - slab.base}")
            if s.flags & SLAB_STORE_USER:
                lines += self._tracking_lines(s, addr)
        lines += self._slab_err_lines(slab, ("__kmem_cache_shutdown", "kmem_cache_destroy",
                                             caller or "kmem_cache_destroy"))
        self.errors += 1
        self.log.printk("\n".join(lines), "bug")

    # ============================================================================ debug caches: alloc/free paths
    def _alloc_debug(self, s: KmemCache, gfp: int, req: int, caller: str) -> int | None:
        """alloc_single_from_partial / alloc_single_from_new_slab with alloc_debug_processing."""
        while True:
            slab = None
            for cand in s.node_partial:
                if cand.freelist:
                    slab = cand
                    break
            new = False
            if slab is None:
                slab = self._allocate_slab(s, gfp)
                if slab is None:
                    return None
                new = True
            obj = slab.freelist.pop()
            slab.inuse += 1
            if self._alloc_debug_processing(s, slab, obj, req, caller):
                if new:
                    if slab.inuse == slab.objects:
                        self._add_full(s, slab)
                    else:
                        slab.where = SLAB_NODE_PARTIAL
                        s.node_partial.appendleft(slab)
                elif slab.inuse == slab.objects:
                    s.node_partial.remove(slab)
                    self._add_full(s, slab)
                return obj
            # consistency check failed: "Marking all objects used"; try another slab
            if slab in s.node_partial:
                s.node_partial.remove(slab)
            s.full.discard(slab)
            slab.where = SLAB_DEAD
            slab.inuse = slab.objects
            slab.freelist = []

    def _free_debug(self, s: KmemCache, slab: Slab, addr: int, caller: str) -> None:
        """free_to_partial_list with free_debug_processing."""
        if slab.where == SLAB_DEAD:
            self.live.pop(addr, None)
            return  # objects of a consistency-failed slab are leaked on free, as the kernel does
        ok = True
        if s.flags & SLAB_CONSISTENCY_CHECKS:
            if not self._check_valid_pointer(s, slab, addr):
                self._slab_err(s, slab, f"Invalid object pointer 0x{addr:0{self.arch.ptr_digits}x}")
                ok = False
            elif addr in slab.freelist or addr not in self.live:
                self._object_err(s, slab, addr, "Object already free")
                ok = False
            elif not self.check_object(s, slab, addr, SLUB_RED_ACTIVE):
                ok = False
        elif addr not in self.live:
            # without consistency checks the kernel does not notice (freelist corruption)
            self._bad_free_nodebug(s, slab, addr, "kfree")
            return
        if not ok:
            self._slab_fix(s, f"Object at 0x{addr:0{self.arch.ptr_digits}x} not freed")
            return
        self.live.pop(addr, None)
        if s.flags & SLAB_STORE_USER:
            self._set_track(s, addr, 1, caller)
        self._trace(s, slab, addr, False)
        self._init_object(s, addr, SLUB_RED_INACTIVE)
        s.orig_size.pop(addr, None)
        prior = bool(slab.freelist)
        self._set_freepointer(s, addr, slab.freelist[-1] if slab.freelist else 0)
        slab.freelist.append(addr)
        slab.inuse -= 1
        discard = slab.inuse == 0 and len(s.node_partial) >= s.min_partial
        if not prior:
            # was full (full list or no list)
            s.full.discard(slab)
            if not discard:
                slab.where = SLAB_NODE_PARTIAL
                s.node_partial.append(slab)
        elif discard:
            s.node_partial.remove(slab)
        if discard:
            for obj in slab.object_addrs():
                s.tracks.pop(obj, None)
            self.discard_slab(s, slab)

    # ============================================================================ validate
    def validate_slab_cache(self, s: KmemCache) -> int:
        """validate_slab_cache: returns the errors counted (reports and fix-ups)."""
        before = self.errors
        self.flush_all(s)
        slabs = list(s.node_partial)
        if s.flags & SLAB_STORE_USER:
            slabs += sorted(s.full, key=lambda x: x.pfn)
        for slab in slabs:
            self._validate_slab(s, slab)
        return self.errors - before
