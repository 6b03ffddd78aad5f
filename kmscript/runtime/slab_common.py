"""mm/slab_common.c: the cache registry, merging, creation and the slab_debug= parser.

What it models: kmem_cache_create (__kmem_cache_alias/find_mergeable, unique sysfs
names, the failure report), kmem_cache_flags applying slab_debug= blocks to caches by name
(a trailing '*' matches a prefix), the taint banner of SLUB reports, the caches list that
/proc/slabinfo walks, and the state every SLUB layer shares (``SlabCommon`` is the bottom
of the stack slab_common -> slub_debug -> slab).

Invariant: every cache name, alias included, maps to exactly one live cache.
"""

from __future__ import annotations

import random

from typing import Callable, Iterable

from . import slab_geometry as g
from .bug_sites import Site
from .errors import KernelFault, KernelPanic
from .context import ExecContext
from .events import Clock, Rcu
from .fault_inject import FaultInjector
from .printk import KernelLog
from .trace import Tracer
from .vmstat import VmStat
from .arch import Arch
from .mm_types import PAGE_SHIFT, PageAllocator, PhysMemory
from .slab_geometry import (SLAB_CONSISTENCY_CHECKS, SLAB_MERGE_SAME, SLAB_NEVER_MERGE, SLAB_PANIC,
                            SLAB_POISON, SLAB_RED_ZONE, SLAB_STORE_USER, SLAB_TRACE, SLAB_TYPESAFE_BY_RCU,
                            DEBUG_DEFAULT_FLAGS)
from .slab_types import SLAB_CPU, KasanSlabHooks, LiveObjects, Slab, KmemCache


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


def glob_match(pattern: str, name: str) -> bool:
    # kmem_cache_flags: a trailing '*' matches a prefix
    if pattern.endswith("*"):
        return name.startswith(pattern[:-1])
    return name == pattern



class SlabCommon:
    """The caches of one machine and the state every SLUB layer reads (mm/slab_common.c)."""

    def __init__(self, *, arch: Arch, page_alloc: PageAllocator, phys: PhysMemory | None, ctx: ExecContext,
                 log: KernelLog,
                 rcu: Rcu, tracer: Tracer, vmstat: VmStat, faults: FaultInjector, clock: Clock, nr_cpus: int,
                 slab_nomerge: bool = False, slub_debug: str | None = None,
                 freelist_random: random.Random | None = None, kasan: bool = False) -> None:
        self.arch = arch
        self.page_offset = arch.page_offset  # the direct map, read on every object address
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
        # CONFIG_KASAN_GENERIC: every cache gets KASAN's metadata (kasan_cache_create); the
        # KASAN runtime (kasan.py) hooks into the alloc/free paths once installed
        self.kasan_meta = kasan
        self.kasan: KasanSlabHooks | None = None
        # CONFIG_SLAB_FREELIST_RANDOM: a random.Random (the machine's seeded rng) or None
        self.freelist_random = freelist_random
        self.caches: list[KmemCache] = []  # creation order; /proc/slabinfo shows it reversed
        self.by_name: dict[str, KmemCache] = {}  # every name incl. aliases -> cache
        self.slab_by_pfn: dict[int, Slab] = {}
        # Live slab objects: addr -> (caller, requested size), kept per slab (slab_types.py)
        self.live = LiveObjects(self.slab_by_pfn, arch.page_offset)
        # RCU (events.Rcu): kfree_rcu objects (address, caller, the kmalloc layer's free
        # of a large object) and SLAB_TYPESAFE_BY_RCU slab pages wait for a grace period;
        # one batch callback per grace period frees them, objects first
        self.rcu = rcu
        self.rcu_pending_objects: list[tuple[int, str, Callable[[int], bool] | None]] = []
        self.rcu_pending_slabs: list[Slab] = []
        self._rcu_batch_queued = False
        self.warned_once: set[str] = set()
        self.errors = 0  # the slab error counter (every report and every fix-up)

    def install_kasan(self, kasan: KasanSlabHooks) -> None:
        """Connect the KASAN runtime (kasan.py, built on top of this layer) to the slab
        hooks mm/slub.c calls: kasan_poison_slab, kasan_slab_alloc/kmalloc, kasan_slab_free."""
        self.kasan = kasan

    # ============================================================================ helpers
    def tainted(self) -> str:
        """print_tainted() of the machine (kernel/panic.c, taint.py)."""
        return str(self.ctx.print_tainted())

    def jiffies(self) -> int:
        return int(self.clock.jiffies()) & self.arch.ulong_max  # jiffies is an unsigned long

    def _pid(self) -> int:
        return self.ctx.current.pid

    def _comm(self) -> str:
        return self.ctx.current.comm

    def warn_lines(self, site: Site, msg: str | None = None, frames: tuple[str, ...] = ()) -> list[str]:
        """A WARN()/WARN_ON() report at ``site`` (kernel/panic.c: __warn): the cut-here line,
        the message, ``WARNING: ...``, dump_stack with ``frames`` (the callers of
        ``site.func``, innermost first) and the end marker; the caller adds TAINT_WARN."""
        lines = ["------------[ cut here ]------------"]
        if msg:
            lines.append(msg)
        lines += self.ctx.warn_report(site, frames)
        return lines

    def add_warn_taint(self) -> None:
        self.ctx.add_taint("W")

    def paddr(self, addr: int) -> int:
        return addr - self.page_offset

    def live_count(self) -> int:
        """The number of allocated slab objects."""
        return len(self.live)

    def slab_of(self, addr: int) -> Slab | None:
        return self.slab_by_pfn.get((addr - self.page_offset) >> PAGE_SHIFT)

    def cache_flags_for(self, name: str, flags: int) -> int:
        """mm/slub.c: kmem_cache_flags: add boot-time slab_debug flags."""
        for dbg, names in self.debug_blocks:
            if names is None:
                flags |= dbg
            elif any(glob_match(p, name) for p in names):
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
        size = g.align_up(size, self.arch.pointer_size)  # ALIGN(size, sizeof(void *))
        align = g.calculate_alignment(flags, align, size, self.arch)
        size = g.align_up(size, align)
        for s in self.caches:  # the kernel walks slab_caches in reverse: oldest first
            if s.destroyed or s.boot or not self._mergeable(s):
                continue
            if size > s.size:
                continue
            if (flags & SLAB_MERGE_SAME) != (s.flags & SLAB_MERGE_SAME):
                continue
            if s.size - size >= self.arch.pointer_size:  # sizeof(void *)
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
                alias.inuse = max(alias.inuse, g.align_up(size, self.arch.pointer_size))  # __kmem_cache_alias
                alias.alias_names.append(name)
                self.by_name[name] = alias
                return alias
        flags = self.cache_flags_for(name, flags)
        calign = g.calculate_alignment(flags, align, size, self.arch)
        try:
            geo = g.calculate_sizes(size, calign, flags, self.nr_cpus, has_ctor=ctor_name is not None,
                                    freeptr_offset=freeptr_offset if flags & SLAB_TYPESAFE_BY_RCU else None,
                                    arch=self.arch, kasan=self.kasan_meta,
                                    slub_debug_enabled=any(f for f, _ in self.debug_blocks))
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
                 self.ctx.dump_stack_header(),
                 "Call Trace:", " <TASK>", f" {caller or 'kmem_cache_create'}", " </TASK>"]
        self.log.printk("\n".join(lines), "warn")

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
