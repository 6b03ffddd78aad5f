"""The Machine facade: one simulated Linux machine (x86_64 or i386, runtime/arch/).

The language layer reaches the runtime only through this class and the handle objects
its methods return (pages, caches, tasks, zones).  Methods carry kernel names
(``alloc_pages``, ``kmalloc``, ``vmalloc``, ``alloc_percpu`` ...) and kernel argument
order; sizes are bytes, orders are page orders, gfp masks are ints with the bit values of
include/linux/gfp_types.h.

A Machine is built from a :class:`MachineConfig` and owns, in the kernel's layering:
clock and kernel log -> execution context -> page allocator (zones, buddy, pcp) -> SLUB
and kmalloc -> vmalloc -> per-cpu allocator and kernel stacks -> tasks, page cache,
reclaim and the OOM killer.  Each layer receives the lower ones by constructor injection.

Determinism: the only randomness is ``self.rng``, seeded from ``config.seed``.

Handle attribute protocol: a handle class lists the attributes a script may read in a
class attribute ``KMS_ATTRS`` (a frozenset of names).  Nothing else is visible to scripts.
"""

from __future__ import annotations

import random
import zlib
from typing import Any

from .compaction import Compaction
from .arch import Arch, get_arch, physmem_limit, with_la57
from .config import NR_CPUS_MAX, MachineConfig
from .context import ExecContext
from .errors import KernelFault
from .events import Clock, EventQueue, Rcu
from .fault_inject import FaultInjector
from .gfp import GFP_HIGHUSER_MOVABLE, GFP_KERNEL, __GFP_HIGHMEM, __GFP_ZERO
from .internal import MAX_RECLAIM_RETRIES
from .kasan import Kasan, UncheckedAccessHint, check_supported, kasan_thread_size
from .kmalloc import Kmalloc
from .highmem import Highmem
from .kstack import KernelStacks
from .limits import PAGE_WORK, WorkMeter
from .maccess import KernelMemory
from .mm_types import (OWNER_FILE, OWNER_KERNEL, OWNER_KSTACK, OWNER_PAGETABLE, OWNER_PERCPU, OWNER_USER,
                       OWNER_VMALLOC, PAGE_SHIFT, PAGE_SIZE)
from .oom import OomKiller, show_mem
from .page_alloc import PageAllocator
from .pagecache import AllocSite, LruVec, PageCache, Rmap
from .percpu import PerCpu
from .physmem import PhysMem
from .printk import KernelLog
from .reclaim import Reclaim, ReclaimHooks
from .slab import SlabAllocator
from .slab_geometry import KMALLOC_MAX_CACHE_SIZE
from .sysctl import SysctlGet, SysctlSet, SysctlTable
from .task import TaskTable
from .mmap import AddressSpaces, ObjectCachesOf, SwapSpace
from .timeline import SampledHooks, Timeline
from .trace import Tracer
from .vmalloc import Vmalloc
from .vmstat import VmStat
from .zone_access import ZoneAccess

__all__ = ["Machine", "MachineConfig"]

_GFP_ZERO = __GFP_ZERO  # (a __GFP_ name in a class body is name-mangled)


GFP_HIGHMEM = __GFP_HIGHMEM  # (a name starting with two underscores would be mangled in the class)


class Machine:
    """One simulated machine.  See the module docstring."""

    def __init__(self, config: MachineConfig | None = None, meter: WorkMeter | None = None) -> None:
        self.config = config or MachineConfig()
        if self.config.cpus < 1 or self.config.cpus > NR_CPUS_MAX:
            raise KernelFault(f"cpus={self.config.cpus}: a machine has 1..{NR_CPUS_MAX} CPUs")
        # the architecture, selected by machine(arch=...): every address-space fact (arch/)
        self.arch: Arch = get_arch(self.config.arch)
        if self.config.la57:
            self.arch = with_la57(self.arch)
        if self.arch.nr_cpus_config and self.config.cpus > self.arch.nr_cpus_config:
            # the fixmap reserves kmap_local slots for CONFIG_NR_CPUS CPUs (runtime/arch/i386.py)
            raise KernelFault(f"cpus={self.config.cpus}: this {self.arch.name} kernel is built with "
                              f"CONFIG_NR_CPUS={self.arch.nr_cpus_config}")
        if self.config.mem > self.arch.max_physmem and not self.arch.has_highmem:
            # arch/x86/include/asm/sparsemem.h: MAX_PHYSMEM_BITS (46 with 4-level paging).  A
            # highmem kernel boots instead and trims max_pfn to MAX_NONPAE_PFN with a warning
            # (arch/x86/mm/init_32.c: highmem_pfn_init; mm_init.py), so machine(arch="i386")
            # on the default 8 GiB machine is what a non-PAE kernel makes of an 8 GiB PC.
            raise KernelFault(f"mem={self.config.mem}: {self.arch.description} addresses at most "
                              f"{physmem_limit(self.arch)} of physical memory "
                              f"(MAX_PHYSMEM_BITS {self.arch.max_physmem_bits})")
        # the work meter the runtime charges per page of work (runtime/limits.py)
        self.meter = meter if meter is not None else WorkMeter(1 << 62)
        self.nr_cpus = self.config.cpus
        self.rng = random.Random(self.config.seed)
        self.clock = Clock()
        # the one event queue every piece of deferred work runs from (events.py)
        self.events = EventQueue(self.clock)
        self.rcu = Rcu(self.events)
        self.sysctls = SysctlTable()
        self.log = KernelLog(self.clock)
        self.tracer = Tracer()
        self.vmstat = VmStat()
        self.ctx = ExecContext(self.nr_cpus, self.log, self.arch.ip_line)
        self.ctx.register_sysctls(self.sysctls.register)
        self._boot_subsystems()

    def _boot_subsystems(self) -> None:
        """Build the allocators bottom-up.  Each subsystem registers its sysctls."""
        self.faults = FaultInjector(self.log.printk, seed=self.config.seed, ctx=self.ctx)  # fault injection (issue 8)
        # Lowest layer first; each line receives only the layers built before it.
        # [page allocator: zones, buddy, pcp]   -> self.page_alloc
        self._boot_page_alloc()
        # [SLUB and kmalloc]                    -> self.slab
        self._boot_slab()
        # [vmalloc]                             -> self.vmalloc
        self._boot_vmalloc()
        # [per-cpu allocator, kernel stacks]    -> self.percpu, self.kstacks
        self._boot_percpu()
        self._boot_kstacks()
        # [tasks, page cache, reclaim, OOM]     -> self.tasks, self.reclaim
        self._boot_tasks_reclaim()

    # -- page allocator ------------------------------------------------------------------------
    def _boot_page_alloc(self) -> None:
        """Zones, buddy allocator, pcp lists and the physical byte store (issue 3)."""
        self.page_alloc = PageAllocator(self.config, arch=self.arch, ctx=self.ctx, log=self.log, tracer=self.tracer,
                                        faults=self.faults, vmstat=self.vmstat)
        # the booted description: on a highmem kernel VMALLOC_START and mem_map depend on RAM
        self.arch = self.page_alloc.arch
        self.page_alloc.register_sysctls(self.sysctls.register)

    @property
    def phys(self) -> PhysMem:
        """The physical byte store (the page allocator's; a property, not an attribute, so
        the facade stays within CPython 3.11's 29 inline attributes)."""
        return self.page_alloc.phys

    def alloc_pages(self, gfp: int, order: int, owner: int | None = None, caller: str | None = None) -> int | None:
        """alloc_pages(gfp, order): head pfn of 2^order contiguous pages, or None."""
        return self.page_alloc.alloc_pages(gfp, order, owner=OWNER_KERNEL if owner is None else owner,
                                           caller=caller)

    def get_free_pages(self, gfp: int, order: int, caller: str | None = None) -> int | None:
        """__get_free_pages(gfp, order): direct-map address of the block, or None.

        (Python mangles names starting with two underscores inside a class, so the facade
        drops the kernel's leading underscores: get_free_pages, free_pages_pfn.)"""
        # mm/page_alloc.c get_free_pages_noprof(): an address cannot represent a highmem
        # page, so __GFP_HIGHMEM is cleared before allocating (it shows in the trace)
        pfn = self.page_alloc.alloc_pages(gfp & ~GFP_HIGHMEM, order, caller=caller)
        return None if pfn is None else self.arch.page_address(pfn)

    def get_zeroed_page(self, gfp: int, caller: str | None = None) -> int | None:
        return self.get_free_pages(gfp | _GFP_ZERO, 0, caller)

    def free_pages_pfn(self, pfn: int, order: int) -> None:
        """__free_pages(page, order): free by pfn."""
        self.page_alloc.free_pages(pfn, order)

    def free_pages(self, addr: int, order: int) -> None:
        """free_pages(addr, order): free by direct-map address (addr 0 is ignored)."""
        if addr == 0:
            return
        if addr < self.arch.page_offset or addr >= self.arch.page_offset + min(self.page_alloc.phys_max,
                                                                               self.arch.direct_map_size):
            raise KernelFault(f"free_pages({addr:#x}): not a direct-map address")
        if addr & (PAGE_SIZE - 1):
            raise KernelFault(f"free_pages({addr:#x}): address is not page aligned")
        self.page_alloc.free_pages(self.arch.virt_to_pfn(addr), order)

    def page_address(self, pfn: int) -> int:
        """page_address(page): 0 (NULL) for a highmem page that kmap() has not mapped."""
        self.page_alloc.page(pfn)
        return self.highmem.page_address(pfn)

    def virt_to_page(self, addr: int) -> Any:
        return self.page_alloc.virt_to_page(addr)

    def pfn_to_page(self, pfn: int) -> Any:
        return self.page_alloc.page(pfn)

    def nr_free(self, zone: str, order: int) -> int:
        """free_area[order].nr_free of a zone (buddyinfo column)."""
        return self.page_alloc.zone_by_name(zone)._nr_free[order]

    def show_page(self, pfn: int) -> str:
        """``show page P``: dump_page()'s lines (mm/debug.c) and then the struct page fields the
        textbook lists (include/linux/mm_types.h): flags, _refcount, _mapcount, private,
        mapping, index and virtual (the address the page is mapped at, if any)."""
        pa: Any = self.page_alloc
        page = pa.page(pfn)
        owner = page.owner
        found = self.pagecache.rmap.lookup(pfn)
        mapping, index, anon, mapped_by = 0, 0, False, "NULL"
        if found is not None:
            obj, index = found
            # dump_page prints mapping with %p, which the kernel hashes (lib/vsprintf.c
            # ptr_to_hashval: 32 bits of siphash on 64-bit): the value only identifies the owner.
            mapping = zlib.crc32(f"{type(obj).__name__}:{obj.oid}".encode())
            if owner == "file":
                mapped_by = f"the page cache (struct address_space) of \"{obj.name}\""
            else:
                anon = True
                mapped_by = "an anon_vma, tagged with PAGE_MAPPING_ANON"
        lines = pa.dump_page_lines(pfn, mapping, index, anon)
        kind, is_head, order = pa.page_state(pfn)
        # page->private: the buddy order of a free block's head (set_buddy_order), else 0
        private = f"{order} (buddy order)" if kind == "buddy" and is_head else "0"
        mapcount_raw = -1 + (0 if kind in ("buddy", "slab", "pagetable") else page.mapcount)
        lines += [
            "struct page:",
            f"  flags      {page.flags} (zone {page.zone}, node 0)",
            f"  _refcount  {page.refcount}",
            f"  _mapcount  {mapcount_raw}" + ("  (holds page_type)" if kind in ("buddy", "slab", "pagetable") else ""),
            f"  private    {private}",
            f"  mapping    {mapped_by}",
            f"  index      {index:#x}",
            (f"  virtual    {self.arch.page_address(pfn):#x} (direct map: page_address())"
             if not self.highmem.is_highmem_pfn(pfn) else
             f"  virtual    {self.highmem.page_address(pfn):#x} (highmem: kmap()'s pkmap address)"
             if self.highmem.page_address(pfn) else "  virtual    NULL (highmem, not kmapped)"),
            f"  owner      {owner}" + (f" ({sl.cache.name})" if (sl := self.slab.slab_by_pfn.get(pfn)) else "")
            + (f", order-{order} block" if order else ""),
        ]
        return "\n".join(lines)

    def drain_all_pages(self) -> None:
        self.page_alloc.drain_all_pages()

    def virt_to_phys(self, addr: int) -> int:
        """__pa(addr) of a direct-map address."""
        self.page_alloc.virt_to_page(addr)
        return addr - self.arch.page_offset

    def phys_to_virt(self, paddr: int) -> int:
        """__va(paddr): the direct-map address of a physical address."""
        return self.arch.page_offset + paddr

    def show_page_view(self, name: str, zone: str | None = None) -> str:
        """/proc/buddyinfo, zoneinfo, pagetypeinfo, meminfo, or the memmap picture."""
        from . import procfs
        pa = self.page_alloc
        if name == "memmap":
            return procfs.memmap(pa, zone)
        if name == "zoneinfo":
            return procfs.zoneinfo(pa, self.reclaim.kswapd_failures >= MAX_RECLAIM_RETRIES)
        if name == "meminfo":
            # vm_memory_committed(): the tasks' accounted (private anonymous) mappings
            committed = sum(self.tasks.spaces.committed_pages(t.mm) for t in self.tasks if t.mm is not None)
            return procfs.meminfo(pa, self.config.swap, committed)
        views = {"buddyinfo": procfs.buddyinfo, "pagetypeinfo": procfs.pagetypeinfo}
        return views[name](pa)

    # -- slab / kmalloc ------------------------------------------------------------------------
    def _boot_slab(self) -> None:
        """SLUB and the kmalloc caches (kmscript/runtime/slab.py, kmalloc.py).

        Built once the page allocator exists (it is the layer below).  With kasan=true the
        caches get KASAN's metadata and the KASAN runtime (kasan.py) hooks into SLUB before
        the first cache is created."""
        kasan = self.config.kasan
        if kasan:
            check_supported(self.arch)
        self.slab = SlabAllocator(arch=self.arch, page_alloc=self.page_alloc, phys=self.phys, ctx=self.ctx,
                                  log=self.log, rcu=self.rcu, tracer=self.tracer, vmstat=self.vmstat, faults=self.faults,
                                  clock=self.clock, nr_cpus=self.nr_cpus, slab_nomerge=self.config.slab_nomerge,
                                  slub_debug=self.config.slub_debug,
                                  freelist_random=(self.rng if self.config.extra.get("slab_freelist_random")
                                                   else None), kasan=kasan)
        # the KASAN handle: None on a machine booted without kasan=true
        self.kasan: Kasan | None = None
        if kasan:
            self.kasan = Kasan(arch=self.arch, page_alloc=self.page_alloc, slab=self.slab, ctx=self.ctx,
                               log=self.log, nr_cpus=self.nr_cpus, multi_shot=self.config.kasan_multi_shot)
            self.slab.install_kasan(self.kasan)
        self.kmalloc_caches = Kmalloc(self.slab, self.page_alloc)

    def kmalloc(self, size: int, gfp: int = GFP_KERNEL, caller: str | None = None) -> int | None:
        """kmalloc(size, flags): an object from kmalloc-<class>, or pages above 8 KiB."""
        return self.kmalloc_caches.kmalloc(size, gfp, caller or "kmalloc")

    def kzalloc(self, size: int, gfp: int = GFP_KERNEL, caller: str | None = None) -> int | None:
        return self.kmalloc_caches.kmalloc(size, gfp | _GFP_ZERO, caller or "kzalloc")

    def kmalloc_array(self, n: int, size: int, gfp: int = GFP_KERNEL, caller: str | None = None) -> int | None:
        return self.kmalloc_caches.kmalloc_array(n, size, gfp, caller or "kmalloc_array")

    def kcalloc(self, n: int, size: int, gfp: int = GFP_KERNEL, caller: str | None = None) -> int | None:
        return self.kmalloc_caches.kcalloc(n, size, gfp, caller or "kcalloc")

    def krealloc(self, p: int, size: int, gfp: int = GFP_KERNEL, caller: str | None = None) -> int | None:
        return self.kmalloc_caches.krealloc(p, size, gfp, caller or "krealloc")

    def kfree(self, p: int, caller: str | None = None) -> None:
        self.kmalloc_caches.kfree(p, caller or "kfree")

    def ksize(self, p: int, caller: str | None = None) -> int:
        return self.kmalloc_caches.ksize(p, caller or "ksize")

    def kmalloc_size_roundup(self, size: int) -> int:
        from .slab_geometry import kmalloc_size_roundup
        return kmalloc_size_roundup(size)

    def kmalloc_cache_for(self, size: int, gfp: int = GFP_KERNEL) -> Any:
        """The cache kmalloc(size, gfp) would use (None above KMALLOC_MAX_CACHE_SIZE or for 0)."""
        if size == 0 or size > KMALLOC_MAX_CACHE_SIZE:
            return None
        return self.kmalloc_caches.kmalloc_slab(size, gfp)

    def kmem_cache_create(self, name: str, size: int, align: int = 0, flags: int = 0,
                          ctor: str | bool | None = None, caller: str | None = None, *, usersize: int = 0,
                          freeptr_offset: int | None = None) -> Any:
        """kmem_cache_create (6.18 kmem_cache_args: usersize, freeptr_offset for TYPESAFE_BY_RCU)."""
        return self.slab.kmem_cache_create(name, size, align, flags, ctor, usersize=usersize,
                                           freeptr_offset=freeptr_offset, caller=caller)

    def find_kmem_cache(self, name: str) -> Any:
        return self.slab.find_cache(name)

    def kmem_cache_alloc(self, cache: Any, gfp: int = GFP_KERNEL, caller: str | None = None) -> int | None:
        return self.kmalloc_caches.kmem_cache_alloc(cache, gfp, caller or "kmem_cache_alloc")

    def kmem_cache_zalloc(self, cache: Any, gfp: int = GFP_KERNEL, caller: str | None = None) -> int | None:
        return self.kmalloc_caches.kmem_cache_alloc(cache, gfp | _GFP_ZERO, caller or "kmem_cache_zalloc")

    def kmem_cache_free(self, cache: Any, p: int, caller: str | None = None) -> None:
        self.kmalloc_caches.kmem_cache_free(cache, p, caller or "kmem_cache_free")

    def kmem_cache_destroy(self, cache: Any, caller: str | None = None) -> bool:
        return self.slab.kmem_cache_destroy(cache, caller)

    def kmem_cache_shrink(self, cache: Any) -> int:
        return self.slab.kmem_cache_shrink(cache)

    def kfree_rcu(self, p: int, caller: str | None = None) -> None:
        self.kmalloc_caches.kfree_rcu(p, caller or "kfree_rcu")

    def slabinfo(self) -> str:
        from .kmalloc import slabinfo
        return slabinfo(self.slab)

    def slab_cache_info(self, cache: Any) -> str:
        from .kmalloc import slab_detail
        return slab_detail(self.slab, cache)

    def slabtop(self, limit: int = 20) -> str:
        from .kmalloc import slabtop
        return slabtop(self.slab, self.kmalloc_caches, limit)

    def leak_report(self) -> str:
        """Live kmalloc/kmem_cache objects grouped by allocating call site (kmemleak-like)."""
        from .kmalloc import leak_report
        return leak_report(self.slab, self.kmalloc_caches)

    # -- tasks ---------------------------------------------------------------------------------
    def _boot_tasks_reclaim(self) -> None:
        """Tasks, page cache, compaction, reclaim and the OOM killer (task.py, pagecache.py,
        compaction.py, reclaim.py, oom.py), each from the layers below it; then the page
        allocator's slow path is connected to them (install_slowpath_hooks)."""
        pa = self.page_alloc
        za = ZoneAccess(pa)
        lru = LruVec(self.vmstat, za.pfn_zone_idx, self.arch.zones.MAX_NR_ZONES, za.range_zone_idx)
        rmap = Rmap()
        site = AllocSite()
        # mapping_gfp_mask of a regular file: GFP_HIGHUSER_MOVABLE (inode_init_always)
        self.pagecache = PageCache(page_alloc=pa, vmstat=self.vmstat, clock=self.clock, ctx=self.ctx, log=self.log,
                                   events=self.events, lru=lru, rmap=rmap, alloc_site=site, meter=self.meter,
                                   mapping_gfp=GFP_HIGHUSER_MOVABLE, owner_file=OWNER_FILE)
        spaces = AddressSpaces(arch=self.arch, paging=self.arch.paging, page_alloc=pa, caches=ObjectCachesOf(self.slab, self.kmalloc_caches),
                               pagecache=self.pagecache, lru=lru, rmap=rmap, vmstat=self.vmstat, clock=self.clock,
                               ctx=self.ctx, phys=self.phys, alloc_site=site, meter=self.meter,
                               swap=SwapSpace(self.config.swap, self.vmstat), owner_user=OWNER_USER,
                               owner_pagetable=OWNER_PAGETABLE)
        self.sysctls.register("vm.max_map_count", lambda: spaces.max_map_count, spaces.set_max_map_count)
        self.tasks = TaskTable(spaces=spaces, kstacks=self.kstacks, ctx=self.ctx, events=self.events, log=self.log,
                               alloc_site=site, totalram_pages=pa.totalram_pages)
        self.compaction = Compaction(zones=za, lru=lru, rmap=rmap, tasks=self.tasks, pagecache=self.pagecache,
                                     page_alloc=pa, phys=self.phys, vmstat=self.vmstat, tracer=self.tracer,
                                     sysctls=self.sysctls, meter=self.meter)
        self.reclaim = Reclaim(zones=za, lru=lru, rmap=rmap, tasks=self.tasks, pagecache=self.pagecache,
                               compaction=self.compaction, slab=self.slab, vmstat=self.vmstat, tracer=self.tracer,
                               clock=self.clock, events=self.events, sysctls=self.sysctls)
        tasks, pagecache, reclaim, ctx, vmstat = self.tasks, self.pagecache, self.reclaim, self.ctx, self.vmstat

        def totalram_pages() -> int:
            return sum(z.managed_pages for z in za.all_zones())

        def mem_info(max_zone_idx: int) -> list[str]:
            return show_mem(vmstat, ctx, za, lru, pagecache, tasks.nr_swap_pages, tasks.free_swap_pages,
                            reclaim.kswapd_failures >= MAX_RECLAIM_RETRIES, max_zone_idx)

        self.oom = OomKiller(tasks=self.tasks, ctx=self.ctx, log=self.log, vmstat=self.vmstat, kstacks=self.kstacks,
                             events=self.events, sysctls=self.sysctls, alloc_site=site,
                             totalram_pages=totalram_pages, show_mem=mem_info, zone_types=self.arch.zones)
        # the sampler of `show timeline` / `plot` (timeline.py): work on the event queue,
        # polled by the slow path on its way to reclaim, compaction and the OOM killer
        self.timeline = Timeline(zones=list(pa.populated), vmstat=self.vmstat, tasks=self.tasks,
                                 reclaim=self.reclaim, compaction=self.compaction, clock=self.clock,
                                 events=self.events, log=self.log)
        pa.install_slowpath_hooks(SampledHooks(ReclaimHooks(self.reclaim, self.compaction, self.oom), self.timeline))
        pa.install_show_mem(mem_info)

    def spawn(self, comm: str, oom_score_adj: int = 0) -> Any:
        """fork+exec: a Task with a pid, a kernel stack and an empty mm (None if fork fails)."""
        t = self.tasks.spawn(comm, oom_score_adj)
        self.events.run_due()  # deferred work fork woke (kswapd)
        return t

    def proc_pid_status(self, task: Any) -> str:
        from .task_mmu import proc_pid_status
        return proc_pid_status(task, self.oom.proc_oom_score(task) if task.alive else 0)

    def ps(self) -> str:
        from .task import ps_table
        return ps_table(self.tasks, self.oom.proc_oom_score)

    # -- page cache ----------------------------------------------------------------------------
    def open_file(self, path: str) -> Any:
        """open(2): the inode's page cache (one per path)."""
        return self.pagecache.open(path)

    def sync(self) -> int:
        """sync(2): write back every dirty page-cache page; returns the pages written."""
        return int(self.pagecache.sync())

    def drop_caches(self) -> int:
        """echo 1 > /proc/sys/vm/drop_caches; returns the pages freed."""
        n = int(self.pagecache.drop_caches())
        self.events.run_due()
        return n

    # -- reclaim / OOM -------------------------------------------------------------------------
    def kswapd(self) -> int:
        """Let kswapd run now (balance_pgdat); returns the pages it reclaimed."""
        return int(self.reclaim.kswapd())

    def compact_memory(self) -> int:
        """echo 1 > /proc/sys/vm/compact_memory; returns the pages migrated."""
        return int(self.compaction.compact_memory())

    def reclaim_stats(self) -> str:
        return str(self.reclaim.stats())

    def vm_event(self, name: str) -> int:
        """One /proc/vmstat counter of reclaim, compaction, the OOM killer or the fault path
        (pgfault, pgmajfault) by its kernel name."""
        rows = self.reclaim.counters() + self.tasks.spaces.counters()
        for key, value in rows:
            if key == name:
                return int(value)
        names = ", ".join(k for k, _ in rows)
        raise KernelFault(f"unknown vmstat counter {name!r} (known: {names})")

    def oom_badness(self, task: Any) -> int | None:
        """mm/oom_kill.c: oom_badness against the global totalpages (None: unkillable)."""
        points: int | None = self.oom.oom_badness(task, self.oom.totalpages())
        return points

    # -- vmalloc -------------------------------------------------------------------------------
    # kmscript/runtime/vmalloc.py; addresses are ints, None means NULL.
    def _boot_vmalloc(self) -> None:
        """[vmalloc] boot line: needs self.page_alloc and the kmalloc facade."""
        pa = self.page_alloc
        km = self.kmalloc_caches  # called directly: vmalloc's bookkeeping is on a hot path
        self.vmalloc = Vmalloc(arch=self.arch, page_alloc=pa, kmalloc=lambda size, gfp, caller: km.kmalloc(size, gfp, caller or "vmalloc"),
                               kfree=lambda addr: km.kfree(addr, "vfree"), ctx=self.ctx, log=self.log,
                               tracer=self.tracer, vmstat=self.vmstat, nr_cpus=self.nr_cpus,
                               totalram_pages=lambda: int(pa.totalram_pages), owner_vmalloc=OWNER_VMALLOC,
                               events=self.events, warn_alloc=pa.warn_alloc)
        if self.kasan is not None:
            self.kasan.install_vmalloc(self.vmalloc)  # KASAN_VMALLOC: the areas' shadow

    def _charge_area(self, size: int) -> None:
        """Pay the work meter for populating a vmalloc area of *size* bytes, before any of
        it is done (a stop then leaves nothing half-built).  Beyond totalram the kernel
        refuses at once ("exceeds total pages"): nothing to charge."""
        pages = size >> 12
        if 0 < pages <= self.page_alloc.totalram_pages:
            self.meter.charge(pages * PAGE_WORK)

    def vmalloc_gfp(self, size: int, gfp: int, align: int = 1, caller: str | None = None) -> int | None:
        """__vmalloc_node(size, align, gfp): the general form of vmalloc."""
        self._charge_area(size)
        return self.vmalloc.vmalloc_gfp(size, gfp, align, caller)

    def vzalloc(self, size: int, caller: str | None = None) -> int | None:
        self._charge_area(size)
        return self.vmalloc.vzalloc(size, caller)

    def vmalloc_32(self, size: int, caller: str | None = None) -> int | None:
        self._charge_area(size)
        return self.vmalloc.vmalloc_32(size, caller)

    def vfree(self, addr: int) -> None:
        self.vmalloc.vfree(addr)

    def vmalloc_to_pfn(self, addr: int) -> int | None:
        return self.vmalloc.vmalloc_to_pfn(addr)

    def vmalloc_to_page(self, addr: int) -> Any:
        """The struct page handle behind a vmalloc address, or None (guard page, hole)."""
        pfn = self.vmalloc.vmalloc_to_pfn(addr)
        if pfn is None:
            return None
        return self.pfn_to_page(pfn)

    def is_vmalloc_addr(self, addr: int) -> bool:
        return self.arch.is_vmalloc_addr(addr)

    def find_vm_area(self, addr: int) -> Any:
        return self.vmalloc.area_containing(addr)

    def kvmalloc(self, size: int, gfp: int, caller: str | None = None) -> int | None:
        self._charge_area(size)
        return self.vmalloc.kvmalloc(size, gfp, caller)

    def kvfree(self, addr: int) -> None:
        self.vmalloc.kvfree(addr)

    def vmalloc_huge(self, size: int, gfp: int, caller: str | None = None) -> int | None:
        self._charge_area(size)
        return self.vmalloc.vmalloc_huge(size, gfp, caller)

    def vmap(self, pfns: list[int], caller: str | None = None) -> int | None:
        """vmap(pages, count, VM_MAP, PAGE_KERNEL): existing frames at one virtual range."""
        self.meter.charge(len(pfns) * PAGE_WORK)
        return self.vmalloc.vmap(pfns, caller=caller)

    def vunmap(self, addr: int) -> None:
        self.vmalloc.vunmap(addr)

    def vmallocinfo(self) -> str:
        return self.vmalloc.vmallocinfo()

    def purge_vmap_area_lazy(self) -> int:
        return self.vmalloc.purge_vmap_area_lazy()

    # -- percpu --------------------------------------------------------------------------------
    # kmscript/runtime/percpu.py.  Static variables by name; dynamic ones by __percpu pointer.
    def _boot_percpu(self) -> None:
        pa = self.page_alloc
        self.percpu = PerCpu(arch=self.arch, page_alloc=pa, vmalloc=self.vmalloc,
                             kmalloc=lambda size, gfp, caller: self.kmalloc(size, gfp, caller=caller),
                             kfree=lambda addr: self.kfree(addr), ctx=self.ctx, log=self.log, tracer=self.tracer,
                             vmstat=self.vmstat, nr_cpus=self.nr_cpus, first_chunk_paddr=self._pcpu_fc_paddr,
                             owner_percpu=OWNER_PERCPU, phys=self.phys)
        # kmap and friends (highmem.py): on i386 the pkmap and fixmap addresses they hand out
        self.highmem = Highmem(arch=self.arch, ctx=self.ctx, log=self.log, max_low_pfn=pa.max_low_pfn)
        # kernel memory access through virtual addresses (maccess.py)
        self.mem = KernelMemory(arch=self.arch, phys=self.phys, vmalloc=self.vmalloc, percpu=self.percpu,
                                meter=self.meter, kasan=self.kasan,
                                hint=(None if self.kasan is not None else
                                      UncheckedAccessHint(arch=self.arch, page_alloc=self.page_alloc, slab=self.slab)),
                                highmem=self.highmem)

    def _pcpu_fc_paddr(self, size: int) -> int:
        """Where memblock puts the embedded first chunk: top-down below the end of RAM,
        aligned to the atom (pcpu_fc_alloc -> memblock_alloc_from).  On a highmem kernel
        memblock allocates below the end of lowmem, under the FLATMEM mem_map."""
        arch = self.arch
        if arch.has_highmem:
            return (arch.vmemmap_start - arch.page_offset - size) & ~(arch.pcpu_atom_size - 1)
        end = self.page_alloc.phys_max
        # the memmap (the struct pages) was allocated first, at the top
        memmap = (end >> PAGE_SHIFT) * arch.struct_page_size
        return (end - memmap - size) & ~(arch.pcpu_atom_size - 1)

    # -- kernel stacks -------------------------------------------------------------------------
    # kmscript/runtime/kstack.py; the task model calls self.kstacks.alloc_thread_stack/free_thread_stack.
    def _boot_kstacks(self) -> None:
        pa = self.page_alloc
        self.kstacks = KernelStacks(arch=self.arch, vmap_stack=self.config.vmap_stack, vmalloc=self.vmalloc, page_alloc=pa,
                                    ctx=self.ctx, vmstat=self.vmstat, nr_cpus=self.nr_cpus,
                                    owner_kstack=OWNER_KSTACK, zero=self.mem.zero,
                                    log=self.log, thread_size=(kasan_thread_size(self.arch)
                                                               if self.config.kasan and self.config.thread_size is None
                                                               else self.config.thread_size),
                                    irq_stacks=self.config.irq_stacks)
        self.kstacks.init_irq_stacks()

    # -- highmem ------------------------------------------------------------------------------
    # kmscript/runtime/highmem.py: kmap and friends (pkmap pool and fixmap slots on i386).
    def schedule(self) -> None:
        """schedule() from process context: schedule_debug()'s stack-end check, the
        scheduling-while-atomic check, and no time passing."""
        self.msleep(0)

    # -- execution context ---------------------------------------------------------------------
    # kmscript/runtime/context.py (include/linux/preempt.h, irqflags.h, spinlock.h).
    def msleep(self, ms: int) -> None:
        """msleep(ms): let simulated time pass; sleeping while atomic is the scheduler's BUG."""
        ctx = self.ctx
        self.kstacks.schedule_debug()  # __schedule -> schedule_debug: the stack-end canary first
        if ctx.preempt_count or ctx.irqs_disabled():
            # kernel/sched/core.c: __schedule_bug()
            self.log.printk(f"BUG: scheduling while atomic: {ctx.current.comm}/{ctx.current.pid}/"
                            f"0x{ctx.preempt_count:08x}", "bug")
        self.timeline.poll()      # the state before the sleep, then after it: a flat stretch
        self.clock.advance(ms * 1_000_000)
        self.timeline.poll()

    # -- REPL: where an address lives (issue 7) ------------------------------------------------
    # Read-only queries over the allocators' public state, for the REPL's result line
    # (``x = 0xffff888003a1c040  kmalloc-64  slab pfn 0x3a1c  obj 3/64``).
    def describe_address(self, addr: int) -> str | None:
        """One line saying what *addr* is (slab object, vmalloc area, page block), or None."""
        if addr == 16:
            return "ZERO_SIZE_PTR (kmalloc(0))"
        percpu = self.percpu
        if percpu.in_first_chunk(addr):
            # memblock memory set up at boot, not page-allocator pages
            unit, off = divmod(addr - percpu.pcpu_base_addr, percpu.unit_size)
            return f"per-cpu first chunk  cpu {unit} unit  offset {off:#x}"
        slab_alloc = self.slab
        page_alloc = self.page_alloc
        if self.arch.page_offset <= addr < self.arch.page_offset + min(page_alloc.memmap.max_pfn << PAGE_SHIFT,
                                                                      self.arch.direct_map_size):
            pfn = (addr - self.arch.page_offset) >> PAGE_SHIFT
            sl = slab_alloc.slab_of(addr)
            if sl is not None:
                s = sl.cache
                off = addr - sl.base - s.red_left_pad
                idx, rem = divmod(off, s.size)
                if 0 <= idx < sl.objects:
                    obj = sl.base + s.red_left_pad + idx * s.size
                    state = slab_alloc.object_state(s, sl, obj)
                    if self.kasan is not None and self.kasan.is_quarantined(obj):
                        state = "free (KASAN quarantine)"  # freed; SLUB gets it back when the quarantine drains
                    return (f"{s.name}  slab pfn {sl.pfn:#x}  obj {idx}/{sl.objects}"
                            + (f"  +{rem}" if rem else "")
                            + ("" if state == "allocated" else "  free (cpu freelist)" if state == "free(cpu)"
                               else f"  {state}"))
            kind, is_head, order = page_alloc.page_state(pfn)
            if kind == "absent":
                return f"pfn {pfn:#x}: not RAM"
            zone = page_alloc.zone_of(pfn)
            where = f"  zone {zone.name}" if zone is not None else ""
            if is_head or kind in ("reserved",):
                return f"page pfn {pfn:#x}  order {order}{where}  {kind}"
            head = page_alloc.block_head(pfn)
            inside = f"  in the order-{head[1]} block at pfn {head[0]:#x}" if head else ""
            return f"page pfn {pfn:#x}{inside}{where}  {kind}"
        vmalloc = self.vmalloc
        if self.arch.is_vmalloc_addr(addr):
            vm = vmalloc.area_containing(addr)
            if vm is None:
                return "vmalloc space, no area"
            vpfn = vmalloc.vmalloc_to_pfn(addr)
            return (f"vmalloc area {vm.addr:#x}-{vm.addr + vm.size:#x}  {vm.nr_pages} pages"
                    + (f"  page pfn {vpfn:#x}" if vpfn is not None else "  guard page")
                    + (f"  {vm.caller}" if vm.caller else ""))
        return None

    # -- summary (kmscript --json) ---------------------------------------------------------
    def summary(self) -> dict[str, Any]:
        """The machine's final state as plain data: zones, memory counters, tasks."""
        zones = [{"name": z.name, "managed": z.managed, "free": z.nr_free_pages, "min": z.min, "low": z.low,
                  "high": z.high, "protection": list(z.protection)}
                 for z in self.page_alloc.zones if z.present]
        vm = self.vmstat
        counters = {
            "slab_reclaimable_kb": vm.nr_slab_reclaimable_b // 1024,
            "slab_unreclaimable_kb": vm.nr_slab_unreclaimable_b // 1024,
            "kernel_stack_kb": vm.nr_kernel_stack_kb,
            "vmalloc_pages": vm.nr_vmalloc_pages,
            "percpu_pages": vm.nr_percpu_pages,
            "pagetable_pages": vm.nr_pagetable_pages,
            "anon_pages": vm.nr_anon_pages,
            "file_pages": vm.nr_file_pages,
            "oom_kills": vm.oom_kill,
        }
        return {"cpus": self.nr_cpus, "totalram_pages": self.page_alloc.totalram_pages,
                "nr_free_pages": self.page_alloc.nr_free_pages(), "zones": zones, "vmstat": counters}
