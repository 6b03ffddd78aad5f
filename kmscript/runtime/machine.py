"""The Machine facade: one simulated x86_64 Linux machine.

The language layer reaches the runtime only through this class and the handle objects
its methods return (pages, caches, tasks, zones).  Methods carry kernel names
(``alloc_pages``, ``kmalloc``, ``vmalloc``, ``alloc_percpu`` ...) and kernel argument
order; sizes are bytes, orders are page orders, gfp masks are ints with the bit values of
include/linux/gfp_types.h.

A Machine is built from a :class:`MachineConfig` and owns, in the kernel's layering:
clock and kernel log -> execution context -> page allocator (zones, buddy, pcp) -> SLUB
and kmalloc -> vmalloc -> per-cpu allocator and kernel stacks -> tasks, page cache,
reclaim and the OOM killer.  Each layer receives the lower ones by constructor injection.

Determinism: the only randomness is ``self.rng``, seeded from ``config.seed``.

Handle attribute protocol: a handle class lists the attributes a script may read in a
class attribute ``KMS_ATTRS`` (a frozenset of names).  Nothing else is visible to scripts.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, fields
from typing import Any, Callable

from .context import ExecContext
from .errors import KernelFault
from .fault_inject import FaultInjector
from .printk import Clock, KernelLog
from .trace import Tracer
from .vmstat import VmStat

GiB = 1 << 30
MiB = 1 << 20


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
    vmap_stack: bool = True
    swap: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def option_names(cls) -> list[str]:
        return [f.name for f in fields(cls) if f.name != "extra"]


SysctlGet = Callable[[], Any]
SysctlSet = Callable[[Any], None]


class Machine:
    """One simulated machine.  See the module docstring."""

    def __init__(self, config: MachineConfig | None = None) -> None:
        self.config = config or MachineConfig()
        if self.config.cpus < 1 or self.config.cpus > 8192:
            raise KernelFault(f"cpus={self.config.cpus}: a machine has 1..8192 CPUs")
        self.nr_cpus = self.config.cpus
        self.rng = random.Random(self.config.seed)
        self.clock = Clock()
        self.log = KernelLog(self.clock)
        self.tracer = Tracer()
        self.vmstat = VmStat()
        self.ctx = ExecContext(self.nr_cpus, self.log)
        self._sysctls: dict[str, tuple[SysctlGet, SysctlSet]] = {}
        self._boot_subsystems()

    def _boot_subsystems(self) -> None:
        """Build the allocators bottom-up.  Each subsystem registers its sysctls."""
        self.faults = FaultInjector()
        # Lowest layer first; each line receives only the layers built before it.
        # [page allocator: zones, buddy, pcp]   -> self.page_alloc
        # [SLUB and kmalloc]                    -> self.slab
        # [vmalloc]                             -> self.vmalloc
        # [per-cpu allocator, kernel stacks]    -> self.percpu, self.kstacks
        # [tasks, page cache, reclaim, OOM]     -> self.tasks, self.reclaim

    # -- sysctl ------------------------------------------------------------------------------
    def register_sysctl(self, name: str, get: SysctlGet, set_: SysctlSet) -> None:
        self._sysctls[name] = (get, set_)

    def sysctl_names(self) -> list[str]:
        return sorted(self._sysctls)

    def sysctl_get(self, name: str) -> Any:
        try:
            return self._sysctls[name][0]()
        except KeyError:
            raise KernelFault(f"unknown sysctl {name}") from None

    def sysctl_set(self, name: str, value: Any) -> None:
        try:
            setter = self._sysctls[name][1]
        except KeyError:
            raise KernelFault(f"unknown sysctl {name}") from None
        setter(value)

    # -- kernel log ----------------------------------------------------------------------------
    def printk(self, text: str, kind: str = "info") -> None:
        self.log.printk(text, kind)

    def dmesg(self) -> str:
        return self.log.dmesg()
