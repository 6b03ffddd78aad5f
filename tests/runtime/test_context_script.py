"""Context built-ins from scripts: misuse is a clear error with the call's span, and the
context is restored after the error."""

from __future__ import annotations

import pytest

from tests.conftest import run_script


@pytest.mark.parametrize("body, message", [
    ("preempt_enable()", "preempt_enable() without a matching preempt_disable()"),
    ("spin_unlock(l)", "spin_unlock(l): lock is not held"),
    ("spin_lock(l); spin_lock(l)", "would deadlock"),
    ("local_irq_enable()", "local_irq_enable() without a matching local_irq_disable()"),
    ("cpu 9 < x = 1 >", "CPU 9 does not exist: this machine has CPUs 0..3"),
    ("cpu 1 < cpu 2 < x = 1 > >", "cannot switch to CPU 2 while atomic on CPU 1"),
    ("irq 7 < x = 1 >", "CPU 7 does not exist"),
    ("x = per_cpu(nope, 0)", "no per-cpu variable named nope"),
    ("percpu c; percpu c", "percpu variable c is already defined"),
    ("irq < local_irq_enable() >", "local_irq_enable() in hard-interrupt context"),
])
def test_misuse_is_an_error(body: str, message: str) -> None:
    out, err, s = run_script("machine(cpus=4, mem=256M)\n" + body + "\n")
    assert err is not None and message in str(err.render() if hasattr(err, "render") else err)
    ctx = s.machine.ctx
    if "cpu" in body.split("<")[0] or "irq" in body:
        assert ctx.cpu == 0 and ctx.preempt_count == 0 and not ctx.irqs_disabled()


def test_might_sleep_builtin_reports_at_the_script_line() -> None:
    out, err, s = run_script("machine(cpus=2, mem=256M)\npreempt_disable()\nmight_sleep()\npreempt_enable()\n",
                             "ms.kms")
    assert err is None
    assert "BUG: sleeping function called from invalid context at ms.kms:3" in s.machine.log.dmesg()


def test_msleep_in_atomic_is_scheduling_while_atomic() -> None:
    out, err, s = run_script("machine(cpus=2, mem=256M)\nspin_lock(l)\nmsleep(1)\nspin_unlock(l)\n")
    assert err is None
    assert "BUG: scheduling while atomic: kmscript/1000/0x00000001" in s.machine.log.dmesg()
