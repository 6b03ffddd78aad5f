"""The bottom toolbar: live machine state under the prompt.

    DMA ▰▰▰▰▰▰ 15M  DMA32 ▰▰▰▰▰▱ 2.8G  Normal ▰▱▱▱▱▱ 30M <low  │ slab 14M  vmalloc 1.0M
    │ cpu0 task kmscript                                            (one line on screen)

Per zone: a six-cell gauge of free pages over managed pages, the free amount, and a mark
when free pages are below a watermark (``<high``, ``<low``, ``<min``, coloured by how bad).
Then slab and vmalloc totals (from vmstat) and the current CPU and context.

The toolbar is computed once after each entry (not on every key press) from the
machine's page allocator, vmstat and execution context; ``toolbar_fragments`` never
raises (a machine that cannot be read shows a dim note instead).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .display import Fragments, human_bytes

from ..runtime.mm_types import PAGE_SIZE

if TYPE_CHECKING:
    from ..runtime.zone import Zone
    from ..session import Session

CELLS = 6


def zone_fragments(z: Zone) -> Fragments:
    managed = z.managed_pages
    if managed <= 0:
        return []
    free = z.nr_free_pages
    state, mark = "ok", ""
    if free < z.high:
        state, mark = "high", " <high"
    if free < z.low:
        state, mark = "low", " <low"
    if free < z.min:
        state, mark = "min", " <min"
    filled = max(0, min(CELLS, round(CELLS * free / managed)))
    if free > 0 and filled == 0:
        filled = 1 if free >= z.low else 0
    gauge = "▰" * filled + "▱" * (CELLS - filled)
    return [("class:toolbar.label", f"{z.name} "), (f"class:toolbar.{state}", gauge),
            ("", f" {human_bytes(free * PAGE_SIZE)}"), (f"class:toolbar.{state}", mark), ("", "  ")]


def toolbar_fragments(session: Session) -> Fragments:
    """The toolbar for *session*'s machine; never raises."""
    try:
        return _toolbar(session)
    except Exception:
        return [("class:toolbar.dim", " (machine state unavailable)")]


def _toolbar(session: Session) -> Fragments:
    if not session.has_machine:
        return [("class:toolbar.dim", " no machine yet: the first statement boots the default one "
                                      "(or machine(mem=2G, cpus=2)) ;  :help for help")]
    m = session.machine
    out: Fragments = [("", " ")]
    for z in m.page_alloc.zones:
        out += zone_fragments(z)
    vm = m.vmstat
    slab_b = vm.nr_slab_reclaimable_b + vm.nr_slab_unreclaimable_b
    out += [("class:toolbar.dim", "│ "), ("class:toolbar.label", "slab "), ("", human_bytes(slab_b) + "  "),
            ("class:toolbar.label", "vmalloc "), ("", human_bytes(vm.nr_vmalloc_pages * PAGE_SIZE)), ("", "  ")]
    ctx = m.ctx
    if ctx.in_irq():
        where = "hardirq"
    elif ctx.in_interrupt():
        where = "softirq"
    elif ctx.in_atomic():
        where = "atomic"
    else:
        where = "task"
    comm = ctx.current.comm
    out += [("class:toolbar.dim", "│ "), ("class:toolbar.label", f"cpu{ctx.cpu} "),
            ("", where + (f" {comm}" if comm and where == "task" else ""))]
    return out
