"""The OOM killer (mm/oom_kill.c) for the global (non-memcg, unconstrained) case.

What it models
--------------
- ``oom_badness``: rss (anon + file + shmem) + swap entries + pgtables_bytes/PAGE_SIZE,
  plus ``oom_score_adj * (totalpages / 1000)``; unkillable (``None``, the kernel's LONG_MIN)
  for the global init, tasks without an mm, and ``oom_score_adj == -1000``.
  ``totalpages`` = totalram_pages() + total_swap_pages.
- ``proc_oom_score``: ``(1000 + points * 1000 / totalpages) * 2 / 3`` in C arithmetic
  (division truncates toward zero), 0 when unkillable (fs/proc/base.c: proc_oom_score).
- ``select_bad_process``: walks tasks in creation order; ``points < chosen_points`` skips,
  so ties go to the task seen later.
- ``out_of_memory``: the do-not-invoke rules of __alloc_pages_may_oom (order > 3,
  __GFP_RETRY_MAYFAIL, __GFP_THISNODE, __GFP_NORETRY, highest zone below ZONE_NORMAL:
  no progress, the allocation fails) are applied here too, so the result is right whoever
  calls it; then the rules of out_of_memory(): no __GFP_FS -> "progress" without a kill;
  vm.panic_on_oom; vm.oom_kill_allocating_task; otherwise select and kill.  With nothing
  killable: "Out of memory and no killable processes..." and the panic
  "System is deadlocked on memory" (raises ``KernelPanic``).
- The report is the kernel's, in its order (dump_header, dump_tasks, dump_oom_summary,
  __oom_kill_process, oom_reaper), as three log records: the header with Mem-Info and the
  task table (kind ``info``), the ``Out of memory: Killed process`` line (kind ``oom``) and
  the oom_reaper line (``info``).  vmstat ``oom_kill`` counts kills.

Simplifications relative to the kernel
--------------------------------------
- The oom_reaper runs from the event queue as an urgent event right after the kill (the
  kernel arms a timer, OOM_REAPER_DELAY, and the victim usually exits first): the
  victim's memory, page tables and kernel stack are freed before out_of_memory returns,
  so there is never a pending victim and the "wait for the previous victim" abort of
  select_bad_process never triggers.
- dump_stack prints the call chain as symbol names without offsets (the style of the
  page allocator's warn_alloc report), chosen by what was allocating: an anonymous
  fault, a page-table page, a file mapping's fault, a page-cache read or write, or a
  plain alloc_pages from the script.
- No memcg, cpuset or mempolicy constraints (always CONSTRAINT_NONE, ``global_oom``); no
  oom notifiers; no ratelimit of the report; the oom_reaper line follows the kill at once.
"""

from __future__ import annotations

from typing import Any, Callable

from .context import ExecContext
from .errors import KernelFault, KernelPanic
from .events import URGENT, EventQueue
from .gfp import (X86_64_ZONES, ZoneTypes, __GFP_FS, __GFP_NORETRY, __GFP_RETRY_MAYFAIL, __GFP_THISNODE,
                  format_gfp_pGg)
from .kstack import KernelStacks
from .mm_types import PAGE_ALLOC_COSTLY_ORDER, PAGE_SIZE
from .pagecache import AllocSite, LruVec, PageCache
from .printk import KernelLog
from .sysctl import SysctlTable
from .task import Task, TaskTable, oom_badness, proc_oom_score
from .vmstat import VmStat
from .zone_access import ZoneAccess
# module-level names: a __GFP_* name inside a class body would be name-mangled
_NO_OOM_FLAGS = __GFP_RETRY_MAYFAIL | __GFP_THISNODE | __GFP_NORETRY
_GFP_FS = __GFP_FS


class OomKiller:
    def __init__(self, *, tasks: TaskTable, ctx: ExecContext, log: KernelLog, vmstat: VmStat,
                 kstacks: KernelStacks, events: EventQueue, sysctls: SysctlTable, alloc_site: AllocSite,
                 totalram_pages: Callable[[], int], show_mem: Callable[[int], list[str]],
                 zone_types: ZoneTypes = X86_64_ZONES) -> None:
        self.zt = zone_types   # enum zone_type and gfp_zone() of this kernel (arch/)
        self.tasks = tasks
        self.ctx = ctx
        self.log = log
        self.vmstat = vmstat
        self.kstacks = kstacks
        self.events = events
        self.totalram_pages = totalram_pages
        self.show_mem = show_mem
        self.site = alloc_site  # "fault", "read" or "write" while task.py/pagecache.py allocate
        self.panic_on_oom = 0
        self.oom_kill_allocating_task = 0
        self.oom_dump_tasks = 1
        sysctls.register("vm.panic_on_oom", lambda: self.panic_on_oom, self._set_panic_on_oom)
        sysctls.register("vm.oom_kill_allocating_task", lambda: self.oom_kill_allocating_task,
                         self._set_oom_kill_allocating_task)
        sysctls.register("vm.oom_dump_tasks", lambda: self.oom_dump_tasks, self._set_oom_dump_tasks)

    def _set_panic_on_oom(self, v: Any) -> None:
        self.panic_on_oom = self._int_range(v, 0, 2, "vm.panic_on_oom")

    def _set_oom_kill_allocating_task(self, v: Any) -> None:
        self.oom_kill_allocating_task = 1 if self._int(v) else 0

    def _set_oom_dump_tasks(self, v: Any) -> None:
        self.oom_dump_tasks = 1 if self._int(v) else 0

    @staticmethod
    def _int(v: Any) -> int:
        if isinstance(v, bool) or not isinstance(v, int):
            raise KernelFault(f"sysctl value must be an integer, not {v!r}")
        return v

    def _int_range(self, v: Any, lo: int, hi: int, name: str) -> int:
        v = self._int(v)
        if not lo <= v <= hi:
            raise KernelFault(f"{name}: {v} is out of range {lo}..{hi} (-EINVAL)")
        return int(v)

    # -- scoring --------------------------------------------------------------------------
    def totalpages(self) -> int:
        """Global OOM: totalram_pages() + total_swap_pages."""
        return max(1, self.totalram_pages() + self.tasks.nr_swap_pages)

    @staticmethod
    def unkillable(t: Task) -> bool:
        """oom_unkillable_task: the global init (and kernel threads, not modelled)."""
        return t.pid == 1

    @staticmethod
    def oom_badness(t: Task, totalpages: int) -> int | None:
        """mm/oom_kill.c: oom_badness (task.oom_badness); None is the kernel's LONG_MIN."""
        return oom_badness(t, totalpages)

    def proc_oom_score(self, t: Task) -> int:
        return proc_oom_score(t, self.totalpages())

    def select_bad_process(self, totalpages: int) -> tuple[Task | None, int]:
        """for_each_process + oom_evaluate_task: the victim and its points."""
        chosen: Task | None = None
        chosen_points = -(1 << 63)  # LONG_MIN
        for t in self.tasks:
            points = self.oom_badness(t, totalpages)
            if points is None or points < chosen_points:
                continue
            chosen = t
            chosen_points = points
        return chosen, chosen_points

    # -- the slow path's entry --------------------------------------------------------------
    def may_oom(self, gfp: int, order: int) -> bool:
        """__alloc_pages_may_oom: False when the OOM killer must not run for this request."""
        if order > PAGE_ALLOC_COSTLY_ORDER:
            return False  # the OOM killer does not help higher order allocations
        if gfp & _NO_OOM_FLAGS:
            return False
        if self.zt.gfp_zone(gfp) < self.zt.NORMAL:
            return False  # lowmem is reserved for lowmem users; OOM would not help
        return True

    def out_of_memory(self, gfp: int, order: int) -> bool:
        """Returns True for "progress" (a kill, or a request the OOM killer declines to serve)."""
        if not self.may_oom(gfp, order):
            return False
        if not gfp & _GFP_FS:
            # out_of_memory(): the OOM killer does not compensate for IO-less reclaim; pretend
            # progress so that the allocation keeps retrying (non-memcg only)
            return True
        totalpages = self.totalpages()
        cur = self.ctx.current
        if self.panic_on_oom:
            self._panic_header(gfp, order, totalpages)
            kind = "compulsory" if self.panic_on_oom == 2 else "system-wide"
            self._panic(f"Out of memory: {kind} panic_on_oom is enabled")
        if self.oom_kill_allocating_task:
            t = self.tasks.by_pid(cur.pid)
            if t is not None and t.alive and self.oom_badness(t, totalpages) is not None:
                self.oom_kill_process(t, gfp, order, totalpages, "Out of memory (oom_kill_allocating_task)")
                return True
        victim, _ = self.select_bad_process(totalpages)
        if victim is None:
            self._panic_header(gfp, order, totalpages)
            self.log.printk("Out of memory and no killable processes...", "warn")
            self._panic("System is deadlocked on memory")
        assert victim is not None
        self.oom_kill_process(victim, gfp, order, totalpages, "Out of memory")
        return True

    # -- reports ----------------------------------------------------------------------------
    def _header_lines(self, gfp: int, order: int) -> list[str]:
        cur = self.ctx.current
        adj = cur.oom_score_adj
        lines = [f"{cur.comm} invoked oom-killer: gfp_mask={gfp:#x}({format_gfp_pGg(gfp)}), "
                 f"order={order}, oom_score_adj={adj}"]
        lines += self._dump_stack()
        lines += self.show_mem(self.zt.gfp_zone(gfp))
        if self.oom_dump_tasks:
            lines += self.dump_tasks()
        return lines

    def _dump_stack(self) -> list[str]:
        """dump_stack() of dump_header, in the page allocator's warn_alloc style (symbols
        without offsets): the path into the allocator depends on what was allocating."""
        frames = ["dump_stack_lvl", "dump_header", "oom_kill_process", "out_of_memory",
                  "__alloc_pages_slowpath", "__alloc_frozen_pages_noprof", "alloc_pages_mpol"]
        frames += self.alloc_site_frames.get(self.site.value, [])
        return self.ctx.dump_stack(frames)

    # the callers above alloc_pages_mpol, by what the task was doing (set by task.py and
    # pagecache.py while they allocate); mm/memory.c, mm/filemap.c, arch/x86/mm/fault.c
    alloc_site_frames = {
        "fault": ["folio_alloc_mpol_noprof", "vma_alloc_folio_noprof", "alloc_anon_folio",
                  "do_anonymous_page", "__handle_mm_fault", "handle_mm_fault", "do_user_addr_fault",
                  "exc_page_fault", "asm_exc_page_fault"],
        "pte": ["alloc_pages_noprof", "pte_alloc_one", "__pte_alloc", "do_anonymous_page",
                "__handle_mm_fault", "handle_mm_fault", "do_user_addr_fault", "exc_page_fault",
                "asm_exc_page_fault"],
        "pmd": ["alloc_pages_noprof", "pmd_alloc_one", "__pmd_alloc", "__handle_mm_fault",
                "handle_mm_fault", "do_user_addr_fault", "exc_page_fault", "asm_exc_page_fault"],
        "pud": ["alloc_pages_noprof", "pud_alloc_one", "__pud_alloc", "__handle_mm_fault",
                "handle_mm_fault", "do_user_addr_fault", "exc_page_fault", "asm_exc_page_fault"],
        "filemap_fault": ["folio_alloc_noprof", "filemap_alloc_folio_noprof", "page_cache_ra_unbounded",
                          "do_sync_mmap_readahead", "filemap_fault", "__do_fault", "do_read_fault",
                          "do_pte_missing", "__handle_mm_fault", "handle_mm_fault", "do_user_addr_fault",
                          "exc_page_fault", "asm_exc_page_fault"],
        "read": ["folio_alloc_noprof", "filemap_alloc_folio_noprof", "filemap_create_folio",
                 "filemap_get_pages", "filemap_read", "vfs_read", "ksys_read", "do_syscall_64",
                 "entry_SYSCALL_64_after_hwframe"],
        "write": ["folio_alloc_noprof", "filemap_alloc_folio_noprof", "__filemap_get_folio",
                  "generic_perform_write", "vfs_write", "ksys_write", "do_syscall_64",
                  "entry_SYSCALL_64_after_hwframe"],
    }

    def dump_tasks(self) -> list[str]:
        lines = ["Tasks state (memory values in pages):",
                 "[  pid  ]   uid  tgid total_vm      rss rss_anon rss_file rss_shmem "
                 "pgtables_bytes swapents oom_score_adj name"]
        for t in self.tasks:
            if self.unkillable(t) or t.mm is None:
                continue
            mm = t.mm
            lines.append(f"[{t.pid:7d}] {t.uid:5d} {t.tgid:5d} {mm.total_vm:8d} {mm.rss:8d} "
                         f"{mm.anon:8d} {mm.file:8d} {mm.shmem:9d} {mm.pgtables_bytes:8d} "
                         f"{mm.swapents:8d}         {t.oom_score_adj:5d} {t.comm}")
        return lines

    def _panic_header(self, gfp: int, order: int, totalpages: int) -> None:
        self.log.printk("\n".join(self._header_lines(gfp, order)), "info")

    def _panic(self, reason: str) -> None:
        self.log.printk(f"Kernel panic - not syncing: {reason}\n"
                                f"---[ end Kernel panic - not syncing: {reason} ]---", "panic")
        raise KernelPanic(reason)

    def oom_kill_process(self, victim: Task, gfp: int, order: int, totalpages: int, message: str) -> None:
        """oom_kill_process + __oom_kill_process + the oom_reaper's pass, synchronously."""
        log = self.log
        lines = self._header_lines(gfp, order)
        lines.append("oom-kill:constraint=CONSTRAINT_NONE,nodemask=(null),cpuset=/,mems_allowed=0,"
                     f"global_oom,task_memcg=/,task={victim.comm},pid={victim.pid},uid={victim.uid}")
        log.printk("\n".join(lines), "info")
        mm = victim.mm
        assert mm is not None
        log.printk(f"{message}: Killed process {victim.pid} ({victim.comm}) total-vm:{mm.total_vm * 4}kB, "
                   f"anon-rss:{mm.anon * 4}kB, file-rss:{mm.file * 4}kB, shmem-rss:{mm.shmem * 4}kB, "
                   f"UID:{victim.uid} pgtables:{mm.pgtables_bytes >> 10}kB "
                   f"oom_score_adj:{victim.oom_score_adj}", "oom")
        self.vmstat.oom_kill += 1
        victim.oom_killed = True
        # SIGKILL, then wake_oom_reaper: the reaper is work the allocating task waits for
        # (it retries the allocation once memory has been freed), so it is an urgent event
        # that runs before this call returns (events.py)
        self.events.schedule(0, URGENT, "oom_reaper", lambda: self._oom_reap(victim))
        self.events.run_due(URGENT)

    def _oom_reap(self, victim: Task) -> None:
        """oom_reap_task + the victim's exit: unmap its memory, free its kernel stack."""
        mm = victim.mm
        assert mm is not None
        self.tasks.release_mm(victim)
        self.log.printk(f"oom_reaper: reaped process {victim.pid} ({victim.comm}), now anon-rss:{mm.anon * 4}kB, "
                        f"file-rss:{mm.file * 4}kB, shmem-rss:{mm.shmem * 4}kB", "info")
        # free_thread_stack: the stack goes to the cache of the CPU that frees the task
        self.kstacks.free_thread_stack(victim.stack, self.ctx.cpu)
        victim.alive = False


_MT_LETTERS = "UMEHI"  # mm/show_mem.c: show_migration_types (U, M, E, H; I for isolate)


def show_mem(vmstat: VmStat, ctx: ExecContext, za: ZoneAccess, lru: LruVec, pagecache: PageCache, nr_swap_pages: int,
             free_swap_pages: int, all_unreclaimable: bool, max_zone_idx: int) -> list[str]:
    """mm/show_mem.c: __show_mem(SHOW_MEM_FILTER_NODES, NULL, max_zone_idx) — the Mem-Info block.

    Same lines and fields as the page allocator's warn_alloc report (the 6.18 field set:
    free_highatomic, zspages, Balloon), with the per-zone LRU and write-pending sizes and
    the swap totals this layer keeps.

    Per-zone LRU and write-pending counts are computed from the node lists on demand (the
    kernel keeps NR_ZONE_* counters; only this report needs them here).
    """
    vm = vmstat
    zones = [z for z in za.populated() if za.idx(z) <= max_zone_idx]
    free_pcp = sum(z.pcp_count for z in zones)
    free_all = sum(z.free_pages for z in za.populated())

    def pages_of_b(nbytes: int) -> int:
        return nbytes // PAGE_SIZE

    lines = [
        "Mem-Info:",
        f"active_anon:{vm.nr_active_anon} inactive_anon:{vm.nr_inactive_anon} isolated_anon:0",
        f" active_file:{vm.nr_active_file} inactive_file:{vm.nr_inactive_file} isolated_file:0",
        f" unevictable:0 dirty:{vm.nr_dirty} writeback:{vm.nr_writeback}",
        f" slab_reclaimable:{pages_of_b(vm.nr_slab_reclaimable_b)} "
        f"slab_unreclaimable:{pages_of_b(vm.nr_slab_unreclaimable_b)}",
        f" mapped:{vm.nr_mapped} shmem:{vm.nr_shmem_pages} pagetables:{vm.nr_pagetable_pages}",
        " sec_pagetables:0 bounce:0",
        f" kernel_misc_reclaimable:{vm.nr_kernel_misc_reclaimable}",
        f" free:{free_all} free_pcp:{free_pcp} free_cma:0",
        f"Node 0 active_anon:{vm.nr_active_anon * 4}kB inactive_anon:{vm.nr_inactive_anon * 4}kB "
        f"active_file:{vm.nr_active_file * 4}kB inactive_file:{vm.nr_inactive_file * 4}kB unevictable:0kB "
        f"isolated(anon):0kB isolated(file):0kB mapped:{vm.nr_mapped * 4}kB dirty:{vm.nr_dirty * 4}kB "
        f"writeback:{vm.nr_writeback * 4}kB shmem:{vm.nr_shmem_pages * 4}kB shmem_thp:0kB "
        f"shmem_pmdmapped:0kB anon_thp:0kB kernel_stack:{vm.nr_kernel_stack_kb}kB "
        f"pagetables:{vm.nr_pagetable_pages * 4}kB sec_pagetables:0kB "
        f"all_unreclaimable? {'yes' if all_unreclaimable else 'no'} Balloon:0kB",
    ]
    # per-zone write-pending pages, from the page cache's dirty bits
    dirty_per_zone = {za.idx(z): 0 for z in za.all_zones()}
    for f in pagecache.files.values():
        if f.nr_dirty:
            for pfn in f.pages.values():
                if pagecache.dirty.get(pfn):
                    dirty_per_zone[za.pfn_zone_idx(pfn)] += 1
    for z in zones:
        c = lru.zone_nr[za.idx(z)] + [dirty_per_zone[za.idx(z)]]
        local_pcp = z.pcp[ctx.cpu].count
        lines.append(
            f"Node 0 {z.name} free:{z.free_pages * 4}kB boost:{z.watermark_boost * 4}kB min:{z.min * 4}kB "
            f"low:{z.low * 4}kB high:{z.high * 4}kB reserved_highatomic:{z.nr_reserved_highatomic * 4}KB "
            f"free_highatomic:{z.nr_free_highatomic * 4}KB "
            f"active_anon:{c[1] * 4}kB inactive_anon:{c[0] * 4}kB active_file:{c[3] * 4}kB "
            f"inactive_file:{c[2] * 4}kB unevictable:0kB writepending:{c[4] * 4}kB zspages:0kB "
            f"present:{z.present_pages * 4}kB managed:{z.managed_pages * 4}kB mlocked:0kB bounce:0kB "
            f"free_pcp:{z.pcp_count * 4}kB local_pcp:{local_pcp * 4}kB free_cma:0kB")
        lines.append("lowmem_reserve[]: " + " ".join(str(r) for r in z.lowmem_reserve))
    for z in zones:
        parts = []
        total = 0
        nr_free = za.nr_free(z)
        for order, n in enumerate(nr_free):
            total += n << order
            part = f"{n}*{4 << order}kB "
            if n:
                letters = "".join(_MT_LETTERS[mt] for mt in range(len(_MT_LETTERS))
                                  if z.nr_list[order * len(_MT_LETTERS) + mt])
                part += f"({letters}) "
            parts.append(part)
        lines.append(f"Node 0 {z.name}: " + "".join(parts) + f"= {total * 4}kB")
    lines += [
        f"{vm.nr_file_pages} total pagecache pages",
        "0 pages in swap cache",
        f"Free swap  = {free_swap_pages * 4}kB",
        f"Total swap = {nr_swap_pages * 4}kB",
        f"{sum(z.present_pages for z in za.populated())} pages RAM",
        "0 pages HighMem/MovableOnly",
        f"{sum(z.present_pages - z.managed_pages for z in za.populated())} pages reserved",
    ]
    return lines
