"""Execution context: the current CPU, preempt_count, interrupt state and current task.

Models include/linux/preempt.h.  ``preempt_count`` is one integer with the kernel's bit
fields: bits 0-7 preemption depth, 8-15 softirq, 16-19 hardirq, 20-23 NMI.
``in_atomic()`` is ``preempt_count() != 0``; ``in_interrupt()`` tests the irq bits.
Interrupts enabled/disabled is a separate per-CPU flag (``irqs_disabled()``).

Invariants:
- ``cpu`` is always in ``range(nr_cpus)``.
- Every ``enter_*`` has a matching ``exit_*``; ``restore(snapshot)`` puts everything back
  when a script block is left early (an error inside ``cpu N < ... >``).
- A sleeping call (``might_sleep``) in atomic context or with irqs disabled prints the
  kernel's "BUG: sleeping function called from invalid context" report (kernel/sched/core.c:
  __might_resched), rate-limited once per simulated second as the kernel does.

Also modelled: spin_lock_irqsave/irqrestore (the saved irq state per lock),
local_bh_disable (SOFTIRQ_DISABLE_OFFSET = 2 * SOFTIRQ_OFFSET, so in_softirq() and
in_interrupt() are true, as in the kernel), rcu_read_lock nesting as with
CONFIG_PREEMPT_RCU (it does not disable preemption but makes sleeping a reported bug,
"RCU nest depth: N"), and the machine-wide taint mask (kernel/panic.c, taint.py) that every
report's dump_stack header prints (dumpstack.py).

Snapshots are cheap: the irq-state and held-lock lists are never mutated in place (every
change builds a new list), so a snapshot only keeps references; a ``cpu N < ... >`` block
in a hot loop costs one small tuple.

After a report (a hook on the kernel log, see ``_after_report``), the context does what
the kernel does once the report is printed: an Oops taints the kernel (TAINT_DIE) and
kills the current task (``KernelOops``), or panics in interrupt context ("Fatal exception
in interrupt") or with ``kernel.panic_on_oops`` set ("Fatal exception")
(arch/x86/kernel/dumpstack.c: oops_end); a WARNING panics with ``kernel.panic_on_warn``
set ("kernel: panic_on_warn set ...", kernel/panic.c: check_panic_on_warn, called from
__warn before the taint is added).

Work queued from interrupt context (``queue_work``: schedule_work, e.g. vfree_atomic's)
is an urgent event on the one event queue (events.py); leaving interrupt context (irq
exit, the end of an ``irq < ... >`` block) runs it in a kworker before the interrupted
code goes on.  In the kernel the kworker runs at the next scheduling point, possibly on
another CPU; the simulation picks the earliest one so the handler's work is visible in the
next statement.

Simplification: the kernel prints this report only with CONFIG_DEBUG_ATOMIC_SLEEP; the
simulator always checks, because showing the mistake is the point of a teaching tool.
The held-lock lines imitate lockdep's ("1 lock held by comm/pid: #0: (name)...") without
lock addresses; "Preemption disabled at:" (CONFIG_DEBUG_PREEMPT) and the irq-trace lines
are not printed.
"""

from __future__ import annotations

from dataclasses import dataclass
from contextlib import contextmanager
from typing import Callable, Iterator, NamedTuple, Protocol

from .gfp import __GFP_DIRECT_RECLAIM
from .bug_sites import MIGHT_ALLOC, Site
from .dumpstack import dump_stack, dump_stack_print_info, show_stack
from .errors import KernelFault, KernelOops, KernelPanic
from .events import URGENT, EventQueue
from .printk import KernelLog, LogRecord
from .reports import classify
from .taint import Taint

PREEMPT_SHIFT = 0
SOFTIRQ_SHIFT = 8
HARDIRQ_SHIFT = 16
NMI_SHIFT = 20
PREEMPT_OFFSET = 1 << PREEMPT_SHIFT
SOFTIRQ_OFFSET = 1 << SOFTIRQ_SHIFT
HARDIRQ_OFFSET = 1 << HARDIRQ_SHIFT
NMI_OFFSET = 1 << NMI_SHIFT
PREEMPT_MASK = 0xFF << PREEMPT_SHIFT
SOFTIRQ_MASK = 0xFF << SOFTIRQ_SHIFT
HARDIRQ_MASK = 0xF << HARDIRQ_SHIFT
NMI_MASK = 0xF << NMI_SHIFT

# include/linux/sched/mm.h: where might_alloc() expands might_sleep_if() (bug_sites.py)
MIGHT_ALLOC_LOCATION = MIGHT_ALLOC.location
# __GFP_DIRECT_RECLAIM from gfp.py (a leaf module: the context layer still depends on no
# allocator); aliased because a __GFP_ name in a class body is name-mangled
_GFP_DIRECT_RECLAIM = __GFP_DIRECT_RECLAIM


class TaskLike(Protocol):
    """What the allocators read of ``current`` (struct task_struct)."""

    pid: int
    comm: str
    flags: int           # PF_* (PF_MEMALLOC gives reserve access)
    rt: bool             # rt_task(): realtime tasks get ALLOC_MIN_RESERVE
    oom_score_adj: int
    stack: int           # kernel stack base (0: none yet)

    @property
    def oom_victim(self) -> bool: ...   # tsk_is_oom_victim


@dataclass
class _ScriptTask:
    """The task the script runs as until the task model provides a real one."""

    pid: int = 1000
    comm: str = "kmscript"
    flags: int = 0
    rt: bool = False
    oom_score_adj: int = 0
    oom_victim: bool = False
    stack: int = 0


class ContextSnapshot(NamedTuple):
    """What ``restore`` puts back.  The two lists are never mutated after a snapshot may
    hold them: every change replaces the list (copy on write), so taking a snapshot costs
    no copying, which keeps ``cpu N < ... >`` in a hot loop cheap."""

    cpu: int
    preempt_count: int
    irqs_disabled: list[bool]
    held_locks: list[str]
    rcu_nesting: int = 0
    stack_depth: dict[tuple[str, int], int] = {}  # never mutated: ExecContext replaces it


class ExecContext:
    """Where the simulated kernel code is running right now."""

    def __init__(self, nr_cpus: int, log: KernelLog, ip_line: str = "RIP: 0010:", *, events: EventQueue) -> None:
        self.nr_cpus = nr_cpus
        self.events = events  # the one event queue: work queued from interrupt context runs from it
        self.ip_line = ip_line   # show_ip() of the arch: "RIP: 0010:" (x86_64) or "EIP: " (i386)
        self.log = log
        self.cpu = 0
        self.preempt_count = 0
        self.irqs_disabled_per_cpu = [False] * nr_cpus
        self.held_locks: list[str] = []
        self.rcu_nesting = 0  # rcu_preempt_depth() (CONFIG_PREEMPT_RCU)
        # work was queued from interrupt context (schedule_work): irq exit lets it run
        self._irq_work = False
        self._irqsave: dict[str, bool] = {}  # lock -> irq state saved by spin_lock_irqsave
        self.current: TaskLike = _ScriptTask()
        # Bytes of kernel stack in use per stack, ("task", pid) or ("irq", cpu): what
        # stack_use() spent in the contexts still running.  Copy on write, so that a
        # snapshot holds it without copying and leaving a cpu/irq block pops its frames.
        self.stack_depth: dict[tuple[str, int], int] = {}
        # current->pagefault_disabled (include/linux/uaccess.h: pagefault_disable); the
        # script runs as one task, so one count
        self.pagefault_disabled = 0
        self._last_might_sleep_report_ns: int | None = None
        self.taint = Taint()  # kernel/panic.c: tainted_mask, machine-wide
        self.panic_on_oops = 0  # kernel.panic_on_oops (CONFIG_PANIC_ON_OOPS_VALUE=0)
        self.panic_on_warn = 0  # kernel.panic_on_warn
        log.add_report_hook(self._after_report)

    def register_sysctls(self, register: Callable[[str, Callable[[], int], Callable[[int], None]], None]) -> None:
        """kernel.panic_on_oops and kernel.panic_on_warn (kernel/panic.c: kern_panic_table)."""
        def setter(name: str) -> Callable[[int], None]:
            def set_(value: int) -> None:
                # proc_dointvec_minmax with extra1=SYSCTL_ZERO, extra2=SYSCTL_ONE
                if isinstance(value, bool) or not isinstance(value, int) or value not in (0, 1):
                    raise KernelFault(f"kernel.{name}: expected 0 or 1, got {value!r} (-EINVAL)")
                setattr(self, name, value)
            return set_
        register("kernel.panic_on_oops", lambda: self.panic_on_oops, setter("panic_on_oops"))
        register("kernel.panic_on_warn", lambda: self.panic_on_warn, setter("panic_on_warn"))

    def panic(self, reason: str) -> None:
        """kernel/panic.c: panic() -- print the banner and stop the machine."""
        self.log.printk(f"Kernel panic - not syncing: {reason}\n"
                        f"---[ end Kernel panic - not syncing: {reason} ]---", "panic")
        raise KernelPanic(reason)

    def _after_report(self, rec: LogRecord) -> None:
        """What the kernel does once a report is printed (see the module docstring)."""
        if rec.kind not in ("bug", "warn"):
            return
        report = classify(rec)
        if report.cls == "oops":
            # arch/x86/kernel/dumpstack.c: oops_end()
            self.add_taint("D")
            if self.in_interrupt():
                self.panic("Fatal exception in interrupt")
            if self.panic_on_oops:
                self.panic("Fatal exception")
            raise KernelOops(report.title)
        if report.cls == "warn" and self.panic_on_warn:
            # kernel/panic.c: check_panic_on_warn(); panic_on_warn is cleared first so a
            # WARN on the panic path does not recurse
            self.panic_on_warn = 0
            self.panic("kernel: panic_on_warn set ...")

    # -- queries (include/linux/preempt.h, irqflags.h) ------------------------------------
    def in_atomic(self) -> bool:
        return self.preempt_count != 0

    def in_interrupt(self) -> bool:
        return bool(self.preempt_count & (NMI_MASK | HARDIRQ_MASK | SOFTIRQ_MASK))

    def in_irq(self) -> bool:
        return bool(self.preempt_count & HARDIRQ_MASK)

    def irqs_disabled(self) -> bool:
        return self.irqs_disabled_per_cpu[self.cpu]

    def in_task(self) -> bool:
        return not self.in_interrupt()

    def check_cpu(self, cpu: int) -> int:
        if not 0 <= cpu < self.nr_cpus:
            raise KernelFault(f"CPU {cpu} does not exist: this machine has CPUs 0..{self.nr_cpus - 1}")
        return cpu

    # -- state changes ----------------------------------------------------------------------
    def snapshot(self) -> ContextSnapshot:
        return ContextSnapshot(self.cpu, self.preempt_count, self.irqs_disabled_per_cpu, self.held_locks,
                               self.rcu_nesting, self.stack_depth)

    def restore(self, snap: ContextSnapshot) -> None:
        (self.cpu, self.preempt_count, self.irqs_disabled_per_cpu, self.held_locks, self.rcu_nesting,
         self.stack_depth) = snap
        if self._irq_work and not self.preempt_count & (NMI_MASK | HARDIRQ_MASK | SOFTIRQ_MASK):
            # irq exit: the kworker the handler woke runs before the interrupted code goes on
            self._irq_work = False
            self.events.run_due(URGENT)

    def queue_work(self, name: str, fn: Callable[[], None]) -> bool:
        """schedule_work() from interrupt context (kernel/workqueue.c: queue_work_on): the
        work item *name* becomes an event on the one event queue (events.py) that runs ``fn``
        in a kworker - process context, on the current CPU - once the CPU leaves interrupt
        context (the end of the ``irq < ... >`` block).  A work item that is still pending is
        not queued again (queue_work_on returns false: WORK_STRUCT_PENDING is set)."""
        queued = self.events.schedule(0, URGENT, name, lambda: self._run_work(fn), once=True)
        self._irq_work = True
        return queued

    def _run_work(self, fn: Callable[[], None]) -> None:
        """process_one_work(): the work function in a kworker's context."""
        with self.worker():
            fn()

    @contextmanager
    def worker(self) -> Iterator[None]:
        """Run a deferred work item (a kworker on the current CPU) synchronously: process
        context, preemptible, irqs on, no locks held; the caller's context comes back after."""
        snap = self.snapshot()
        self.preempt_count = 0
        self.irqs_disabled_per_cpu = [False] * self.nr_cpus
        self.held_locks = []
        self.rcu_nesting = 0
        try:
            yield
        finally:
            self.restore(snap)

    def _set_irqs_disabled(self, cpu: int, off: bool) -> None:
        irqs = list(self.irqs_disabled_per_cpu)  # copy on write (see ContextSnapshot)
        irqs[cpu] = off
        self.irqs_disabled_per_cpu = irqs

    def pagefault_disable(self) -> None:
        """include/linux/uaccess.h: pagefault_disable() - current->pagefault_disabled++."""
        self.pagefault_disabled += 1

    def pagefault_enable(self) -> None:
        self.pagefault_disabled -= 1

    def preempt_disable(self) -> None:
        if self.preempt_count & PREEMPT_MASK == PREEMPT_MASK:
            raise KernelFault("preempt_count overflow: preemption disabled 255 times")
        self.preempt_count += PREEMPT_OFFSET

    def preempt_enable(self) -> None:
        if self.preempt_count & PREEMPT_MASK == 0:
            raise KernelFault("preempt_enable() without a matching preempt_disable()")
        self.preempt_count -= PREEMPT_OFFSET

    def enter_cpu(self, cpu: int) -> ContextSnapshot:
        """``cpu N < ... >``: run on CPU N with preemption disabled, as get_cpu() would."""
        pc = self.preempt_count
        snap = ContextSnapshot(self.cpu, pc, self.irqs_disabled_per_cpu, self.held_locks, self.rcu_nesting,
                               self.stack_depth)
        if cpu != self.cpu:
            if pc:
                # Atomic code cannot migrate; a nested block for another CPU is a script mistake.
                raise KernelFault(f"cannot switch to CPU {cpu} while atomic on CPU {self.cpu}")
            if not 0 <= cpu < self.nr_cpus:
                self.check_cpu(cpu)
            self.cpu = cpu
        if pc & PREEMPT_MASK == PREEMPT_MASK:
            raise KernelFault("preempt_count overflow: preemption disabled 255 times")
        self.preempt_count = pc + PREEMPT_OFFSET
        return snap

    def enter_hardirq(self, cpu: int | None = None) -> ContextSnapshot:
        """``irq < ... >``: hard-interrupt context; the kernel enters it with irqs disabled."""
        snap = self.snapshot()
        if cpu is not None:
            if cpu != self.cpu and self.preempt_count:
                raise KernelFault(f"cannot take an interrupt on CPU {cpu} while atomic on CPU {self.cpu}")
            self.cpu = self.check_cpu(cpu)
        self.preempt_count += HARDIRQ_OFFSET
        self._set_irqs_disabled(self.cpu, True)
        return snap

    def local_irq_disable(self) -> None:
        self._set_irqs_disabled(self.cpu, True)

    def local_irq_enable(self) -> None:
        if self.in_irq():
            raise KernelFault("local_irq_enable() in hard-interrupt context")
        if not self.irqs_disabled_per_cpu[self.cpu]:
            raise KernelFault("local_irq_enable() without a matching local_irq_disable()")
        self._set_irqs_disabled(self.cpu, False)

    def spin_lock(self, name: str) -> None:
        if name in self.held_locks:
            raise KernelFault(f"spin_lock({name}): lock already held: this would deadlock (recursive locking)")
        self.preempt_disable()
        self.held_locks = self.held_locks + [name]  # copy on write (see ContextSnapshot)

    def spin_lock_irqsave(self, name: str) -> None:
        """spin_lock_irqsave(): save this CPU's irq state, disable irqs, take the lock."""
        prev = self.irqs_disabled_per_cpu[self.cpu]
        self._set_irqs_disabled(self.cpu, True)
        try:
            self.spin_lock(name)
        except KernelFault:
            self._set_irqs_disabled(self.cpu, prev)
            raise
        self._irqsave = {**self._irqsave, name: prev}

    def spin_unlock_irqrestore(self, name: str) -> None:
        """spin_unlock_irqrestore(): release the lock, restore the saved irq state."""
        if name not in self._irqsave:
            raise KernelFault(f"spin_unlock_irqrestore({name}): lock was not taken with spin_lock_irqsave")
        self.spin_unlock(name)
        saved = dict(self._irqsave)
        prev = saved.pop(name)
        self._irqsave = saved
        self._set_irqs_disabled(self.cpu, prev)

    def local_bh_disable(self) -> None:
        """local_bh_disable(): preempt_count += SOFTIRQ_DISABLE_OFFSET (2 * SOFTIRQ_OFFSET)."""
        self.preempt_count += 2 * SOFTIRQ_OFFSET

    def local_bh_enable(self) -> None:
        if (self.preempt_count & SOFTIRQ_MASK) < 2 * SOFTIRQ_OFFSET:
            raise KernelFault("local_bh_enable() without a matching local_bh_disable()")
        self.preempt_count -= 2 * SOFTIRQ_OFFSET

    def in_softirq(self) -> bool:
        """in_softirq(): serving a softirq or bottom halves disabled."""
        return bool(self.preempt_count & SOFTIRQ_MASK)

    def rcu_read_lock(self) -> None:
        """rcu_read_lock() with CONFIG_PREEMPT_RCU: only the nesting depth grows."""
        self.rcu_nesting += 1

    def rcu_read_unlock(self) -> None:
        if self.rcu_nesting == 0:
            raise KernelFault("rcu_read_unlock() without a matching rcu_read_lock()")
        self.rcu_nesting -= 1

    def spin_unlock(self, name: str) -> None:
        if name not in self.held_locks:
            raise KernelFault(f"spin_unlock({name}): lock is not held")
        locks = list(self.held_locks)
        locks.remove(name)
        self.held_locks = locks
        self.preempt_enable()

    # -- the might_sleep check (kernel/sched/core.c: __might_resched) ------------------------
    def might_alloc(self, gfp: int, frames: tuple[str, ...] = ()) -> bool:
        """might_sleep_if(gfp & __GFP_DIRECT_RECLAIM); True if a report was printed.
        ``frames``: the allocator's path above the check, innermost first, for the Call Trace."""
        # hot path: every allocation calls this; only an atomic caller pays for the report
        if gfp & _GFP_DIRECT_RECLAIM and (self.preempt_count or self.irqs_disabled_per_cpu[self.cpu]
                                          or self.rcu_nesting):
            return self.might_sleep(MIGHT_ALLOC_LOCATION, frames)
        return False

    def sleep_forbidden(self) -> bool:
        """What might_alloc/might_sleep test: preempt-disabled, irqs off, or in an RCU reader."""
        return bool(self.preempt_count or self.irqs_disabled_per_cpu[self.cpu] or self.rcu_nesting)

    def might_sleep(self, location: str, frames: tuple[str, ...] = ()) -> bool:
        """kernel/sched/core.c: __might_resched; True if a report was printed."""
        irqs_off = self.irqs_disabled_per_cpu[self.cpu]
        if self.preempt_count == 0 and not irqs_off and not self.rcu_nesting:
            return False
        now = self.log.clock.ns
        last = self._last_might_sleep_report_ns
        if last is not None and now - last < 1_000_000_000:
            return False  # rate-limited: once per HZ
        self._last_might_sleep_report_ns = now
        task = self.current
        lines = [
            f"BUG: sleeping function called from invalid context at {location}",
            f"in_atomic(): {int(self.in_atomic())}, irqs_disabled(): {int(irqs_off)}, "
            f"non_block: 0, pid: {task.pid}, name: {task.comm}",
            f"preempt_count: {self.preempt_count:x}, expected: 0",
            f"RCU nest depth: {self.rcu_nesting}, expected: 0",
        ]
        # debug_show_held_locks -> lockdep_print_held_locks
        if self.held_locks:
            lines.append(f"{len(self.held_locks)} lock{'s' if len(self.held_locks) > 1 else ''} held by {task.comm}/{task.pid}:")
            for i, lock in enumerate(self.held_locks):
                lines.append(f" #{i}: ({lock}){{+.+.}}-{{2:2}}")
        else:
            lines.append(f"no locks held by {task.comm}/{task.pid}.")
        # dump_stack(), then add_taint(TAINT_WARN): the first report of a clean kernel says
        # "Not tainted"
        lines += self.dump_stack(("dump_stack_lvl", "__might_resched") + frames)
        self.log.printk("\n".join(lines), kind="bug")
        self.add_taint("W")
        return True

    def dump_stack_header(self) -> str:
        """dump_stack_print_info() of the current task on this CPU, as one record's lines."""
        task = self.current
        return "\n".join(dump_stack_print_info(self.cpu, task.pid, task.comm, self.taint))

    def dump_stack(self, frames: tuple[str, ...] | list[str]) -> list[str]:
        """lib/dump_stack.c: dump_stack() of the current task on this CPU (see dumpstack.py)."""
        task = self.current
        return dump_stack(self.cpu, task.pid, task.comm, self.taint, frames)

    def warn(self, site: Site, msg: str | None = None, frames: tuple[str, ...] = ()) -> None:
        """kernel/panic.c: __warn() for WARN()/WARN_ON_ONCE() at ``site``: the cut-here
        line, the message, where it fired, the dump_stack header and trace, the end marker;
        then TAINT_WARN.  ``frames``: the callers of ``site.func``, innermost first."""
        lines = ["------------[ cut here ]------------"]
        if msg:
            lines.append(msg)
        lines += self.warn_report(site, frames)
        self.log.printk("\n".join(lines), "warn")
        self.add_taint("W")

    def warn_report(self, site: Site, frames: tuple[str, ...] | list[str] = ()) -> list[str]:
        """The part of __warn() after the message: ``WARNING: CPU: N PID: P at FILE:LINE
        FUNC`` (the check's place in the 6.18 sources, bug_sites.py), dump_stack (x86 reports
        a WARN through report_bug() with the trap's regs, so the trace starts at the
        function's caller, after ``RIP: 0010:FUNC``) and the end marker.  The ``+off/size``
        the kernel adds to FUNC is one build's and not modelled: the function is printed
        bare, as in the Call Trace.  A report whose callers the simulator does not know (no
        ``frames``) prints no Call Trace rather than an empty one."""
        task = self.current
        return ([f"WARNING: CPU: {self.cpu} PID: {task.pid} at {site.location} {site.func}"]
                + dump_stack_print_info(self.cpu, task.pid, task.comm, self.taint) + [f"{self.ip_line}{site.func}"]
                + (show_stack(frames) if frames else []) + ["---[ end trace 0000000000000000 ]---"])

    # -- taint (kernel/panic.c, see taint.py) -------------------------------------------------
    def add_taint(self, flag: str) -> None:
        self.taint.add(flag)

    def print_tainted(self) -> str:
        return self.taint.print_tainted()

    def trace_flags(self) -> str:
        """The latency-format column of a trace line (kernel/trace/trace_output.c:
        trace_print_lat_fmt, from the flags tracing_gen_ctx_irq_test records): irqs-off
        (``d``; ``b`` with bottom halves disabled, ``D`` with both), need-resched (``.``:
        never pending in the simulation), hard/soft irq (``h``, ``s``, ``H``, ``z``/``Z`` for
        NMI), the preempt depth (hex, capped at 0xf; ``.`` when 0) and the migrate-disable
        depth (``.``).  It describes the context the event was emitted from as the script
        set it up; locks the traced kernel function takes itself are not modelled."""
        pc = self.preempt_count
        irqs_off = self.irqs_disabled_per_cpu[self.cpu]
        bh_off = bool(((pc & SOFTIRQ_MASK) >> SOFTIRQ_SHIFT) >> 1)
        c1 = "D" if irqs_off and bh_off else "d" if irqs_off else "b" if bh_off else "."
        nmi, hard = bool(pc & NMI_MASK), bool(pc & HARDIRQ_MASK)
        soft = bool(pc & SOFTIRQ_OFFSET)   # in_serving_softirq()
        c3 = ("Z" if nmi and hard else "z" if nmi else "H" if hard and soft else "h" if hard
              else "s" if soft else ".")
        depth = min(pc & PREEMPT_MASK, 0xF)
        return f"{c1}.{c3}{depth:x}." if depth else f"{c1}.{c3}.."

    def describe(self) -> str:
        """One screen of the current context (``show context``)."""
        pc = self.preempt_count
        kind = ("NMI" if pc & NMI_MASK else "hardirq" if pc & HARDIRQ_MASK else
                "softirq" if pc & SOFTIRQ_MASK else "process")
        lines = [f"CPU {self.cpu} of {self.nr_cpus}, {kind} context, task {self.current.comm}/{self.current.pid}",
                 f"preempt_count: 0x{pc:x} (preempt {pc & PREEMPT_MASK}, softirq {(pc & SOFTIRQ_MASK) >> SOFTIRQ_SHIFT}, "
                 f"hardirq {(pc & HARDIRQ_MASK) >> HARDIRQ_SHIFT}, nmi {(pc & NMI_MASK) >> NMI_SHIFT})",
                 f"in_atomic(): {int(self.in_atomic())}, in_interrupt(): {int(self.in_interrupt())}, "
                 f"irqs_disabled(): {int(self.irqs_disabled())}",
                 f"rcu_read_lock nesting: {self.rcu_nesting}",
                 "held locks: " + (", ".join(self.held_locks) if self.held_locks else "none")]
        return "\n".join(lines)
