"""Pictures of memory: the page frames of each zone coloured by owner and migratetype
(``show memmap "map.svg"``) and the slabs and objects of a cache (``show slab C, "s.svg"``).

A picture is first a list of coloured rectangles and text lines in pixel coordinates
(:class:`Picture`); SVG is written from it here with the standard library (every cell
carries ``data-*`` attributes and a tooltip naming its pfn range, owner and
migratetype), PNG by kmscript/plot.py with matplotlib (the plot extra) from the same
rectangles, so both formats show the same picture.

Memmap: one cell per run of frames (runtime/frames.py), 64 to a row; the cell's body is
its owner's colour (free memory in greens by buddy order, slab pages by cache), the strip
along its bottom the pageblock's migratetype.  Slab: one row per slab, one box per
object (allocated, free on the cpu freelist, free, lost), the slab's list on the left.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

from .runtime.frames import ZoneFrames, frame_map
from .runtime.kmalloc import slab_rows
from .runtime.page_alloc import PageAllocator
from .runtime.slab import SlabAllocator
from .runtime.slab_types import KmemCache

OWNER_COLOURS = {
    "pcp": "#fdd0a2", "kernel": "#636363", "vmalloc": "#1f77b4", "user": "#17becf", "file": "#ffd92f",
    "pagetable": "#a6761d", "kstack": "#e7298a", "percpu": "#7570b3", "reserved": "#252525", "hole": "#ffffff",
}
OWNER_LABELS = {
    "pcp": "per-cpu page lists", "kernel": "kernel (alloc_pages)", "vmalloc": "vmalloc", "user": "anonymous (user)",
    "file": "page cache", "pagetable": "page tables", "kstack": "kernel stacks", "percpu": "per-cpu chunks",
    "reserved": "reserved", "hole": "hole",
}
# free memory: light (order 0) to dark (order 10) green
FREE_COLOURS = ("#e5f5e0", "#d3eecd", "#c0e6b9", "#a7dba0", "#8ace88", "#6bbf6f", "#4caf5c", "#329b4b",
                "#1d8640", "#0a6e32", "#00441b")
SLAB_COLOURS = ("#d62728", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#bcbd22", "#ff9896", "#c49c94",
                "#f7b6d2", "#dbdb8d")
SLAB_OTHER = "#ad494a"
MT_COLOURS = {"Unmovable": "#e41a1c", "Movable": "#377eb8", "Reclaimable": "#ff7f00", "HighAtomic": "#984ea3",
              "Isolate": "#000000"}
OBJECT_COLOURS = {"allocated": "#d62728", "free(cpu)": "#ffbb78", "free": "#e5f5e0", "lost": "#7f7f7f"}
OBJECT_LABELS = {"allocated": "allocated", "free(cpu)": "free, on the cpu freelist", "free": "free (slab freelist)",
                 "lost": "lost (neither live nor on a freelist)"}

COLS = 64
CELL = 10       # pixels a cell takes, gap included
STRIP = 2       # the migratetype strip at the bottom of a cell
LEGEND_W = 300


@dataclass
class Rect:
    x: float
    y: float
    w: float
    h: float
    fill: str
    title: str = ""
    attrs: dict[str, str] = field(default_factory=dict)


@dataclass
class Text:
    x: float
    y: float
    text: str
    size: int = 11
    bold: bool = False


@dataclass
class Picture:
    width: int
    height: int
    title: str
    rects: list[Rect] = field(default_factory=list)
    texts: list[Text] = field(default_factory=list)
    groups: list[tuple[str, int, int]] = field(default_factory=list)   # (id, first rect, end rect)

    def svg(self) -> str:
        out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{self.width}" height="{self.height}" '
               f'viewBox="0 0 {self.width} {self.height}" font-family="DejaVu Sans, sans-serif">',
               f"<title>{escape(self.title)}</title>",
               f'<rect x="0" y="0" width="{self.width}" height="{self.height}" fill="#ffffff"/>']
        groups = [g for g in self.groups if g[2] > g[1]]     # (an empty group is left out)
        starts = {g[1]: g for g in groups}
        ends = {g[2] for g in groups}
        for i, r in enumerate(self.rects):
            if i in ends:
                out.append("</g>")
            if i in starts:
                out.append(f'<g id={quoteattr(starts[i][0])}>')
            attrs = "".join(f" data-{k}={quoteattr(v)}" for k, v in r.attrs.items())
            body = f"<title>{escape(r.title)}</title>" if r.title else ""
            stroke = ' stroke="#bbbbbb" stroke-width="0.5"' if r.fill == "#ffffff" and not r.attrs else ""
            out.append(f'<rect x="{r.x:g}" y="{r.y:g}" width="{r.w:g}" height="{r.h:g}" fill="{r.fill}"{stroke}{attrs}>'
                       f"{body}</rect>" if body else
                       f'<rect x="{r.x:g}" y="{r.y:g}" width="{r.w:g}" height="{r.h:g}" fill="{r.fill}"{stroke}{attrs}/>')
        if len(self.rects) in ends:
            out.append("</g>")
        for t in self.texts:
            weight = ' font-weight="bold"' if t.bold else ""
            out.append(f'<text x="{t.x:g}" y="{t.y:g}" font-size="{t.size}"{weight}>{escape(t.text)}</text>')
        out.append("</svg>")
        return "\n".join(out) + "\n"


def _legend(p: Picture, x: int, y: int, heading: str, entries: list[tuple[str, str]]) -> int:
    p.texts.append(Text(x, y, heading, 11, True))
    y += 6
    for colour, label in entries:
        p.rects.append(Rect(x, y, 12, 10, colour, attrs={"legend": label}))
        p.texts.append(Text(x + 18, y + 9, label, 10))
        y += 14
    return y + 10


def memmap_picture(zones: list[ZoneFrames], title: str = "Page frames by owner and migratetype") -> Picture:
    """The memmap picture of runtime/frames.py's cells (see the module docstring)."""
    caches: dict[str, str] = {}
    for z in zones:
        for c in z.cells:
            if c.owner == "slab" and c.detail and c.detail not in caches and len(caches) < len(SLAB_COLOURS):
                caches[c.detail] = SLAB_COLOURS[len(caches)]
    grid_w = COLS * CELL
    p = Picture(grid_w + 20 + LEGEND_W, 0, title)
    p.texts.append(Text(10, 18, title, 14, True))
    y = 34
    for z in zones:
        p.texts.append(Text(10, y + 12, f"zone {z.name}: pfn {z.start_pfn:#x}-{z.end_pfn:#x}, one cell = {z.per} "
                                        f"page{'s' if z.per > 1 else ''}, free {z.free_pages} of {z.managed_pages} "
                                        "managed", 11, True))
        y += 20
        first = len(p.rects)
        for i, c in enumerate(z.cells):
            cx = 10 + (i % COLS) * CELL
            cy = y + (i // COLS) * CELL
            if c.owner == "free":
                order = int(c.detail.split()[-1]) if c.detail else 0
                fill = FREE_COLOURS[min(order, len(FREE_COLOURS) - 1)]
            elif c.owner == "slab":
                fill = caches.get(c.detail, SLAB_OTHER)
            else:
                fill = OWNER_COLOURS.get(c.owner, "#999999")
            end = min(c.pfn + z.per, z.end_pfn) - 1
            what = c.owner + (f" {c.detail}" if c.detail else "")
            tip = f"pfn {c.pfn:#x}-{end:#x}: {what}" + (f", {c.migratetype} pageblock" if c.migratetype else "")
            p.rects.append(Rect(cx, cy, CELL - 1, CELL - 1 - STRIP, fill, tip,
                                {"pfn": f"{c.pfn:#x}", "owner": c.owner, "detail": c.detail, "mt": c.migratetype}))
            if c.migratetype:
                p.rects.append(Rect(cx, cy + CELL - 1 - STRIP, CELL - 1, STRIP, MT_COLOURS[c.migratetype]))
        p.groups.append((f"zone-{z.name}", first, len(p.rects)))
        y += -(-len(z.cells) // COLS) * CELL + 16
    lx, ly = grid_w + 30, 34
    ly = _legend(p, lx, ly, "Owner", [(OWNER_COLOURS[k], OWNER_LABELS[k]) for k in
                                      ("kernel", "vmalloc", "user", "file", "pagetable", "kstack", "percpu", "pcp",
                                       "reserved", "hole")])
    ly = _legend(p, lx, ly, "Free (buddy), by order", [(FREE_COLOURS[o], f"order {o} ({1 << o} pages)")
                                                        for o in range(len(FREE_COLOURS))])
    slab_entries = [(colour, f"slab: {name}") for name, colour in caches.items()]
    if any(c.owner == "slab" and c.detail not in caches for z in zones for c in z.cells):
        slab_entries.append((SLAB_OTHER, "slab: other caches"))
    if slab_entries:
        ly = _legend(p, lx, ly, "Slab, by cache", slab_entries)
    ly = _legend(p, lx, ly, "Pageblock migratetype (strip)", list((c, n) for n, c in MT_COLOURS.items()))
    p.height = int(max(y, ly) + 10)
    return p


def slab_picture(cache: str, rows: list[tuple[int, str, list[str]]], geometry: str) -> Picture:
    """A cache's slabs: *rows* are (pfn, which list, object states) in the order of the
    text view (runtime/kmalloc.py: slab_rows)."""
    box = 12
    per_row = max((len(states) for _pfn, _on, states in rows), default=1)
    label_w = 330
    width = max(label_w + 20 + per_row * box + 10, 700)
    p = Picture(width, 0, f"slab cache {cache}")
    p.texts.append(Text(10, 18, f"slab cache {cache}", 14, True))
    p.texts.append(Text(10, 36, geometry, 10))
    y = 50
    first = len(p.rects)
    for pfn, on, states in rows:
        inuse = sum(1 for s in states if s == "allocated")
        p.texts.append(Text(10, y + 10, f"pfn {pfn:#x}  {inuse}/{len(states)}  {on}", 10))
        for i, st in enumerate(states):
            p.rects.append(Rect(label_w + 20 + i * box, y, box - 2, box - 2, OBJECT_COLOURS.get(st, "#999999"),
                                f"slab pfn {pfn:#x} object {i}: {st}",
                                {"slab": f"{pfn:#x}", "object": str(i), "state": st}))
        y += box + 4
    p.groups.append(("objects", first, len(p.rects)))
    if not rows:
        p.texts.append(Text(10, y + 10, "(no slabs)", 10))
        y += 16
    y = _legend(p, 10, y + 16, "Objects", [(OBJECT_COLOURS[k], OBJECT_LABELS[k]) for k in OBJECT_COLOURS])
    p.height = int(y)
    return p


def write_picture(picture: Picture, path: Path) -> str:
    """Write *picture* as SVG (standard library) or PNG/PDF (matplotlib, the plot extra:
    raises plot.PlotUnavailable without it); returns a one-line description."""
    if path.suffix.lower() == ".svg":
        path.write_text(picture.svg(), encoding="utf-8")
    else:
        from .plot import picture_to_file
        picture_to_file(picture, str(path))
    return f"{picture.title}: picture written to {path}"


def memmap_file(page_alloc: PageAllocator, slab: SlabAllocator, zone_name: str | None, path: Path) -> str:
    """``show memmap [zone,] "file"``: the frames of the machine's zones as a picture."""
    by_pfn = slab.slab_by_pfn

    def cache_of(pfn: int) -> str | None:
        sl = by_pfn.get(pfn)
        return None if sl is None else str(sl.cache.name)

    zones = frame_map(page_alloc, cache_of, zone_name)
    return write_picture(memmap_picture(zones), path)


def slab_file(slab: SlabAllocator, cache: KmemCache, path: Path) -> str:
    """``show slab CACHE, "file"``: the cache's slabs and objects as a picture."""
    rows = [(sl.pfn, on, states) for sl, on, states in slab_rows(slab, cache)]
    geometry = (f"object_size {cache.object_size}  slab_size {cache.size}  order {cache.order}  "
                f"objs_per_slab {cache.objs_per_slab}  slabs {len(rows)}")
    return write_picture(slab_picture(cache.name, rows, geometry), path)


__all__ = ["memmap_file", "slab_file", "Picture", "Rect", "Text", "memmap_picture", "slab_picture", "write_picture"]
