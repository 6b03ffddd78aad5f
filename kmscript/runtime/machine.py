"""The Machine facade: one simulated Linux machine (x86_64 or i386, runtime/arch/), wired from
its subsystems.

The Machine builds the subsystems bottom-up, in the kernel's layering, each receiving
exactly the lower ones it uses in its constructor: clock, event queue, RCU and kernel log
-> execution context -> page allocator (zones, buddy, pcp) -> SLUB and kmalloc -> vmalloc
-> per-cpu allocator, kernel memory access, kernel stacks -> tasks, page cache, compaction,
reclaim and the OOM killer -> read-only views.  It holds no allocator logic of its own.

The language layer reaches the runtime through this small surface:

- boot and configuration: ``Machine(config)``, ``config``, ``arch``, ``nr_cpus``, ``meter``;
- time and deferred work: ``clock``, ``events``, ``rcu``, and ``msleep``/``schedule``;
- the kernel log and reports: ``log``, ``tracer``, ``faults``, ``vmstat``, ``sysctls``;
- the subsystem handles, whose methods carry kernel names and argument order:
  ``page_alloc``, ``slab``, ``kmalloc``, ``vmalloc``, ``percpu``, ``mem``, ``kstacks``,
  ``highmem``, ``ctx``, ``tasks``, ``pagecache``, ``compaction``, ``reclaim``, ``oom``;
- ``views``: renderings across subsystems (show page, /proc, slabinfo, ps,
  describe_address, the ``--json`` summary).

Sizes are bytes, orders are page orders, gfp masks are ints with the bit values of
include/linux/gfp_types.h (gfp.py), addresses are ints and None means NULL.

Determinism: the only randomness is seeded from ``config.seed``.

Handle attribute protocol: a handle class lists the attributes a script may read in a
class attribute ``KMS_ATTRS`` (a frozenset of names).  Nothing else is visible to scripts.
"""

from __future__ import annotations

import random

from .compaction import Compaction
from .arch import Arch, get_arch, physmem_limit, with_la57
from .config import NR_CPUS_MAX, MachineConfig
from .context import ExecContext
from .errors import KernelFault
from .events import Clock, EventQueue, Rcu
from .fault_inject import FaultInjector
from .gfp import GFP_HIGHUSER_MOVABLE
from .internal import MAX_RECLAIM_RETRIES
from .kasan import Kasan, UncheckedAccessHint, check_supported, kasan_thread_size
from .kmalloc import Kmalloc
from .highmem import Highmem
from .kstack import KernelStacks
from .limits import WorkMeter
from .maccess import KernelMemory
from .mm_types import (OWNER_FILE, OWNER_KSTACK, OWNER_PAGETABLE, OWNER_PERCPU, OWNER_USER, OWNER_VMALLOC,
                       PAGE_SHIFT)
from .oom import OomKiller, show_mem
from .page_alloc import PageAllocator
from .pagecache import AllocSite, LruVec, PageCache, Rmap
from .percpu import PerCpu
from .physmem import PhysMem
from .printk import KernelLog
from .reclaim import Reclaim, ReclaimHooks
from .slab import SlabAllocator
from .sysctl import SysctlTable
from .task import TaskTable
from .address_spaces import AddressSpaces
from .mmap import ObjectCachesOf
from .swapfile import SwapSpace
from .timeline import SampledHooks, Timeline
from .trace import Tracer
from .vmalloc import Vmalloc
from .views import Views
from .vmstat import VmStat
from .zone_access import ZoneAccess

__all__ = ["Machine", "MachineConfig"]

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
        if self.config.vmap_stack and not self.arch.have_vmap_stack:
            # arch/x86/Kconfig: "select HAVE_ARCH_VMAP_STACK if X86_64", and arch/Kconfig's
            # VMAP_STACK depends on HAVE_ARCH_VMAP_STACK: a 32-bit kernel cannot be built with it
            raise KernelFault(f"vmap_stack=true: {self.arch.description} has no CONFIG_VMAP_STACK "
                              f"(arch/x86/Kconfig selects HAVE_ARCH_VMAP_STACK only for X86_64); "
                              f"its kernel stacks are THREAD_SIZE blocks of the page allocator")
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
        self.clock = Clock()
        # the one event queue every piece of deferred work runs from (events.py)
        self.events = EventQueue(self.clock)
        self.rcu = Rcu(self.events)
        self.sysctls = SysctlTable()
        self.log = KernelLog(self.clock)
        self.tracer = Tracer()
        self.vmstat = VmStat()
        self.ctx = ExecContext(self.nr_cpus, self.log, self.arch.ip_line, events=self.events)
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
                                  freelist_random=(random.Random(self.config.seed)
                                                   if self.config.extra.get("slab_freelist_random") else None),
                                  kasan=kasan)
        # the KASAN handle: None on a machine booted without kasan=true
        self.kasan: Kasan | None = None
        if kasan:
            self.kasan = Kasan(arch=self.arch, page_alloc=self.page_alloc, slab=self.slab, ctx=self.ctx,
                               log=self.log, nr_cpus=self.nr_cpus, multi_shot=self.config.kasan_multi_shot)
            self.slab.install_kasan(self.kasan)
        self.kmalloc = Kmalloc(self.slab, self.page_alloc)

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
        spaces = AddressSpaces(arch=self.arch, paging=self.arch.paging, page_alloc=pa, caches=ObjectCachesOf(self.slab, self.kmalloc),
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
        # read-only views across the subsystems (show page, /proc, ps, describe_address, summary)
        self.views = Views(arch=self.arch, page_alloc=pa, highmem=self.highmem, slab=self.slab, kmalloc=self.kmalloc, vmalloc=self.vmalloc,
                           percpu=self.percpu, pagecache=self.pagecache, tasks=self.tasks, reclaim=self.reclaim, oom=self.oom,
                           vmstat=self.vmstat, nr_cpus=self.nr_cpus, swap_bytes=self.config.swap)

    # -- vmalloc -------------------------------------------------------------------------------
    # kmscript/runtime/vmalloc.py; addresses are ints, None means NULL.
    def _boot_vmalloc(self) -> None:
        """[vmalloc] boot line: needs self.page_alloc and the kmalloc facade."""
        pa = self.page_alloc
        km = self.kmalloc  # called directly: vmalloc's bookkeeping is on a hot path
        self.vmalloc = Vmalloc(arch=self.arch, page_alloc=pa, kmalloc=lambda size, gfp, caller: km.kmalloc(size, gfp, caller or "vmalloc"),
                               kfree=lambda addr: km.kfree(addr, "vfree"), ctx=self.ctx, log=self.log,
                               tracer=self.tracer, vmstat=self.vmstat, nr_cpus=self.nr_cpus,
                               totalram_pages=lambda: int(pa.totalram_pages), owner_vmalloc=OWNER_VMALLOC,
                               events=self.events, warn_alloc=pa.warn_alloc)
        if self.kasan is not None:
            self.kasan.install_vmalloc(self.vmalloc)  # KASAN_VMALLOC: the areas' shadow

    # -- percpu --------------------------------------------------------------------------------
    # kmscript/runtime/percpu.py.  Static variables by name; dynamic ones by __percpu pointer.
    def _boot_percpu(self) -> None:
        pa = self.page_alloc
        km = self.kmalloc
        self.percpu = PerCpu(arch=self.arch, page_alloc=pa, vmalloc=self.vmalloc,
                             kmalloc=lambda size, gfp, caller: km.kmalloc(size, gfp, caller or "kmalloc"),
                             kfree=lambda addr: km.kfree(addr), ctx=self.ctx, log=self.log, tracer=self.tracer,
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
        self.kstacks = KernelStacks(arch=self.arch, vmap_stack=(self.arch.have_vmap_stack if self.config.vmap_stack is None
                                                             else self.config.vmap_stack), vmalloc=self.vmalloc, page_alloc=pa,
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
        """msleep(ms): let simulated time pass and run the deferred work that fell due (events.py);
        sleeping while atomic is the scheduler's BUG."""
        ctx = self.ctx
        self.kstacks.schedule_debug()  # __schedule -> schedule_debug: the stack-end canary first
        if ctx.preempt_count or ctx.irqs_disabled():
            # kernel/sched/core.c: __schedule_bug()
            self.log.printk(f"BUG: scheduling while atomic: {ctx.current.comm}/{ctx.current.pid}/"
                            f"0x{ctx.preempt_count:08x}", "bug")
        self.timeline.poll()      # the state before the sleep, then after it: a flat stretch
        self.clock.advance(ms * 1_000_000)
        # while the task sleeps, the deferred work whose time has come runs (kswapd, queued
        # work items, the OOM reaper): the same event queue every other run point drains
        self.events.run_due()
        self.timeline.poll()
