"""SLUB: slab caches, per-CPU slabs and partial lists, merging, debugging (Linux 6.18).

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

from collections import deque
from typing import Any, Callable, Iterable, Protocol

from . import slab_geometry as g
from .errors import KernelFault, KernelPanic
from . import gfp as _gfp
from .gfp import format_gfp
from .mm_types import OWNER_SLAB, PAGE_OFFSET, PAGE_SHIFT, PAGE_SIZE, pfn_to_struct_page
from .slab_geometry import (SLAB_CACHE_DMA, SLAB_CACHE_DMA32, SLAB_CONSISTENCY_CHECKS,
                            SLAB_FLAGS, SLAB_HWCACHE_ALIGN, SLAB_KMALLOC, SLAB_MERGE_SAME,
                            SLAB_NEVER_MERGE, SLAB_PANIC, SLAB_POISON,
                            SLAB_RECLAIM_ACCOUNT, SLAB_RED_ZONE, SLAB_STORE_USER, SLAB_TRACE,
                            SLAB_TYPESAFE_BY_RCU, DEBUG_DEFAULT_FLAGS, OBJECT_POISON, Geometry)

# module-level aliases: double-underscore names would be mangled inside classes
_GFP_ACCOUNT = _gfp.__GFP_ACCOUNT
_GFP_COMP = _gfp.__GFP_COMP
_GFP_DIRECT_RECLAIM = _gfp.__GFP_DIRECT_RECLAIM
_GFP_DMA = _gfp.__GFP_DMA
_GFP_NOFAIL = _gfp.__GFP_NOFAIL
_GFP_NOMEMALLOC = _gfp.__GFP_NOMEMALLOC
_GFP_NORETRY = _gfp.__GFP_NORETRY
_GFP_NOWARN = _gfp.__GFP_NOWARN
_GFP_RECLAIM = _gfp.__GFP_RECLAIM
_GFP_RECLAIMABLE = _gfp.__GFP_RECLAIMABLE
_GFP_ZERO = _gfp.__GFP_ZERO


__all__ = ["SLAB_FLAGS", "KmemCache", "Slab", "SlabAllocator", "parse_slub_debug"]

# include/linux/poison.h
POISON_INUSE = 0x5A
POISON_FREE = 0x6B
POISON_END = 0xA5
SLUB_RED_INACTIVE = 0xBB
SLUB_RED_ACTIVE = 0xCC

HZ = 250  # CONFIG_HZ of the reference distribution kernel; used for track "age="
INITIAL_JIFFIES = 0xFFFFFFFF - 300 * HZ + 1  # include/linux/jiffies.h: INITIAL_JIFFIES
SHRINK_PROMOTE_MAX = 32
# include/linux/slab.h: GFP_SLAB_BUG_MASK = _GFP_DMA32 | __GFP_HIGHMEM | ~__GFP_BITS_MASK
_GFP_DMA32 = 0x4
_GFP_HIGHMEM = 0x2
_GFP_BITS_MASK = (1 << 25) - 1
GFP_SLAB_BUG_MASK = _GFP_DMA32 | _GFP_HIGHMEM | (~_GFP_BITS_MASK & 0xFFFFFFFF)
# Taint flags shown by print_tainted(): P F S R M B U D A W C (kernel/panic.c taint_flags)
_TAINT_ORDER = "PFSRMBUDAWC"

# where a slab is (the kernel tracks this with frozen / SL_partial / list membership)
SLAB_NOLIST = 0      # full slab of a non-debug cache: on no list
SLAB_NODE_PARTIAL = 1
SLAB_CPU_PARTIAL = 2
SLAB_CPU = 3         # the cpu slab (frozen)
SLAB_FULL = 4        # debug caches with STORE_USER: node full list
SLAB_RCU_FREE = 5    # empty slab of a SLAB_TYPESAFE_BY_RCU cache waiting for a grace period
SLAB_DEAD = 6        # failed consistency checks: marked all-used and frozen forever

_MISSING = object()


class PageAllocator(Protocol):
    def alloc_pages(self, gfp: int, order: int, *, owner: int = ..., caller: str | None = None) -> int | None: ...
    def free_pages(self, pfn: int, order: int) -> None: ...


class PhysMemory(Protocol):
    def read(self, paddr: int, n: int) -> bytes: ...
    def write(self, paddr: int, data: bytes | bytearray) -> None: ...
    def fill(self, paddr: int, n: int, byte: int) -> None: ...


def parse_slub_debug(spec: str | None) -> list[tuple[int, list[str] | None]]:
    """slab_debug= (mm/slub.c: setup_slub_debug/parse_slub_debug_flags).

    Returns blocks ``(flags, cache_names or None for all caches)``.  "FZPU,kmalloc-64" debugs
    one cache; "" or "," alone means the default FZPU; "-" disables.  'O' is accepted and
    ignored (no cache here is high-order because of debug metadata).
    """
    if spec is None:
        return []
    blocks: list[tuple[int, list[str] | None]] = []
    for block in spec.split(";"):
        if not block and len(spec):
            continue
        head, sep, rest = block.partition(",")
        if not head and (sep or not rest):
            flags = DEBUG_DEFAULT_FLAGS
        else:
            flags = 0
            for ch in head.lower():
                if ch == "-":
                    flags = 0
                elif ch == "f":
                    flags |= SLAB_CONSISTENCY_CHECKS
                elif ch == "z":
                    flags |= SLAB_RED_ZONE
                elif ch == "p":
                    flags |= SLAB_POISON
                elif ch == "u":
                    flags |= SLAB_STORE_USER
                elif ch == "t":
                    flags |= SLAB_TRACE
                elif ch == "a":
                    flags |= g.SLAB_FAILSLAB
                elif ch == "o":
                    pass
                else:
                    raise KernelFault(f"slab_debug option '{ch}' unknown")
        names = [n.strip() for n in rest.split(",") if n.strip()] if sep else None
        blocks.append((flags, names))
    if not blocks:
        blocks.append((DEBUG_DEFAULT_FLAGS, None))
    return blocks


def _glob_match(pattern: str, name: str) -> bool:
    # kmem_cache_flags: a trailing '*' matches a prefix
    if pattern.endswith("*"):
        return name.startswith(pattern[:-1])
    return name == pattern


class Slab:
    """struct slab: one compound page of ``1 << order`` pages cut into objects."""

    __slots__ = ("cache", "pfn", "order", "base", "objects", "inuse", "freelist", "where", "cpu")

    def __init__(self, cache: "KmemCache", pfn: int, order: int, objects: int) -> None:
        self.cache = cache
        self.pfn = pfn
        self.order = order
        self.base = PAGE_OFFSET + (pfn << PAGE_SHIFT)
        self.objects = objects
        self.inuse = 0
        # Free objects of this slab not owned by a CPU; the END of the list is the head.
        self.freelist: list[int] = []
        self.where = SLAB_NOLIST
        self.cpu = -1

    def object_addrs(self) -> list[int]:
        s = self.cache
        first = self.base + s.red_left_pad
        return [first + i * s.size for i in range(self.objects)]

    def __repr__(self) -> str:
        return f"<slab {self.cache.name} pfn {self.pfn:#x} inuse {self.inuse}/{self.objects}>"


class KmemCacheCpu:
    """struct kmem_cache_cpu: the cpu slab, its lockless freelist and the cpu partial list."""

    __slots__ = ("freelist", "slab", "partial")

    def __init__(self) -> None:
        self.freelist: list[int] = []
        self.slab: Slab | None = None
        self.partial: list[Slab] = []  # end of the list = head (most recently added)


class KmemCache:
    """struct kmem_cache; attributes mirror /sys/kernel/slab/<name>/."""

    KMS_TYPE = "cache"
    KMS_ATTRS = frozenset({
        "name", "object_size", "slab_size", "size", "align", "order", "objs_per_slab", "min_partial",
        "cpu_partial", "cpu_partial_slabs", "aliases", "alias_names", "objects", "total_objects",
        "slabs", "partial", "cpu_slabs", "ctor", "flags", "hwcache_align", "reclaim_account",
        "destroy_by_rcu", "poison", "red_zone", "store_user", "sanity_checks", "cache_dma",
        "usersize", "sysfs_name", "offset", "inuse", "red_left_pad", "pages_per_slab",
        "objects_partial", "destroyed", "is_kmalloc", "free_objects", "pages",
    })

    def __init__(self, name: str, object_size: int, geo: Geometry, flags: int, ctor: str | None,
                 usersize: int, nr_cpus: int, is_kmalloc: bool) -> None:
        self.name = name
        self.object_size = object_size
        self.geo = geo
        self.flags = geo.flags  # incl. boot-time slab_debug flags and __OBJECT_POISON
        self.size = geo.size
        self.align = geo.align
        self.inuse = geo.inuse
        self.offset = geo.offset
        self.red_left_pad = geo.red_left_pad
        self.order = geo.order
        self.objs_per_slab = geo.objs_per_slab
        self.min_partial = geo.min_partial
        self.cpu_partial = geo.cpu_partial
        self.cpu_partial_slabs = geo.cpu_partial_slabs
        self.ctor = ctor
        self.usersize = usersize
        self.is_kmalloc = is_kmalloc
        self.refcount = 1
        self.alias_names: list[str] = []
        self.debug = bool(self.flags & g.SLAB_DEBUG_FLAGS)
        self.cpu_slab = [KmemCacheCpu() for _ in range(nr_cpus)]
        self.node_partial: deque[Slab] = deque()  # left = head
        self.full: set[Slab] = set()  # only debug caches with SLAB_STORE_USER
        self.slabs_set: set[Slab] = set()  # every slab of the cache (views, destroy)
        self.nr_slabs = 0
        self.total_objects_count = 0
        self.destroyed = False
        self.boot = False  # kmalloc caches: never merge targets (refcount -1 in the kernel)
        # debug metadata kept outside the object bytes
        self.tracks: dict[int, list[tuple[str, int, int, int] | None]] = {}
        self.orig_size: dict[int, int] = {}
        # allocflags: what every slab page allocation of this cache adds
        self.allocflags = _GFP_COMP
        if self.flags & SLAB_CACHE_DMA:
            self.allocflags |= _GFP_DMA
        if self.flags & SLAB_CACHE_DMA32:
            self.allocflags |= _GFP_DMA32
        if self.flags & SLAB_RECLAIM_ACCOUNT:
            self.allocflags |= _GFP_RECLAIMABLE
        self.sysfs_name = name
        self.random_seq: list[int] | None = None  # CONFIG_SLAB_FREELIST_RANDOM
        # the "kmalloc redzone" of 6.18: kmalloc caches keep orig_size with STORE_USER
        self.keeps_orig_size = bool((self.flags & SLAB_KMALLOC) and (self.flags & SLAB_STORE_USER))

    # -- sysfs-style attributes ------------------------------------------------------------
    @property
    def slab_size(self) -> int:
        return self.size

    @property
    def pages_per_slab(self) -> int:
        return 1 << self.order

    @property
    def aliases(self) -> int:
        return self.refcount - 1

    @property
    def hwcache_align(self) -> int:
        return int(bool(self.flags & SLAB_HWCACHE_ALIGN))

    @property
    def reclaim_account(self) -> int:
        return int(bool(self.flags & SLAB_RECLAIM_ACCOUNT))

    @property
    def destroy_by_rcu(self) -> int:
        return int(bool(self.flags & SLAB_TYPESAFE_BY_RCU))

    @property
    def poison(self) -> int:
        return int(bool(self.flags & SLAB_POISON))

    @property
    def red_zone(self) -> int:
        return int(bool(self.flags & SLAB_RED_ZONE))

    @property
    def store_user(self) -> int:
        return int(bool(self.flags & SLAB_STORE_USER))

    @property
    def sanity_checks(self) -> int:
        return int(bool(self.flags & SLAB_CONSISTENCY_CHECKS))

    @property
    def cache_dma(self) -> int:
        return int(bool(self.flags & SLAB_CACHE_DMA))

    @property
    def total_objects(self) -> int:
        return self.total_objects_count

    @property
    def slabs(self) -> int:
        return self.nr_slabs

    @property
    def partial(self) -> int:
        return len(self.node_partial)

    @property
    def pages(self) -> int:
        return self.nr_slabs << self.order

    @property
    def objects_partial(self) -> int:
        return sum(sl.inuse for sl in self.node_partial)

    @property
    def objects(self) -> int:
        """sysfs ``objects``: total minus the free objects on node partial lists."""
        return self.total_objects_count - sum(sl.objects - sl.inuse for sl in self.node_partial)

    @property
    def cpu_slabs(self) -> int:
        return sum((c.slab is not None) + len(c.partial) for c in self.cpu_slab)

    @property
    def free_objects(self) -> int:
        """Objects really free (on any freelist), unlike sysfs ``objects``."""
        n = 0
        for sl in self.slabs_set:
            n += len(sl.freelist)
        for c in self.cpu_slab:
            n += len(c.freelist)
        return n

    def live_objects(self) -> int:
        return self.total_objects_count - self.free_objects

    def __str__(self) -> str:
        return (f"cache {self.name}: object_size={self.object_size} slab_size={self.size} "
                f"align={self.align} order={self.order} objs_per_slab={self.objs_per_slab}")

    __repr__ = __str__


class SlabAllocator:
    """All SLUB caches of one machine plus the kernel-named entry points."""

    def __init__(self, *, page_alloc: PageAllocator, phys: PhysMemory | None, ctx: Any, log: Any,
                 tracer: Any, vmstat: Any, faults: Any, clock: Any, nr_cpus: int,
                 slab_nomerge: bool = False, slub_debug: str | None = None,
                 freelist_random: Any = None) -> None:
        self.page_alloc = page_alloc
        self.phys = phys
        self.ctx = ctx
        self.log = log
        self.tracer = tracer
        self.vmstat = vmstat
        self.faults = faults
        self.clock = clock
        self.nr_cpus = nr_cpus
        self.slab_nomerge = slab_nomerge
        self.debug_blocks = parse_slub_debug(slub_debug)
        # CONFIG_SLAB_FREELIST_RANDOM: a random.Random (the machine's seeded rng) or None
        self.freelist_random = freelist_random
        self.caches: list[KmemCache] = []  # creation order; /proc/slabinfo shows it reversed
        self.by_name: dict[str, KmemCache] = {}  # every name incl. aliases -> cache
        self.slab_by_pfn: dict[int, Slab] = {}
        # Live slab objects: addr -> (caller, requested size).  Drives double-free detection,
        # the leak report and kmalloc's ksize/krealloc.
        self.live: dict[int, tuple[str, int]] = {}
        self.rcu_pending_objects: list[tuple[int, str]] = []  # kfree_rcu
        self.rcu_pending_slabs: list[Slab] = []  # SLAB_TYPESAFE_BY_RCU slab pages
        self.taint: set[str] = set()
        self.warned_once: set[str] = set()
        self.errors = 0  # the slab error counter (every report and every fix-up)
        self._large_free_hook: Callable[[int, str], bool] | None = None

    # ============================================================================ helpers
    def tainted(self) -> str:
        if not self.taint:
            return "Not tainted"
        return "Tainted: " + "".join(c if c in self.taint else ("G" if c == "P" else " ")
                                     for c in _TAINT_ORDER)

    def jiffies(self) -> int:
        return int(INITIAL_JIFFIES + self.clock.ns * HZ // 1_000_000_000) & 0xFFFFFFFFFFFFFFFF

    def _pid(self) -> int:
        return int(getattr(self.ctx.current, "pid", 0))

    def _comm(self) -> str:
        return str(getattr(self.ctx.current, "comm", "kmscript"))

    def warn_lines(self, func: str, msg: str | None = None, file: str = "mm/slub.c") -> list[str]:
        """The head of a WARN()/WARN_ON() report (kernel/panic.c: __warn)."""
        lines = ["------------[ cut here ]------------"]
        if msg:
            lines.append(msg)
        lines.append(f"WARNING: CPU: {self.ctx.cpu} PID: {self._pid()} at {file} {func}")
        lines.append(f"CPU: {self.ctx.cpu} UID: 0 PID: {self._pid()} Comm: {self._comm()} {self.tainted()}".rstrip())
        return lines

    def add_warn_taint(self) -> None:
        self.taint.add("W")

    def paddr(self, addr: int) -> int:
        return addr - PAGE_OFFSET

    def slab_of(self, addr: int) -> Slab | None:
        return self.slab_by_pfn.get((addr - PAGE_OFFSET) >> PAGE_SHIFT)

    def cache_flags_for(self, name: str, flags: int) -> int:
        """mm/slub.c: kmem_cache_flags: add boot-time slab_debug flags."""
        for dbg, names in self.debug_blocks:
            if names is None:
                flags |= dbg
            elif any(_glob_match(p, name) for p in names):
                flags |= dbg
        return flags

    # ============================================================================ creation
    def find_mergeable(self, size: int, align: int, flags: int, name: str, has_ctor: bool) -> KmemCache | None:
        """mm/slab_common.c: find_mergeable (the oldest compatible cache wins)."""
        if self.slab_nomerge or has_ctor:
            return None
        flags = self.cache_flags_for(name, flags)
        if flags & SLAB_NEVER_MERGE:
            return None
        size = g.align_up(size, 8)
        align = g.calculate_alignment(flags, align, size)
        size = g.align_up(size, align)
        for s in self.caches:  # the kernel walks slab_caches in reverse: oldest first
            if s.destroyed or s.boot or not self._mergeable(s):
                continue
            if size > s.size:
                continue
            if (flags & SLAB_MERGE_SAME) != (s.flags & SLAB_MERGE_SAME):
                continue
            if s.size - size >= 8:
                continue
            if s.size & (align - 1):
                continue
            return s
        return None

    def _mergeable(self, s: KmemCache) -> bool:
        """mm/slab_common.c: slab_unmergeable negated."""
        if self.slab_nomerge or (s.flags & SLAB_NEVER_MERGE) or s.ctor or s.usersize:
            return False
        return s.refcount >= 0

    def kmem_cache_create(self, name: str, size: int, align: int = 0, flags: int = 0,
                          ctor: str | bool | None = None, *, usersize: int = 0,
                          freeptr_offset: int | None = None, is_kmalloc: bool = False,
                          caller: str | None = None) -> KmemCache | None:
        """__kmem_cache_create_args: alias to a mergeable cache or create a new one."""
        if not name:
            raise KernelFault("kmem_cache_create: a cache needs a name")
        ctor_name: str | None
        if ctor is True:
            ctor_name = f"{name}_ctor+0x0/0x10"
        elif ctor:
            ctor_name = str(ctor)
        else:
            ctor_name = None
        if align < 0 or (align & (align - 1)):
            raise KernelFault(f"kmem_cache_create({name}): align {align} is not a power of two")
        if size <= 0 or size > g.KMALLOC_MAX_SIZE or size < usersize:
            self._create_failed(name, flags, -22, caller)
            return None
        if not is_kmalloc:
            alias = self.find_mergeable(size, align, flags, name, ctor_name is not None)
            if alias is not None:
                alias.refcount += 1
                alias.object_size = max(alias.object_size, size)
                alias.inuse = max(alias.inuse, g.align_up(size, 8))
                alias.alias_names.append(name)
                self.by_name[name] = alias
                return alias
        flags = self.cache_flags_for(name, flags)
        calign = g.calculate_alignment(flags, align, size)
        try:
            geo = g.calculate_sizes(size, calign, flags, self.nr_cpus, has_ctor=ctor_name is not None,
                                    freeptr_offset=freeptr_offset if flags & SLAB_TYPESAFE_BY_RCU else None)
        except ValueError:
            self._create_failed(name, flags, -22, caller)
            return None
        s = KmemCache(name, size, geo, flags, ctor_name, usersize, self.nr_cpus, is_kmalloc)
        if not self._mergeable(s) or is_kmalloc:
            s.sysfs_name = name
        else:
            s.sysfs_name = g.create_unique_id(s.flags, s.size)
        self.caches.append(s)
        self.by_name[name] = s
        return s

    def _create_failed(self, name: str, flags: int, err: int, caller: str | None) -> None:
        if flags & SLAB_PANIC:
            text = f"Kernel panic - not syncing: __kmem_cache_create_args: Failed to create slab '{name}'. Error {err}"
            self.log.printk(text, "panic")
            raise KernelPanic(text)
        lines = [f"__kmem_cache_create_args({name}) failed with error {err}",
                 f"CPU: {self.ctx.cpu} UID: 0 PID: {self._pid()} Comm: {self._comm()} {self.tainted()}",
                 "Call Trace:", " <TASK>", f" {caller or 'kmem_cache_create'}", " </TASK>"]
        self.log.printk("\n".join(lines), "warn")

    # ============================================================================ slab pages
    def _allocate_slab(self, s: KmemCache, gfp: int) -> Slab | None:
        """mm/slub.c: new_slab/allocate_slab: oo first (NOWARN|NORETRY), then min."""
        if gfp & GFP_SLAB_BUG_MASK:
            gfp = self.kmalloc_fix_flags(gfp)
        flags = gfp | s.allocflags
        alloc_gfp = (flags | _GFP_NOWARN | _GFP_NORETRY) & ~_GFP_NOFAIL
        order = s.order
        if (alloc_gfp & _GFP_DIRECT_RECLAIM) and order > s.geo.min_order:
            alloc_gfp = (alloc_gfp | _GFP_NOMEMALLOC) & ~_GFP_RECLAIM
        pfn = self.page_alloc.alloc_pages(alloc_gfp, order, owner=OWNER_SLAB, caller=s.name)
        objects = s.objs_per_slab
        if pfn is None:
            # allocate_slab: retry at s->min with the caller's gfp (ORDER_FALLBACK)
            order = s.geo.min_order
            objects = s.geo.min_objects
            pfn = self.page_alloc.alloc_pages(flags, order, owner=OWNER_SLAB, caller=s.name)
            if pfn is None:
                self._slab_out_of_memory(s, gfp)
                return None
        slab = Slab(s, pfn, order, objects)
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
        return slab

    def _shuffle_freelist(self, s: KmemCache, first: int, objects: int) -> list[int]:
        """shuffle_freelist: the cache's random sequence (init_cache_random_seq, computed once
        for objs_per_slab entries) walked from a random start for every new slab; entries beyond a
        fallback slab's object count are skipped (next_freelist_entry)."""
        rng = self.freelist_random
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
                 f"CPU: {self.ctx.cpu} UID: 0 PID: {self._pid()} Comm: {self._comm()} {self.tainted()}",
                 "Call Trace:", " <TASK>", " kmalloc_fix_flags", " </TASK>"]
        self.log.printk("\n".join(lines), "warn")
        return fixed

    def discard_slab(self, s: KmemCache, slab: Slab) -> None:
        """dec_slabs_node + free_slab (after a grace period for SLAB_TYPESAFE_BY_RCU)."""
        s.nr_slabs -= 1
        s.total_objects_count -= slab.objects
        s.slabs_set.discard(slab)
        slab.freelist = []
        if s.flags & SLAB_TYPESAFE_BY_RCU:
            slab.where = SLAB_RCU_FREE
            self.rcu_pending_slabs.append(slab)
            return
        self._free_slab_pages(slab)

    def _free_slab_pages(self, slab: Slab) -> None:
        s = slab.cache
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
        ctx.might_alloc(gfp)
        faults = self.faults
        # should_failslab answers False whenever no fault attribute is armed (faults.active)
        if faults.active and faults.should_failslab(s.name, gfp, is_kmalloc):
            return None
        c = s.cpu_slab[ctx.cpu]
        fl = c.freelist
        obj: int | None
        if fl:
            obj = fl.pop()
        else:
            obj = self._slab_alloc_slow(s, c, gfp, req, caller)
            if obj is None:
                return None
        self.live[obj] = (caller, req)
        if gfp & _GFP_ZERO and self.phys is not None:
            zero = req if (s.debug and s.keeps_orig_size) else s.object_size
            self.phys.fill(obj - PAGE_OFFSET, zero, 0)
        return obj

    def _slab_alloc_slow(self, s: KmemCache, c: KmemCacheCpu, gfp: int, req: int, caller: str) -> int | None:
        if s.destroyed:
            raise KernelFault(f"kmem_cache_alloc: cache {s.name} was destroyed (use after kmem_cache_destroy)")
        if s.debug:
            return self._alloc_debug(s, gfp, req, caller)
        cpu = self.ctx.cpu
        slab = c.slab
        if slab is not None:
            if slab.freelist:
                # get_freelist: take the objects other CPUs freed into our cpu slab
                c.freelist = slab.freelist
                slab.freelist = []
                slab.inuse = slab.objects
                return c.freelist.pop()
            # full cpu slab: unfrozen, goes on no list
            slab.where = SLAB_NOLIST
            slab.cpu = -1
            c.slab = None
        while c.partial:
            slab = c.partial.pop()
            if slab.freelist:
                self._activate(c, slab, cpu)
                return c.freelist.pop()
            slab.where = SLAB_NOLIST  # cannot happen in the kernel's accounting; be safe
        if self.node_partial_to_cpu(s, c, cpu):
            return c.freelist.pop()
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
        slab = self.slab_by_pfn.get((addr - PAGE_OFFSET) >> PAGE_SHIFT)
        if slab is None or slab.where == SLAB_RCU_FREE:
            return False
        s = slab.cache
        if expect is not None and expect is not s:
            self._wrong_cache(expect, s, addr)
        if s.debug:
            self._free_debug(s, slab, addr, caller)
            return True
        if self.live.pop(addr, _MISSING) is _MISSING:
            self._bad_free_nodebug(s, slab, addr, api)
            return True
        c = s.cpu_slab[self.ctx.cpu]
        if slab is c.slab:
            c.freelist.append(addr)
        else:
            self._slab_free_slow(s, slab, addr)
        return True

    def _slab_free_slow(self, s: KmemCache, slab: Slab, addr: int) -> None:
        """__slab_free for a slab that is not this CPU's cpu slab."""
        where = slab.where
        prior = bool(slab.freelist)
        slab.freelist.append(addr)
        slab.inuse -= 1
        if where == SLAB_CPU:
            return  # frozen by another CPU: a remote free onto slab->freelist
        if where == SLAB_CPU_PARTIAL:
            return  # on some CPU's partial list: no list change
        if not prior and where == SLAB_NOLIST:
            # the slab was full: it goes to this CPU's partial list
            self.put_cpu_partial(s, slab, drain=True)
            return
        # on the node partial list
        if slab.inuse == 0 and len(s.node_partial) >= s.min_partial:
            s.node_partial.remove(slab)
            self.discard_slab(s, slab)

    def put_cpu_partial(self, s: KmemCache, slab: Slab, drain: bool) -> None:
        if s.cpu_partial_slabs == 0:
            # no cpu partial lists (cpu_partial=0): straight to the node list tail
            slab.where = SLAB_NODE_PARTIAL
            s.node_partial.append(slab)
            return
        cpu = self.ctx.cpu
        c = s.cpu_slab[cpu]
        if drain and c.partial and len(c.partial) >= s.cpu_partial_slabs:
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

    def _wrong_cache(self, expect: KmemCache, real: KmemCache, addr: int) -> None:
        """cache_from_obj: WARN "Wrong slab cache"; the object is freed to its real cache."""
        lines = self.warn_lines("cache_from_obj",
                                f"cache_from_obj: Wrong slab cache. {expect.name} but object is from {real.name}")
        if real.flags & SLAB_STORE_USER:
            lines += self._tracking_lines(real, addr)
        self.add_warn_taint()
        self.log.printk("\n".join(lines), "warn")

    def _bad_free_nodebug(self, s: KmemCache, slab: Slab, addr: int, api: str) -> None:
        c = s.cpu_slab[self.ctx.cpu]
        head = c.freelist[-1] if (slab is c.slab and c.freelist) else (slab.freelist[-1] if slab.freelist else 0)
        if addr == head:
            # CONFIG_SLAB_FREELIST_HARDENED: set_freepointer's BUG_ON(object == fp)
            lines = ["kernel BUG at mm/slub.c: set_freepointer!",
                     "Oops: invalid opcode: 0000 [#1] SMP NOPTI",
                     f"CPU: {self.ctx.cpu} UID: 0 PID: {self._pid()} Comm: {self._comm()} {self.tainted()}",
                     f"RIP: 0010:{api}"]
            self.taint.add("D")
            self.log.printk("\n".join(lines), "bug")
            return
        what = "double free" if self._is_object_start(s, slab, addr) else "invalid pointer"
        self.log.printk(
            f"kmscript: {api}(0x{addr:016x}): {what} in {s.name}; SLUB without slab_debug does not detect "
            f"this (a real kernel corrupts the freelist); boot with slub_debug=F for the kernel's report. "
            f"The free was ignored.", "bug")

    @staticmethod
    def _is_object_start(s: KmemCache, slab: Slab, addr: int) -> bool:
        off = addr - slab.base - s.red_left_pad
        return off >= 0 and off % s.size == 0 and off // s.size < slab.objects

    # ============================================================================ RCU
    def kfree_rcu(self, addr: int, caller: str) -> None:
        if addr <= g.ZERO_SIZE_PTR:
            return
        self.rcu_pending_objects.append((addr, caller))

    def synchronize_rcu(self, free_large: Callable[[int, str], bool] | None = None) -> int:
        """End a grace period: run pending kfree_rcu frees and free deferred RCU slabs."""
        n = 0
        objs, self.rcu_pending_objects = self.rcu_pending_objects, []
        for addr, caller in objs:
            if not self.slab_free(addr, caller, api="kfree_rcu"):
                hook = free_large or self._large_free_hook
                if hook is None or not hook(addr, caller):
                    self.log.printk(f"kfree_rcu: 0x{addr:016x} is not a slab object", "warn")
            n += 1
        slabs, self.rcu_pending_slabs = self.rcu_pending_slabs, []
        for slab in slabs:
            self._free_slab_pages(slab)
            n += 1
        return n

    # ============================================================================ shrink / destroy
    def kmem_cache_shrink(self, s: KmemCache) -> int:
        """__kmem_cache_do_shrink: flush cpus, free empty partial slabs, sort the rest."""
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
                self._list_slab_objects(s, slab)
            lines = self.warn_lines("kmem_cache_destroy",
                                    f"kmem_cache_destroy {s.name}: Slab cache still has objects when called from "
                                    f"{caller or 'kmem_cache_destroy'}", file="mm/slab_common.c")
            self.add_warn_taint()
            self.log.printk("\n".join(lines), "warn")
            return False
        self.synchronize_rcu()
        return True

    def _list_slab_objects(self, s: KmemCache, slab: Slab) -> None:
        """list_slab_objects: one report per slab with live objects."""
        lines = self._slab_bug_lines(s, "Objects remaining on __kmem_cache_shutdown()")
        lines.append(self._slab_info_line(slab))
        free = set(slab.freelist)
        for addr in slab.object_addrs():
            if addr in free or addr not in self.live:
                continue
            lines.append(f"Object 0x{addr:016x} @offset={addr - slab.base}")
            if s.flags & SLAB_STORE_USER:
                lines += self._tracking_lines(s, addr)
        self.taint.add("B")
        self.errors += 1
        self.log.printk("\n".join(lines), "bug")

    # ============================================================================ debug: layout
    def _setup_slab_debug(self, s: KmemCache, slab: Slab) -> None:
        """setup_slab_debug + setup_object_debug: POISON_INUSE over the slab, then each object."""
        phys = self.phys
        if phys is None:
            return
        if s.flags & SLAB_POISON:
            phys.fill(slab.base - PAGE_OFFSET, PAGE_SIZE << slab.order, POISON_INUSE)
        if s.flags & (SLAB_STORE_USER | SLAB_RED_ZONE | OBJECT_POISON):
            for obj in slab.object_addrs():
                self._init_object(s, obj, SLUB_RED_INACTIVE)
        fl = slab.freelist
        for i, obj in enumerate(fl):
            self._set_freepointer(s, obj, fl[i - 1] if i else 0)

    def _set_freepointer(self, s: KmemCache, obj: int, nxt: int) -> None:
        if self.phys is not None:
            self.phys.write(obj - PAGE_OFFSET + s.offset, nxt.to_bytes(8, "little"))

    def _get_freepointer(self, s: KmemCache, obj: int) -> int:
        if self.phys is None:
            return 0
        return int.from_bytes(self.phys.read(obj - PAGE_OFFSET + s.offset, 8), "little")

    def _init_object(self, s: KmemCache, obj: int, val: int) -> None:
        """mm/slub.c: init_object."""
        phys = self.phys
        if phys is None:
            return
        p = obj - PAGE_OFFSET
        poison_size = s.object_size
        if s.flags & SLAB_RED_ZONE:
            phys.fill(p - s.red_left_pad, s.red_left_pad, val)
            if s.keeps_orig_size and val == SLUB_RED_ACTIVE:
                poison_size = s.orig_size.get(obj, s.object_size)
        if s.flags & OBJECT_POISON:
            if poison_size > 1:
                phys.fill(p, poison_size - 1, POISON_FREE)
            if poison_size >= 1:
                phys.fill(p + poison_size - 1, 1, POISON_END)
        if s.flags & SLAB_RED_ZONE and s.inuse > poison_size:
            phys.fill(p + poison_size, s.inuse - poison_size, val)

    def _check_valid_pointer(self, s: KmemCache, slab: Slab, obj: int) -> bool:
        if obj == 0:
            return True
        base = slab.base
        if obj < base or obj >= base + slab.objects * s.size:
            return False
        return (obj - base - s.red_left_pad) % s.size == 0

    def _info_end(self, s: KmemCache) -> int:
        return s.inuse + 8 if s.offset >= s.inuse else s.inuse

    def _pad_start(self, s: KmemCache) -> int:
        off = self._info_end(s)
        if s.flags & SLAB_STORE_USER:
            off += 2 * g.SIZEOF_TRACK
            if s.flags & SLAB_KMALLOC:
                off += 4
        return off

    # ============================================================================ debug: reports
    def _slab_bug_lines(self, s: KmemCache | None, reason: str) -> list[str]:
        return ["=============================================================================",
                f"BUG {s.name if s else '<unknown>'} ({self.tainted()}): {reason}",
                "-----------------------------------------------------------------------------",
                ""]

    def _slab_info_line(self, slab: Slab) -> str:
        s = slab.cache
        zone = 0 if slab.pfn < 4096 else 1 if slab.pfn < (1 << 20) else 2
        pflags = (zone << 56) | (0x40 if slab.order else 0)
        names = ("head|" if slab.order else "") + f"node=0|zone={zone}"
        if slab.where == SLAB_CPU:
            c = s.cpu_slab[slab.cpu]
            fp = c.freelist[-1] if c.freelist else 0
            used = slab.objects - len(c.freelist) - len(slab.freelist)
        else:
            fp = slab.freelist[-1] if slab.freelist else 0
            used = slab.inuse
        return (f"Slab 0x{pfn_to_struct_page(slab.pfn):016x} objects={slab.objects} used={used} "
                f"fp=0x{fp:016x} flags=0x{pflags:x}({names})")

    def _tracking_lines(self, s: KmemCache, obj: int) -> list[str]:
        out: list[str] = []
        now = self.jiffies()
        tr = s.tracks.get(obj)
        if not tr:
            return out
        for label, t in zip(("Allocated", "Freed"), tr):
            if t is None:
                continue
            where, cpu, pid, when = t
            out.append(f"{label} in {where} age={now - when} cpu={cpu} pid={pid}")
        return out

    def _hexdump(self, text: str, addr: int, length: int) -> list[str]:
        """print_hex_dump(KERN_ERR, text, DUMP_PREFIX_ADDRESS, 16, 1, addr, length, 1)."""
        if length <= 0 or self.phys is None:
            return []
        data = self.phys.read(addr - PAGE_OFFSET, length)
        out = []
        for i in range(0, length, 16):
            chunk = data[i:i + 16]
            hexpart = " ".join(f"{b:02x}" for b in chunk)
            asc = "".join(chr(b) if 32 <= b < 127 else "." for b in chunk)
            out.append(f"{text}{addr + i:016x}: {hexpart:<49}{asc}")
        return out

    def _trailer_lines(self, s: KmemCache, slab: Slab, p: int) -> list[str]:
        """print_trailer."""
        lines = self._tracking_lines(s, p) if s.flags & SLAB_STORE_USER else []
        lines.append(self._slab_info_line(slab))
        lines.append(f"Object 0x{p:016x} @offset={p - slab.base} fp=0x{self._get_freepointer(s, p):016x}")
        lines.append("")
        if s.flags & SLAB_RED_ZONE:
            lines += self._hexdump("Redzone  ", p - s.red_left_pad, s.red_left_pad)
        elif p > slab.base + 16:
            lines += self._hexdump("Bytes b4 ", p - 16, 16)
        lines += self._hexdump("Object   ", p, min(s.object_size, PAGE_SIZE))
        if s.flags & SLAB_RED_ZONE:
            lines += self._hexdump("Redzone  ", p + s.object_size, s.inuse - s.object_size)
        off = self._pad_start(s)
        size_from_object = s.size - s.red_left_pad
        if off != size_from_object:
            lines += self._hexdump("Padding  ", p + off, size_from_object - off)
        return lines

    def _object_err_lines(self, s: KmemCache, slab: Slab, obj: int, reason: str) -> list[str]:
        """object_err: banner, trailer, taint B, WARN_ON(1)."""
        lines = self._slab_bug_lines(s, reason)
        if not self._check_valid_pointer(s, slab, obj):
            lines.append(self._slab_info_line(slab))
            lines.append(f"Invalid pointer 0x{obj:016x}")
        else:
            lines += self._trailer_lines(s, slab, obj)
        self.taint.add("B")
        lines += self.warn_lines("object_err")
        self.taint.add("W")
        return lines

    def _slab_err(self, s: KmemCache, slab: Slab, reason: str, fix: str | None = None) -> None:
        """slab_err (+ slab_fix): banner, slab info, stack; each counts as one error."""
        lines = self._slab_bug_lines(s, reason)
        lines.append(self._slab_info_line(slab))
        lines.append(f"CPU: {self.ctx.cpu} UID: 0 PID: {self._pid()} Comm: {self._comm()} {self.tainted()}".rstrip())
        self.taint.add("B")
        self.errors += 1
        if fix is not None:
            lines.append(f"FIX {s.name}: {fix}")
            self.errors += 1
        self.log.printk("\n".join(lines), "bug")

    def _object_err(self, s: KmemCache, slab: Slab, obj: int, reason: str, fix: str | None = None) -> None:
        lines = self._object_err_lines(s, slab, obj, reason)
        self.errors += 1
        if fix is not None:
            lines.append(f"FIX {s.name}: {fix}")
            self.errors += 1
        self.log.printk("\n".join(lines), "bug")

    def _check_bytes(self, s: KmemCache, slab: Slab, obj: int, what: str, start: int, value: int, n: int,
                     print_obj: bool) -> bool:
        """check_bytes_and_report: [what overwritten] line, object dump (first failure), FIX."""
        if n <= 0 or self.phys is None:
            return True
        data = self.phys.read(start - PAGE_OFFSET, n)
        pattern = bytes((value,)) * n
        if data == pattern:
            return True
        first = next(i for i in range(n) if data[i] != value)
        last = max(i for i in range(n) if data[i] != value)
        fault = start + first
        end = start + last + 1
        lines = [f"[{what} overwritten] 0x{fault:016x}-0x{end - 1:016x} @offset={fault - slab.base}. "
                 f"First byte 0x{data[first]:x} instead of 0x{value:x}"]
        self.errors += 1
        if print_obj:
            lines += self._object_err_lines(s, slab, obj, "Object corrupt")
        self.phys.fill(fault - PAGE_OFFSET, end - fault, value)
        lines.append(f"FIX {s.name}: Restoring {what} 0x{fault:016x}-0x{end - 1:016x}=0x{value:x}")
        self.errors += 1
        self.log.printk("\n".join(lines), "bug")
        return False

    def _check_pad_bytes(self, s: KmemCache, slab: Slab, p: int, print_obj: bool) -> bool:
        off = self._pad_start(s)
        size_from_object = s.size - s.red_left_pad
        if off == size_from_object:
            return True
        return self._check_bytes(s, slab, p, "Object padding", p + off, POISON_INUSE,
                                 size_from_object - off, print_obj)

    def check_object(self, s: KmemCache, slab: Slab, p: int, val: int) -> bool:
        """mm/slub.c: check_object (6.18 ordering)."""
        ret = True
        endobject = p + s.object_size
        if s.flags & SLAB_RED_ZONE:
            if not self._check_bytes(s, slab, p, "Left Redzone", p - s.red_left_pad, val, s.red_left_pad, ret):
                ret = False
            if not self._check_bytes(s, slab, p, "Right Redzone", endobject, val, s.inuse - s.object_size, ret):
                ret = False
            if s.keeps_orig_size and val == SLUB_RED_ACTIVE:
                orig = s.orig_size.get(p, s.object_size)
                if s.object_size > orig and not self._check_bytes(s, slab, p, "kmalloc Redzone", p + orig, val,
                                                                  s.object_size - orig, ret):
                    ret = False
        elif (s.flags & SLAB_POISON) and s.object_size < s.inuse:
            if not self._check_bytes(s, slab, p, "Alignment padding", endobject, POISON_INUSE,
                                     s.inuse - s.object_size, ret):
                ret = False
        if s.flags & SLAB_POISON:
            if val != SLUB_RED_ACTIVE and (s.flags & OBJECT_POISON):
                if s.object_size > 1 and not self._check_bytes(s, slab, p, "Poison", p, POISON_FREE,
                                                               s.object_size - 1, ret):
                    ret = False
                if not self._check_bytes(s, slab, p, "End Poison", p + s.object_size - 1, POISON_END, 1, ret):
                    ret = False
            if not self._check_pad_bytes(s, slab, p, ret):
                ret = False
        if (s.offset >= s.inuse or val != SLUB_RED_ACTIVE) and \
                not self._check_valid_pointer(s, slab, self._get_freepointer(s, p)):
            self._object_err(s, slab, p, "Freepointer corrupt")
            self._set_freepointer(s, p, 0)
            ret = False
        return ret

    # ============================================================================ debug: alloc/free
    def _set_track(self, s: KmemCache, obj: int, idx: int, caller: str) -> None:
        tr = s.tracks.get(obj)
        if tr is None:
            tr = s.tracks[obj] = [None, None]
        tr[idx] = (caller, self.ctx.cpu, self._pid(), self.jiffies())

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

    def _add_full(self, s: KmemCache, slab: Slab) -> None:
        if s.flags & SLAB_STORE_USER:
            slab.where = SLAB_FULL
            s.full.add(slab)
        else:
            slab.where = SLAB_NOLIST

    def _alloc_debug_processing(self, s: KmemCache, slab: Slab, obj: int, req: int, caller: str) -> bool:
        if s.flags & SLAB_CONSISTENCY_CHECKS:
            if not self._check_object_quiet_fixup(s, slab, obj, SLUB_RED_INACTIVE):
                self._slab_fix(s, "Marking all objects used")
                return False
        if s.flags & SLAB_STORE_USER:
            self._set_track(s, obj, 0, caller)
        self._trace(s, slab, obj, True)
        if s.keeps_orig_size:
            s.orig_size[obj] = req
        self._init_object(s, obj, SLUB_RED_ACTIVE)
        return True

    def _trace(self, s: KmemCache, slab: Slab, obj: int, alloc: bool) -> None:
        """mm/slub.c: trace() for slab_debug=T (SLAB_TRACE); the stack dump is left out."""
        if not s.flags & SLAB_TRACE:
            return
        fp = slab.freelist[-1] if slab.freelist else 0
        lines = [f"TRACE {s.name} {'alloc' if alloc else 'free'} 0x{obj:016x} inuse={slab.inuse} fp=0x{fp:016x}"]
        if not alloc:
            lines += self._hexdump("Object ", obj, s.object_size)
        self.log.printk("\n".join(lines), "info")

    def _check_object_quiet_fixup(self, s: KmemCache, slab: Slab, obj: int, val: int) -> bool:
        return self.check_object(s, slab, obj, val)

    def _slab_fix(self, s: KmemCache, text: str) -> None:
        self.errors += 1
        self.log.printk(f"FIX {s.name}: {text}", "bug")

    def _free_debug(self, s: KmemCache, slab: Slab, addr: int, caller: str) -> None:
        """free_to_partial_list with free_debug_processing."""
        if slab.where == SLAB_DEAD:
            self.live.pop(addr, None)
            return  # objects of a consistency-failed slab are leaked on free, as the kernel does
        ok = True
        if s.flags & SLAB_CONSISTENCY_CHECKS:
            if not self._check_valid_pointer(s, slab, addr):
                self._slab_err(s, slab, f"Invalid object pointer 0x{addr:016x}")
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
            self._slab_fix(s, f"Object at 0x{addr:016x} not freed")
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

    def _on_freelist(self, s: KmemCache, slab: Slab) -> bool:
        """on_freelist(s, slab, NULL): walk the free pointers stored in the objects.

        The chain in memory is the truth here, as in the kernel: a corrupted pointer cuts the
        chain (the objects behind it are lost until the pointer is repaired), and the slab's
        in-use counter is corrected to what the walk found.
        """
        if not s.debug:
            return True
        fl = slab.freelist
        chain: list[int] = []
        if fl:
            obj = fl[-1]
            chain.append(obj)
            while True:
                fp = self._get_freepointer(s, obj)
                if fp == 0:
                    break
                if not self._check_valid_pointer(s, slab, fp):
                    self._object_err(s, slab, obj, "Freechain corrupt")
                    self._set_freepointer(s, obj, 0)
                    break
                if len(chain) >= slab.objects:
                    self._slab_err(s, slab, "Freelist cycle detected", "Freelist cleared")
                    slab.freelist = []
                    slab.inuse = slab.objects
                    return False
                chain.append(fp)
                obj = fp
        slab.freelist = chain[::-1]
        nr = len(chain)
        if slab.inuse != slab.objects - nr:
            self._slab_err(s, slab, f"Wrong object count. Counter is {slab.inuse} but counted were "
                                    f"{slab.objects - nr}", "Object count adjusted")
            slab.inuse = slab.objects - nr
        return True

    def _slab_pad_check(self, s: KmemCache, slab: Slab) -> bool:
        """slab_pad_check: the bytes after the last object stay POISON_INUSE (SLAB_POISON)."""
        if not s.flags & SLAB_POISON or self.phys is None:
            return True
        length = PAGE_SIZE << slab.order
        remainder = length % s.size
        if not remainder:
            return True
        pad = slab.base + length - remainder
        data = self.phys.read(pad - PAGE_OFFSET, remainder)
        bad = [i for i in range(remainder) if data[i] != POISON_INUSE]
        if not bad:
            return True
        fault = pad + bad[0]
        end = pad + bad[-1] + 1
        lines = self._slab_bug_lines(s, f"Padding overwritten. 0x{fault:016x}-0x{end - 1:016x} "
                                        f"@offset={fault - slab.base}")
        lines += self._hexdump("Padding ", pad, remainder)
        self.phys.fill(fault - PAGE_OFFSET, end - fault, POISON_INUSE)
        lines.append(f"FIX {s.name}: Restoring slab padding 0x{fault:016x}-0x{end - 1:016x}=0x{POISON_INUSE:x}")
        self.taint.add("B")
        self.errors += 2
        self.log.printk("\n".join(lines), "bug")
        return False

    def _validate_slab(self, s: KmemCache, slab: Slab) -> None:
        # check_slab ends with slab_pad_check; a padding error does not stop the validation
        self._slab_pad_check(s, slab)
        if not self._on_freelist(s, slab):
            return
        free = set(slab.freelist)
        for p in slab.object_addrs():
            val = SLUB_RED_INACTIVE if p in free else SLUB_RED_ACTIVE
            if not self.check_object(s, slab, p, val):
                break

    # ============================================================================ queries
    def caches_visible(self) -> list[KmemCache]:
        """/proc/slabinfo order: newest cache first (slab_caches is a list with list_add)."""
        return list(reversed(self.caches))

    def find_cache(self, name: str) -> KmemCache | None:
        return self.by_name.get(name)

    def object_state(self, s: KmemCache, slab: Slab, addr: int) -> str:
        if addr in self.live:
            return "allocated"
        if slab.where == SLAB_CPU:
            c = s.cpu_slab[slab.cpu]
            if addr in c.freelist:
                return "free(cpu)"
        if addr in slab.freelist:
            return "free"
        return "lost"

    def slabinfo_row(self, s: KmemCache) -> tuple[int, int, int]:
        """(active_objs, num_objs, num_slabs) as get_slabinfo computes them."""
        total = s.total_objects_count
        free_partial = sum(sl.objects - sl.inuse for sl in s.node_partial)
        return total - free_partial, total, s.nr_slabs

    def iter_slabs(self, s: KmemCache) -> Iterable[Slab]:
        return sorted(s.slabs_set, key=lambda x: x.pfn)
