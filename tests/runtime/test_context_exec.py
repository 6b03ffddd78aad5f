"""Execution context: preempt_count bits, nesting and restore, locks, irqs, might_sleep reports."""

from __future__ import annotations

import pytest

from kmscript.runtime.context import HARDIRQ_OFFSET, ExecContext
from kmscript.runtime.errors import KernelFault
from kmscript.runtime.events import Clock, EventQueue
from kmscript.runtime.printk import KernelLog


def make(cpus: int = 4) -> tuple[ExecContext, KernelLog]:
    clock = Clock()
    log = KernelLog(clock)
    return ExecContext(cpus, log, events=EventQueue(clock)), log


def test_process_context_on_cpu0() -> None:
    ctx, _ = make()
    assert ctx.cpu == 0 and not ctx.in_atomic() and not ctx.in_interrupt() and not ctx.irqs_disabled()


def test_cpu_block_disables_preemption_and_restores() -> None:
    ctx, _ = make()
    snap = ctx.enter_cpu(2)
    assert ctx.cpu == 2 and ctx.preempt_count == 1 and ctx.in_atomic()
    inner = ctx.enter_hardirq()
    assert ctx.in_irq() and ctx.in_interrupt() and ctx.irqs_disabled()
    assert ctx.preempt_count == HARDIRQ_OFFSET + 1
    ctx.restore(inner)
    assert ctx.preempt_count == 1 and not ctx.irqs_disabled()
    ctx.restore(snap)
    assert ctx.cpu == 0 and ctx.preempt_count == 0


def test_restore_after_error_leaves_no_residue() -> None:
    ctx, _ = make()
    snap = ctx.enter_cpu(1)
    ctx.spin_lock("a")
    ctx.local_irq_disable()
    ctx.restore(snap)  # what the interpreter does in its finally
    assert ctx.snapshot() == make()[0].snapshot()


def test_bad_cpu_and_unbalanced_calls_are_faults() -> None:
    ctx, _ = make(2)
    with pytest.raises(KernelFault, match="CPU 2 does not exist"):
        ctx.enter_cpu(2)
    with pytest.raises(KernelFault, match="preempt_enable"):
        ctx.preempt_enable()
    with pytest.raises(KernelFault, match="not held"):
        ctx.spin_unlock("x")
    ctx.spin_lock("x")
    with pytest.raises(KernelFault, match="deadlock"):
        ctx.spin_lock("x")
    with pytest.raises(KernelFault, match="local_irq_enable"):
        ctx.local_irq_enable()
    snap = ctx.enter_cpu(0)
    with pytest.raises(KernelFault, match="atomic"):
        ctx.enter_cpu(1)  # atomic code cannot migrate
    ctx.restore(snap)


@pytest.mark.parametrize("setup", ["spin", "preempt", "irqoff", "hardirq", "cpu"])
def test_might_alloc_reports_in_every_atomic_context(setup: str) -> None:
    ctx, log = make()
    if setup == "spin":
        ctx.spin_lock("my_lock")
    elif setup == "preempt":
        ctx.preempt_disable()
    elif setup == "irqoff":
        ctx.local_irq_disable()
    elif setup == "hardirq":
        ctx.enter_hardirq(3)
    else:
        ctx.enter_cpu(1)
    assert ctx.might_alloc(0xCC0)  # GFP_KERNEL has __GFP_DIRECT_RECLAIM
    text = log.records[-1].text
    assert text.startswith("BUG: sleeping function called from invalid context at include/linux/sched/mm.h:321\n")
    assert f"irqs_disabled(): {int(setup in ('irqoff', 'hardirq'))}" in text
    assert "Not tainted" in text
    assert log.records[-1].kind == "bug"


def test_atomic_gfp_and_process_context_do_not_report() -> None:
    ctx, log = make()
    assert not ctx.might_alloc(0xCC0)
    ctx.spin_lock("l")
    assert not ctx.might_alloc(0xA20)  # GFP_ATOMIC
    assert not log.records


def test_report_is_ratelimited_and_taints() -> None:
    ctx, log = make()
    ctx.preempt_disable()
    assert ctx.might_sleep("a.c:1")
    assert not ctx.might_sleep("a.c:2")  # within one second
    log.clock.advance(1_000_000_001)
    assert ctx.might_sleep("a.c:3")
    assert "Tainted: G        W" in log.records[-1].text
    assert "preempt_count: 1, expected: 0" in log.records[-1].text


def test_irqsave_restores_the_previous_irq_state() -> None:
    ctx, _ = make()
    ctx.local_irq_disable()
    ctx.spin_lock_irqsave("a")
    ctx.spin_unlock_irqrestore("a")
    assert ctx.irqs_disabled()  # were off before: stay off
    ctx.local_irq_enable()
    ctx.spin_lock_irqsave("b")
    assert ctx.irqs_disabled() and ctx.preempt_count == 1
    ctx.spin_unlock_irqrestore("b")
    assert not ctx.irqs_disabled() and ctx.preempt_count == 0
    with pytest.raises(KernelFault, match="spin_lock_irqsave"):
        ctx.spin_lock("c")
        ctx.spin_unlock_irqrestore("c")


def test_bh_disable_and_rcu_nesting() -> None:
    ctx, log = make()
    ctx.local_bh_disable()
    assert ctx.in_softirq() and ctx.in_interrupt() and ctx.preempt_count == 0x200
    ctx.local_bh_enable()
    with pytest.raises(KernelFault):
        ctx.local_bh_enable()
    ctx.rcu_read_lock()
    assert not ctx.in_atomic()
    assert ctx.might_alloc(0xCC0)  # PREEMPT_RCU: sleeping in an RCU read section is reported
    assert "RCU nest depth: 1, expected: 0" in log.records[-1].text
    snap = ctx.snapshot()
    ctx.rcu_read_lock()
    ctx.restore(snap)
    assert ctx.rcu_nesting == 1
    ctx.rcu_read_unlock()
    with pytest.raises(KernelFault):
        ctx.rcu_read_unlock()


from hypothesis import given, settings, strategies as st  # noqa: E402

_OPS = ["cpu", "irq", "preempt", "lock", "irqoff", "bh", "rcu"]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(_OPS), st.integers(0, 3)), max_size=12))
def test_nested_blocks_always_restore(ops: list[tuple[str, int]]) -> None:
    ctx, _ = make()
    before = ctx.snapshot()
    snaps = []
    for i, (op, n) in enumerate(ops):
        snap = ctx.snapshot()
        try:
            if op == "cpu":
                snap = ctx.enter_cpu(n)
            elif op == "irq":
                snap = ctx.enter_hardirq(n)
            elif op == "preempt":
                ctx.preempt_disable()
            elif op == "lock":
                ctx.spin_lock(f"l{i}")
            elif op == "irqoff":
                ctx.local_irq_disable()
            elif op == "bh":
                ctx.local_bh_disable()
            else:
                ctx.rcu_read_lock()
        except KernelFault:
            ctx.restore(snap)  # what the interpreter's finally does
            continue
        snaps.append(snap)
        assert ctx.in_atomic() or ctx.irqs_disabled() or ctx.rcu_nesting
    for snap in reversed(snaps):
        ctx.restore(snap)
    assert ctx.snapshot() == before
