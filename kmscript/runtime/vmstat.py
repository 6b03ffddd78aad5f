"""Node-wide memory counters (the kernel's vmstat items) that several allocators update.

Names follow include/linux/mmzone.h (enum node_stat_item / zone_stat_item).  Each
allocator adds to the counters it owns; /proc/meminfo is rendered from them, so every
meminfo line is the sum of what the simulation really did, never a separate estimate.

Units follow the kernel: ``*_B`` counters are bytes, ``NR_KERNEL_STACK_KB`` is kB,
everything else is pages.
"""

from __future__ import annotations

from dataclasses import dataclass, fields


@dataclass(slots=True)
class VmStat:
    nr_slab_reclaimable_b: int = 0
    nr_slab_unreclaimable_b: int = 0
    nr_kernel_stack_kb: int = 0
    nr_vmalloc_pages: int = 0
    nr_percpu_pages: int = 0
    nr_pagetable_pages: int = 0
    nr_anon_pages: int = 0
    nr_file_pages: int = 0
    nr_shmem_pages: int = 0
    nr_dirty: int = 0
    nr_writeback: int = 0
    nr_swap_used: int = 0
    nr_kernel_misc_reclaimable: int = 0
    nr_active_anon: int = 0
    nr_inactive_anon: int = 0
    nr_active_file: int = 0
    nr_inactive_file: int = 0
    pgscan_kswapd: int = 0
    pgscan_direct: int = 0
    pgsteal_kswapd: int = 0
    pgsteal_direct: int = 0
    compact_success: int = 0
    compact_fail: int = 0
    oom_kill: int = 0
    allocstall: int = 0
    # tasks / page cache (task.py, pagecache.py): NR_FILE_MAPPED, file pages mapped by tasks
    nr_mapped: int = 0

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}
