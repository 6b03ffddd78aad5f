"""Built-ins for the execution context (include/linux/preempt.h, irqflags.h, spinlock.h, smp.h).

Scripts run in process context on CPU 0; ``cpu N < ... >`` runs on CPU N with preemption
disabled (as get_cpu()), ``irq [N] < ... >`` in hard-interrupt context.  A sleeping
allocation in atomic context prints "BUG: sleeping function called from invalid context".
"""

from __future__ import annotations

from .registry import INT, NAME, Call, builtin, value, view


@builtin("preempt_disable", category="context", doc="preempt_disable(): preempt_count += 1")
def _preempt_disable(call: Call) -> None:
    call.machine.ctx.preempt_disable()


@builtin("preempt_enable", category="context",
         doc="preempt_enable(): preempt_count -= 1 (an error without a matching preempt_disable)")
def _preempt_enable(call: Call) -> None:
    call.machine.ctx.preempt_enable()


@builtin("get_cpu", category="context", doc="get_cpu(): preempt_disable() and return the current CPU")
def _get_cpu(call: Call) -> int:
    call.machine.ctx.preempt_disable()
    return call.machine.ctx.cpu


@builtin("put_cpu", category="context", doc="put_cpu(): preempt_enable()")
def _put_cpu(call: Call) -> None:
    call.machine.ctx.preempt_enable()


@builtin("spin_lock", lock=NAME, category="context",
         doc="spin_lock(lock): take a spinlock (disables preemption); taking it twice is a deadlock")
def _spin_lock(call: Call, lock: str) -> None:
    call.machine.ctx.spin_lock(lock)


@builtin("spin_unlock", lock=NAME, category="context", doc="spin_unlock(lock): release a held spinlock")
def _spin_unlock(call: Call, lock: str) -> None:
    call.machine.ctx.spin_unlock(lock)


@builtin("local_irq_disable", category="context", doc="local_irq_disable(): disable interrupts on this CPU")
def _local_irq_disable(call: Call) -> None:
    call.machine.ctx.local_irq_disable()


@builtin("local_irq_enable", category="context", doc="local_irq_enable(): enable interrupts on this CPU")
def _local_irq_enable(call: Call) -> None:
    call.machine.ctx.local_irq_enable()


@builtin("in_interrupt", category="context", doc="in_interrupt(): in hard/soft irq or NMI context")
def _in_interrupt(call: Call) -> bool:
    return call.machine.ctx.in_interrupt()


@builtin("in_irq", category="context", doc="in_irq(): in hard-interrupt context (in_hardirq())")
def _in_irq(call: Call) -> bool:
    return call.machine.ctx.in_irq()


@builtin("in_task", category="context", doc="in_task(): in process context")
def _in_task(call: Call) -> bool:
    return call.machine.ctx.in_task()


@builtin("in_atomic", category="context", doc="in_atomic(): preempt_count() != 0 (sleeping is forbidden)")
def _in_atomic(call: Call) -> bool:
    return call.machine.ctx.in_atomic()


@builtin("irqs_disabled", category="context", doc="irqs_disabled(): interrupts are off on this CPU")
def _irqs_disabled(call: Call) -> bool:
    return call.machine.ctx.irqs_disabled()


@builtin("preempt_count", category="context",
         doc="preempt_count(): the raw count: bits 0-7 preemption, 8-15 softirq, 16-19 hardirq, 20-23 NMI")
def _preempt_count(call: Call) -> int:
    return call.machine.ctx.preempt_count


@builtin("smp_processor_id", category="context", doc="smp_processor_id(): the current CPU")
def _smp_processor_id(call: Call) -> int:
    return call.machine.ctx.cpu


@builtin("num_online_cpus", category="context", doc="num_online_cpus(): the number of CPUs of the machine")
def _num_online_cpus(call: Call) -> int:
    return call.machine.nr_cpus


@builtin("might_sleep", category="context",
         doc="might_sleep(): report 'BUG: sleeping function called from invalid context' here if atomic")
def _might_sleep(call: Call) -> bool:
    return call.machine.ctx.might_sleep(call.caller)


@view("context", category="context", doc="show context: current CPU, preempt_count, irq state, held locks")
def _show_context(call: Call) -> str:
    return call.machine.ctx.describe()


@view("kstacks", category="context",
      doc="show kstacks: kernel stacks (THREAD_SIZE, VMAP_STACK), per-CPU IRQ stacks and stack caches")
def _show_kstacks(call: Call) -> str:
    return call.machine.kstacks.show()


@builtin("msleep", ms=INT, category="context",
         doc="msleep(ms): sleep, letting simulated time pass (the sleeping-in-atomic report is "
             "rate-limited to once a second); in atomic context: 'BUG: scheduling while atomic'")
def _msleep(call: Call, ms: int) -> None:
    call.machine.msleep(ms)


@builtin("spin_lock_irqsave", lock=NAME, category="context",
         doc="spin_lock_irqsave(lock): save this CPU's interrupt state, disable interrupts, take the lock")
def _spin_lock_irqsave(call: Call, lock: str) -> None:
    call.machine.ctx.spin_lock_irqsave(lock)


@builtin("spin_unlock_irqrestore", lock=NAME, category="context",
         doc="spin_unlock_irqrestore(lock): release the lock and restore the saved interrupt state")
def _spin_unlock_irqrestore(call: Call, lock: str) -> None:
    call.machine.ctx.spin_unlock_irqrestore(lock)


@builtin("local_bh_disable", category="context",
         doc="local_bh_disable(): disable softirqs (preempt_count += 2 * SOFTIRQ_OFFSET); atomic")
def _local_bh_disable(call: Call) -> None:
    call.machine.ctx.local_bh_disable()


@builtin("local_bh_enable", category="context", doc="local_bh_enable(): re-enable softirqs")
def _local_bh_enable(call: Call) -> None:
    call.machine.ctx.local_bh_enable()


@builtin("in_softirq", category="context", doc="in_softirq(): serving a softirq or with bottom halves disabled")
def _in_softirq(call: Call) -> bool:
    return call.machine.ctx.in_softirq()


@builtin("rcu_read_lock", category="context",
         doc="rcu_read_lock(): enter an RCU read-side critical section (PREEMPT_RCU: sleeping is still a bug)")
def _rcu_read_lock(call: Call) -> None:
    call.machine.ctx.rcu_read_lock()


@builtin("rcu_read_unlock", category="context", doc="rcu_read_unlock(): leave the RCU read-side section")
def _rcu_read_unlock(call: Call) -> None:
    call.machine.ctx.rcu_read_unlock()


@value("THREAD_SIZE", category="context",
       doc="THREAD_SIZE: the size of a kernel stack (16K on x86_64; machine(thread_size=4K|8K) for i386's)")
def _thread_size(call: Call) -> int:
    return int(call.machine.kstacks.thread_size)


@builtin("stack_use", n=INT, category="context",
         doc="stack_use(n): the current context spends n more bytes of its kernel stack until it ends (the "
             "task's stack, or in irq < > the CPU's IRQ stack - the task's without irq_stacks); past the "
             "bottom: the guard-page Oops with VMAP_STACK, else a broken end-of-stack canary; returns the depth")
def _stack_use(call: Call, n: int) -> int:
    return int(call.machine.kstacks.stack_use(n))


@builtin("stack_depth", category="context", doc="stack_depth(): bytes of the current stack in use (see stack_use)")
def _stack_depth(call: Call) -> int:
    return int(call.machine.kstacks.stack_depth())


@builtin("schedule", category="context",
         doc="schedule(): give up the CPU; schedule_debug() checks the stack-end canary "
             "('corrupted stack end detected inside scheduler') and atomic context")
def _schedule(call: Call) -> None:
    call.machine.schedule()
