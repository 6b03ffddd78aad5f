"""lib/ratelimit.c ___ratelimit on the simulated jiffies, and warn_alloc's nopage_rs."""

from __future__ import annotations

from kmscript.runtime.events import HZ, INITIAL_JIFFIES, Clock
from kmscript.runtime.printk import KernelLog
from kmscript.runtime.ratelimit import RatelimitState
from kmscript.session import Session

TICK = 1_000_000_000 // HZ


def test_jiffies() -> None:
    c = Clock()
    assert HZ == 250 and c.jiffies() == INITIAL_JIFFIES == 0xFFFEDB08
    c.advance(TICK * 3 + 1)
    assert c.jiffies() == INITIAL_JIFFIES + 3


def test_burst_interval_and_suppressed_count() -> None:
    log = KernelLog(Clock())
    rs = RatelimitState(log, 10 * HZ, 1)
    assert rs("warn_alloc")
    assert not rs("warn_alloc") and not rs("warn_alloc")
    log.clock.advance(10 * HZ * TICK)          # begin + interval: still inside
    assert not rs("warn_alloc")
    log.clock.advance(TICK)                    # one jiffy later: a new interval
    assert rs("warn_alloc")
    assert [r.text for r in log.records] == ["warn_alloc: 3 callbacks suppressed"]
    assert not rs("warn_alloc")


def test_zero_interval_never_limits() -> None:
    rs = RatelimitState(KernelLog(Clock()), 0, 1)
    assert all(rs("f") for _ in range(5))


def test_warn_alloc_is_rate_limited_and_expect_still_sees_it() -> None:
    s = Session(out=lambda line: None, quiet=True)
    s.run_text("machine(mem=1G, cpus=2)\n"
               "expect alloc_fail \"exceeds total pages\" { p = vmalloc(2G) }\n")
    s.run_text("expect alloc_fail \"exceeds\" { q = vmalloc(3G) }\n")   # suppressed, still seen
    log = s.machine.log
    printed = [r for r in log.records if "vmalloc error" in r.text]
    assert len(printed) == 1 and len(log.suppressed) == 1
    s.machine.clock.advance(11 * 1_000_000_000)
    s.run_text("expect alloc_fail { r = vmalloc(2G) }\n")
    texts = [r.text for r in log.records]
    assert "warn_alloc: 1 callbacks suppressed" in texts
    assert len([t for t in texts if "vmalloc error" in t]) == 2
