"""Each subsystem is built alone from its constructor with only its declared dependencies
(the lower layers it uses), bottom-up in the kernel's layering, and does real work at
once.  No Machine is involved: if a subsystem reached for one (or for a layer it does not
declare), building it here would fail."""

from __future__ import annotations

import inspect

from kmscript.runtime.arch import X86_64
from kmscript.runtime.compaction import Compaction
from kmscript.runtime.config import MachineConfig
from kmscript.runtime.context import ExecContext
from kmscript.runtime.events import NORMAL, URGENT, Clock, EventQueue, Rcu
from kmscript.runtime.fault_inject import FaultInjector
from kmscript.runtime.gfp import GFP_ATOMIC, GFP_HIGHUSER_MOVABLE, GFP_KERNEL, MAX_NR_ZONES
from kmscript.runtime.kmalloc import Kmalloc
from kmscript.runtime.kstack import KernelStacks
from kmscript.runtime.limits import WorkMeter
from kmscript.runtime.address_spaces import AddressSpaces
from kmscript.runtime.mmap import ObjectCachesOf
from kmscript.runtime.swapfile import SwapSpace
from kmscript.runtime.mm_types import (OWNER_FILE, OWNER_KSTACK, OWNER_PAGETABLE, OWNER_PERCPU, OWNER_USER,
                                       OWNER_VMALLOC)
from kmscript.runtime.oom import OomKiller, show_mem
from kmscript.runtime.page_alloc import PageAllocator
from kmscript.runtime.pagecache import AllocSite, LruVec, PageCache, Rmap
from kmscript.runtime.percpu import PerCpu
from kmscript.runtime.printk import KernelLog
from kmscript.runtime.reclaim import Reclaim, ReclaimHooks
from kmscript.runtime.slab import SlabAllocator
from kmscript.runtime.sysctl import SysctlTable
from kmscript.runtime.task import TaskTable
from kmscript.runtime.trace import Tracer
from kmscript.runtime.vmalloc import Vmalloc
from kmscript.runtime.vmstat import VmStat
from kmscript.runtime.zone_access import ZoneAccess


def test_no_subsystem_constructor_takes_a_machine() -> None:
    for cls in (PageAllocator, SlabAllocator, Kmalloc, Vmalloc, PerCpu, KernelStacks, PageCache, TaskTable,
                Compaction, Reclaim, OomKiller, ZoneAccess):
        params = inspect.signature(cls.__init__).parameters
        assert "machine" not in params, f"{cls.__name__} takes the Machine"


def test_event_queue_orders_by_time_priority_sequence() -> None:
    clock = Clock()
    q = EventQueue(clock)
    ran: list[str] = []
    q.schedule(10, URGENT, "late", lambda: ran.append("late"))
    q.schedule(0, NORMAL, "n1", lambda: ran.append("n1"))
    q.schedule(0, URGENT, "u1", lambda: ran.append("u1"))
    q.schedule(0, NORMAL, "n2", lambda: ran.append("n2"))
    assert q.schedule(0, NORMAL, "k", lambda: ran.append("k"), once=True)
    assert not q.schedule(0, NORMAL, "k", lambda: ran.append("k2"), once=True)  # woken once
    assert q.run_due(URGENT) == 1 and ran == ["u1"]       # urgent work only
    assert q.run_due() == 3 and ran == ["u1", "n1", "n2", "k"]
    assert len(q) == 1 and q.run_due() == 0              # "late" is not due yet
    clock.advance(10)
    assert q.run_due() == 1 and ran[-1] == "late"
    rcu = Rcu(q)
    rcu.call_rcu(lambda: ran.append("cb"))
    assert ran[-1] == "late"                             # no grace period has ended
    rcu.synchronize_rcu()
    assert ran[-1] == "cb" and rcu.gp_seq == 1


def test_subsystems_built_alone_bottom_up() -> None:
    cfg = MachineConfig(mem=256 << 20, cpus=2)
    clock = Clock()
    events = EventQueue(clock)
    rcu = Rcu(events)
    sysctls = SysctlTable()
    log = KernelLog(clock)
    tracer = Tracer()
    vmstat = VmStat()
    meter = WorkMeter(1 << 40)
    ctx = ExecContext(cfg.cpus, log, events=events)
    faults = FaultInjector(log.printk, seed=0, ctx=ctx)

    # zones, buddy, pcp
    pa = PageAllocator(cfg, arch=X86_64, ctx=ctx, log=log, tracer=tracer, faults=faults, vmstat=vmstat)
    pa.register_sysctls(sysctls.register)
    pfn = pa.alloc_pages(GFP_KERNEL, 2)
    assert pfn is not None and pa.owner_of(pfn) is not None
    pa.free_pages(pfn, 2)
    assert sysctls.get("vm.min_free_kbytes") == pa.min_free_kbytes

    # SLUB and kmalloc
    slab = SlabAllocator(arch=X86_64, page_alloc=pa, phys=pa.phys, ctx=ctx, log=log, rcu=rcu, tracer=tracer,
                         vmstat=vmstat, faults=faults, clock=clock, nr_cpus=cfg.cpus)
    km = Kmalloc(slab, pa)
    obj = km.kmalloc(50, GFP_ATOMIC, "test")
    assert obj is not None and km.ksize(obj) == 64
    km.kfree_rcu(obj, "test")
    assert slab.live.get(obj) is not None                # still live: no grace period yet
    rcu.synchronize_rcu()
    assert slab.live.get(obj) is None

    # vmalloc
    vm = Vmalloc(arch=X86_64, page_alloc=pa, kmalloc=lambda size, gfp, caller: km.kmalloc(size, gfp, caller or "vm"),
                 kfree=lambda addr: km.kfree(addr, "vfree"), ctx=ctx, log=log, tracer=tracer, vmstat=vmstat,
                 nr_cpus=cfg.cpus, totalram_pages=lambda: pa.totalram_pages, owner_vmalloc=OWNER_VMALLOC,
                 events=events, warn_alloc=pa.warn_alloc)
    v = vm.vmalloc(5 * 4096)
    assert v is not None and X86_64.is_vmalloc_addr(v) and vmstat.nr_vmalloc_pages == 5
    vm.vfree(v)

    # percpu and kernel stacks
    pcpu = PerCpu(arch=X86_64, page_alloc=pa, vmalloc=vm, kmalloc=lambda size, gfp, caller: km.kmalloc(size, gfp, "pcpu"),
                  kfree=lambda addr: km.kfree(addr, "pcpu"), ctx=ctx, log=log, tracer=tracer, vmstat=vmstat,
                  nr_cpus=cfg.cpus, first_chunk_paddr=lambda size: (pa.phys_max - size) & ~((2 << 20) - 1),
                  owner_percpu=OWNER_PERCPU, phys=pa.phys)
    ptr = pcpu.alloc_percpu(8, 8, GFP_KERNEL, "test")
    assert ptr is not None and pcpu.per_cpu_ptr(ptr, 1) != ptr
    kstacks = KernelStacks(arch=X86_64, vmap_stack=True, vmalloc=vm, page_alloc=pa, ctx=ctx, vmstat=vmstat,
                           nr_cpus=cfg.cpus, owner_kstack=OWNER_KSTACK)
    kstacks.init_irq_stacks()
    stack = kstacks.alloc_thread_stack(0)
    assert stack is not None and stack % X86_64.thread_size == 0

    # page cache, tasks, compaction, reclaim, OOM
    za = ZoneAccess(pa)
    lru = LruVec(vmstat, za.pfn_zone_idx, MAX_NR_ZONES, za.range_zone_idx)
    rmap = Rmap()
    site = AllocSite()
    pc = PageCache(page_alloc=pa, vmstat=vmstat, clock=clock, ctx=ctx, log=log, events=events, lru=lru, rmap=rmap,
                   alloc_site=site, meter=meter, mapping_gfp=GFP_HIGHUSER_MOVABLE, owner_file=OWNER_FILE)
    f = pc.open("/tmp/f")
    assert f.read(3 * 4096) == 3 * 4096 and vmstat.nr_file_pages == 3
    spaces = AddressSpaces(arch=X86_64, paging=X86_64.paging, page_alloc=pa, caches=ObjectCachesOf(slab, km),
                           pagecache=pc, lru=lru, rmap=rmap, vmstat=vmstat, clock=clock, ctx=ctx, phys=pa.phys,
                           alloc_site=site, meter=meter, swap=SwapSpace(0, vmstat), owner_user=OWNER_USER,
                           owner_pagetable=OWNER_PAGETABLE)
    tasks = TaskTable(spaces=spaces, kstacks=kstacks, ctx=ctx, events=events, log=log, alloc_site=site,
                      totalram_pages=pa.totalram_pages)
    t = tasks.spawn("alone")
    assert t is not None and tasks.fault(t, 8 * 4096) == 8 * 4096 and tasks.oom_score(t) > 0
    comp = Compaction(zones=za, lru=lru, rmap=rmap, tasks=tasks, pagecache=pc, page_alloc=pa, phys=pa.phys,
                      vmstat=vmstat, tracer=tracer, sysctls=sysctls, meter=meter)
    assert comp.fragmentation_index(pa.zone_by_name("DMA32"), 0) == -1000
    reclaim = Reclaim(zones=za, lru=lru, rmap=rmap, tasks=tasks, pagecache=pc, compaction=comp, slab=slab,
                      vmstat=vmstat, tracer=tracer, clock=clock, events=events, sysctls=sysctls)
    assert reclaim.shrink_node(2, MAX_NR_ZONES - 1, may_swap=False, is_kswapd=False) == 2  # clean file pages
    def mem_info(max_zone_idx: int) -> list[str]:
        return show_mem(vmstat, ctx, za, lru, pc, tasks.nr_swap_pages, tasks.free_swap_pages, False, max_zone_idx)

    oom = OomKiller(tasks=tasks, ctx=ctx, log=log, vmstat=vmstat, kstacks=kstacks, events=events, sysctls=sysctls,
                    alloc_site=site, totalram_pages=lambda: pa.totalram_pages, show_mem=mem_info)
    victim, _points = oom.select_bad_process(oom.totalpages())
    assert victim is t
    pa.install_slowpath_hooks(ReclaimHooks(reclaim, comp, oom))
    oom.oom_kill_process(t, GFP_KERNEL, 0, oom.totalpages(), "Out of memory")
    assert not t.alive and vmstat.oom_kill == 1            # the reaper ran from the event queue
    assert any("oom_reaper: reaped process" in r.text for r in log.records)
    pa.check_invariants()
