"""The bottom toolbar: live machine state under the prompt.

    DMA ▰▰▰▰▰▰ 15M  DMA32 ▰▰▰▰▰▱ 2.8G  Normal ▰▱▱▱▱▱ 30M <low  │ slab 14M  vmalloc 1.0M
    │ cpu0 task kmscript                                            (one line on screen)

Per zone: a six-cell gauge of free pages over managed pages, the free amount, and a mark
when free pages are below a watermark (``<high``, ``<low``, ``<min``, coloured by how bad).
Then slab and vmalloc totals (from vmstat) and the current CPU and context.

The toolbar is computed once after each entry (not on every key press) and every read is
defensive: a machine without some area, or a handle that raises, shows less, never raises.
"""

from __future__ import annotations

from typing import Any

from .display import Fragments, human_bytes

from ..runtime.mm_types import PAGE_SIZE
CELLS = 6


def _get(obj: Any, name: str, default: Any = None) -> Any:
    try:
        v = getattr(obj, name, default)
        return v() if callable(v) else v
    except Exception:
        return default


def zone_fragments(z: Any) -> Fragments:
    name = _get(z, "name", "?")
    managed = _get(z, "managed_pages", None)
    if managed is None:
        managed = _get(z, "managed", 0)
    if not isinstance(managed, int) or managed <= 0:
        return []
    free = _get(z, "nr_free_pages", None)
    if free is None:
        free = _get(z, "free_pages", 0)
    if not isinstance(free, int):
        return []
    wmin, wlow, whigh = (_get(z, "min", 0), _get(z, "low", 0), _get(z, "high", 0))
    state, mark = "ok", ""
    if isinstance(whigh, int) and free < whigh:
        state, mark = "high", " <high"
    if isinstance(wlow, int) and free < wlow:
        state, mark = "low", " <low"
    if isinstance(wmin, int) and free < wmin:
        state, mark = "min", " <min"
    filled = max(0, min(CELLS, round(CELLS * free / managed)))
    if free > 0 and filled == 0:
        filled = 1 if free >= (wlow if isinstance(wlow, int) else 0) else 0
    gauge = "▰" * filled + "▱" * (CELLS - filled)
    return [("class:toolbar.label", f"{name} "), (f"class:toolbar.{state}", gauge),
            ("", f" {human_bytes(free * PAGE_SIZE)}"), (f"class:toolbar.{state}", mark), ("", "  ")]


def toolbar_fragments(session: Any) -> Fragments:
    """The toolbar for *session*'s machine; never raises."""
    try:
        return _toolbar(session)
    except Exception:
        return [("class:toolbar.dim", " (machine state unavailable)")]


def _toolbar(session: Any) -> Fragments:
    if not session.has_machine:
        return [("class:toolbar.dim", " no machine yet: the first statement boots the default one "
                                      "(or machine(mem=2G, cpus=2)) ;  :help for help")]
    m = session.machine
    out: Fragments = [("", " ")]
    pa = getattr(m, "page_alloc", None)
    zones = _get(pa, "zones", None) or []
    for z in zones:
        try:
            out += zone_fragments(z)
        except Exception:
            continue
    vm = getattr(m, "vmstat", None)
    extra: Fragments = []
    slab_b = (_get(vm, "nr_slab_reclaimable_b", 0) or 0) + (_get(vm, "nr_slab_unreclaimable_b", 0) or 0)
    if vm is not None:
        extra += [("class:toolbar.label", "slab "), ("", human_bytes(int(slab_b)) + "  ")]
        vpages = _get(vm, "nr_vmalloc_pages", 0) or 0
        extra += [("class:toolbar.label", "vmalloc "), ("", human_bytes(int(vpages) * PAGE_SIZE))]
    if extra:
        out += [("class:toolbar.dim", "│ ")] + extra + [("", "  ")]
    ctx = getattr(m, "ctx", None)
    if ctx is not None:
        cpu = _get(ctx, "cpu", 0)
        if _get(ctx, "in_irq", False):
            where = "hardirq"
        elif _get(ctx, "in_interrupt", False):
            where = "softirq"
        elif _get(ctx, "in_atomic", False):
            where = "atomic"
        else:
            where = "task"
        comm = _get(_get(ctx, "current", None), "comm", None)
        out += [("class:toolbar.dim", "│ "), ("class:toolbar.label", f"cpu{cpu} "),
                ("", where + (f" {comm}" if comm and where == "task" else ""))]
    return out
