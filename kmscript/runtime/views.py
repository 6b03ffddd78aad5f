"""Views across subsystems: what no single allocator can render on its own.

What it models:

- ``show_page``: mm/debug.c dump_page() followed by the struct page fields a textbook lists
  (include/linux/mm_types.h), with page->mapping resolved through the reverse map;
- ``page_view``: the /proc files of the physical-memory views (procfs.py) that need the
  reclaim and task state next to the page allocator's (zoneinfo's node_unreclaimable,
  meminfo's Committed_AS);
- /proc/slabinfo, ``show slab``, slabtop and the kmemleak-like leak report (kmalloc.py
  renders them from SLUB's and kmalloc's state);
- single /proc/vmstat counters of reclaim, compaction, OOM and the fault path;
- ``ps`` and ``/proc/<pid>/status`` with the OOM killer's oom_score;
- ``describe_address``: where a kernel address lives (slab object, page block, vmalloc
  area, per-cpu first chunk), the REPL's result line;
- ``summary``: the machine's final state as plain data (``kmscript --json``).

Invariant: read-only.  A view reads the subsystems' public state and never changes it.
"""

from __future__ import annotations

import zlib
from typing import Any

from . import procfs
from .arch import Arch
from .highmem import Highmem
from .errors import KernelFault
from .internal import MAX_RECLAIM_RETRIES
from .kmalloc import Kmalloc, leak_report, slab_detail, slabinfo, slabtop
from .mm_types import PAGE_SHIFT
from .oom import OomKiller
from .page_alloc import PageAllocator
from .pagecache import PageCache
from .percpu import PerCpu
from .reclaim import Reclaim
from .slab import SlabAllocator
from .slab_types import KmemCache
from .slab_geometry import ZERO_SIZE_PTR
from .task import Task, TaskTable, ps_table
from .task_mmu import proc_pid_status
from .vmalloc import Vmalloc
from .vmstat import VmStat


class Views:
    """Read-only renderings over several subsystems.  See the module docstring."""

    def __init__(self, *, arch: Arch, page_alloc: PageAllocator, highmem: Highmem, slab: SlabAllocator, kmalloc: Kmalloc, vmalloc: Vmalloc,
                 percpu: PerCpu, pagecache: PageCache, tasks: TaskTable, reclaim: Reclaim, oom: OomKiller,
                 vmstat: VmStat, nr_cpus: int, swap_bytes: int) -> None:
        self.arch = arch
        self.page_alloc = page_alloc
        self.highmem = highmem
        self.slab = slab
        self.kmalloc = kmalloc
        self.vmalloc = vmalloc
        self.percpu = percpu
        self.pagecache = pagecache
        self.tasks = tasks
        self.reclaim = reclaim
        self.oom = oom
        self.vmstat = vmstat
        self.nr_cpus = nr_cpus
        self.swap_bytes = swap_bytes

    # -- struct page -------------------------------------------------------------------------------
    def show_page(self, pfn: int) -> str:
        """``show page P``: dump_page()'s lines (mm/debug.c) and then the struct page fields the
        textbook lists (include/linux/mm_types.h): flags, _refcount, _mapcount, private,
        mapping, index and virtual (the address the page is mapped at, if any)."""
        pa = self.page_alloc
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

    # -- /proc -------------------------------------------------------------------------------------
    def page_view(self, name: str, zone: str | None = None) -> str:
        """/proc/buddyinfo, zoneinfo, pagetypeinfo, meminfo, or the memmap picture."""
        pa = self.page_alloc
        if name == "memmap":
            return procfs.memmap(pa, zone)
        if name == "zoneinfo":
            return procfs.zoneinfo(pa, self.reclaim.kswapd_failures >= MAX_RECLAIM_RETRIES)
        if name == "meminfo":
            # vm_memory_committed(): the tasks' accounted (private anonymous) mappings
            committed = sum(self.tasks.spaces.committed_pages(t.mm) for t in self.tasks if t.mm is not None)
            return procfs.meminfo(pa, self.swap_bytes, committed)
        if name == "buddyinfo":
            return procfs.buddyinfo(pa)
        if name == "pagetypeinfo":
            return procfs.pagetypeinfo(pa)
        raise KeyError(name)

    def slabinfo(self) -> str:
        return slabinfo(self.slab)

    def slab_cache_info(self, cache: KmemCache) -> str:
        return slab_detail(self.slab, cache)

    def slabtop(self, limit: int = 20) -> str:
        return slabtop(self.slab, self.kmalloc, limit)

    def leak_report(self) -> str:
        """Live kmalloc/kmem_cache objects grouped by allocating call site (kmemleak-like)."""
        return leak_report(self.slab, self.kmalloc)

    def vm_event(self, name: str) -> int:
        """One /proc/vmstat counter of reclaim, compaction, the OOM killer or the fault path
        (pgfault, pgmajfault) by its kernel name."""
        rows = self.reclaim.counters() + self.tasks.spaces.counters()
        for key, value in rows:
            if key == name:
                return int(value)
        raise KernelFault(f"unknown vmstat counter {name!r} (known: {', '.join(k for k, _ in rows)})")

    def proc_pid_status(self, task: Task) -> str:
        """/proc/<pid>/status with the oom_score fs/proc/base.c shows (0 once the task is gone)."""
        return proc_pid_status(task, self.oom.proc_oom_score(task) if task.alive else 0)

    def ps(self) -> str:
        return ps_table(self.tasks, self.oom.proc_oom_score)

    # -- where an address lives (the REPL's result line) -------------------------------------------
    def describe_address(self, addr: int) -> str | None:
        """One line saying what *addr* is (slab object, vmalloc area, page block), or None
        (``x = 0xffff888003a1c040  kmalloc-64  slab pfn 0x3a1c  obj 3/64``)."""
        if addr == ZERO_SIZE_PTR:
            return "ZERO_SIZE_PTR (kmalloc(0))"
        percpu = self.percpu
        if percpu.in_first_chunk(addr):
            # memblock memory set up at boot, not page-allocator pages
            unit, off = divmod(addr - percpu.pcpu_base_addr, percpu.unit_size)
            return f"per-cpu first chunk  cpu {unit} unit  offset {off:#x}"
        slab_alloc = self.slab
        page_alloc = self.page_alloc
        page_offset = self.arch.page_offset
        if page_offset <= addr < page_offset + min(page_alloc.memmap.max_pfn << PAGE_SHIFT, self.arch.direct_map_size):
            pfn = (addr - page_offset) >> PAGE_SHIFT
            sl = slab_alloc.slab_of(addr)
            if sl is not None:
                s = sl.cache
                off = addr - sl.base - s.red_left_pad
                idx, rem = divmod(off, s.size)
                if 0 <= idx < sl.objects:
                    obj = sl.base + s.red_left_pad + idx * s.size
                    state = slab_alloc.object_state(s, sl, obj)
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

    # -- summary (kmscript --json) -----------------------------------------------------------------
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
