"""High-memory mappings on a kernel without CONFIG_HIGHMEM (x86_64): kmap and friends.

What it models: include/linux/highmem-internal.h, the ``#else /* CONFIG_HIGHMEM */``
branch, which is what every 64-bit kernel compiles:

- ``kmap(page)``: ``might_sleep()`` - it may sleep on a 32-bit kernel waiting for a pkmap
  slot, so calling it in atomic context gets the sleeping-function report here too - then
  ``page_address(page)``; ``kunmap(page)`` does nothing (x86 has no
  ARCH_HAS_FLUSH_ON_KUNMAP).
- ``kmap_atomic(page)``: ``preempt_disable()`` (no PREEMPT_RT), ``pagefault_disable()``,
  ``page_address(page)``; ``kunmap_atomic(addr)``: ``pagefault_enable()``,
  ``preempt_enable()``.
- ``kmap_local_page(page)``: ``page_address(page)`` and nothing else;
  ``kunmap_local(addr)`` does nothing.

Every page of a 64-bit machine is in the direct map, so each of these returns the page's
direct-map address.  The 32-bit behaviour (the pkmap pool of LAST_PKMAP entries, the
per-CPU fixmap slots of kmap_atomic/kmap_local with their LIFO rule) needs an i386
machine, which this build cannot boot yet.

Invariant: kmap_atomic/kunmap_atomic pairs leave preempt_count and the task's
pagefault_disabled count as they found them.
"""

from __future__ import annotations

from typing import Callable

from .bug_sites import KMAP_MIGHT_SLEEP
from .context import ExecContext
from .errors import KernelFault

PageAddress = Callable[[int], int]  # page_address(pfn) of the page allocator


class Highmem:
    """kmap/kmap_atomic/kmap_local of a !CONFIG_HIGHMEM kernel.  See the module docstring."""

    def __init__(self, *, ctx: ExecContext, page_address: PageAddress) -> None:
        self.ctx = ctx
        self.page_address = page_address

    def kmap(self, pfn: int, caller: str | None = None) -> int:
        """kmap(): might_sleep() where the header has it (``caller``: the script line, the
        outermost frame of a report), then page_address()."""
        self.ctx.might_sleep(KMAP_MIGHT_SLEEP.location, ("kmap", caller) if caller else ("kmap",))
        return self.page_address(pfn)

    def kunmap(self, pfn: int) -> None:
        """Nothing to undo: the page stays in the direct map."""

    def kmap_atomic(self, pfn: int) -> int:
        self.ctx.preempt_disable()
        self.ctx.pagefault_disable()
        return self.page_address(pfn)

    def kunmap_atomic(self, addr: int) -> None:
        if self.ctx.pagefault_disabled <= 0:
            raise KernelFault(f"kunmap_atomic({addr:#x}) without a kmap_atomic: the pagefault_disable() "
                              "count would go negative")
        self.ctx.pagefault_enable()
        self.ctx.preempt_enable()

    def kmap_local_page(self, pfn: int) -> int:
        return self.page_address(pfn)

    def kunmap_local(self, addr: int) -> None:
        """Nothing to undo without CONFIG_HIGHMEM."""


