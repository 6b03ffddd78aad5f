"""msleep advances the one simulated clock and runs the deferred work that fell due while
the task slept, in (time, priority, sequence) order (events.py)."""
from kmscript.runtime.events import NORMAL, URGENT
from kmscript.runtime.machine import Machine, MachineConfig


def test_msleep_runs_the_events_that_fall_due_during_the_sleep() -> None:
    m = Machine(MachineConfig(mem=64 << 20, cpus=1))
    start = m.clock.ns
    ran: list[tuple[str, int]] = []
    m.events.schedule(5_000_000, NORMAL, "late", lambda: ran.append(("late", m.clock.ns)))
    m.events.schedule(5_000_000, URGENT, "urgent", lambda: ran.append(("urgent", m.clock.ns)))
    m.events.schedule(9_000_000, NORMAL, "later", lambda: ran.append(("later", m.clock.ns)))
    m.msleep(2)
    assert ran == [] and m.clock.ns == start + 2_000_000
    m.msleep(3)
    assert ran == [("urgent", start + 5_000_000), ("late", start + 5_000_000)]
    m.msleep(4)
    assert ran[-1] == ("later", start + 9_000_000) and len(ran) == 3
