"""Built-ins for vmalloc (mm/vmalloc.c) and kvmalloc (mm/util.c).

``p = vmalloc(1M)``; ``vfree(p)``; ``vmalloc_to_page(p + 4096)``; ``kvmalloc(64K)``;
``show vmallocinfo``.  Every allocation's vmallocinfo caller is the script line
(``file.kms:12``), as the kernel shows the calling function.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ...runtime.gfp import GFP_KERNEL
from ...runtime.gfp import __GFP_ZERO as GFP_ZERO_FLAG
from ...runtime.limits import PAGE_WORK
from ...runtime.mm_types import PAGE_SHIFT
from ..values import NULL, ptr, type_name
from .registry import GFP, INT, LIST, PTR, SIZE, ArgError, Call, builtin, opt, view

if TYPE_CHECKING:
    from ...runtime.machine import Machine


def _area(call: Call, size: int) -> Machine:
    """The machine, once the script has paid the work meter for populating a vmalloc area
    of *size* bytes, before any of it is done (a stop then leaves nothing half-built).
    Beyond totalram the kernel refuses at once ("exceeds total pages"): nothing to charge."""
    m = call.machine
    pages = size >> PAGE_SHIFT
    if 0 < pages <= m.page_alloc.totalram_pages:
        m.meter.charge(pages * PAGE_WORK)
    return m


@builtin("vmalloc", size=SIZE, category="vmalloc",
         doc="vmalloc(size): virtually contiguous memory from scattered order-0 pages (GFP_KERNEL); "
             "the area gets a guard page; may sleep")
def _vmalloc(call: Call, size: int) -> Any:
    return ptr(_area(call, size).vmalloc.vmalloc_gfp(size, GFP_KERNEL, 1, call.caller))


@builtin("vzalloc", size=SIZE, category="vmalloc",
         doc="vzalloc(size): vmalloc with __GFP_ZERO (zeroed pages)")
def _vzalloc(call: Call, size: int) -> Any:
    return ptr(_area(call, size).vmalloc.vmalloc_gfp(size, GFP_KERNEL | GFP_ZERO_FLAG, 1, call.caller))


@builtin("vmalloc_32", size=SIZE, category="vmalloc",
         doc="vmalloc_32(size): vmalloc whose pages lie below 4 GiB (GFP_DMA32 | GFP_KERNEL)")
def _vmalloc_32(call: Call, size: int) -> Any:
    return ptr(_area(call, size).vmalloc.vmalloc_32(size, call.caller))


@builtin("__vmalloc", size=SIZE, gfp=GFP, align=opt(INT, 1), category="vmalloc",
         doc="__vmalloc(size, gfp, align=1): vmalloc with explicit GFP flags and alignment (__vmalloc_node)")
def _vmalloc_gfp(call: Call, size: int, gfp: int, align: int) -> Any:
    return ptr(_area(call, size).vmalloc.vmalloc_gfp(size, gfp, align, call.caller))


@builtin("vfree", p=PTR, category="vmalloc",
         doc="vfree(p): free a vmalloc area: pages go back at once, the address range only after "
             "the lazy purge (lazy_max_pages); vfree(NULL) does nothing")
def _vfree(call: Call, p: int) -> None:
    call.machine.vmalloc.vfree(p)


@builtin("vmalloc_to_page", p=PTR, category="vmalloc",
         doc="vmalloc_to_page(p): the struct page mapped at vmalloc address p (NULL for a guard page)")
def _vmalloc_to_page(call: Call, p: int) -> Any:
    m = call.machine
    pfn = m.vmalloc.vmalloc_to_pfn(p)
    return NULL if pfn is None else m.page_alloc.pfn_to_page(pfn)


@builtin("vmalloc_to_pfn", p=PTR, category="vmalloc",
         doc="vmalloc_to_pfn(p): the page frame number mapped at vmalloc address p (-1 if unmapped)")
def _vmalloc_to_pfn(call: Call, p: int) -> int:
    pfn = call.machine.vmalloc.vmalloc_to_pfn(p)
    return -1 if pfn is None else pfn


@builtin("is_vmalloc_addr", p=PTR, category="vmalloc",
         doc="is_vmalloc_addr(p): true if p lies in VMALLOC_START..VMALLOC_END")
def _is_vmalloc_addr(call: Call, p: int) -> bool:
    return call.machine.arch.is_vmalloc_addr(p)


@builtin("find_vm_area", p=PTR, category="vmalloc",
         doc="find_vm_area(p): the vm_struct of the area containing p (addr, size incl. guard, "
             "nr_pages, caller), or NULL")
def _find_vm_area(call: Call, p: int) -> Any:
    vm = call.machine.vmalloc.area_containing(p)
    return NULL if vm is None else vm


@builtin("kvmalloc", size=SIZE, gfp=opt(GFP, GFP_KERNEL, "GFP_KERNEL"), category="vmalloc",
         doc="kvmalloc(size, gfp): kmalloc first (above a page: +__GFP_NOWARN, no direct reclaim, "
             "no __GFP_NOFAIL), then fall back to vmalloc")
def _kvmalloc(call: Call, size: int, gfp: int) -> Any:
    return ptr(_area(call, size).vmalloc.kvmalloc(size, gfp, call.caller))


@builtin("kvzalloc", size=SIZE, gfp=opt(GFP, GFP_KERNEL, "GFP_KERNEL"), category="vmalloc",
         doc="kvzalloc(size, gfp): kvmalloc with __GFP_ZERO")
def _kvzalloc(call: Call, size: int, gfp: int) -> Any:
    return ptr(_area(call, size).vmalloc.kvmalloc(size, gfp | GFP_ZERO_FLAG, call.caller))


@builtin("kvfree", p=PTR, category="vmalloc",
         doc="kvfree(p): vfree if p is a vmalloc address, else kfree")
def _kvfree(call: Call, p: int) -> None:
    call.machine.vmalloc.kvfree(p)


@builtin("purge_vmap_area_lazy", category="vmalloc",
         doc="purge_vmap_area_lazy(): purge the lazily freed vmalloc ranges now (one TLB flush); "
             "returns how many areas were purged")
def _purge(call: Call) -> int:
    return call.machine.vmalloc.purge_vmap_area_lazy()


@view("vmallocinfo", category="vmalloc",
      doc="show vmallocinfo: /proc/vmallocinfo (start-end size caller pages= flags N0=; "
          "lazily freed ranges as 'unpurged vm_area'; addresses unhashed as for root with kptr_restrict=1)")
def _vmallocinfo(call: Call) -> str:
    return call.machine.vmalloc.vmallocinfo().rstrip("\n")


@builtin("vmalloc_huge", size=SIZE, gfp=opt(GFP, GFP_KERNEL, "GFP_KERNEL"), category="vmalloc",
         doc="vmalloc_huge(size, gfp): vmalloc that maps 2 MiB pages (order-9 blocks, 2 MiB-aligned "
             "area) when size >= 2 MiB, falling back to 4K pages")
def _vmalloc_huge(call: Call, size: int, gfp: int) -> Any:
    return ptr(_area(call, size).vmalloc.vmalloc_huge(size, gfp, call.caller))


@builtin("vmap", pages=LIST, category="vmalloc",
         doc="vmap(pages): map existing pages (a list of page handles or pfns) at one contiguous "
             "vmalloc range (VM_MAP, guard page); the pages stay the caller's")
def _vmap(call: Call, pages: list[Any]) -> Any:
    pfns: list[int] = []
    for p in pages:
        if isinstance(p, int) and not isinstance(p, bool):
            pfns.append(p)
        elif type_name(p) == "page":
            pfns.append(p.pfn)
        else:
            raise ArgError("vmap(): 'pages' must be a list of pages or page frame numbers")
    m = call.machine
    m.meter.charge(len(pfns) * PAGE_WORK)
    return ptr(m.vmalloc.vmap(pfns, caller=call.caller))


@builtin("vunmap", p=PTR, category="vmalloc",
         doc="vunmap(p): remove a vmap() mapping (the range is freed lazily); the pages are not freed")
def _vunmap(call: Call, p: int) -> None:
    call.machine.vmalloc.vunmap(p)
