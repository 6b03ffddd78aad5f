"""Built-ins for the page allocator (mm/page_alloc.c) and the physical memory views.

``p = alloc_pages(GFP_KERNEL, 2)`` returns a struct page handle (``p.pfn``, ``p.order``,
``p.refcount``, ``p.flags`` ...); ``a = __get_free_pages(GFP_KERNEL, 1)`` returns its
direct-map address; ``__free_pages(p, 2)`` / ``free_pages(a, 1)`` give them back.
``zone(Normal).min``, ``nr_free(DMA32, 3)``; ``show buddyinfo``, ``show zoneinfo``,
``show pagetypeinfo``, ``show meminfo``, ``show memmap [zone]``.

Failure is NULL plus the kernel's "page allocation failure" report in the log.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from ...runtime.gfp import GFP_KERNEL
from ...runtime.gfp import __GFP_ZERO as GFP_ZERO_FLAG
from ..include import PICTURE_SUFFIXES
from ...runtime.mm_types import OWNER_KERNEL
from ...runtime.page_state import Page
from ..values import NULL, Ptr, ptr
from .registry import GFP, INT, NAME, PTR, STR, ArgError, Call, builtin, handle, one_of, opt, view

PAGE = handle("page")
ZONE_ARG = one_of(handle("zone"), NAME, STR)


def _page_or_null(call: Call, pfn: int | None) -> Any:
    return NULL if pfn is None else call.machine.page_alloc.allocated_page(pfn)


def _pfn_of(call: Call, page: Any) -> int:
    """A page handle's pfn, or the pfn of an address (PTR arguments arrive as ints)."""
    if isinstance(page, Ptr):
        page = page.addr
    if isinstance(page, int):
        if page == 0:
            raise ArgError("NULL is not a struct page", 0)
        return int(call.machine.page_alloc.virt_to_page(page).pfn)
    return int(page.pfn)


def _order(order: int) -> int:
    if order < 0:
        raise ArgError(f"order {order}: an order is 0..10", 1)
    return order


@builtin("alloc_pages", gfp=GFP, order=INT, category="pages",
         doc="alloc_pages(gfp, order): 2^order physically contiguous pages from the buddy allocator; "
             "returns the first struct page, or NULL after the kernel's failure report")
def _alloc_pages(call: Call, gfp: int, order: int) -> Any:
    # the page allocator's handle directly: this
    # runs once per page a script allocates
    pa = call.machine.page_alloc
    if order < 0:
        _order(order)
    pfn = pa.alloc_pages(gfp, order, OWNER_KERNEL, call.caller)   # (positional: a little faster)
    return NULL if pfn is None else pa.allocated_page(pfn)


@builtin("alloc_page", gfp=opt(GFP, GFP_KERNEL, "GFP_KERNEL"), category="pages",
         doc="alloc_page(gfp): one page (alloc_pages(gfp, 0)); returns a struct page or NULL")
def _alloc_page(call: Call, gfp: int) -> Any:
    return _page_or_null(call, call.machine.page_alloc.alloc_pages(gfp, 0, caller=call.caller))


@builtin("__get_free_pages", gfp=GFP, order=INT, category="pages",
         doc="__get_free_pages(gfp, order): like alloc_pages but returns the direct-map address")
def _get_free_pages(call: Call, gfp: int, order: int) -> Any:
    return ptr(call.machine.page_alloc.get_free_pages(gfp, _order(order), caller=call.caller))


@builtin("__get_free_page", gfp=opt(GFP, GFP_KERNEL, "GFP_KERNEL"), category="pages",
         doc="__get_free_page(gfp): the address of one page (__get_free_pages(gfp, 0))")
def _get_free_page(call: Call, gfp: int) -> Any:
    return ptr(call.machine.page_alloc.get_free_pages(gfp, 0, caller=call.caller))


@builtin("get_free_page", gfp=opt(GFP, GFP_KERNEL, "GFP_KERNEL"), category="pages",
         doc="get_free_page(gfp): same as __get_free_page(gfp)")
def _get_free_page2(call: Call, gfp: int) -> Any:
    return ptr(call.machine.page_alloc.get_free_pages(gfp, 0, caller=call.caller))


@builtin("get_zeroed_page", gfp=opt(GFP, GFP_KERNEL, "GFP_KERNEL"), category="pages",
         doc="get_zeroed_page(gfp): the address of one zero-filled page (gfp | __GFP_ZERO)")
def _get_zeroed_page(call: Call, gfp: int) -> Any:
    return ptr(call.machine.page_alloc.get_free_pages(gfp | GFP_ZERO_FLAG, 0, caller=call.caller))


@builtin("__free_pages", page=one_of(PAGE, PTR), order=INT, category="pages",
         doc="__free_pages(page, order): drop a reference on 2^order pages from alloc_pages; at zero "
             "they go back (orders 0-3 via the per-cpu lists); misuse prints 'BUG: Bad page state'")
def _free_pages_page(call: Call, page: Any, order: int) -> None:
    # (a page handle, the usual argument, without _pfn_of's type tests)
    pfn = page.pfn if page.__class__ is Page else _pfn_of(call, page)
    if order < 0:
        _order(order)
    call.machine.page_alloc.free_pages(pfn, order)


@builtin("__free_page", page=one_of(PAGE, PTR), category="pages", doc="__free_page(page): __free_pages(page, 0)")
def _free_page_page(call: Call, page: Any) -> None:
    call.machine.page_alloc.free_pages(_pfn_of(call, page), 0)


@builtin("free_pages", addr=PTR, order=INT, category="pages",
         doc="free_pages(addr, order): free pages by their direct-map address (free_pages(0) does nothing)")
def _free_pages(call: Call, addr: int, order: int) -> None:
    call.machine.page_alloc.free_pages_addr(addr, _order(order))


@builtin("free_page", addr=PTR, category="pages", doc="free_page(addr): free_pages(addr, 0)")
def _free_page(call: Call, addr: int) -> None:
    call.machine.page_alloc.free_pages_addr(addr, 0)


@builtin("page_address", page=PAGE, category="pages",
         doc="page_address(page): the page's direct-map virtual address (0xffff888000000000 + pfn*4096)")
def _page_address(call: Call, page: Any) -> Any:
    return Ptr(call.machine.highmem.page_address(page.pfn))


@builtin("virt_to_page", addr=PTR, category="pages",
         doc="virt_to_page(addr): the struct page of a direct-map address")
def _virt_to_page(call: Call, addr: int) -> Any:
    return call.machine.page_alloc.virt_to_page(addr)


@builtin("page_to_pfn", page=PAGE, category="pages", doc="page_to_pfn(page): the page frame number")
def _page_to_pfn(call: Call, page: Any) -> int:
    return int(page.pfn)


@builtin("pfn_to_page", pfn=INT, category="pages", doc="pfn_to_page(pfn): the struct page of a page frame")
def _pfn_to_page(call: Call, pfn: int) -> Any:
    return call.machine.page_alloc.pfn_to_page(pfn)


@builtin("virt_to_pfn", addr=PTR, category="pages", doc="virt_to_pfn(addr): __pa(addr) >> PAGE_SHIFT")
def _virt_to_pfn(call: Call, addr: int) -> int:
    return int(call.machine.page_alloc.virt_to_page(addr).pfn)


@builtin("__pa", addr=PTR, category="pages", doc="__pa(addr): physical address of a direct-map address")
def _pa(call: Call, addr: int) -> int:
    return int(call.machine.page_alloc.virt_to_phys(addr))


@builtin("__va", paddr=INT, category="pages", doc="__va(paddr): direct-map address of a physical address")
def _va(call: Call, paddr: int) -> Any:
    return Ptr(call.machine.page_alloc.phys_to_virt(paddr))


@builtin("get_page", page=PAGE, category="pages", doc="get_page(page): take a reference (refcount + 1)")
def _get_page(call: Call, page: Any) -> None:
    call.machine.page_alloc.get_page(page.pfn)


@builtin("put_page", page=PAGE, category="pages",
         doc="put_page(page): drop a reference; the page goes back to the allocator when it reaches 0")
def _put_page(call: Call, page: Any) -> None:
    call.machine.page_alloc.put_page(page.pfn)


@builtin("page_ref_count", page=PAGE, category="pages", doc="page_ref_count(page): the page's refcount")
def _page_ref_count(call: Call, page: Any) -> int:
    return int(page.refcount)


def _zone(call: Call, z: Any) -> Any:
    if isinstance(z, str):
        try:
            return call.machine.page_alloc.zone_by_name(z)
        except Exception as e:
            raise ArgError(getattr(e, "message", str(e)), 0) from None
    return z


@builtin("zone", z=ZONE_ARG, category="pages",
         doc="zone(Normal): the zone's handle: .min .low .high .promo .boost .managed .present .spanned "
             ".nr_free_pages .protection .nr_free (free_area counts) .batch .high_min .high_max .pcp_count")
def _zone_b(call: Call, z: Any) -> Any:
    return _zone(call, z)


@builtin("nr_free", zone=ZONE_ARG, order=INT, category="pages",
         doc="nr_free(zone, order): free blocks of that order in the zone (a /proc/buddyinfo column)")
def free_area_nr(call: Call, zone: Any, order: int) -> int:
    z = _zone(call, zone)
    if not 0 <= order <= 10:
        raise ArgError(f"order {order}: an order is 0..10", 1)
    return int(z.nr_free[order])


@builtin("nr_free_pages", category="pages",
         doc="nr_free_pages(): NR_FREE_PAGES of all zones (buddy lists only; pcp pages are not free)")
def _nr_free_pages(call: Call) -> int:
    return int(call.machine.page_alloc.nr_free_pages())


@builtin("drain_all_pages", category="pages",
         doc="drain_all_pages(): return every CPU's per-cpu page lists to the buddy allocator")
def _drain_all_pages(call: Call) -> None:
    call.machine.page_alloc.drain_all_pages()


@view("buddyinfo", category="pages", doc="show buddyinfo: /proc/buddyinfo, free blocks per order per zone")
def _buddyinfo(call: Call) -> str:
    return str(call.machine.views.page_view("buddyinfo")).rstrip("\n")


@view("zoneinfo", category="pages",
      doc="show zoneinfo: /proc/zoneinfo (watermarks, protection, pagesets, vm stats threshold ...)")
def _zoneinfo(call: Call) -> str:
    return str(call.machine.views.page_view("zoneinfo")).rstrip("\n")


@view("pagetypeinfo", category="pages",
      doc="show pagetypeinfo: /proc/pagetypeinfo, free blocks per migrate type and pageblock counts")
def _pagetypeinfo(call: Call) -> str:
    return str(call.machine.views.page_view("pagetypeinfo")).rstrip("\n")


@view("meminfo", category="pages", doc="show meminfo: /proc/meminfo lines the simulation keeps counters for")
def _meminfo(call: Call) -> str:
    return str(call.machine.views.page_view("meminfo")).rstrip("\n")


@view("memmap", zone=opt(ZONE_ARG, None, "all zones"), image=opt(STR, None, "the text view"), category="pages",
      doc="show memmap [zone] [, \"map.svg\"]: a picture of the page frames (free, pcp, slab, vmalloc, user, "
          "reserved ...); with a file name (.svg, .png, .pdf) an image coloured by owner (free by buddy order, "
          "slab by cache) and pageblock migratetype, with a legend")
def _memmap(call: Call, zone: Any, image: str | None) -> str | None:
    if image is None and isinstance(zone, str) and zone.lower().endswith(PICTURE_SUFFIXES):
        zone, image = None, zone          # show memmap "map.svg"
    name = None if zone is None else _zone(call, zone).name
    if image is not None:
        from ...pictures import memmap_file
        return _picture(call, image, lambda path: memmap_file(call.machine.page_alloc, call.machine.slab, name, path))
    return str(call.machine.views.page_view("memmap", name)).rstrip("\n")


def _picture(call: Call, target: str, write: Callable[[Path], str]) -> str | None:
    """Write a picture where the script may (lang/include.py); without matplotlib a PNG
    or PDF is skipped with a one-line note."""
    from ...plot import PlotUnavailable
    path = call.output_path(target)
    try:
        return write(path)
    except PlotUnavailable as e:
        call.host.note(f"kmscript: note: picture {target!r} skipped: {e}", key="picture-unavailable")
        return None
    except OSError as e:
        raise ArgError(f"cannot write {target!r}: {e.strerror or e}") from None


@builtin("min_free_kbytes", category="pages",
         doc="min_free_kbytes(): the current vm.min_free_kbytes (sqrt rule, raised by THP's khugepaged "
             "recommendation, or the value last written with sysctl)")
def _min_free_kbytes(call: Call) -> int:
    return int(call.machine.sysctls.get("vm.min_free_kbytes"))


@view("page", page=one_of(PAGE, PTR), category="pages",
      doc="show page P: dump_page()'s lines (page:, head:, flags:, page_type:) and the struct page fields "
          "(flags, _refcount, _mapcount, private, mapping, index, virtual); P is a page or an address")
def _show_page(call: Call, page: Any) -> str:
    m = call.machine
    pfn = page.pfn if not isinstance(page, int) else m.page_alloc.virt_to_page(page).pfn
    return str(m.views.show_page(pfn))


# include/linux/highmem-internal.h (!CONFIG_HIGHMEM): the mapping calls of the textbook's
# "High Memory Mappings"; on x86_64 every page is in the direct map.
@builtin("kmap", page=PAGE, category="highmem",
         doc="kmap(page): may sleep (might_sleep), then page_address(page) - every x86_64 page is mapped")
def _kmap(call: Call, page: Any) -> Any:
    return ptr(call.machine.highmem.kmap(page.pfn, call.caller))


@builtin("kunmap", page=PAGE, category="highmem", doc="kunmap(page): nothing to undo on x86_64")
def _kunmap(call: Call, page: Any) -> None:
    call.machine.highmem.kunmap(page.pfn, call.caller)


@builtin("kmap_atomic", page=PAGE, category="highmem",
         doc="kmap_atomic(page): preempt_disable(), pagefault_disable(), page_address(page); "
             "pair with kunmap_atomic(addr)")
def _kmap_atomic(call: Call, page: Any) -> Any:
    return ptr(call.machine.highmem.kmap_atomic(page.pfn))


@builtin("kunmap_atomic", addr=PTR, category="highmem",
         doc="kunmap_atomic(addr): pagefault_enable(), preempt_enable()")
def _kunmap_atomic(call: Call, addr: int) -> None:
    call.machine.highmem.kunmap_atomic(addr)


@builtin("kmap_local_page", page=PAGE, category="highmem",
         doc="kmap_local_page(page): page_address(page) (no state without CONFIG_HIGHMEM); pair with "
             "kunmap_local(addr)")
def _kmap_local_page(call: Call, page: Any) -> Any:
    return ptr(call.machine.highmem.kmap_local_page(page.pfn))


@builtin("kunmap_local", addr=PTR, category="highmem", doc="kunmap_local(addr): nothing to undo on x86_64")
def _kunmap_local(call: Call, addr: int) -> None:
    call.machine.highmem.kunmap_local(addr)


@builtin("pagefault_disabled", category="context",
         doc="pagefault_disabled(): current->pagefault_disabled (kmap_atomic raises it)")
def _pagefault_disabled(call: Call) -> int:
    return int(call.machine.ctx.pagefault_disabled)
