"""Node-wide memory counters (the kernel's vmstat items) that several allocators update.

Names follow include/linux/mmzone.h (enum node_stat_item / zone_stat_item).  Each
allocator adds to the counters it owns; /proc/meminfo is rendered from them, so every
meminfo line is the sum of what the simulation really did, never a separate estimate.

Units follow the kernel: ``*_B`` counters are bytes, ``NR_KERNEL_STACK_KB`` is kB,
everything else is pages.
"""

from __future__ import annotations


class VmStat:
    __slots__ = (
        "nr_slab_reclaimable_b", "nr_slab_unreclaimable_b", "nr_kernel_stack_kb",
        "nr_vmalloc_pages", "nr_percpu_pages", "nr_pagetable_pages", "nr_anon_pages",
        "nr_file_pages", "nr_shmem_pages", "nr_dirty", "nr_writeback", "nr_swap_used",
        "nr_kernel_misc_reclaimable",
        "nr_active_anon", "nr_inactive_anon", "nr_active_file", "nr_inactive_file",
        "pgscan_kswapd", "pgscan_direct", "pgsteal_kswapd", "pgsteal_direct",
        "compact_success", "compact_fail", "oom_kill", "allocstall",
        # tasks / page cache (task.py, pagecache.py): NR_FILE_MAPPED, file pages mapped by tasks
        "nr_mapped",
    )

    def __init__(self) -> None:
        for name in self.__slots__:
            setattr(self, name, 0)

    def as_dict(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in self.__slots__}
