"""vmalloc: virtually contiguous kernel memory built from scattered page frames.

What it models (Linux 6.18, mm/vmalloc.c, x86_64 4-level paging):

- **The vmalloc address space** ``[self.vmalloc_start, self.vmalloc_end]`` (32 TiB from
  0xffffc90000000000, arch/x86/include/asm/pgtable_64_types.h; no KASLR, so the base is
  fixed).  Free space is a set of disjoint ``[start, end)`` ranges kept sorted by address
  (the kernel keeps them in an augmented rb-tree, ``free_vmap_area_root``).
- **Address choice** (alloc_vmap_area): first the CPU's *vmap node pool* for that exact
  size (``nr_vmap_nodes = clamp(nr_cpus, 1, 128)`` nodes, one pool list per size of
  1..256 pages, LIFO, used only for the default range and only if the pooled address
  is aligned; pools are refilled only by purged areas), otherwise the **lowest-addressed**
  free range that holds ``size`` at ``align`` (find_vmap_lowest_match), carved from its
  aligned start (va_clip).  When nothing fits: purge the lazy areas and retry once, then
  ``vmalloc_node_range for size %lu failed: Address range restricted to ...``.
- **Areas**: ``size = PAGE_ALIGN(request) + PAGE_SIZE`` guard page unless VM_NO_GUARD;
  the guard is part of vm_struct->size and of the vmallocinfo size column.
- **Bookkeeping from the allocators below**: the ``struct vm_struct`` (72 bytes in 6.18:
  next/llnode, addr, size, flags, pages, page_order, nr_pages, phys_addr, caller,
  requested_size; include/linux/vmalloc.h) is kzalloc'ed from kmalloc-96; the
  ``pages[]`` array (8 bytes a page) is kmalloc'ed when it is <= PAGE_SIZE and
  vmalloc'ed (recursively, same caller) otherwise, which marks the parent ``vpages``.
- **Backing pages**: order-0 pages from the bulk allocator (then one at a time) with
  ``gfp | __GFP_HIGHMEM | __GFP_NOWARN`` (vm_area_alloc_pages) owned OWNER_VMALLOC; they
  are wherever the page allocator puts them, so consecutive virtual pages are in general
  not consecutive frames.  ``nr_vmalloc_pages`` (meminfo VmallocUsed) counts them.
- **Lazy freeing**: vfree frees the pages at once but the address range goes to the
  per-node *lazy* list and still occupies VA space (vmallocinfo ``unpurged vm_area``);
  ``vmap_lazy_nr`` counts its pages (guard included).  When it exceeds
  ``lazy_max_pages() = fls(num_online_cpus) * 8192`` the purge runs: one TLB flush over
  the union, then every lazy area returns to the pool of the node that allocated it
  (size <= 256 pages) or to the global free ranges, merging with its neighbours; each
  purge decays every pool by a quarter (decay_va_pool_node).  A failing allocation
  purges with full decay (reclaim_and_purge_vmap_areas).
- **pcpu_get_vm_areas**: per-cpu chunks take their areas top-down from the end of the
  space (highest free range that fits at the chunk alignment).
- **Failures** return None and print the kernel's warn_alloc line
  ``<comm>: vmalloc error: size %lu, <what>, mode:%#x(%pGg), nodemask=(null),cpuset=/,mems_allowed=0``.
- **Context rules**: ``__get_vm_area_node`` does ``BUG_ON(in_interrupt())`` (an oops in
  interrupt context is fatal: "Fatal exception in interrupt"), ``alloc_vmap_area`` calls
  ``might_sleep()``; vfree from interrupt context is deferred (vfree_atomic): the pages
  and the range are freed by a work item once the interrupt is over.
- **Trace events** (include/trace/events/vmalloc.h): alloc_vmap_area,
  free_vmap_area_noflush, purge_vmap_area_lazy, in their TP_printk formats.

Invariants:
- free ranges are disjoint, sorted, never adjacent (adjacent ones are merged), and never
  overlap a busy, lazy or pooled area; busy + lazy + pooled + free == the whole space.
- every busy VmapArea with a vm_struct from vmalloc has ``len(vm.pages) == nr_pages``
  frames, each owned by this vm area until vfree.

Simplifications relative to the kernel:
- The lowest-match search is exact over the free ranges; for ``align > PAGE_SIZE`` the
  kernel's tree walk only descends into subtrees whose largest block is at least
  ``size + align - 1``; we apply that filter to every range (the kernel may still pick a
  smaller range it happens to pass on the walk).
- struct vmap_area objects (vmap_area_cachep, 72 bytes) are kept one per busy, lazy,
  pooled or free range when an allocator for them is injected (``va_cache``); the machine
  does not inject one yet (the cache's boot-time slab page would shift every other
  area's golden page numbers), so slabinfo has no vmap_area line.  The per-CPU preloaded
  spare (ne_fit_preload_node) is not kept, and a failed vmap_area allocation does not
  fail the request.  Page-table pages for the vmalloc mappings are not modelled.
- The drain work that the kernel schedules when the lazy threshold is crossed runs from
  the event queue as urgent work, right after the vfree that crossed it (events.py).
- vfree in interrupt context is vfree_atomic: the address joins the CPU's vfree_deferred
  llist and the CPU's work item (one per CPU, queued when the list was empty) frees the
  whole list, newest first, from the event queue at irq exit (context.py: queue_work).
- Addresses are printed unhashed (as root reads /proc/vmallocinfo with kptr_restrict=1);
  kernel-internal callers print the symbol+offset seen on the 6.18.44 reference machine
  where one was observed, otherwise the bare symbol name.
- Huge vmalloc (VM_ALLOW_HUGE_VMAP, used by kvmalloc and vmalloc_huge for >= 2 MiB):
  the order-9 blocks are kept and freed whole instead of being split_page()d into
  order-0 pages, so the page allocator shows them as order-9 blocks.
- vfree() in interrupt context is deferred (vfree_atomic) to a work item that runs when
  the CPU leaves interrupt context; elsewhere vfree() and vunmap() might_sleep().
- WARN()/WARN_ON_ONCE()/BUG_ON()/might_sleep() reports name the check's FILE:LINE in the
  6.18 sources (bug_sites.py).
- Order-0 backing pages come from the bulk allocator as vm_area_alloc_pages takes them
  (alloc_pages_bulk, at most 100 pages a call, from one pcp list; no mm_page_alloc events
  for them), then from single-page alloc_pages() calls once a bulk call comes up short.
"""

from __future__ import annotations

from array import array
from bisect import bisect_right

from .bug_sites import (GET_VM_AREA_NODE_BUG, KVMALLOC_TOO_LARGE, REMOVE_VM_AREA_BAD_ADDR, VFREE_NONEXISTENT,
                        VFREE_MIGHT_SLEEP, VMALLOC_ZERO_SIZE, VUNMAP_BUG, VUNMAP_MIGHT_SLEEP, VUNMAP_NONEXISTENT,
                        Site)
from .errors import KernelFault, KernelPanic
from .explain import pfn_runs as _pfn_runs
from .gfp import (GFP_DMA, GFP_DMA32, GFP_KERNEL, GFP_RECLAIM_MASK, __GFP_DIRECT_RECLAIM, __GFP_HIGHMEM,
                  __GFP_NOFAIL, __GFP_NOWARN, __GFP_RETRY_MAYFAIL, __GFP_ZERO, format_gfp)
from .mm_types import PAGE_SHIFT, PAGE_SIZE
from .vmap_area import (VM_IOREMAP, VM_ALLOC, VM_MAP,
                        VM_USERMAP, VM_DMA_COHERENT, VM_UNINITIALIZED, VM_NO_GUARD, VM_ALLOW_HUGE_VMAP,
                        VM_SPARSE, IRQ_MASKS,
                        VmStruct, VmapArea, VmapAreaAllocator)

# mm/vmalloc.c: vmalloc_info_show: the flag words of a /proc/vmallocinfo line, in its order
_VMALLOCINFO_FLAGS = ((VM_IOREMAP, " ioremap"), (VM_SPARSE, " sparse"), (VM_ALLOC, " vmalloc"), (VM_MAP, " vmap"),
                      (VM_USERMAP, " user"), (VM_DMA_COHERENT, " dma-coherent"))

# Module-level aliases: a name starting with two underscores would be mangled inside a class.
GFP_DIRECT_RECLAIM = __GFP_DIRECT_RECLAIM
GFP_HIGHMEM = __GFP_HIGHMEM
GFP_NOFAIL = __GFP_NOFAIL
GFP_NOWARN = __GFP_NOWARN
GFP_RETRY_MAYFAIL = __GFP_RETRY_MAYFAIL
GFP_ZERO = __GFP_ZERO


class Vmalloc(VmapAreaAllocator):
    """The vmalloc allocator of one machine.  See the module docstring."""
    # -- get_vm_area / vmalloc --------------------------------------------------------------
    def _comm(self) -> str:
        return self.ctx.current.comm

    def warn_alloc(self, gfp: int, text: str, caller: str | None = None) -> None:
        """mm/vmalloc.c calls the page allocator's warn_alloc() (mm/page_alloc.c), whose
        rate limit it shares; the Call Trace names the vmalloc path."""
        if self.warn_alloc_fn is not None:
            self.warn_alloc_fn(gfp, text, ("__vmalloc_node_range_noprof", "__vmalloc_node_noprof",
                                           caller or "vmalloc_noprof"))

    def _bug_in_interrupt(self, site: Site) -> None:
        """BUG_ON(in_interrupt()) at ``site``: the Oops is in interrupt context, so
        oops_end() panics the machine ("Fatal exception in interrupt"; see
        ExecContext._after_report)."""
        self.log.printk(f"kernel BUG at {site.location}!\n"
                        f"Oops: invalid opcode: 0000 [#1]{self.arch.oops_flags}\n"
                        + self.ctx.dump_stack_header() + "\n"
                        f"{self.arch.ip_line}{site.func}", "bug")
        raise KernelPanic("Fatal exception in interrupt")  # not reached: oops_end() panicked

    def get_vm_area_node(self, size: int, align: int, flags: int, vstart: int, vend: int,
                         gfp: int, caller: str | None, shift: int = PAGE_SHIFT) -> VmStruct | None:
        """__get_vm_area_node(): a vm_struct from kmalloc and an address range."""
        if self.ctx.preempt_count & IRQ_MASKS:  # in_interrupt()
            self._bug_in_interrupt(GET_VM_AREA_NODE_BUG)
        requested_size = size
        size = (size + (1 << shift) - 1) & ~((1 << shift) - 1)
        if size == 0:
            return None
        if flags & VM_IOREMAP:
            order = max(PAGE_SHIFT, min((size - 1).bit_length(), 7 + PAGE_SHIFT))
            align = 1 << order
        kaddr = self._kmalloc(self.arch.sizeof_vm_struct, (gfp & GFP_RECLAIM_MASK) | GFP_ZERO, "__get_vm_area_node")
        if not kaddr:
            return None
        if not flags & VM_NO_GUARD:
            size += PAGE_SIZE
        vm = VmStruct(0, size, flags, caller, requested_size, self.arch.ptr_digits)
        vm.kaddr = kaddr
        va = self.alloc_vmap_area(size, align, vstart, vend, gfp, vm)
        if va is None:
            self._kfree(kaddr)
            return None
        vm.addr = va.va_start
        return vm

    def vmalloc_node_range(self, size: int, align: int, vstart: int, vend: int, gfp: int,
                           vm_flags: int = 0, caller: str | None = None) -> int | None:
        """__vmalloc_node_range_noprof(): reserve, back with pages, map; None on failure."""
        if size <= 0:
            if size == 0:
                self._warn_once(VMALLOC_ZERO_SIZE, ("__vmalloc_node_noprof", caller or "vmalloc_noprof"))
            return None
        if size >> PAGE_SHIFT > self.totalram_pages():
            self.warn_alloc(gfp, f"vmalloc error: size {size}, exceeds total pages", caller)
            return None
        if align <= 0 or align & (align - 1):
            raise KernelFault(f"vmalloc: align {align} is not a power of two")
        real_align = align
        shift = PAGE_SHIFT
        if vm_flags & VM_ALLOW_HUGE_VMAP and size >= (1 << self.arch.pmd_shift):
            # x86_64 has HAVE_ARCH_HUGE_VMALLOC and PMD mappings: try order-9 pages
            shift = self.arch.pmd_shift
            align = max(real_align, (1 << self.arch.pmd_shift))
        ex = self.tracer.explain
        if not ex.on:
            return self._vmalloc_node_range(size, align, real_align, vstart, vend, gfp, vm_flags, caller, shift)
        step = ex.begin("__vmalloc_node_range", size=size, align=align, gfp=format_gfp(gfp), page_shift=shift)
        addr = None
        try:
            addr = self._vmalloc_node_range(size, align, real_align, vstart, vend, gfp, vm_flags, caller, shift)
        finally:
            ex.end(step, "NULL" if addr is None else f"{addr:#x}")
        return addr

    def _vmalloc_node_range(self, size: int, align: int, real_align: int, vstart: int, vend: int, gfp: int,
                            vm_flags: int, caller: str | None, shift: int) -> int | None:
        while True:
            vm = self.get_vm_area_node(size, align, VM_ALLOC | VM_UNINITIALIZED | vm_flags, vstart, vend,
                                       gfp, caller, shift)
            if vm is None:
                nofail = gfp & GFP_NOFAIL
                self.warn_alloc(gfp, f"vmalloc error: size {size}, vm_struct allocation failed"
                                     f"{'. Retrying.' if nofail else ''}", caller)
                return None
            if self._vmalloc_area_node(vm, gfp, shift):
                break
            if shift == PAGE_SHIFT:
                return None
            if self.tracer.explain.on:
                self.tracer.explain.note("__vmalloc_node_range", "huge pages ran out: retry with order-0 pages")
            shift, align = PAGE_SHIFT, real_align  # fall back to small pages in a new area
        vm.flags &= ~VM_UNINITIALIZED  # clear_vm_uninitialized_flag()
        return vm.addr

    def _vmalloc_area_node(self, vm: VmStruct, gfp: int, shift: int = PAGE_SHIFT) -> bool:
        """__vmalloc_area_node(): the pages[] array, then the pages one by one (or order-9
        blocks for a huge mapping)."""
        nr_small_pages = vm.get_vm_area_size() >> PAGE_SHIFT
        array_size = nr_small_pages * self.arch.pointer_size
        nested_gfp = (gfp & GFP_RECLAIM_MASK) | GFP_ZERO
        if not gfp & (GFP_DMA | GFP_DMA32):
            gfp |= GFP_HIGHMEM
        if array_size > PAGE_SIZE:
            pages_addr = self.vmalloc_node_range(array_size, 1, self.vmalloc_start, self.vmalloc_end, nested_gfp,
                                                 0, vm.caller)
            vm.pages_vmalloced = True
        else:
            pages_addr = self._kmalloc(array_size, nested_gfp, "__vmalloc_area_node")
        if not pages_addr:
            self.warn_alloc(gfp, f"vmalloc error: size {nr_small_pages * PAGE_SIZE}, failed to allocated "
                                 f"page array size {array_size}", vm.caller)
            self._free_vm_area(vm)
            return False
        vm.pages_addr = pages_addr
        if shift != PAGE_SHIFT:
            return self._vmalloc_huge_pages(vm, gfp, shift, nr_small_pages)
        page_gfp = gfp | GFP_NOWARN
        pages = vm.pages
        ex = self.tracer.explain
        if ex.on:
            step = ex.begin("vm_area_alloc_pages", nr_pages=nr_small_pages, order=0, gfp=format_gfp(page_gfp))
            try:
                self._vm_area_alloc_pages(page_gfp, nr_small_pages, pages, vm.caller)
            finally:
                ex.end(step, f"{len(pages)} of {nr_small_pages} pages: {_pfn_runs(pages)}")
        else:
            self._vm_area_alloc_pages(page_gfp, nr_small_pages, pages, vm.caller)
        vm.nr_pages = len(pages)
        self.vmstat.nr_vmalloc_pages += vm.nr_pages
        if vm.nr_pages != nr_small_pages:
            self.warn_alloc(gfp, f"vmalloc error: size {vm.nr_pages * PAGE_SIZE}, failed to allocate pages",
                            vm.caller)
            self.vfree(vm.addr)
            return False
        return True

    def _vm_area_alloc_pages(self, gfp: int, nr_pages: int, pages: array[int], caller: str | None) -> None:
        """mm/vmalloc.c: vm_area_alloc_pages for order-0 pages: the bulk allocator in
        requests of at most 100 pages (``nr_pages_request = min(100U, nr_pages -
        nr_allocated)``, to bound the time it runs with the pcp lock held) while each is
        served whole, then the single-page allocator for the rest, page by page, until one
        fails (fatal_signal_pending is never true for the script's task)."""
        page_alloc = self.page_alloc
        owner = self.owner
        while len(pages) < nr_pages:
            request = min(100, nr_pages - len(pages))
            got = page_alloc.alloc_pages_bulk(gfp, request, owner=owner, caller=caller)
            pages.extend(got)
            if len(got) != request:
                break
        alloc = page_alloc.alloc_pages
        append = pages.append
        while len(pages) < nr_pages:
            pfn = alloc(gfp, 0, owner=owner, caller=caller)
            if pfn is None:
                break
            append(pfn)

    def _vmalloc_huge_pages(self, vm: VmStruct, gfp: int, shift: int, nr_small_pages: int) -> bool:
        """vm_area_alloc_pages() with order > 0: whole blocks, no warning when they run out
        (the caller retries with order-0 pages)."""
        order = shift - PAGE_SHIFT
        vm.page_order = order
        page_gfp = (gfp & ~GFP_NOFAIL) | GFP_NOWARN
        pages = vm.pages
        for _ in range(nr_small_pages >> order):
            pfn = self.page_alloc.alloc_pages(page_gfp, order, owner=self.owner, caller=vm.caller)
            if pfn is None:
                break
            pages.extend(range(pfn, pfn + (1 << order)))
        vm.nr_pages = len(pages)
        self.vmstat.nr_vmalloc_pages += vm.nr_pages
        if vm.nr_pages != nr_small_pages:
            self.vfree(vm.addr)
            return False
        return True

    def _free_vm_area(self, vm: VmStruct) -> None:
        """free_vm_area(): remove_vm_area() + kfree() for an area without pages."""
        va = self.busy.get(vm.addr)
        if va is not None and va.vm is vm:
            self.free_vmap_area_noflush(va)
        if vm.kaddr:
            self._kfree(vm.kaddr)

    def _warn_once(self, site: Site, frames: tuple[str, ...] = ()) -> None:
        """WARN_ON_ONCE() at ``site``; ``frames``: its callers, innermost first."""
        key = site.location
        if key in self._warned:
            return
        self._warned.add(key)
        self.ctx.warn(site, frames=frames)  # WARN_ON_ONCE() prints no condition text

    # -- public entry points (kernel names) ---------------------------------------------------
    def vmalloc(self, size: int, caller: str | None = None) -> int | None:
        return self.vmalloc_node_range(size, 1, self.vmalloc_start, self.vmalloc_end, GFP_KERNEL, 0, caller)

    def vzalloc(self, size: int, caller: str | None = None) -> int | None:
        return self.vmalloc_node_range(size, 1, self.vmalloc_start, self.vmalloc_end, GFP_KERNEL | GFP_ZERO, 0, caller)

    def vmalloc_32(self, size: int, caller: str | None = None) -> int | None:
        # GFP_VMALLOC32 = GFP_DMA32 | GFP_KERNEL on 64-bit
        return self.vmalloc_node_range(size, 1, self.vmalloc_start, self.vmalloc_end, GFP_DMA32 | GFP_KERNEL, 0, caller)

    def vmalloc_gfp(self, size: int, gfp: int, align: int = 1, caller: str | None = None) -> int | None:
        """__vmalloc_node(size, align, gfp): the general form."""
        return self.vmalloc_node_range(size, align, self.vmalloc_start, self.vmalloc_end, gfp, 0, caller)

    def find_vm_area(self, addr: int) -> VmStruct | None:
        va = self.busy.get(addr)
        return va.vm if va is not None else None

    def vfree_atomic(self, addr: int) -> None:
        """mm/vmalloc.c: vfree_atomic: llist_add the address to this CPU's vfree_deferred
        list; the first one added to an empty list schedules the CPU's work item, which runs
        from the event queue once the CPU leaves interrupt context (context.py: queue_work)."""
        if not addr:
            return
        cpu = self.ctx.cpu
        pending = self.vfree_deferred[cpu]
        pending.append(addr)
        if len(pending) == 1:   # llist_add: true when the list was empty
            self.ctx.queue_work(f"vfree_deferred/{cpu}", lambda: self._delayed_vfree_work(cpu))

    def _delayed_vfree_work(self, cpu: int) -> None:
        """mm/vmalloc.c: delayed_vfree_work: llist_del_all takes the whole list, newest entry
        first (an llist is a stack), and vfree()s each in process context."""
        pending, self.vfree_deferred[cpu] = self.vfree_deferred[cpu], []
        for addr in reversed(pending):
            self.vfree(addr)

    def vfree(self, addr: int) -> None:
        """vfree(): unmap, lazily free the range, free the pages and the bookkeeping."""
        if self.ctx.preempt_count & IRQ_MASKS:  # in_interrupt()
            self.vfree_atomic(addr)
            return
        self.ctx.might_sleep(VFREE_MIGHT_SLEEP.location, ("vfree",))
        if not addr:
            return
        # remove_vm_area(): WARN(!PAGE_ALIGNED(addr), ...) and NULL, which vfree reports
        # as a nonexistent area too; find_unlink_vmap_area() finds the busy area
        # *containing* addr
        va = None
        if addr & (PAGE_SIZE - 1):
            self.ctx.warn(REMOVE_VM_AREA_BAD_ADDR, f"Trying to vfree() bad address ({addr:0{self.arch.ptr_digits}x})")
        else:
            va = self.busy.get(addr) or self._area_of(addr)
        if va is None or va.vm is None:
            self.ctx.warn(VFREE_NONEXISTENT, f"Trying to vfree() nonexistent vm area ({addr:0{self.arch.ptr_digits}x})")
            return
        vm = va.vm
        ex = self.tracer.explain
        step = ex.begin("vfree", addr=f"{addr:#x}", nr_pages=vm.nr_pages) if ex.on else None
        self.free_vmap_area_noflush(va)
        free = self.page_alloc.free_pages
        order = vm.page_order
        # only pages vmalloc allocated (nr_pages); a vmap()ed area's frames are not ours
        pages = vm.pages if len(vm.pages) == vm.nr_pages else vm.pages[:vm.nr_pages]
        if step is not None:
            ex.note("free_vmap_area_noflush", "the range is freed lazily (purged later, with a TLB flush)",
                    va_start=f"{va.va_start:#x}", va_end=f"{va.va_end:#x}")
        if step is None:
            for pfn in (pages if not order else pages[::1 << order]):
                free(pfn, order)
        else:
            for i, pfn in enumerate(pages if not order else pages[::1 << order]):
                if i == 1:
                    ex.mute(True)
                free(pfn, order)
        if step is not None:
            if len(pages) > 1:
                ex.mute(False)
            ex.end(step, f"{vm.nr_pages} pages back to the page allocator"
                   + (" (decisions shown for the first page)" if len(pages) > 1 else ""))
        self.vmstat.nr_vmalloc_pages -= vm.nr_pages
        if vm.pages_addr:
            if vm.pages_vmalloced:
                self.vfree(vm.pages_addr)
            else:
                self._kfree(vm.pages_addr)
        if vm.kaddr:
            self._kfree(vm.kaddr)
        vm.pages = array("q")
        vm.nr_pages = 0

    # -- vmap() of existing pages (IRQ stacks) and pcpu areas ----------------------------------
    def vmap_area(self, nr_pages: int, flags: int, caller: str | None, gfp: int = GFP_KERNEL) -> VmStruct | None:
        """vmap(): map pages that already exist; only the VA and the vm_struct are new."""
        vm = self.get_vm_area_node(nr_pages * PAGE_SIZE, 1, flags, self.vmalloc_start, self.vmalloc_end, gfp, caller)
        return vm

    def vmap(self, pfns: list[int], flags: int = VM_MAP, caller: str | None = None) -> int | None:
        """vmap(pages, count, VM_MAP, PAGE_KERNEL): map existing pages contiguously.  The
        pages stay owned by whoever allocated them; vm_struct->pages is not set (no
        VM_MAP_PUT_PAGES), so vmallocinfo shows no pages= for the area."""
        if not pfns:
            return None
        vm = self.get_vm_area_node(len(pfns) * PAGE_SIZE, 1, flags, self.vmalloc_start, self.vmalloc_end, GFP_KERNEL,
                                   caller)
        if vm is None:
            return None
        vm.pages = array("q", pfns)  # the page-table entries; nr_pages stays 0
        return vm.addr

    def vunmap(self, addr: int) -> None:
        """vunmap(): remove the mapping (lazily, like vfree) but leave the pages alone."""
        if self.ctx.preempt_count & IRQ_MASKS:
            self._bug_in_interrupt(VUNMAP_BUG)
        self.ctx.might_sleep(VUNMAP_MIGHT_SLEEP.location, ("vunmap",))
        if not addr:
            return
        va = self.busy.get(addr)
        if va is None or va.vm is None:
            self.ctx.warn(VUNMAP_NONEXISTENT, f"Trying to vunmap() nonexistent vm area ({addr:0{self.arch.ptr_digits}x})")
            return
        vm = va.vm
        self.free_vmap_area_noflush(va)
        if vm.kaddr:
            self._kfree(vm.kaddr)
        vm.pages = array("q")

    def pcpu_get_vm_areas(self, size: int, align: int, caller: str = "pcpu_get_vm_areas") -> VmStruct | None:
        """One congruent area for a per-cpu chunk, taken top-down (single group)."""
        vm_end = self.vmalloc_end & ~(align - 1)
        vstart = (self.vmalloc_start + align - 1) & ~(align - 1)
        fs, fe = self._free_start, self._free_end
        for purged in (False, True):
            for i in range(len(fs) - 1, -1, -1):
                top = min(fe[i], vm_end) & ~(align - 1)
                base = top - size
                if base >= fs[i] and base >= vstart:
                    self._clip(i, base, size)
                    kaddr = self._kmalloc(self.arch.sizeof_vm_struct, GFP_KERNEL | GFP_ZERO, "pcpu_get_vm_areas")
                    vm = VmStruct(base, size, VM_ALLOC | VM_NO_GUARD, caller, size, self.arch.ptr_digits)
                    vm.kaddr = kaddr or 0
                    self._insert_busy(VmapArea(base, base + size, vm))
                    self._sync_va_objs(GFP_KERNEL)
                    return vm
            if not purged:
                self.reclaim_and_purge_vmap_areas()
        return None

    def pcpu_free_vm_areas(self, vm: VmStruct) -> None:
        """pcpu_free_vm_areas(): free_vm_area() of a chunk's area (lazily, as the kernel)."""
        self._free_vm_area(vm)

    # -- lookups -----------------------------------------------------------------------------
    def _area_of(self, vaddr: int) -> VmapArea | None:
        last = self._last
        if last is not None and last.va_start <= vaddr < last.va_end:
            return last
        starts = self._busy_starts
        i = bisect_right(starts, vaddr) - 1
        if i < 0:
            return None
        va = self.busy[starts[i]]
        if vaddr >= va.va_end:
            return None
        self._last = va
        return va

    def vmalloc_to_pfn(self, vaddr: int) -> int | None:
        """vmalloc_to_page() as a pfn; None for unmapped addresses (guard pages, holes)."""
        va = self._area_of(vaddr)
        if va is None or va.vm is None:
            return None
        idx = (vaddr - va.va_start) >> PAGE_SHIFT
        pages = va.vm.pages
        if idx >= len(pages):
            return None
        pfn = pages[idx]
        return pfn if pfn >= 0 else None  # -1: an unpopulated page of a per-cpu chunk

    def translate(self, vaddr: int) -> int | None:
        """Physical address behind a vmalloc address (page-table walk); None if unmapped."""
        pfn = self.vmalloc_to_pfn(vaddr)
        if pfn is None:
            return None
        return (pfn << PAGE_SHIFT) | (vaddr & (PAGE_SIZE - 1))

    def area_containing(self, vaddr: int) -> VmStruct | None:
        va = self._area_of(vaddr)
        return va.vm if va is not None else None

    # -- /proc ---------------------------------------------------------------------------------
    def vmallocinfo(self) -> str:
        """/proc/vmallocinfo (mm/vmalloc.c: vmalloc_info_show, show_purge_info)."""
        lines: list[str] = []
        by_node: list[list[VmapArea]] = [[] for _ in range(self.nr_vmap_nodes)]
        for start in self._busy_starts:
            va = self.busy[start]
            by_node[self.addr_to_node_id(start)].append(va)
        for node_list in by_node:
            for va in node_list:
                vm = va.vm
                if vm is None:
                    continue
                s = f"0x{vm.addr:0{self.arch.ptr_digits}x}-0x{vm.addr + vm.size:0{self.arch.ptr_digits}x} {vm.size:7d}"
                if vm.caller:
                    s += f" {vm.caller}"
                if vm.nr_pages:
                    s += f" pages={vm.nr_pages}"
                if vm.phys_addr:
                    s += f" phys=0x{vm.phys_addr:0{self.arch.ptr_digits}x}"
                s += "".join(word for flag, word in _VMALLOCINFO_FLAGS if vm.flags & flag)
                if vm.pages_vmalloced:
                    s += " vpages"
                if vm.nr_pages:
                    s += f" N0={vm.nr_pages}"  # show_numa_info: one node
                lines.append(s)
        for node in self.nodes:
            for va in sorted(node.lazy, key=lambda v: v.va_start):
                lines.append(f"0x{va.va_start:0{self.arch.ptr_digits}x}-0x{va.va_end:0{self.arch.ptr_digits}x} {va.size:7d} unpurged vm_area")
        return "\n".join(lines) + ("\n" if lines else "")

    def vmalloc_used_kb(self) -> int:
        return int(self.vmstat.nr_vmalloc_pages) * (PAGE_SIZE // 1024)

    def vmalloc_total_kb(self) -> int:
        return (self.vmalloc_end - self.vmalloc_start) >> 10

    # -- kvmalloc (mm/util.c: kvmalloc_node_align_noprof) ---------------------------------------
    def kvmalloc(self, size: int, gfp: int, caller: str | None = None) -> int | None:
        kgfp = gfp
        if size > PAGE_SIZE:
            # kmalloc_gfp_adjust(): try a contiguous block without disrupting the system
            kgfp |= GFP_NOWARN
            if not kgfp & GFP_RETRY_MAYFAIL:
                kgfp &= ~GFP_DIRECT_RECLAIM
            kgfp &= ~GFP_NOFAIL
        ret = self._kmalloc(size, kgfp, caller)
        if ret or size <= PAGE_SIZE:
            return ret or None
        if not gfp & GFP_DIRECT_RECLAIM:
            return None  # non-sleeping allocations are not supported by vmalloc
        if size > 0x7FFFFFFF:
            if not gfp & GFP_NOWARN:
                self._warn_once(KVMALLOC_TOO_LARGE, (caller,) if caller else ())
            return None
        # "kvmalloc() can always use VM_ALLOW_HUGE_VMAP" (mm/util.c)
        return self.vmalloc_node_range(size, 1, self.vmalloc_start, self.vmalloc_end, gfp, VM_ALLOW_HUGE_VMAP, caller)

    def vmalloc_huge(self, size: int, gfp: int, caller: str | None = None) -> int | None:
        """vmalloc_huge(): PMD-sized pages when size >= 2 MiB, else (or on failure) small ones."""
        return self.vmalloc_node_range(size, 1, self.vmalloc_start, self.vmalloc_end, gfp, VM_ALLOW_HUGE_VMAP, caller)

    def kvfree(self, addr: int) -> None:
        if self.arch.is_vmalloc_addr(addr):
            self.vfree(addr)
        else:
            self._kfree(addr)
