"""Tasks (processes) with an address space, RSS counters and page-table accounting.

What it models
--------------
A ``Task`` is a thread-group leader with a pid, a comm, ``oom_score_adj`` and a kernel
stack (``machine.kstacks.alloc_thread_stack``, kernel/fork.c: alloc_thread_stack_node).
Its ``MM`` is one anonymous mapping that grows with ``fault(size)`` and shrinks from the
top with ``munmap(size)``: ``pte`` holds, per virtual page, the pfn mapped there, or
``PTE_SWAP`` for a page swapped out.  The mapping starts at ``MMAP_BASE``, aligned to a
PGD entry (512 GiB), so page-table pages follow directly from the mapping length.

Counters are the kernel's mm counters (include/linux/mm_types.h: MM_FILEPAGES,
MM_ANONPAGES, MM_SWAPENTS, MM_SHMEMPAGES): ``anon``, ``file``, ``shmem``, ``swapents``,
``total_vm`` (pages mapped, resident or not) and ``pgtables_bytes`` (mm_pgtables_bytes:
4096 per PTE, PMD and PUD page; the PGD is not counted, as in the kernel).

Fault path (mm/memory.c: __handle_mm_fault, do_anonymous_page): for each page, first
the missing upper levels (PUD every 512^3 pages, PMD every 512^2, PTE table every 512
pages) are allocated with GFP_PGTABLE_USER (GFP_KERNEL_ACCOUNT | __GFP_ZERO,
include/asm-generic/pgalloc.h) through pagetable_alloc, which adds __GFP_COMP, then the data page with GFP_HIGHUSER_MOVABLE |
__GFP_COMP (vma_alloc_folio adds __GFP_COMP, which is why 6.x OOM reports of page faults
read ``gfp_mask=0x140cca(GFP_HIGHUSER_MOVABLE|__GFP_COMP)``).  The data page goes to the
head of the inactive anon LRU (lru_cache_add_inactive_or_unevictable since 5.9).  Pages
are faulted one at a time: an allocation that fails after the allocator's slow path (which
may OOM-kill, possibly the faulting task itself) stops the fault, and a task killed
during its own fault stops faulting.  ``machine.ctx.current`` is the faulting task for the
whole fault, so "<comm> invoked oom-killer" names it.

The PGD (PGD_ALLOCATION_ORDER 1 with CONFIG_MITIGATION_PAGE_TABLE_ISOLATION,
arch/x86/include/asm/pgalloc.h) is allocated at spawn the same way (__pgd_alloc ->
pagetable_alloc + pagetable_pgd_ctor) and counted in meminfo PageTables
(``nr_pagetable_pages``) but not in ``pgtables_bytes`` (mm_pgtables_bytes counts PTE,
PMD and PUD pages only).

pids come from a cyclic counter starting after the script's own task (pid 1000); pid 1
is the global init, which exists from boot without an address space of its own here and
is never an OOM victim (mm/oom_kill.c: oom_unkillable_task).

Simplifications relative to the kernel
--------------------------------------
- One anonymous VMA per task, growing and shrinking at its top, plus read-only private
  file mappings (``mmap(file, size)``: the file's first pages, touched at once, counted in
  ``file_rss``); no shmem (``shmem_rss`` stays 0), no THP, no fork/COW sharing, one thread
  per task, no fault-back-in of an unmapped page.
- task_struct, mm_struct, signal_struct and VMAs are not allocated from slab caches; only
  the kernel stack, the PGD, page tables and the data pages take memory.
- A page swapped out stays swapped until munmap/exit (faults only touch new pages).

Limits: the address space is the arch's TASK_SIZE (runtime/arch/); a fault or mmap that would
make ``total_vm`` exceed it returns -ENOMEM (mm/mmap.c: do_mmap, __get_unmapped_area),
and mapping file pages beyond the filesystem's s_maxbytes returns -EOVERFLOW
(simplified from mm/mmap.c: file_mmap_ok, which checks MAX_LFS_FILESIZE: here a touched
file page is read into the page cache, so it must lie inside the file's limit).  Every
page faulted or mapped and every page-table page costs PAGE_WORK steps of the work meter.
"""

from __future__ import annotations

from array import array
from typing import Any, Callable, Iterator, Protocol

from .arch import Arch
from .errors import KernelFault
from .limits import ENOMEM, EOVERFLOW, FS_MAXBYTES, PAGE_WORK, WorkMeter
from .gfp import GFP_HIGHUSER_MOVABLE, GFP_KERNEL_ACCOUNT, __GFP_COMP, __GFP_ZERO
from .buddy import SECTION_MASK, SECTION_SHIFT
from .context import ExecContext
from .events import Clock, EventQueue
from .kstack import KernelStacks
from .mm_types import PAGE_SHIFT, PAGE_SIZE
from .mm_types import PageAllocator as _PageAllocator
from .pagecache import LRU_INACTIVE_ANON, AllocSite, FileMap, LruVec, PageCache, Rmap
from .vmstat import VmStat



class PageAllocator(_PageAllocator, Protocol):
    """The page allocator as the fault path uses it: alloc_pages/free_pages, and a run of
    order-0 pages off the pcp list (page_alloc.py: alloc_pages_pcp_run)."""

    def alloc_pages_pcp_run(self, gfp: int, nr: int, owner: int) -> list[int]: ...


GFP_PGTABLE_USER = GFP_KERNEL_ACCOUNT | __GFP_ZERO
# pagetable_alloc (include/linux/mm.h) allocates every page-table page as a compound page
GFP_PGTABLE_ALLOC = GFP_PGTABLE_USER | __GFP_COMP
GFP_ANON_FAULT = GFP_HIGHUSER_MOVABLE | __GFP_COMP
PGD_ALLOCATION_ORDER = 1
PTRS_PER_TABLE = 512
MMAP_BASE = 0x7F0000000000  # 254 * 512 GiB: a PGD-entry-aligned mmap area
PTE_NONE = -1
PTE_SWAP = -2
OOM_SCORE_ADJ_MIN = -1000
OOM_SCORE_ADJ_MAX = 1000
FIRST_USER_PID = 1001  # the script itself runs as pid 1000 (context.py)
PID_MAX_DEFAULT = 32768
# Simulated time (printk timestamps) a page fault costs: the order of a minor anonymous
# fault with page zeroing on current x86_64 hardware.
FAULT_NS = 1000
RESERVED_PIDS = 300  # kernel/pid.c: pid allocation wraps to 300


def _tables_needed(nr_pages: int, span: int) -> int:
    return (nr_pages + span - 1) // span


class MM:
    """A task's address space (mm_struct) as far as memory accounting needs it."""

    __slots__ = ("pte", "anon", "file", "shmem", "swapents", "pgd_pfn", "pt_pfns", "oid", "file_maps")

    def __init__(self, oid: int) -> None:
        self.oid = oid
        self.pte = array("q")
        self.anon = 0
        self.file = 0
        self.shmem = 0
        self.swapents = 0
        self.pgd_pfn: int | None = None
        # page-table pages of the anonymous region per level: 0 = PTE tables, 1 = PMD pages,
        # 2 = PUD pages (the one PUD page also serves the file VMAs)
        self.pt_pfns: list[list[int]] = [[], [], []]
        self.file_maps: list[FileMap] = []  # file VMAs (mmap of a file)

    @property
    def total_vm(self) -> int:
        return len(self.pte) + sum(fm.nr_pages for fm in self.file_maps)

    @property
    def rss(self) -> int:
        """get_mm_rss: anon + file + shmem pages."""
        return self.anon + self.file + self.shmem

    @property
    def pgtables_bytes(self) -> int:
        return (sum(len(level) for level in self.pt_pfns)
                + sum(len(fm.pt_pfns) for fm in self.file_maps)) * PAGE_SIZE


class Task:
    """A process.  Script handle: ``task db = spawn("postgres")``."""

    KMS_TYPE = "task"
    KMS_ATTRS = frozenset({"pid", "comm", "rss", "anon_rss", "file_rss", "shmem_rss", "swapents",
                           "total_vm", "pgtables", "oom_score_adj", "oom_score", "alive", "oom_killed",
                           "stack"})

    def __init__(self, table: "TaskTable", pid: int, comm: str, oom_score_adj: int) -> None:
        self._table = table
        self.pid = pid
        self.tgid = pid
        self.uid = 0
        self.comm = comm[:15]  # TASK_COMM_LEN 16 including the NUL
        self.oom_score_adj = oom_score_adj
        self.flags = 0      # PF_* flags (none are set by the model)
        self.rt = False     # rt_task(): no realtime tasks are modelled
        self.alive = True
        self.oom_killed = False
        self.stack: int = 0  # kernel stack base address
        self.stack_cpu = 0
        self.mm: MM | None = None

    # -- attributes scripts read (bytes, as /proc/PID/status shows kB) -------------------------
    @property
    def rss(self) -> int:
        return self.mm.rss * PAGE_SIZE if self.mm else 0

    @property
    def anon_rss(self) -> int:
        return self.mm.anon * PAGE_SIZE if self.mm else 0

    @property
    def file_rss(self) -> int:
        return self.mm.file * PAGE_SIZE if self.mm else 0

    @property
    def shmem_rss(self) -> int:
        return self.mm.shmem * PAGE_SIZE if self.mm else 0

    @property
    def swapents(self) -> int:
        return self.mm.swapents if self.mm else 0

    @property
    def total_vm(self) -> int:
        return self.mm.total_vm * PAGE_SIZE if self.mm else 0

    @property
    def pgtables(self) -> int:
        return self.mm.pgtables_bytes if self.mm else 0

    @property
    def oom_score(self) -> int:
        """/proc/PID/oom_score (fs/proc/base.c: proc_oom_score)."""
        return self._table.oom_score(self)

    @property
    def oom_victim(self) -> bool:
        """tsk_is_oom_victim: the page allocator gives it ALLOC_OOM access to reserves."""
        return self.oom_killed

    # -- operations ---------------------------------------------------------------------------
    def fault(self, size: int) -> int:
        return self._table.fault(self, size)

    def munmap(self, size: int) -> int:
        return self._table.munmap(self, size)

    def mmap(self, file: Any, size: int) -> int:
        return self._table.mmap(self, file, size)

    def exit(self) -> None:
        self._table.exit(self)

    def set_oom_score_adj(self, adj: int) -> None:
        if not OOM_SCORE_ADJ_MIN <= adj <= OOM_SCORE_ADJ_MAX:
            raise KernelFault(f"oom_score_adj {adj}: must be in -1000..1000 (-EINVAL)")
        self.oom_score_adj = adj

    def __str__(self) -> str:
        state = "alive" if self.alive else ("killed by the OOM killer" if self.oom_killed else "exited")
        if not self.mm:
            return f"task {self.pid} ({self.comm}) {state}"
        mm = self.mm
        return (f"task {self.pid} ({self.comm}) {state}: total-vm:{mm.total_vm * 4}kB, "
                f"anon-rss:{mm.anon * 4}kB, file-rss:{mm.file * 4}kB, shmem-rss:{mm.shmem * 4}kB, "
                f"swapents:{mm.swapents} pgtables:{mm.pgtables_bytes >> 10}kB "
                f"oom_score_adj:{self.oom_score_adj}")


def c_div(a: int, b: int) -> int:
    """C integer division: truncates toward zero."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


def oom_badness(t: Task, totalpages: int) -> int | None:
    """mm/oom_kill.c: oom_badness; None is the kernel's LONG_MIN (never chosen).

    Unkillable (oom_unkillable_task): the global init; kernel threads are not modelled."""
    if t.pid == 1 or not t.alive:
        return None
    mm = t.mm
    if mm is None:
        return None
    adj = t.oom_score_adj
    if adj == OOM_SCORE_ADJ_MIN:
        return None
    points = mm.rss + mm.swapents + mm.pgtables_bytes // PAGE_SIZE
    adj *= totalpages // 1000
    return points + adj


def proc_oom_score(t: Task, totalpages: int) -> int:
    """fs/proc/base.c: proc_oom_score - (1000 + points * 1000 / totalpages) * 2 / 3."""
    badness = oom_badness(t, totalpages)
    if badness is None:
        return 0
    return c_div((1000 + c_div(badness * 1000, totalpages)) * 2, 3)


class TaskTable:
    """All tasks of the machine (the kernel's task list, in creation order)."""

    def __init__(self, *, arch: Arch, page_alloc: PageAllocator, kstacks: KernelStacks, ctx: ExecContext, vmstat: VmStat,
                 clock: Clock, events: EventQueue, pagecache: PageCache, lru: LruVec, rmap: Rmap,
                 alloc_site: AllocSite, meter: WorkMeter, totalram_pages: int, swap_bytes: int, owner_user: int,
                 owner_pagetable: int) -> None:
        self.meter = meter
        # TASK_SIZE in pages: mm/mmap.c: __get_unmapped_area refuses len > TASK_SIZE
        self.task_size_pages = arch.task_size_pages
        self.totalram_pages = totalram_pages
        self.page_alloc = page_alloc
        self.kstacks = kstacks
        self.ctx = ctx
        self.vmstat = vmstat
        self.clock = clock
        self.events = events
        self.pagecache = pagecache  # file mappings take their pages from it
        self.lru = lru
        self.rmap = rmap
        self.owner_user = owner_user
        self.owner_pagetable = owner_pagetable
        self.tasks: dict[int, Task] = {}
        self.last_pid = FIRST_USER_PID - 1
        self.nr_swap_pages = swap_bytes // PAGE_SIZE  # total_swap_pages
        self.free_swap_pages = self.nr_swap_pages
        init = Task(self, 1, "init", 0)
        self.init = init
        self.tasks[1] = init
        # what the current allocation is for ("fault"), read by the OOM report's stack dump
        self.alloc_site = alloc_site

    def oom_score(self, t: Task) -> int:
        """/proc/PID/oom_score against the global totalpages (totalram + total swap)."""
        return proc_oom_score(t, max(1, self.totalram_pages + self.nr_swap_pages))

    # -- lookup -----------------------------------------------------------------------------
    def __iter__(self) -> Iterator[Task]:
        """for_each_process: live tasks in creation order."""
        return iter([t for t in self.tasks.values() if t.alive])

    def by_pid(self, pid: int) -> Task | None:
        return self.tasks.get(pid)

    def _alloc_pid(self) -> int:
        """kernel/pid.c: alloc_pid — cyclic, wrapping to RESERVED_PIDS."""
        pid = self.last_pid
        for _ in range(PID_MAX_DEFAULT):
            pid += 1
            if pid >= PID_MAX_DEFAULT:
                pid = RESERVED_PIDS
            t = self.tasks.get(pid)
            if t is None or not t.alive:
                self.last_pid = pid
                return pid
        raise KernelFault("fork: no free pid (-EAGAIN)")

    # -- fork/exec/exit ----------------------------------------------------------------------
    def spawn(self, comm: str, oom_score_adj: int = 0) -> Task | None:
        """fork + exec: a task with a kernel stack and an empty address space.

        Returns None when the kernel stack or the PGD cannot be allocated (fork fails
        with -ENOMEM after the allocator's own failure report).
        """
        if not OOM_SCORE_ADJ_MIN <= oom_score_adj <= OOM_SCORE_ADJ_MAX:
            raise KernelFault(f"oom_score_adj {oom_score_adj}: must be in -1000..1000 (-EINVAL)")
        cpu = self.ctx.cpu
        base = self.kstacks.alloc_thread_stack(cpu, caller="kernel_clone")
        if base is None:
            return None
        pgd = self.page_alloc.alloc_pages(GFP_PGTABLE_ALLOC, PGD_ALLOCATION_ORDER, owner=self.owner_pagetable)
        if pgd is None:
            self.kstacks.free_thread_stack(base, cpu)
            return None
        pid = self._alloc_pid()
        t = Task(self, pid, comm, oom_score_adj)
        t.stack = base
        t.stack_cpu = cpu
        mm = MM(self.rmap.register(None))
        self.rmap.owners[mm.oid] = t
        mm.pgd_pfn = pgd
        self.vmstat.nr_pagetable_pages += 1 << PGD_ALLOCATION_ORDER
        t.mm = mm
        self.tasks.pop(pid, None)  # a reused pid: the dead task's entry goes
        self.tasks[pid] = t
        return t

    def exit(self, t: Task) -> None:
        """do_exit: unmap everything (exit_mmap), free page tables, the PGD and the stack."""
        if not t.alive:
            raise KernelFault(f"task {t.pid} ({t.comm}) has already exited")
        if t.pid == 1:
            raise KernelFault("init (pid 1) cannot exit: the kernel would panic (Attempted to kill init!)")
        self.release_mm(t)
        # free_thread_stack: the stack goes to the cache of the CPU that frees the task
        self.kstacks.free_thread_stack(t.stack, self.ctx.cpu)
        t.alive = False

    def release_mm(self, t: Task) -> None:
        """exit_mmap: free every page, swap entry and page table of the task."""
        mm = t.mm
        if mm is None:
            return
        self._unmap_range(mm, 0)
        self._unmap_files(mm)
        self._free_tables(mm, 0)
        if mm.pgd_pfn is not None:
            self.page_alloc.free_pages(mm.pgd_pfn, PGD_ALLOCATION_ORDER)
            self.vmstat.nr_pagetable_pages -= 1 << PGD_ALLOCATION_ORDER
            mm.pgd_pfn = None
        self.rmap.unregister(mm.oid)

    # -- file mappings ----------------------------------------------------------------------
    def mmap(self, t: Task, f: Any, size: int) -> int:
        """mmap(file, size, PROT_READ, MAP_PRIVATE) and touch every page: the file's pages come
        from the page cache (read in when missing) and count in MM_FILEPAGES.  The VMA
        gets its own 1 GiB-aligned range: PTE tables and PMD pages of its own, the PUD page
        shared with the rest of the address space.  Returns the bytes mapped."""
        if not t.alive or t.mm is None:
            raise KernelFault(f"task {t.pid} ({t.comm}) is not running")
        mm = t.mm
        nr = (size + PAGE_SIZE - 1) >> PAGE_SHIFT
        if nr == 0:
            return 0
        if mm.total_vm + nr > self.task_size_pages:
            return -ENOMEM
        if nr << PAGE_SHIFT > FS_MAXBYTES:
            return -EOVERFLOW
        # the page-table pages are paid for before any is allocated (nothing to undo)
        self.meter.charge((_tables_needed(nr, PTRS_PER_TABLE ** 2) + _tables_needed(nr, PTRS_PER_TABLE))
                                  * PAGE_WORK)
        ctx = self.ctx
        saved = ctx.current
        ctx.current = t
        site = self.alloc_site
        done = 0
        try:
            fm = FileMap(f, mm, nr)
            site.value = "pud"
            ok = mm.pt_pfns[2] or self._alloc_pt(t, mm.pt_pfns[2])
            site.value = "pmd"
            for _ in range(_tables_needed(nr, PTRS_PER_TABLE ** 2)):
                ok = ok and self._alloc_pt(t, fm.pt_pfns)
                if not ok:
                    break
            site.value = "pte"
            for _ in range(_tables_needed(nr, PTRS_PER_TABLE)):
                ok = ok and self._alloc_pt(t, fm.pt_pfns)
                if not ok:
                    break
            if not ok or not t.alive:
                self._free_pt(fm.pt_pfns)
                if t.alive:
                    self._free_tables(mm, len(mm.pte))
                return 0
            mm.file_maps.append(fm)
            f.maps.append(fm)
            site.value = "filemap_fault"
            done = int(self.pagecache.map_pages(fm, lambda: t.alive))
        finally:
            ctx.current = saved
            site.value = ""
            self.events.run_due()  # deferred work the operation woke (kswapd)
        return done << PAGE_SHIFT

    def _alloc_pt(self, t: Task, into: list[int]) -> bool:
        pfn = self.page_alloc.alloc_pages(GFP_PGTABLE_ALLOC, 0, owner=self.owner_pagetable)
        if pfn is None:
            return False
        if not t.alive:  # OOM-killed while allocating its own page table
            self.page_alloc.free_pages(pfn, 0)
            return False
        into.append(pfn)
        self.vmstat.nr_pagetable_pages += 1
        return True

    def _free_pt(self, tables: list[int]) -> None:
        free = self.page_alloc.free_pages
        while tables:
            free(tables.pop(), 0)
            self.vmstat.nr_pagetable_pages -= 1

    def _unmap_files(self, mm: MM) -> None:
        for fm in mm.file_maps:
            self.pagecache.unmap_all(fm)
            self._free_pt(fm.pt_pfns)
        mm.file_maps = []

    # -- page faults --------------------------------------------------------------------------
    def fault(self, t: Task, size: int) -> int:
        """Map *size* more bytes and touch every page; returns the bytes faulted in."""
        if not t.alive or t.mm is None:
            raise KernelFault(f"task {t.pid} ({t.comm}) is not running")
        nr = (size + PAGE_SIZE - 1) >> PAGE_SHIFT
        if t.mm.total_vm + nr > self.task_size_pages:
            return -ENOMEM
        ctx = self.ctx
        saved = ctx.current
        ctx.current = t
        site = self.alloc_site
        site.value = "fault"
        done = 0
        try:
            done = self._fault_pages(t, nr)
        finally:
            # (a stop by the work meter between two pages keeps the pages faulted so far)
            ctx.current = saved
            site.value = ""
            self.events.run_due()  # deferred work the operation woke (kswapd)
        return done << PAGE_SHIFT

    def _fault_pages(self, t: Task, nr: int) -> int:
        """The per-page loop of the fault path, with the per-page bookkeeping inlined.

        Per-pfn state lives in 32768-pfn sections (PfnMap); the loop keeps the current
        section of each map at hand and refetches them only when the pfn moves to another
        section, so one page costs one allocator call plus a few array stores.
        """
        mm = t.mm
        assert mm is not None
        alloc = self.page_alloc.alloc_pages
        alloc_run = self.page_alloc.alloc_pages_pcp_run
        free = self.page_alloc.free_pages
        owner = self.owner_user
        pte = mm.pte
        lru = self.lru
        lru_list = lru.lists[LRU_INACTIVE_ANON]
        lru_nr = lru.nr
        zone_nr = lru.zone_nr
        zone_of = lru.zone_of
        range_zone = lru.range_zone
        rmap_map = self.rmap.map
        state_map = lru.state
        young_map = lru.young
        oid_shifted = mm.oid << 32
        vm = self.vmstat
        clock = self.clock
        meter = self.meter
        done = 0
        state = LRU_INACTIVE_ANON + 1
        cur_key = -1
        rsec = ssec = ysec = rmap_map.section(0)
        zcount: list[int] | None = None
        # Pages taken ahead from the pcp list (alloc_pages_pcp_run: what the next calls of
        # alloc_pages would return), at most up to the end of the current PTE table (whose
        # successor's page-table pages come first) and within the work meter.
        ahead: list[int] = []
        for _ in range(nr):
            meter.left -= PAGE_WORK  # meter.charge, inlined on this hot path
            if meter.left < 0:
                meter.exhausted()
            idx = len(pte)
            if idx & (PTRS_PER_TABLE - 1) == 0 and not self._alloc_tables(t, mm, idx):
                break
            if not t.alive:
                break
            if ahead:
                pfn: int | None = ahead.pop()
            else:
                want = min(nr - done, PTRS_PER_TABLE - (idx & (PTRS_PER_TABLE - 1)), 1 + meter.left // PAGE_WORK)
                ahead = alloc_run(GFP_ANON_FAULT, want, owner) if want > 1 else []
                if ahead:
                    ahead.reverse()
                    pfn = ahead.pop()
                else:
                    pfn = alloc(GFP_ANON_FAULT, 0, owner=owner)
            if not t.alive:
                # killed while allocating: the OOM reaper already tore the mm down
                if pfn is not None:
                    free(pfn, 0)
                break
            if pfn is None:
                break
            key = pfn >> SECTION_SHIFT
            if key != cur_key:
                cur_key = key
                rsec = rmap_map.section(pfn)
                ssec = state_map.section(pfn)
                ysec = young_map.section(pfn)
                first = key << SECTION_SHIFT
                z0 = range_zone(first, first + SECTION_MASK + 1)
                zcount = zone_nr[z0] if z0 >= 0 else None
            off = pfn & SECTION_MASK
            pte.append(pfn)
            rsec[off] = oid_shifted | idx
            # lruvec_add_folio, inlined; counters stay exact at every step because a
            # later allocation in this loop may print them (OOM report, Mem-Info)
            ssec[off] = state
            ysec[off] = 1
            lru_list.append(pfn)
            lru_nr[LRU_INACTIVE_ANON] += 1
            if zcount is not None:
                zcount[LRU_INACTIVE_ANON] += 1
            else:
                zone_nr[zone_of(pfn)][LRU_INACTIVE_ANON] += 1
            vm.nr_inactive_anon += 1
            vm.nr_anon_pages += 1
            mm.anon += 1
            done += 1
            clock.ns += FAULT_NS
        assert not ahead  # the loop stops only where no page was taken ahead
        return done

    def _alloc_tables(self, t: Task, mm: MM, idx: int) -> bool:
        """Allocate the page-table pages a new PTE table at page index *idx* needs."""
        alloc = self.page_alloc.alloc_pages
        site = self.alloc_site
        # upper levels first, as __handle_mm_fault allocates pud, pmd, then the pte table
        for level, span in ((2, PTRS_PER_TABLE ** 3), (1, PTRS_PER_TABLE ** 2), (0, PTRS_PER_TABLE)):
            if idx % span == 0 and len(mm.pt_pfns[level]) < _tables_needed(idx + 1, span):
                site.value = ("pte", "pmd", "pud")[level]
                pfn = alloc(GFP_PGTABLE_ALLOC, 0, owner=self.owner_pagetable)
                site.value = "fault"
                if not t.alive:  # OOM-killed while allocating its own page table
                    if pfn is not None:
                        self.page_alloc.free_pages(pfn, 0)
                    return False
                if pfn is None:
                    return False
                mm.pt_pfns[level].append(pfn)
                self.vmstat.nr_pagetable_pages += 1
        return True

    # -- unmapping -------------------------------------------------------------------------
    def munmap(self, t: Task, size: int) -> int:
        """Unmap the top *size* bytes of the task's mapping; returns the bytes unmapped."""
        if not t.alive or t.mm is None:
            raise KernelFault(f"task {t.pid} ({t.comm}) is not running")
        mm = t.mm
        nr = min((size + PAGE_SIZE - 1) >> PAGE_SHIFT, len(mm.pte))
        keep = len(mm.pte) - nr
        self._unmap_range(mm, keep)
        self._free_tables(mm, keep)
        return nr << PAGE_SHIFT

    def _unmap_range(self, mm: MM, keep: int) -> None:
        """zap_pte_range for pte[keep:]: free resident pages and swap entries.

        LRU removal is inlined (state byte cleared, counts summed per zone and list and
        applied once at the end: nothing in this loop allocates or prints)."""
        pte = mm.pte
        free = self.page_alloc.free_pages
        lru = self.lru
        zone_of = lru.zone_of
        state_map = lru.state
        rmap_map = self.rmap.map
        removed: dict[tuple[int, int], int] = {}
        anon = swapped = 0
        cur_key = -1
        ssec = rsec = state_map.section(0)
        for i in range(len(pte) - 1, keep - 1, -1):
            pfn = pte[i]
            if pfn >= 0:
                key = pfn >> SECTION_SHIFT
                if key != cur_key:
                    cur_key = key
                    ssec = state_map.section(pfn)
                    rsec = rmap_map.section(pfn)
                off = pfn & SECTION_MASK
                which = ssec[off] - 1
                if which >= 0:
                    ssec[off] = 0
                    k = (zone_of(pfn), which)
                    removed[k] = removed.get(k, 0) + 1
                rsec[off] = -1
                free(pfn, 0)
                anon += 1
            elif pfn == PTE_SWAP:
                swapped += 1
        del pte[keep:]
        lru.uncount(removed)
        mm.anon -= anon
        mm.swapents -= swapped
        vm = self.vmstat
        vm.nr_anon_pages -= anon
        vm.nr_swap_used -= swapped
        self.free_swap_pages += swapped

    def _free_tables(self, mm: MM, keep: int) -> None:
        """free_pgtables: page-table pages covering only the unmapped range go."""
        free = self.page_alloc.free_pages
        for level, span in ((0, PTRS_PER_TABLE), (1, PTRS_PER_TABLE ** 2), (2, PTRS_PER_TABLE ** 3)):
            need = _tables_needed(keep, span)
            if level == 2 and mm.file_maps:
                need = max(need, 1)  # the PUD page also maps the file VMAs
            tables = mm.pt_pfns[level]
            while len(tables) > need:
                free(tables.pop(), 0)
                self.vmstat.nr_pagetable_pages -= 1

    # -- reclaim and compaction hooks ---------------------------------------------------------
    def swap_out(self, t: Task, idx: int, pfn: int) -> bool:
        """Reclaim an anonymous page to swap (add_to_swap + try_to_unmap); False if swap is full."""
        if self.free_swap_pages <= 0:
            return False
        mm = t.mm
        assert mm is not None
        self.free_swap_pages -= 1
        mm.pte[idx] = PTE_SWAP
        mm.anon -= 1
        mm.swapents += 1
        vm = self.vmstat
        vm.nr_anon_pages -= 1
        vm.nr_swap_used += 1
        self.rmap.clear(pfn)
        self.page_alloc.free_pages(pfn, 0)
        return True

    def migrate_page(self, t: Task, idx: int, old: int, new: int) -> None:
        mm = t.mm
        assert mm is not None
        mm.pte[idx] = new
        self.rmap.clear(old)
        self.rmap.set(new, mm.oid, idx)


def proc_pid_status(t: Task, oom_score: int) -> str:
    """The memory lines of /proc/PID/status (fs/proc/task_mmu.c: task_mem) plus the oom files."""
    mm = t.mm
    state = "R (running)" if t.alive else "X (dead)"
    lines = [f"Name:\t{t.comm}", f"State:\t{state}", f"Tgid:\t{t.tgid}", f"Pid:\t{t.pid}",
             f"Uid:\t{t.uid}\t{t.uid}\t{t.uid}\t{t.uid}"]
    if mm is not None and t.alive:
        def kb(label: str, pages: int) -> str:
            return f"{label}:\t{pages * 4:8d} kB"
        lines += [kb("VmSize", mm.total_vm), kb("VmRSS", mm.rss), kb("RssAnon", mm.anon),
                  kb("RssFile", mm.file), kb("RssShmem", mm.shmem),
                  f"VmPTE:\t{mm.pgtables_bytes >> 10:8d} kB", kb("VmSwap", mm.swapents)]
    lines += [f"oom_score:\t{oom_score}", f"oom_score_adj:\t{t.oom_score_adj}"]
    return "\n".join(lines)


def ps_table(tasks: "TaskTable", oom_score: "Any") -> str:
    """``show tasks``: one line per live task, sizes in kB as ps shows them."""
    head = (f"{'PID':>7} {'COMM':<15} {'VSZ':>9} {'RSS':>9} {'ANON':>9} {'FILE':>9} {'SHMEM':>9} "
            f"{'PTE':>7} {'SWAP':>9} {'OOM_ADJ':>7} {'OOM_SCORE':>9}")
    lines = [head]
    for t in tasks:
        mm = t.mm
        if mm is None:
            vals = (0, 0, 0, 0, 0, 0, 0)
        else:
            vals = (mm.total_vm * 4, mm.rss * 4, mm.anon * 4, mm.file * 4, mm.shmem * 4,
                    mm.pgtables_bytes >> 10, mm.swapents * 4)
        lines.append(f"{t.pid:>7} {t.comm:<15} {vals[0]:>9} {vals[1]:>9} {vals[2]:>9} {vals[3]:>9} "
                     f"{vals[4]:>9} {vals[5]:>7} {vals[6]:>9} {t.oom_score_adj:>7} {oom_score(t):>9}")
    return "\n".join(lines)
