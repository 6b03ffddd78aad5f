"""Kernel reports of the page allocator: bad_page, warn_alloc, WARN_ON and show_mem.

What it models: mm/page_alloc.c bad_page/free_page_is_bad reports, warn_alloc's
"page allocation failure" banner, the WARN_ON_ONCE of the allocation paths, and
mm/show_mem.c's __show_mem (the Mem-Info block and per-zone lines printed after an
allocation failure or by the OOM killer), in the kernel's own text.

Invariant: a report never changes allocator state except the taint flags it sets.
"""

from __future__ import annotations

from .bug_sites import Site
from .buddy import K_BUDDY, K_NONE, K_PCP, K_RESERVED, TAIL
from .errors import KernelFault
from .gfp import __GFP_NOWARN, format_gfp_pGg
from .page_state import PageState

# __GFP_* names are mangled inside a class body: module-level aliases
_GFP_NOWARN = __GFP_NOWARN


class ShowMem(PageState):
    """Reports of the page allocator in the kernel's own text (mm/show_mem.c)."""

    # =====================================================================================
    # Kernel reports
    # =====================================================================================
    def _bad_free(self, pfn: int, order: int, b: int) -> None:
        kind = b >> 4
        if b == K_NONE:
            st = self.page_state(pfn)[0]
            if st == "absent":
                raise KernelFault(f"pfn {pfn:#x} is in a memory hole: there is no struct page to free")
            if st == "reserved":
                self.bad_page(pfn, "PAGE_FLAGS_CHECK_AT_FREE flag(s) set", "__free_pages", flags="reserved")
            else:
                self.bad_page(pfn, "nonzero mapcount", "__free_pages", mapcount=-128)
            return
        if kind >= K_BUDDY:
            # already free: PageBuddy's page_type overlays _mapcount (double free)
            self.bad_page(pfn, "nonzero mapcount", "__free_pages", mapcount=-128)
        elif kind == K_PCP:
            # already freed onto a pcp list: its refcount is 0, put_page_testzero underflows
            self.bad_page(pfn, "nonzero _refcount", "__free_pages", refcount=-1)
        elif kind == K_RESERVED:
            self.bad_page(pfn, "PAGE_FLAGS_CHECK_AT_FREE flag(s) set", "__free_pages", flags="reserved")
        elif b & TAIL == TAIL:
            self.bad_page(pfn, "nonzero _refcount", "__free_pages", refcount=0,
                          note="not the first page of its block")
        else:
            alloc_order = b & TAIL
            if pfn in self.compound:
                reason = "VM_BUG_ON_PAGE(compound && compound_order(page) != order)"
            else:
                reason = f"freed with order {order}, allocated with order {alloc_order}"
            self.bad_page(pfn, reason, "__free_pages", order=alloc_order)

    def bad_page(self, pfn: int, reason: str, where: str, *, refcount: int | None = None,
                 mapcount: int = 0, flags: str | None = None, order: int | None = None,
                 note: str | None = None) -> None:
        """mm/page_alloc.c: bad_page -> dump_page: "BUG: Bad page state in process ..."."""
        task = self.ctx.current
        zone = self.zone_of(pfn)
        zidx = zone.idx if zone else 0
        rc = self.page_ref_count(pfn) if refcount is None else refcount
        fl = flags if flags is not None else self.page_flags(pfn)
        lines = [
            f"BUG: Bad page state in process {task.comm}  pfn:{pfn:05x}",
            f"page: refcount:{rc} mapcount:{mapcount} mapping:{0:0{self.arch.ptr_digits}x} index:0x0 pfn:{pfn:#x}",
        ]
        if order is not None and order > 0:
            lines.append(f"head: order:{order} mapcount:0 entire_mapcount:0 nr_pages_mapped:0 pincount:0")
        lines += [
            f"flags: {fl}(node=0|zone={zidx})",
            f"page dumped because: {reason}" + (f" ({note})" if note else ""),
            self.ctx.dump_stack_header(),
            "Call Trace:",
            " <TASK>",
            " dump_stack_lvl",
            " bad_page",
            " free_frozen_pages" if where == "__free_pages" else f" {where}",
            f" {where}" if where == "__free_pages" else " kmscript",
            " </TASK>",
        ]
        self.log.printk("\n".join(lines), "bug")
        self.ctx.add_taint("B")   # add_taint(TAINT_BAD_PAGE) after the dump

    def _warn_on(self, site: Site, caller: str | None, once_key: str | None = None) -> None:
        """A WARN_ON report (kernel/panic.c: __warn) at ``site`` of mm/page_alloc.c."""
        if once_key is not None:
            if once_key in self._warned_keys:
                return
            self._warned_keys.add(once_key)
        lines = ["------------[ cut here ]------------"]
        lines += self.ctx.warn_report(site, ("alloc_pages_mpol", caller or "kmscript"))
        self.log.printk("\n".join(lines), "warn")
        self.ctx.add_taint("W")   # __warn: add_taint(TAINT_WARN)

    def warn_alloc(self, gfp: int, text: str, frames: tuple[str, ...]) -> None:
        """mm/page_alloc.c: warn_alloc(gfp, NULL, text): nothing with __GFP_NOWARN or when
        ``nopage_rs`` (DEFINE_RATELIMIT_STATE(nopage_rs, 10*HZ, 1), shared by every caller:
        the page allocator's slow path and vmalloc's errors) says no; else the
        ``comm: text, mode:...`` line, dump_stack (``frames``: warn_alloc's callers,
        innermost first) and warn_alloc_show_mem's Mem-Info block."""
        if gfp & _GFP_NOWARN:
            return
        task = self.ctx.current
        mode = f"{gfp:#x}" if gfp else "0"   # %#x
        lines = [f"{task.comm}: {text}, mode:{mode}({format_gfp_pGg(gfp)}), "
                 "nodemask=(null),cpuset=/,mems_allowed=0"]
        if not self.nopage_rs("warn_alloc"):
            self.log.suppress(lines[0], "alloc_fail")
            return
        lines += self.ctx.dump_stack(("dump_stack_lvl", "warn_alloc") + frames)
        # warn_alloc_show_mem -> __show_mem: the same Mem-Info block as the OOM report,
        # computed by the layer that keeps the LRU lists (oom.show_mem, connected with
        # install_show_mem); a page allocator used without those layers prints none
        if self.show_mem is not None:
            lines += self.show_mem(self.zt.gfp_zone(gfp))
        self.log.printk("\n".join(lines), "alloc_fail")

