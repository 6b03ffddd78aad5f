"""Kernel stacks: THREAD_SIZE task stacks and the per-CPU IRQ stacks (x86_64, Linux 6.18).

What it models (kernel/fork.c: alloc_thread_stack_node, free_thread_stack,
try_release_thread_stack_to_cache, account_kernel_stack; arch/x86/kernel/irq_64.c:
map_irq_stack; arch/x86/include/asm/page_64_types.h):

- ``THREAD_SIZE = PAGE_SIZE << 2`` = 16 KiB (no KASAN), ``THREAD_ALIGN = THREAD_SIZE``.
- **With CONFIG_VMAP_STACK** (default, ``machine(vmap_stack=true)``): a new stack first
  takes one of the NR_CACHED_STACKS = 2 stacks cached on the current CPU
  (``cached_stacks[0]`` then ``[1]``; it is memset to 0), otherwise
  ``__vmalloc_node(THREAD_SIZE, THREAD_ALIGN, THREADINFO_GFP & ~__GFP_ACCOUNT)`` =
  GFP_KERNEL|__GFP_ZERO: 4 scattered order-0 pages in a 20 KiB area (guard page), 16 KiB
  aligned, shown in /proc/vmallocinfo as ``20480 kernel_clone+0x94/0x3e0 pages=4 vmalloc``
  (the caller seen on the 6.18.44 machine, because the fork path is inlined).  A freed
  stack goes into the first empty cache slot of the freeing CPU; otherwise it is vfree'd
  (after an RCU grace period in the kernel) and its range becomes lazily freed.
- **Without VMAP_STACK**: ``alloc_pages_node(THREADINFO_GFP = GFP_KERNEL_ACCOUNT |
  __GFP_ZERO, THREAD_SIZE_ORDER = 2)``: one physically contiguous order-2 block in the
  direct map, freed straight back to the buddy allocator; no cache.
- **IRQ stacks**: at boot every CPU's IRQ_STACK_SIZE (16 KiB) backing store, which lives
  in the static per-cpu area, is vmap()ed with a guard page: a VM_MAP area without pages
  of its own, ``20480 irq_init_percpu_irqstack+0xca/0x100 vmap``.  Without VMAP_STACK
  the backing store is used directly (no guard page, nothing in vmallocinfo).
- **Accounting**: NR_KERNEL_STACK_KB (meminfo KernelStack) grows by 16 kB for each stack
  handed to a task and shrinks when the task gives it back (account_kernel_stack); cached
  stacks are not counted.

Simplifications: the RCU grace period before a vfree of a stack is not modelled (the
free happens at once); memcg charging of stacks is not modelled.
"""

from __future__ import annotations

from typing import Callable, Protocol

from .errors import KernelFault
from .context import ExecContext
from .gfp import GFP_KERNEL_ACCOUNT, __GFP_ACCOUNT, __GFP_ZERO

from .vmap_area import VM_MAP, VmStruct
from .vmalloc import Vmalloc
from .vmstat import VmStat
from .mm_types import PAGE_SHIFT, PAGE_SIZE, PageAllocator

# Module-level aliases: a name starting with two underscores would be mangled inside a class.
GFP_ACCOUNT = __GFP_ACCOUNT
GFP_ZERO = __GFP_ZERO

THREAD_SIZE_ORDER = 2
THREAD_SIZE = PAGE_SIZE << THREAD_SIZE_ORDER
THREAD_ALIGN = THREAD_SIZE
IRQ_STACK_SIZE = THREAD_SIZE
NR_CACHED_STACKS = 2
THREADINFO_GFP = GFP_KERNEL_ACCOUNT | GFP_ZERO

# %pS of the callers seen in /proc/vmallocinfo on the 6.18.44 reference machine
KERNEL_CLONE_CALLER = "kernel_clone+0x94/0x3e0"
IRQ_STACK_CALLER = "irq_init_percpu_irqstack+0xca/0x100"




class KernelStacks:
    """Task stacks and IRQ stacks of one machine.  See the module docstring."""

    def __init__(self, *, vmap_stack: bool, vmalloc: Vmalloc, page_alloc: PageAllocator, ctx: ExecContext,
                 vmstat: VmStat, nr_cpus: int, owner_kstack: int, page_offset: int,
                 zero: Callable[[int, int], None] | None = None) -> None:
        self.vmap_stack = vmap_stack
        self.vmalloc = vmalloc
        self.page_alloc = page_alloc
        self.ctx = ctx
        self.vmstat = vmstat
        self.nr_cpus = nr_cpus
        self.owner = owner_kstack
        self.page_offset = page_offset
        self._zero = zero  # zero(vaddr, n): memset through the virtual address
        self.cached_stacks: list[list[VmStruct | None]] = [[None] * NR_CACHED_STACKS for _ in range(nr_cpus)]
        self.live: dict[int, VmStruct | int] = {}  # stack base -> vm_struct (vmap) or head pfn
        self.irq_stacks: list[VmStruct] = []

    def init_irq_stacks(self) -> None:
        """irq_init_percpu_irqstack() for each CPU at bring-up: with VMAP_STACK a vmap of
        the backing store with guard pages; without it the per-cpu backing store is used
        as it is (arch/x86/kernel/irq_64.c: map_irq_stack), so nothing is mapped."""
        if not self.vmap_stack:
            return
        for _cpu in range(self.nr_cpus):
            vm = self.vmalloc.vmap_area(IRQ_STACK_SIZE // PAGE_SIZE, VM_MAP, IRQ_STACK_CALLER)
            if vm is None:
                raise KernelFault("cannot map the IRQ stacks at boot: vmalloc space exhausted")
            self.irq_stacks.append(vm)

    # -- task stacks ------------------------------------------------------------------------------
    def _account(self, sign: int) -> None:
        self.vmstat.nr_kernel_stack_kb += sign * (THREAD_SIZE // 1024)

    def alloc_thread_stack(self, cpu: int, caller: str | None = None) -> int | None:
        """alloc_thread_stack_node() on CPU ``cpu``; the stack base (lowest address) or None.

        ``caller`` is what vmallocinfo shows; the fork path's bare symbol ``kernel_clone``
        is shown with the offset seen on the reference machine."""
        self.ctx.check_cpu(cpu)
        if caller is None or caller == "kernel_clone":
            caller = KERNEL_CLONE_CALLER
        if self.vmap_stack:
            cache = self.cached_stacks[cpu]
            for i in range(NR_CACHED_STACKS):
                vm = cache[i]
                if vm is None:
                    continue
                cache[i] = None
                if self._zero is not None:
                    self._zero(vm.addr, THREAD_SIZE)  # clear stale pointers from the reused stack
                self.live[vm.addr] = vm
                self._account(+1)
                return vm.addr
            saved = self.ctx.cpu
            self.ctx.cpu = cpu  # the vmap node pool is chosen by the allocating CPU
            try:
                base = self.vmalloc.vmalloc_gfp(THREAD_SIZE, THREADINFO_GFP & ~GFP_ACCOUNT, THREAD_ALIGN,
                                                caller or KERNEL_CLONE_CALLER)
            finally:
                self.ctx.cpu = saved
            if base is None:
                return None
            vm_area = self.vmalloc.find_vm_area(base)
            assert vm_area is not None
            self.live[base] = vm_area
            self._account(+1)
            return base
        pfn = self.page_alloc.alloc_pages(THREADINFO_GFP, THREAD_SIZE_ORDER, owner=self.owner,
                                          caller=caller or KERNEL_CLONE_CALLER)
        if pfn is None:
            return None
        base = self.page_offset + (pfn << PAGE_SHIFT)
        self.live[base] = pfn
        self._account(+1)
        return base

    def free_thread_stack(self, base: int, cpu: int) -> None:
        """release_task_stack() + free_thread_stack() on CPU ``cpu``."""
        self.ctx.check_cpu(cpu)
        entry = self.live.pop(base, None)
        if entry is None:
            raise KernelFault(f"free_thread_stack(0x{base:x}): not a live kernel stack")
        self._account(-1)
        if isinstance(entry, int):
            self.page_alloc.free_pages(entry, THREAD_SIZE_ORDER)
            return
        cache = self.cached_stacks[cpu]
        for i in range(NR_CACHED_STACKS):
            if cache[i] is None:
                cache[i] = entry  # try_release_thread_stack_to_cache()
                return
        self.vmalloc.vfree(entry.addr)

    def stack_pfns(self, base: int) -> list[int]:
        """The page frames of a live stack (4 scattered ones with VMAP_STACK, else contiguous)."""
        entry = self.live.get(base)
        if entry is None:
            raise KernelFault(f"0x{base:x} is not a live kernel stack")
        if isinstance(entry, int):
            return list(range(entry, entry + (1 << THREAD_SIZE_ORDER)))
        return list(entry.pages)

    def nr_cached(self, cpu: int) -> int:
        return sum(1 for s in self.cached_stacks[cpu] if s is not None)

    def show(self) -> str:
        lines = [f"THREAD_SIZE={THREAD_SIZE} THREAD_ALIGN={THREAD_ALIGN} "
                 f"VMAP_STACK={'y' if self.vmap_stack else 'n'} live={len(self.live)} "
                 f"KernelStack: {self.vmstat.nr_kernel_stack_kb} kB"]
        for cpu in range(self.nr_cpus):
            cached = ", ".join(f"0x{s.addr:016x}" for s in self.cached_stacks[cpu] if s is not None) or "-"
            irq = (f"0x{self.irq_stacks[cpu].addr:016x}" if cpu < len(self.irq_stacks)
                   else "in the per-cpu irq_stack_backing_store (not vmapped)")
            lines.append(f"cpu {cpu}: irq stack {irq} cached stacks: {cached}")
        for base, entry in sorted(self.live.items()):
            if isinstance(entry, int):
                lines.append(f"stack 0x{base:016x} pfn {entry}-{entry + 3} (order-2 block)")
            else:
                lines.append(f"stack 0x{base:016x} pfns {' '.join(str(p) for p in entry.pages)} (vmalloc)")
        return "\n".join(lines)


__all__ = ["KernelStacks", "THREAD_SIZE", "THREAD_ALIGN", "NR_CACHED_STACKS", "IRQ_STACK_SIZE"]
