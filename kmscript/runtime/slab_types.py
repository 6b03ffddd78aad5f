"""The SLUB data structures: struct slab, struct kmem_cache_cpu and struct kmem_cache.

What it models: mm/slab.h and include/linux/slub_def.h - a slab (one compound page cut
into objects), the per-CPU cpu slab with its lockless freelist and cpu partial list, and
the cache with its geometry (slab_geometry.py), node partial list and the attributes
/sys/kernel/slab/<cache>/ shows (mm/slub.c's sysfs section: slab_size, objects, partial,
cpu_slabs, ...); plus the poison and red-zone byte values (include/linux/poison.h) and
where a slab currently sits (cpu slab, cpu partial, node partial, full, RCU wait).

Invariants: per cache, the sum of slab.objects is total_objects; live + free objects ==
total; a slab sits on exactly one list (``where``).
"""

from __future__ import annotations

from array import array
from collections import deque
from typing import Iterator, Protocol

from . import slab_geometry as g
from . import gfp as _gfp
from .mm_types import PAGE_SHIFT, PAGE_SIZE
from .slab_geometry import (SLAB_CACHE_DMA, SLAB_CACHE_DMA32, SLAB_CONSISTENCY_CHECKS, SLAB_HWCACHE_ALIGN,
                            SLAB_KMALLOC, SLAB_POISON, SLAB_RECLAIM_ACCOUNT, SLAB_RED_ZONE, SLAB_STORE_USER,
                            SLAB_TYPESAFE_BY_RCU, Geometry)

# module-level aliases: double-underscore names would be mangled inside classes
_GFP_COMP = _gfp.__GFP_COMP
_GFP_DMA = _gfp.__GFP_DMA
_GFP_DMA32 = _gfp.__GFP_DMA32
_GFP_RECLAIMABLE = _gfp.__GFP_RECLAIMABLE


# include/linux/poison.h
POISON_INUSE = 0x5A
POISON_FREE = 0x6B
POISON_END = 0xA5
SLUB_RED_INACTIVE = 0xBB
SLUB_RED_ACTIVE = 0xCC

SHRINK_PROMOTE_MAX = 32
# include/linux/slab.h: GFP_SLAB_BUG_MASK = __GFP_DMA32 | __GFP_HIGHMEM | ~__GFP_BITS_MASK
GFP_SLAB_BUG_MASK = _gfp.__GFP_DMA32 | _gfp.__GFP_HIGHMEM | (~_gfp.__GFP_BITS_MASK & 0xFFFFFFFF)

# where a slab is (the kernel tracks this with frozen / SL_partial / list membership)
SLAB_NOLIST = 0      # full slab of a non-debug cache: on no list
SLAB_NODE_PARTIAL = 1
SLAB_CPU_PARTIAL = 2
SLAB_CPU = 3         # the cpu slab (frozen)
SLAB_FULL = 4        # debug caches with STORE_USER: node full list
SLAB_RCU_FREE = 5    # empty slab of a SLAB_TYPESAFE_BY_RCU cache waiting for a grace period
SLAB_DEAD = 6        # failed consistency checks: marked all-used and frozen forever

MISSING = object()


class KasanSlabHooks(Protocol):
    """What SLUB and kmalloc call into generic KASAN (mm/slub.c, mm/slab_common.c ->
    include/linux/kasan.h); implemented by kasan.Kasan."""

    def poison_slab(self, slab: "Slab") -> None: ...
    def release_slab(self, slab: "Slab") -> None: ...
    def slab_alloc(self, s: "KmemCache", obj: int, req: int, gfp: int, caller: str, is_kmalloc: bool) -> None: ...
    def slab_free(self, s: "KmemCache", slab: "Slab", addr: int, caller: str, api: str) -> bool: ...
    def kmalloc_large(self, ptr: int, size: int, order: int, gfp: int, caller: str) -> None: ...
    def kfree_large(self, addr: int, head: int, order: int, caller: str) -> bool: ...
    def krealloc(self, addr: int, new_size: int, s: "KmemCache | None", ks: int) -> None: ...
    def check_byte(self, addr: int, caller: str, func: str) -> bool: ...
    def is_quarantined(self, addr: int) -> bool: ...
    def remove_cache(self, s: "KmemCache") -> None: ...


class LiveObjects:
    """The allocated slab objects: address -> (caller, requested size).

    It drives double-free detection, the leak report and kmalloc's ksize/krealloc, and at
    millions of live objects it is most of the host memory a machine uses, so it is not a
    dict of tuples: each slab keeps one 4-byte record id per object slot (``Slab.owners``,
    0 = free) and the (caller, size) pairs are stored once in ``records``, shared by every
    object allocated from the same call site with the same size.  An address is found
    through the slab that holds its page (``slab_by_pfn``, the kernel's virt_to_slab) and
    its object index.  Nothing here is a garbage-collected container per object.

    Invariant: an object is live iff its slab's owners slot is non-zero.
    """

    def __init__(self, slab_by_pfn: dict[int, Slab], page_offset: int) -> None:
        self.slab_by_pfn = slab_by_pfn
        self.page_offset = page_offset  # the direct map (Arch.page_offset): address -> pfn
        self.records: list[tuple[str, int]] = [("", 0)]  # id 0: a free slot
        self.ids: dict[tuple[str, int], int] = {}

    def record_id(self, caller: str, size: int) -> int:
        key = (caller, size)
        rid = self.ids.get(key)
        if rid is None:
            rid = self.ids[key] = len(self.records)
            self.records.append(key)
        return rid

    def _find(self, addr: int) -> tuple[Slab | None, int]:
        slab = self.slab_by_pfn.get((addr - self.page_offset) >> PAGE_SHIFT)
        if slab is None:
            return None, -1
        return slab, slab.slot(addr)

    def __setitem__(self, addr: int, value: tuple[str, int]) -> None:
        slab, i = self._find(addr)
        if slab is None or i < 0:
            raise KeyError(f"0x{addr:x} is not a slab object")
        slab.owners[i] = self.record_id(*value)

    def get(self, addr: int) -> tuple[str, int] | None:
        slab, i = self._find(addr)
        if slab is None or i < 0:
            return None
        rid = slab.owners[i]
        return self.records[rid] if rid else None

    def __contains__(self, addr: object) -> bool:
        return isinstance(addr, int) and self.get(addr) is not None

    def pop(self, addr: int, default: object = MISSING) -> object:
        slab, i = self._find(addr)
        rid = slab.owners[i] if slab is not None and i >= 0 else 0
        if not rid:
            if default is MISSING:
                raise KeyError(addr)
            return default
        assert slab is not None
        slab.owners[i] = 0
        return self.records[rid]

    def release(self, slab: Slab, addr: int) -> bool:
        """Mark the object at addr of slab free; False if it was not live there."""
        i = slab.slot(addr)
        if i < 0 or not slab.owners[i]:
            return False
        slab.owners[i] = 0
        return True

    def __len__(self) -> int:
        return sum(len(sl.owners) - sl.owners.count(0) for sl in set(self.slab_by_pfn.values()))

    def items(self) -> list[tuple[int, tuple[str, int]]]:
        """Every live object with its record, in address order."""
        out: list[tuple[int, tuple[str, int]]] = []
        records = self.records
        for slab in sorted(set(self.slab_by_pfn.values()), key=lambda sl: sl.pfn):
            owners = slab.owners
            if not any(owners):
                continue
            size = slab.cache.size
            for i, rid in enumerate(owners):
                if rid:
                    out.append((slab.first + i * size, records[rid]))
        return out

    def __iter__(self) -> Iterator[int]:
        return iter([addr for addr, _rec in self.items()])


class Slab:
    """struct slab: one compound page of ``1 << order`` pages cut into objects."""

    __slots__ = ("cache", "pfn", "order", "base", "first", "objects", "inuse", "freelist", "where", "cpu",
                 "owners")

    def __init__(self, cache: "KmemCache", pfn: int, order: int, objects: int, base: int) -> None:
        self.cache = cache
        self.pfn = pfn
        self.order = order
        self.base = base  # page_address(pfn): the direct-map address of the first page
        self.first = self.base + cache.red_left_pad  # object i is at first + i * cache.size
        self.objects = objects
        # per object slot: the LiveObjects record id of its allocation, 0 while it is free.
        # One slot per object stride up to the end of the slab's pages (the slots past
        # ``objects`` stay 0), so any offset from ``first`` inside the slab has a slot.
        slots = ((PAGE_SIZE << order) - 1 - cache.red_left_pad) // cache.size + 1
        self.owners = array("I", bytes(4 * slots))
        self.inuse = 0
        # Free objects of this slab not owned by a CPU; the END of the list is the head.
        self.freelist: list[int] = []
        self.where = SLAB_NOLIST
        self.cpu = -1

    def object_addrs(self) -> list[int]:
        size = self.cache.size
        return [self.first + i * size for i in range(self.objects)]

    def slot(self, addr: int) -> int:
        """The object index of addr, or -1 if addr is not the start of an object."""
        off = addr - self.first
        size = self.cache.size
        if off < 0 or off % size:
            return -1
        i = off // size
        return i if i < self.objects else -1

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
