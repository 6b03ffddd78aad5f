"""Kernel stacks: THREAD_SIZE task stacks and the per-CPU IRQ stacks (x86_64, Linux 6.18).

What it models (kernel/fork.c: alloc_thread_stack_node, free_thread_stack,
try_release_thread_stack_to_cache, account_kernel_stack; arch/x86/kernel/irq_64.c:
map_irq_stack; arch/x86/include/asm/page_64_types.h):

- ``THREAD_SIZE = PAGE_SIZE << 2`` = 16 KiB (no KASAN), ``THREAD_ALIGN = THREAD_SIZE``.
- **With CONFIG_VMAP_STACK** (the x86_64 default, ``machine(vmap_stack=true)``; refused on i386): a new stack first
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

- **Stack use** (``stack_use(N)``): the current context spends N more bytes of its stack
  until it ends (a ``cpu``/``irq`` block pops what it spent; the process context keeps it).
  Process context runs on the task's stack; a hard interrupt on the CPU's IRQ stack
  (arch/x86/kernel/irq_64.c: call_on_irqstack; irq_32.c: execute_on_irq_stack), or - in
  the historical configuration without separate interrupt stacks - on the stack of the
  task it interrupted, where both depths add up.  Going past the bottom:
  with VMAP_STACK the guard page below the stack is hit (arch/x86/kernel/traps.c:
  handle_stack_overflow: "BUG: TASK stack guard page was hit at ... (stack is ...)", then
  die("stack guard page") - an Oops); without it the write lands below the stack,
  destroying STACK_END_MAGIC at end_of_stack() (kernel/fork.c: set_task_stack_end_magic),
  which the next schedule() finds (kernel/sched/core.c: schedule_debug: panic("corrupted
  stack end detected inside scheduler")).  An IRQ stack without a guard page has no canary.
- **Historical stack sizes** (``machine(thread_size=4K|8K, irq_stacks=false)``): i386 had
  8 KiB stacks shared with interrupts, and from 2.6.6 to 2.6.36 the CONFIG_4KSTACKS option:
  one-page stacks, made safe only by separate 4 KiB hard- and soft-irq stacks per CPU
  (arch/i386/kernel/irq.c: hardirq_stack/softirq_stack).  "x86: Remove CONFIG_4KSTACKS"
  (dcfa726280116, Linux 2.6.37) removed the option and made the 32-bit interrupt stacks
  unconditional; today's i386 has THREAD_SIZE 8 KiB (page_32_types.h: THREAD_SIZE_ORDER 1)
  with separate IRQ stacks.  kmscript places those stacks in this machine's address space.

Simplifications: the RCU grace period before a vfree of a stack is not modelled (the
free happens at once); memcg charging of stacks is not modelled; softirqs have no
context of their own in kmscript, so the separate softirq stack of i386 is not drawn.
"""

from __future__ import annotations

from typing import Callable

from .errors import KernelFault
from .context import ExecContext
from .gfp import GFP_KERNEL_ACCOUNT, __GFP_ACCOUNT, __GFP_ZERO

from .vmap_area import VM_MAP, VmStruct
from .vmalloc import Vmalloc
from .vmstat import VmStat
from .arch import Arch
from .mm_types import PAGE_SHIFT, PAGE_SIZE, PageAllocator
from .printk import KernelLog

# Module-level aliases: a name starting with two underscores would be mangled inside a class.
GFP_ACCOUNT = __GFP_ACCOUNT
GFP_ZERO = __GFP_ZERO

NR_CACHED_STACKS = 2
THREADINFO_GFP = GFP_KERNEL_ACCOUNT | GFP_ZERO

# %pS of the callers seen in /proc/vmallocinfo on the 6.18.44 reference machine
KERNEL_CLONE_CALLER = "kernel_clone+0x94/0x3e0"
IRQ_STACK_CALLER = "irq_init_percpu_irqstack+0xca/0x100"




class KernelStacks:
    """Task stacks and IRQ stacks of one machine.  See the module docstring."""

    def __init__(self, *, arch: Arch, vmap_stack: bool, vmalloc: Vmalloc, page_alloc: PageAllocator,
                 ctx: ExecContext, vmstat: VmStat, nr_cpus: int, owner_kstack: int,
                 zero: Callable[[int, int], None] | None = None, log: KernelLog | None = None,
                 thread_size: int | None = None, irq_stacks: bool = True) -> None:
        # THREAD_SIZE: the architecture's (THREAD_SIZE_ORDER) unless machine(thread_size=...)
        if thread_size is None:
            thread_size = arch.thread_size
        if thread_size not in (4096, 8192, 16384, 32768):
            raise KernelFault(f"thread_size={thread_size}: kernel stacks are 4K (i386 CONFIG_4KSTACKS), "
                              "8K (i386), 16K (x86_64) or 32K (x86_64 with KASAN)")
        self.thread_size = thread_size
        # 32K: THREAD_SIZE_ORDER = 2 + KASAN_STACK_ORDER (arch/x86/include/asm/page_64_types.h)
        self.thread_size_order = {4096: 0, 8192: 1, 16384: 2, 32768: 3}[thread_size]
        self.irq_stack_size = thread_size  # IRQ_STACK_SIZE == THREAD_SIZE on both x86 flavours
        self.separate_irq_stacks = irq_stacks
        self.log = log
        # CONFIG_VMAP_STACK needs HAVE_ARCH_VMAP_STACK (x86_64 only): the Machine refuses
        # vmap_stack=true on i386 and passes the arch's default otherwise
        assert arch.have_vmap_stack or not vmap_stack, "VMAP_STACK on an arch without HAVE_ARCH_VMAP_STACK"
        self.vmap_stack = vmap_stack
        self.vmalloc = vmalloc
        self.page_alloc = page_alloc
        self.ctx = ctx
        self.vmstat = vmstat
        self.nr_cpus = nr_cpus
        self.owner = owner_kstack
        self.arch = arch
        self.page_offset = arch.page_offset
        self._zero = zero  # zero(vaddr, n): memset through the virtual address
        self.cached_stacks: list[list[VmStruct | None]] = [[None] * NR_CACHED_STACKS for _ in range(nr_cpus)]
        self.live: dict[int, VmStruct | int] = {}  # stack base -> vm_struct (vmap) or head pfn
        self.irq_stacks: list[VmStruct] = []
        # i386: (hardirq, softirq) stack addresses per CPU, page blocks in the direct map
        self.irq_stack_pages: list[tuple[int, int]] = []
        self._script_base: int | None = None  # the script task's stack, made on first use
        self._canary_broken: set[int] = set()  # pids whose STACK_END_MAGIC was overwritten

    def init_irq_stacks(self) -> None:
        """irq_init_percpu_irqstack() for each CPU at bring-up: with VMAP_STACK a vmap of
        the backing store with guard pages; without it the per-cpu backing store is used
        as it is (arch/x86/kernel/irq_64.c: map_irq_stack), so nothing is mapped.  On i386
        (arch/x86/kernel/irq_32.c) two THREAD_SIZE blocks per CPU come from the page
        allocator, the hardirq and the softirq stack."""
        if self.arch.irq_stacks_from_pages and self.separate_irq_stacks:
            for _cpu in range(self.nr_cpus):
                hard = self.page_alloc.alloc_pages(THREADINFO_GFP, self.thread_size_order, owner=self.owner,
                                                   caller="irq_init_percpu_irqstack")
                soft = self.page_alloc.alloc_pages(THREADINFO_GFP, self.thread_size_order, owner=self.owner,
                                                   caller="irq_init_percpu_irqstack")
                if hard is None or soft is None:
                    raise KernelFault("cannot allocate the IRQ stacks at boot: out of memory")
                self.irq_stack_pages.append((self.arch.page_address(hard), self.arch.page_address(soft)))
            return
        if not self.vmap_stack or not self.separate_irq_stacks:
            return
        for _cpu in range(self.nr_cpus):
            vm = self.vmalloc.vmap_area(self.irq_stack_size // PAGE_SIZE, VM_MAP, IRQ_STACK_CALLER)
            if vm is None:
                raise KernelFault("cannot map the IRQ stacks at boot: vmalloc space exhausted")
            self.irq_stacks.append(vm)

    # -- task stacks ------------------------------------------------------------------------------
    def _account(self, sign: int) -> None:
        self.vmstat.nr_kernel_stack_kb += sign * (self.thread_size // 1024)

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
                    self._zero(vm.addr, self.thread_size)  # clear stale pointers from the reused stack
                self.live[vm.addr] = vm
                self._account(+1)
                return vm.addr
            saved = self.ctx.cpu
            self.ctx.cpu = cpu  # the vmap node pool is chosen by the allocating CPU
            try:
                base = self.vmalloc.vmalloc_gfp(self.thread_size, THREADINFO_GFP & ~GFP_ACCOUNT, self.thread_size,
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
        pfn = self.page_alloc.alloc_pages(THREADINFO_GFP, self.thread_size_order, owner=self.owner,
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
            self.page_alloc.free_pages(entry, self.thread_size_order)
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
            return list(range(entry, entry + (1 << self.thread_size_order)))
        return list(entry.pages)

    def nr_cached(self, cpu: int) -> int:
        return sum(1 for s in self.cached_stacks[cpu] if s is not None)

    def show(self) -> str:
        lines = [f"THREAD_SIZE={self.thread_size} THREAD_ALIGN={self.thread_size} "
                 f"VMAP_STACK={'y' if self.vmap_stack else 'n'} live={len(self.live)} "
                 f"KernelStack: {self.vmstat.nr_kernel_stack_kb} kB"]
        for cpu in range(self.nr_cpus):
            cached = ", ".join(f"0x{s.addr:0{self.arch.ptr_digits}x}" for s in self.cached_stacks[cpu] if s is not None) or "-"
            w = self.arch.ptr_digits
            irq = (f"0x{self.irq_stacks[cpu].addr:0{w}x}" if cpu < len(self.irq_stacks)
                   else f"0x{self.irq_stack_pages[cpu][0]:0{w}x}, softirq stack 0x{self.irq_stack_pages[cpu][1]:0{w}x} "
                        f"(order-{self.thread_size_order} blocks)" if cpu < len(self.irq_stack_pages)
                   else "in the per-cpu irq_stack_backing_store (not vmapped)" if self.separate_irq_stacks
                   else "none: interrupts run on the interrupted task's stack")
            lines.append(f"cpu {cpu}: irq stack {irq} cached stacks: {cached}")
        for base, entry in sorted(self.live.items()):
            if isinstance(entry, int):
                lines.append(f"stack 0x{base:0{self.arch.ptr_digits}x} pfn {entry}-{entry + (1 << self.thread_size_order) - 1} "
                             f"(order-{self.thread_size_order} block)")
            else:
                lines.append(f"stack 0x{base:0{self.arch.ptr_digits}x} pfns {' '.join(str(p) for p in entry.pages)} (vmalloc)")
        return "\n".join(lines)


    # -- stack use and overflow ----------------------------------------------------------------
    def _current_stack(self) -> tuple[tuple[str, int], str, int, int, bool]:
        """(depth key, stack_type_name, base, size, has a guard page) of the stack the
        current context runs on."""
        ctx = self.ctx
        if ctx.in_irq() and self.separate_irq_stacks:
            cpu = ctx.cpu
            if cpu < len(self.irq_stacks):
                return ("irq", cpu), "IRQ", self.irq_stacks[cpu].addr, self.irq_stack_size, True
            if cpu < len(self.irq_stack_pages):   # i386: the hardirq stack, a page block
                return ("irq", cpu), "IRQ", self.irq_stack_pages[cpu][0], self.irq_stack_size, False
            # without VMAP_STACK: the per-cpu backing store, no guard page
            return ("irq", cpu), "IRQ", 0, self.irq_stack_size, False
        task = ctx.current
        base = task.stack
        if not base:
            base = self._script_stack()
        return ("task", task.pid), "TASK", base, self.thread_size, self.vmap_stack

    def _script_stack(self) -> int:
        """The script's own task gets its kernel stack the first time it spends some."""
        if self._script_base is None:
            base = self.alloc_thread_stack(self.ctx.cpu, caller="kernel_clone")
            if base is None:
                raise KernelFault("no memory for the script task's kernel stack")
            self._script_base = base
        return self._script_base

    def stack_depth(self) -> int:
        key, _name, _base, _size, _guard = self._current_stack()
        return self.ctx.stack_depth.get(key, 0)

    def stack_use(self, nbytes: int) -> int:
        """Spend ``nbytes`` more of the current context's stack; returns the new depth.
        Past the bottom: the guard-page Oops (VMAP_STACK) or a destroyed end-of-stack canary."""
        if nbytes < 0:
            raise KernelFault(f"stack_use({nbytes}): a call chain spends a positive number of bytes")
        key, name, base, size, guard = self._current_stack()
        ctx = self.ctx
        depth = ctx.stack_depth.get(key, 0) + nbytes
        ctx.stack_depth = {**ctx.stack_depth, key: depth}  # copy on write (ContextSnapshot)
        if depth <= size:
            return depth
        if guard:
            self._guard_page_hit(name, base, size, depth)
        elif key[0] == "task":
            self._canary_broken.add(key[1])  # STACK_END_MAGIC overwritten; schedule() finds it
        elif self.log is not None:
            below = ("the page below its block" if self.irq_stack_pages else "the per-cpu data below it")
            self.log.printk(f"kmscript: CPU {key[1]}'s IRQ stack overflowed by {depth - size} bytes into {below}: "
                            "without VMAP_STACK it has no guard page and no canary, so the "
                            "kernel does not notice", "bug")
        return depth

    def _guard_page_hit(self, name: str, base: int, size: int, depth: int) -> None:
        """arch/x86/kernel/traps.c: handle_stack_overflow() from the #DF handler, then die()."""
        fault = base - 8 if depth - size <= PAGE_SIZE else base - PAGE_SIZE
        lines = [f"BUG: {name} stack guard page was hit at {fault:0{self.arch.ptr_digits}x} (stack is {base:0{self.arch.ptr_digits}x}..{base + size:0{self.arch.ptr_digits}x})",
                 f"Oops: stack guard page: 0000 [#1]{self.arch.oops_flags}",
                 self.ctx.dump_stack_header(),
                 f"{self.arch.ip_line}kmscript"]
        if self.log is None:
            raise KernelFault(lines[0])
        self.log.printk("\n".join(lines), "bug")  # the Oops kills the task, or panics in an interrupt

    def schedule_debug(self) -> None:
        """kernel/sched/core.c: schedule_debug() - the canary check every schedule() makes."""
        pid = self.ctx.current.pid
        if pid in self._canary_broken:
            self._canary_broken = self._canary_broken - {pid}
            self.ctx.panic("corrupted stack end detected inside scheduler")


__all__ = ["KernelStacks", "NR_CACHED_STACKS"]
