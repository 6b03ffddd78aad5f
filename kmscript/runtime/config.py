"""Boot parameters of a simulated machine: the keyword arguments of ``machine(...)``.

A leaf module: every subsystem that reads a boot parameter receives the MachineConfig
(or the values it needs) in its constructor.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

GiB = 1 << 30
NR_CPUS_MAX = 8192  # CONFIG_NR_CPUS of the x86_64 distribution kernels (MAXSMP)


@dataclass
class MachineConfig:
    """Boot parameters of a simulated machine; ``machine(...)`` keyword arguments.

    Defaults: 4 CPUs, 8 GiB, zones laid out as on a PC (DMA below 16 MiB, DMA32 below
    4 GiB with the PCI hole, Normal above).  Exact managed page counts per zone can be
    given instead of ``mem`` with ``dma_pages``, ``dma32_pages``, ``normal_pages`` and
    ``movable_pages``.
    """

    mem: int = 8 * GiB
    cpus: int = 4
    dma_pages: int | None = None
    dma32_pages: int | None = None
    normal_pages: int | None = None
    movable_pages: int | None = None
    seed: int = 0
    thp: bool = True  # THP enabled (madvise): raises min_free_kbytes as khugepaged does
    slab_nomerge: bool = False
    slub_debug: str | None = None
    # CONFIG_VMAP_STACK; None is the arch's default: on where the arch has HAVE_ARCH_VMAP_STACK
    # (x86_64), off on i386, where vmap_stack=true is refused (arch/x86/Kconfig)
    vmap_stack: bool | None = None
    # kernel stacks: None is the arch's THREAD_SIZE (16K on x86_64); 8K (i386) and 4K (i386
    # CONFIG_4KSTACKS, 2.6.6-2.6.36) are the historical sizes; irq_stacks=false runs
    # interrupts on the interrupted task's stack
    thread_size: int | None = None
    irq_stacks: bool = True
    swap: int = 0
    # CONFIG_KASAN_GENERIC (runtime/kasan.py) and the kasan_multi_shot boot parameter
    kasan: bool = False
    kasan_multi_shot: bool = False
    arch: str = "x86_64"  # the architecture (runtime/arch/): "x86_64" or "i386" (CONFIG_HIGHMEM4G)
    la57: bool = False  # 5-level paging (CONFIG_X86_5LEVEL on a CPU with la57): 57-bit user addresses
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def option_names(cls) -> list[str]:
        return [f.name for f in fields(cls) if f.name != "extra"]
