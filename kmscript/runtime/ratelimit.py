"""Rate limits on kernel messages: lib/ratelimit.c ___ratelimit as 6.18 has it.

What it models: a ``struct ratelimit_state`` (DEFINE_RATELIMIT_STATE(name, interval, burst))
on the simulated jiffies clock (printk.Clock.jiffies, HZ=250).  A call returns True while
the current interval still has burst left; otherwise the call is counted as missed.  The
first call after the interval has run out starts a new interval at the current jiffies,
refills the burst and, when calls were missed, prints ``"%s: %d callbacks suppressed"`` at
KERN_WARNING, %s being the function that asked (``__ratelimit(state)`` expands to
``___ratelimit(state, __func__)``).

Invariants: the first call initialises the state (RATELIMIT_INITIALIZED) and starts the first
interval; ``time_is_before_jiffies(begin + interval)`` (strictly after the interval's last
jiffy) ends an interval; an interval of 0 never limits.

Simplification: the kernel's lock-free fast paths for contended callers do not apply to one
simulated CPU running one thing at a time; the outcome is the locked path's.
"""

from __future__ import annotations

from .printk import KernelLog


class RatelimitState:
    """struct ratelimit_state with ___ratelimit()."""

    __slots__ = ("log", "interval", "burst", "begin", "n_left", "missed", "initialized")

    def __init__(self, log: KernelLog, interval: int, burst: int) -> None:
        self.log = log
        self.interval = interval  # jiffies
        self.burst = burst
        self.begin = 0
        self.n_left = 0
        self.missed = 0
        self.initialized = False

    def __call__(self, func: str) -> bool:
        """___ratelimit(rs, func): True means go ahead and print."""
        if self.interval <= 0:
            return True
        jiffies = self.log.clock.jiffies()
        if not self.initialized:
            self.begin = jiffies
            self.initialized = True
            self.n_left = self.burst
        if jiffies > self.begin + self.interval:   # time_is_before_jiffies(begin + interval)
            self.n_left = self.burst
            self.begin = jiffies
            missed, self.missed = self.missed, 0
            if missed:
                self.log.printk(f"{func}: {missed} callbacks suppressed", "info")
        if self.burst:
            self.n_left -= 1
            if self.n_left >= 0:
                return True
        self.missed += 1
        return False
