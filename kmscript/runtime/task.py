"""Tasks (processes): pids, comm, oom_score_adj, a kernel stack and an address space.

What it models
--------------
A ``Task`` is a thread-group leader with a pid, a comm, ``oom_score_adj`` and a kernel
stack (``kstacks.alloc_thread_stack``, kernel/fork.c: alloc_thread_stack_node).  Its ``mm``
is an address space of runtime/address_spaces.py (mm_struct, VMAs, page tables); the task table
creates it at spawn (fork + exec: dup_task_struct, then copy_mm -> mm_alloc) and tears it
down at exit (exit_mm -> mmput -> exit_mmap).

The script-level operations the task handle had before address spaces existed keep their
meaning, now as the system calls they stand for:
- ``fault(size)`` grows the heap by *size* (brk) and touches every new page for writing
  (the fault path allocates the page tables the walk needs, then GFP_HIGHUSER_MOVABLE |
  __GFP_COMP data pages); -ENOMEM when the heap cannot grow that far.
- ``munmap(size)`` shrinks the heap from the top (brk), freeing its pages, swap entries and
  the page tables that only covered the unmapped part.
- ``mmap(file, size)`` maps the file's first *size* bytes (PROT_READ, MAP_PRIVATE) at the
  address the top-down allocator picks, and touches every page (filemap_fault): page-cache
  pages counted in MM_FILEPAGES.  -ENOMEM beyond the address space, -EOVERFLOW beyond the
  maximum file size.
``machine.tasks.spaces`` is the address-space subsystem itself (mmap, mprotect, fork ...).

During a fault ``ctx.current`` is the faulting task, so "<comm> invoked oom-killer" names
it; a task OOM-killed during its own fault stops faulting (its mm is torn down by the
reaper).

pids come from a cyclic counter starting after the script's own task (pid 1000); pid 1
is the global init, which exists from boot without an address space of its own here and
is never an OOM victim (mm/oom_kill.c: oom_unkillable_task).

Simplifications relative to the kernel: one thread per task; task_struct, signal_struct
and files are not allocated (the mm_struct and the VMAs are, see mmap.py: mm_alloc); exec loads no
image, so a new task's address space is empty until the script maps something.
"""

from __future__ import annotations

from typing import Any, Callable, Iterator

from .context import ExecContext
from .errors import KernelFault
from .events import EventQueue
from .kstack import KernelStacks
from .limits import EFAULT, ENOMEM
from .mm_types import PAGE_SHIFT, PAGE_SIZE
from .mm_types import MAP_PRIVATE, PROT_READ
from . import task_mmu
from .address_spaces import AddressSpaces
from .memory import X86_PF_PROT, X86_PF_USER, X86_PF_WRITE
from .pgtable import MM, page_align
from .pagecache import AllocSite
from .printk import KernelLog
from .vma import AnonVma

OOM_SCORE_ADJ_MIN = -1000
OOM_SCORE_ADJ_MAX = 1000
FIRST_USER_PID = 1001  # the script itself runs as pid 1000 (context.py)
PID_MAX_DEFAULT = 32768
RESERVED_PIDS = 300  # kernel/pid.c: pid allocation wraps to 300


class Task:
    """A process.  Script handle: ``task db = spawn("postgres")``."""

    KMS_TYPE = "task"
    KMS_ATTRS = frozenset({"pid", "comm", "rss", "anon_rss", "file_rss", "shmem_rss", "swapents",
                           "total_vm", "pgtables", "oom_score_adj", "oom_score", "alive", "oom_killed",
                           "stack", "ppid", "brk", "mmap_base", "map_count", "min_flt", "maj_flt",
                           "signal"})

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
        self.ppid = 1000      # the script's own task forks every spawned task
        self.signal = ""      # the fatal signal that ended the task ("SIGSEGV")

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
    def brk(self) -> int:
        return self.mm.brk if self.mm else 0

    @property
    def mmap_base(self) -> int:
        return self.mm.mmap_base if self.mm else 0

    @property
    def map_count(self) -> int:
        return self.mm.map_count if self.mm else 0

    @property
    def min_flt(self) -> int:
        return self.mm.min_flt if self.mm else 0

    @property
    def maj_flt(self) -> int:
        return self.mm.maj_flt if self.mm else 0

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

    def fork(self, comm: str | None = None) -> "Task | None":
        return self._table.fork(self, comm)

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

    def __init__(self, *, spaces: AddressSpaces, kstacks: KernelStacks, ctx: ExecContext, events: EventQueue,
                 log: KernelLog, alloc_site: AllocSite, totalram_pages: int) -> None:
        self.spaces = spaces
        self.log = log
        self.totalram_pages = totalram_pages
        self.kstacks = kstacks
        self.ctx = ctx
        self.events = events
        self.tasks: dict[int, Task] = {}
        self.last_pid = FIRST_USER_PID - 1
        init = Task(self, 1, "init", 0)
        self.init = init
        self.tasks[1] = init
        # what the current allocation is for ("fault"), read by the OOM report's stack dump
        self.alloc_site = alloc_site

    @property
    def nr_swap_pages(self) -> int:
        """total_swap_pages."""
        return self.spaces.swap.nr_swap_pages

    @property
    def free_swap_pages(self) -> int:
        """get_nr_swap_pages: free swap slots."""
        return self.spaces.swap.free_swap_pages

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

    def _running(self, t: Task) -> MM:
        if not t.alive or t.mm is None:
            raise KernelFault(f"task {t.pid} ({t.comm}) is not running")
        return t.mm

    # -- fork/exec/exit ----------------------------------------------------------------------
    def spawn(self, comm: str, oom_score_adj: int = 0) -> Task | None:
        """fork + exec: a task with a kernel stack and an empty address space.

        Returns None when the kernel stack, the mm_struct or the PGD cannot be allocated
        (fork fails with -ENOMEM after the allocator's own failure report).  The deferred
        work fork woke (kswapd) runs before it returns, failed or not.
        """
        if not OOM_SCORE_ADJ_MIN <= oom_score_adj <= OOM_SCORE_ADJ_MAX:
            raise KernelFault(f"oom_score_adj {oom_score_adj}: must be in -1000..1000 (-EINVAL)")
        t = self._new_task(comm, oom_score_adj, None)
        self.events.run_due()
        return t

    def _new_task(self, comm: str, oom_score_adj: int, parent: Task | None) -> Task | None:
        cpu = self.ctx.cpu
        base = self.kstacks.alloc_thread_stack(cpu, caller="kernel_clone")
        if base is None:
            return None
        pid = self._alloc_pid()
        t = Task(self, pid, comm, oom_score_adj)
        t.stack = base
        t.stack_cpu = cpu
        mm = self.spaces.mm_alloc(t)
        if mm is None:
            self.kstacks.free_thread_stack(base, cpu)
            return None
        t.mm = mm
        if parent is not None:
            assert parent.mm is not None
            t.ppid = parent.pid
            saved = self.ctx.current
            self.ctx.current = parent
            try:
                ok = self.spaces.dup_mmap(parent.mm, mm) == 0
            finally:
                self.ctx.current = saved
            if not ok or not parent.alive:
                self.spaces.exit_mmap(mm)
                self.kstacks.free_thread_stack(base, cpu)
                return None
        self.tasks.pop(pid, None)  # a reused pid: the dead task's entry goes
        self.tasks[pid] = t
        return t

    def fork(self, parent: Task, comm: str | None = None) -> Task | None:
        """fork(): a child with a copy of the parent's address space, its private pages
        shared copy-on-write (kernel/fork.c: copy_process -> copy_mm -> dup_mm); None when
        fork fails (-ENOMEM)."""
        self._running(parent)
        try:
            return self._new_task(comm or parent.comm, parent.oom_score_adj, parent)
        finally:
            self.events.run_due()

    def exit(self, t: Task) -> None:
        """do_exit: exit_mm (exit_mmap frees pages, page tables, the PGD, the VMAs and the
        mm_struct), then the kernel stack."""
        if not t.alive:
            raise KernelFault(f"task {t.pid} ({t.comm}) has already exited")
        if t.pid == 1:
            raise KernelFault("init (pid 1) cannot exit: the kernel would panic (Attempted to kill init!)")
        self.release_mm(t)
        # free_thread_stack: the stack goes to the cache of the CPU that frees the task
        self.kstacks.free_thread_stack(t.stack, self.ctx.cpu)
        t.alive = False

    def release_mm(self, t: Task) -> None:
        """exit_mmap: free every page, swap entry, page table and VMA of the task."""
        if t.mm is not None:
            self.spaces.exit_mmap(t.mm)

    def run_as(self, t: Task, site: str, fn: Callable[[MM], int]) -> int:
        """Run a memory system call fn(mm) as task t: ctx.current is t (the OOM killer names
        it), the allocation site is *site*, deferred work runs after."""
        mm = self._running(t)
        saved = self._as_current(t, site)
        try:
            return fn(mm)
        finally:
            self._restore(saved)

    # -- /proc views of a task's address space (task_mmu.py) ----------------------------------
    def proc_maps(self, t: Task) -> str:
        return task_mmu.proc_maps(self.spaces, self._running(t))

    def proc_smaps(self, t: Task) -> str:
        return task_mmu.proc_smaps(self.spaces, self._running(t))

    def proc_smaps_rollup(self, t: Task) -> str:
        return task_mmu.proc_smaps_rollup(self.spaces, self._running(t))

    def show_pagetable(self, t: Task, addr: int) -> str:
        return task_mmu.show_pagetable(self.spaces, self._running(t), addr, f"{t.pid} ({t.comm})")

    def show_layout(self) -> str:
        return task_mmu.show_layout(self.spaces.arch, self.spaces)

    def exec(self, t: Task) -> bool:
        """execve: the old address space goes (exec_mmap -> mmput), a new empty one comes
        (bprm_mm_init -> mm_alloc); False (the task keeps the old one) when it cannot be
        allocated."""
        old = self._running(t)
        new = self.spaces.mm_alloc(t)
        if new is None:
            return False
        t.mm = new
        self.spaces.exit_mmap(old)
        return True

    def touch(self, t: Task, addr: int, length: int, write: bool) -> int:
        """The task accesses [addr, addr + length) page by page (a read or a write of each
        page); returns the pages touched, or -EFAULT when an access faults fatally: the
        task gets SIGSEGV and dies (arch/x86/mm/fault.c: bad_area -> force_sig_fault,
        show_signal_msg prints the segfault line)."""
        mm = self._running(t)
        if length <= 0:
            return 0
        start = addr & ~(PAGE_SIZE - 1)
        end = page_align(addr + length)
        spaces = self.spaces
        saved = self._as_current(t, "fault")
        done = 0
        try:
            a = start
            while a < end:
                vma = mm.vmas.lookup(a)
                if vma is None or spaces.access_error(vma, write):
                    self._segfault(t, a if a > addr else addr, write)
                    return -EFAULT
                stop = min(end, vma.vm_end)
                n = spaces.populate(mm, a, stop, write)
                done += n
                if not t.alive or a + (n << PAGE_SHIFT) < stop:
                    break  # killed meanwhile (OOM) or out of memory
                a = stop
        finally:
            self._restore(saved)
        return done

    def _segfault(self, t: Task, addr: int, write: bool) -> None:
        """force_sig_fault(SIGSEGV) and the default action: the task dies.  The simulated
        program has no registers, so ip and sp print as 0."""
        assert t.mm is not None
        present = self.spaces.pte_pfn(t.mm, addr) >= 0
        code = X86_PF_USER | (X86_PF_WRITE if write else 0) | (X86_PF_PROT if present else 0)
        cpu = self.ctx.cpu
        # arch/x86/mm/fault.c: show_signal_msg prints ip and sp with %px (the pointer width)
        zero = self.spaces.arch.fmt_ptr(0)
        self.log.printk(f"{t.comm}[{t.pid}]: segfault at {addr:x} ip {zero} sp {zero} error {code:x}"
                        f" likely on CPU {cpu} (core {cpu}, socket 0)", "info")
        t.signal = "SIGSEGV"
        self.exit(t)

    # -- the task handle's memory operations -------------------------------------------------
    def _as_current(self, t: Task, site: str) -> tuple[Any, str]:
        ctx = self.ctx
        saved = ctx.current, self.alloc_site.value
        ctx.current = t
        self.alloc_site.value = site
        return saved

    def _restore(self, saved: tuple[Any, str]) -> None:
        self.ctx.current, self.alloc_site.value = saved
        self.events.run_due()  # deferred work the operation woke (kswapd)

    def fault(self, t: Task, size: int) -> int:
        """Grow the heap by *size* bytes (brk) and touch every new page for writing;
        returns the bytes faulted in, or -ENOMEM."""
        mm = self._running(t)
        length = page_align(size) if size > 0 else 0
        if length > mm.task_size:
            return -ENOMEM
        if length == 0:
            return 0
        spaces = self.spaces
        saved = self._as_current(t, "fault")
        done = 0
        try:
            old = page_align(mm.brk)
            if spaces.do_brk(mm, old + length) != old + length:
                return -ENOMEM
            done = spaces.populate(mm, old, old + length, True)
        finally:
            # (a stop by the work meter between two pages keeps the pages faulted so far)
            self._restore(saved)
        return done << PAGE_SHIFT

    def munmap(self, t: Task, size: int) -> int:
        """Shrink the heap by *size* bytes from its top (brk); returns the bytes unmapped."""
        mm = self._running(t)
        top = page_align(mm.brk)
        nr = min((size + PAGE_SIZE - 1) >> PAGE_SHIFT, (top - mm.start_brk) >> PAGE_SHIFT)
        if nr <= 0:
            return 0
        self.spaces.do_brk(mm, top - (nr << PAGE_SHIFT))
        return nr << PAGE_SHIFT

    def mmap(self, t: Task, f: Any, size: int) -> int:
        """mmap(NULL, size, PROT_READ, MAP_PRIVATE, file, 0) and touch every page; returns the
        bytes mapped, -ENOMEM or -EOVERFLOW."""
        mm = self._running(t)
        if size <= 0:
            return 0
        spaces = self.spaces
        saved = self._as_current(t, "filemap_fault")
        try:
            addr = spaces.do_mmap(mm, 0, size, PROT_READ, MAP_PRIVATE, f, 0)
            if addr < 0:
                return addr
            done = spaces.populate(mm, addr, addr + page_align(size), False)
        finally:
            self._restore(saved)
        return done << PAGE_SHIFT

    # -- reclaim and compaction hooks ---------------------------------------------------------
    def swap_out(self, av: AnonVma, vpn: int, pfn: int) -> bool:
        """Reclaim an anonymous page to swap (add_to_swap + try_to_unmap); False if swap is full."""
        return self.spaces.try_to_unmap_anon(av, vpn, pfn)

    def migrate_page(self, av: AnonVma, vpn: int, old: int, new: int) -> None:
        self.spaces.migrate_anon(av, vpn, old, new)


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
