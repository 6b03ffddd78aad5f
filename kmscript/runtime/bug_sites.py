"""Where the kernel's WARN/BUG/might_sleep checks sit: the ``FILE:LINE`` that reports print.

``WARNING: CPU: N PID: P at FILE:LINE FUNC+off/size`` (kernel/panic.c: __warn), ``kernel
BUG at FILE:LINE!`` (lib/bug.c: report_bug) and ``BUG: sleeping function called from invalid
context at FILE:LINE`` (kernel/sched/core.c: __might_resched) print the ``__FILE__`` and
``__LINE__`` of the check, recorded by the WARN/BUG macro in the __bug_table entry or passed
by might_sleep().  Tools that read kernel logs (syzkaller's report parser, a human with the
source) go from that to the check, so the simulator prints the real place.

The numbers are taken from the v6.18.15 sources (the kernel.org tarball as Debian's
``linux_6.18.15.orig.tar.xz``), the newest 6.18 source this project could read; the
reference machine runs 6.18.44, whose stable patches may move a line by a few if one
touched the file above it.  For a macro invocation written over several lines (``WARN(cond,
"fmt",\\n args)``) the line is the one the macro name is on, as GCC and Clang expand
``__LINE__`` there (checked with GCC 12).

``func`` is the function the report names after ``at FILE:LINE`` and on the ``RIP:`` line:
the C function containing the check, except where that is a small ``static inline`` helper
that the compiler folds into its caller (virt_to_cache, cache_from_obj, set_freepointer), in
which case it is the caller the simulated path comes from.  The ``+off/size`` the kernel
adds (%pS) belongs to one build's machine code and is not modelled: the function is printed
bare, the same fixed, documented placeholder the Call Trace frames use (dumpstack.py).

Invariant: every WARN/BUG/might_sleep report the runtime prints about a kernel check names
one of these sites; a check the simulator models without a site here is a bug.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Site:
    """One check in the kernel sources: its file, line and the function the report names."""
    file: str
    line: int
    func: str

    @property
    def location(self) -> str:
        """``FILE:LINE`` as the reports print it."""
        return f"{self.file}:{self.line}"


# -- mm/page_alloc.c ------------------------------------------------------------------------
# __alloc_frozen_pages_noprof: WARN_ON_ONCE_GFP(order > MAX_PAGE_ORDER, gfp)
ALLOC_ORDER_TOO_LARGE = Site("mm/page_alloc.c", 5187, "__alloc_frozen_pages_noprof")
# __alloc_pages_slowpath, on entry for __GFP_NOFAIL: WARN_ON_ONCE(order > 1) and
# WARN_ON_ONCE(!can_direct_reclaim)
SLOWPATH_NOFAIL_ORDER = Site("mm/page_alloc.c", 4682, "__alloc_pages_slowpath")
SLOWPATH_NOFAIL_NOBLOCK = Site("mm/page_alloc.c", 4687, "__alloc_pages_slowpath")

# -- mm/slub.c ------------------------------------------------------------------------------
# set_freepointer (CONFIG_SLAB_FREELIST_HARDENED): BUG_ON(object == fp); inlined into the
# free path, so the RIP names the freeing function (kfree / kmem_cache_free)
SET_FREEPOINTER_BUG = Site("mm/slub.c", 634, "set_freepointer")
# new_slab: WARN_ON_ONCE(s->ctor && (flags & __GFP_ZERO))
NEW_SLAB_CTOR_ZERO = Site("mm/slub.c", 3284, "new_slab")
# object_err and __slab_err: WARN_ON(1) after a SLUB debug report
OBJECT_ERR_WARN = Site("mm/slub.c", 1232, "object_err")
SLAB_ERR_WARN = Site("mm/slub.c", 1257, "__slab_err")
# virt_to_cache: WARN_ONCE(!slab, "%s: Object is not a Slab page!\n", __func__), inlined
# into kmem_cache_free
VIRT_TO_CACHE_WARN = Site("mm/slub.c", 6752, "kmem_cache_free")
# cache_from_obj: WARN(cachep && cachep != s, "%s: Wrong slab cache. ..."), inlined into
# kmem_cache_free
CACHE_FROM_OBJ_WARN = Site("mm/slub.c", 6766, "kmem_cache_free")
# free_large_kmalloc: WARN_ON_ONCE(!folio_test_large_kmalloc(folio))
FREE_LARGE_KMALLOC_WARN = Site("mm/slub.c", 6795, "free_large_kmalloc")
# __kvmalloc_node_noprof: WARN_ON_ONCE(!(flags & __GFP_NOWARN)) for size > INT_MAX
KVMALLOC_TOO_LARGE = Site("mm/slub.c", 7159, "__kvmalloc_node_noprof")

# -- mm/slab_common.c -----------------------------------------------------------------------
# kmem_cache_destroy: WARN(err, "%s %s: Slab cache still has objects when called from %pS")
KMEM_CACHE_DESTROY_BUSY = Site("mm/slab_common.c", 531, "kmem_cache_destroy")
# __ksize of a non-slab folio: WARN_ON(folio_size(folio) <= KMALLOC_MAX_CACHE_SIZE), then
# WARN_ON(object != folio_address(folio))
KSIZE_NOT_KMALLOC = Site("mm/slab_common.c", 1008, "__ksize")
KSIZE_NOT_FOLIO_START = Site("mm/slab_common.c", 1010, "__ksize")

# -- mm/vmalloc.c ---------------------------------------------------------------------------
# alloc_vmap_area: might_sleep()
ALLOC_VMAP_AREA_MIGHT_SLEEP = Site("mm/vmalloc.c", 2031, "alloc_vmap_area")
# __get_vm_area_node: BUG_ON(in_interrupt())
GET_VM_AREA_NODE_BUG = Site("mm/vmalloc.c", 3173, "__get_vm_area_node")
# remove_vm_area: WARN(!PAGE_ALIGNED(addr), "Trying to vfree() bad address (%p)\n", addr)
REMOVE_VM_AREA_BAD_ADDR = Site("mm/vmalloc.c", 3287, "remove_vm_area")
# vfree (outside interrupts): might_sleep(), then WARN(1, KERN_ERR "Trying to vfree()
# nonexistent vm area (%p)\n", addr) when remove_vm_area() finds none
VFREE_MIGHT_SLEEP = Site("mm/vmalloc.c", 3415, "vfree")
VFREE_NONEXISTENT = Site("mm/vmalloc.c", 3422, "vfree")
# vunmap: BUG_ON(in_interrupt()), might_sleep(), then WARN(1, "Trying to vunmap()
# nonexistent vm area ...")
VUNMAP_BUG = Site("mm/vmalloc.c", 3463, "vunmap")
VUNMAP_MIGHT_SLEEP = Site("mm/vmalloc.c", 3464, "vunmap")
VUNMAP_NONEXISTENT = Site("mm/vmalloc.c", 3470, "vunmap")
# __vmalloc_node_range_noprof: WARN_ON_ONCE(!size)
VMALLOC_ZERO_SIZE = Site("mm/vmalloc.c", 3830, "__vmalloc_node_range_noprof")

# -- mm/percpu.c ----------------------------------------------------------------------------
# pcpu_alloc_noprof: WARN(do_warn, "illegal size (%zu) or align (%zu) for percpu allocation\n")
PCPU_ILLEGAL_SIZE = Site("mm/percpu.c", 1766, "pcpu_alloc_noprof")

# -- include/linux --------------------------------------------------------------------------
# might_alloc(): might_sleep_if(gfpflags_allow_blocking(gfp_mask)) (include/linux/sched/mm.h)
MIGHT_ALLOC = Site("include/linux/sched/mm.h", 321, "might_alloc")
# kmap() without CONFIG_HIGHMEM: might_sleep() (include/linux/highmem-internal.h)
KMAP_MIGHT_SLEEP = Site("include/linux/highmem-internal.h", 172, "kmap")

# -- CONFIG_HIGHMEM (i386): include/linux/highmem-internal.h and mm/highmem.c ---------------
# First read in a 6.16-era tree; every line below was checked against v6.18.15 and is the
# same there.
# kmap() with CONFIG_HIGHMEM: might_sleep(); kunmap(): might_sleep()
KMAP_HIGHMEM_MIGHT_SLEEP = Site("include/linux/highmem-internal.h", 44, "kmap")
KUNMAP_HIGHMEM_MIGHT_SLEEP = Site("include/linux/highmem-internal.h", 55, "kunmap")
# kunmap_high: BUG_ON(!vaddr) (the page is not kmapped), then BUG() when --pkmap_count[nr]
# reaches 0 ("A count must never go down to zero without a TLB flush!")
KUNMAP_HIGH_NOT_MAPPED = Site("mm/highmem.c", 370, "kunmap_high")
KUNMAP_HIGH_COUNT_ZERO = Site("mm/highmem.c", 380, "kunmap_high")
# kmap_local_idx_push: BUG_ON(current->kmap_ctrl.idx >= KM_MAX_IDX), inlined into
# __kmap_local_pfn_prot; kmap_local_idx_pop: BUG_ON(idx < 0), inlined into kunmap_local_indexed
KMAP_LOCAL_PUSH_OVERFLOW = Site("mm/highmem.c", 479, "__kmap_local_pfn_prot")
KMAP_LOCAL_POP_UNDERFLOW = Site("mm/highmem.c", 491, "kunmap_local_indexed")
# kunmap_local_indexed: WARN_ON_ONCE(addr < PAGE_OFFSET) for an address outside the kmap_local
# slots, WARN_ON_ONCE(addr != __fix_to_virt(FIX_KMAP_BEGIN + idx)) - not the top slot (LIFO)
KUNMAP_LOCAL_USER_ADDR = Site("mm/highmem.c", 616, "kunmap_local_indexed")
KUNMAP_LOCAL_NOT_TOP = Site("mm/highmem.c", 622, "kunmap_local_indexed")
