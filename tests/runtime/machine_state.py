"""The whole observable state of a machine, for tests that run one scenario through a
batched path and through the page-by-page path it shortcuts (test_zap_batch,
test_reclaim_free_batch) and require the same machine afterwards: buddy free lists, pcp
lists, every page's state bytes, vmstat, each task's mm and page tables, the page cache
and dirty bits, mapcounts, the rmap, the LRU (counters and deques, stale entries
included, and their stale counts), the reclaim counters, swap, meminfo/zoneinfo/buddyinfo, the trace, the kernel
log and the clock."""

from __future__ import annotations

import dataclasses
from typing import Callable

from kmscript.runtime import procfs
from kmscript.runtime.gfp import MIGRATE_TYPES
from kmscript.runtime.machine import Machine
from kmscript.runtime.mm_types import MAX_PAGE_ORDER
from kmscript.runtime.task import Task


def snapshot(m: Machine, tasks: list[Task]) -> tuple[object, ...]:
    pa = m.page_alloc
    sp = m.tasks.spaces
    lru = m.reclaim.lru
    pc = m.pagecache
    zones = []
    for z in pa.populated:
        zones.append((z.name, [z.free_list(o, mt) for o in range(MAX_PAGE_ORDER + 1) for mt in range(MIGRATE_TYPES)],
                      [([list(lst) for lst in p.lists], p.count, p.high, p.free_count, p.alloc_factor, p.flags)
                       for p in z.pcp],
                      z.below_high, z.reclaim_active, z.free_pages))

    def secs(pm: object) -> dict[int, bytes]:
        return {k: bytes(v) for k, v in pm.sections.items()}  # type: ignore[attr-defined]
    mms = []
    for t in tasks:
        mm = t.mm
        mms.append((str(t), t.alive, None if mm is None else
                    (mm.anon, mm.file, mm.shmem, mm.swapents, mm.hiwater_rss, mm.pgtables_bytes, mm.dead,
                     sp.ptes(mm, 0, 1 << 47) if not mm.dead else None)))
    files = [(name, sorted(f.pages.items()), f.nr_cached, f.nr_dirty, f.size) for name, f in sorted(pc.files.items())]
    return (zones, [bytes(s) if s is not None else None for s in pa.memmap.sections],
            dataclasses.asdict(m.vmstat), mms, files, secs(pc.dirty),
            secs(sp.mapcount), secs(sp.rmap.map), secs(lru.state), secs(lru.young),
            [list(dq) for dq in lru.lists], [secs(st) for st in lru.stale], list(lru.nr),
            [list(z) for z in lru.zone_nr],
            m.reclaim.counters(), m.reclaim.kswapd_failures, m.reclaim.kswapd_woken,
            dict(sp.swap.swap_map), sp.swap.free_swap_pages,
            procfs.meminfo(pa), procfs.zoneinfo(pa), procfs.buddyinfo(pa),
            list(m.tracer.events), list(m.log.records), m.clock.ns)


def same_both_ways(scenario: Callable[[Machine], list[Task]], make: Callable[[], Machine],
                   select: Callable[[Machine, bool], None]) -> None:
    """Run *scenario* on a fresh machine with the fast path on, then off (``select(m,
    on)`` switches it), and require the same snapshot, naming the first part that
    differs."""
    results = []
    for batched in (True, False):
        m = make()
        select(m, batched)
        tasks = scenario(m)
        results.append(snapshot(m, tasks))
    fast, generic = results
    for k, (a, b) in enumerate(zip(fast, generic)):
        assert a == b, f"snapshot part {k} differs"
