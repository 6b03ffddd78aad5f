"""The timeline as a chart (``plot "out.svg"``, ``--plot FILE``, Jupyter): the one module
that imports matplotlib, an optional extra (``pip install 'kmscript[plot]'``).

Three panels share the simulated-time axis:

1. free pages of each zone, with its min/low/high watermarks as dashed step lines (they
   move with watermark boosts and ``vm.min_free_kbytes``);
2. where the memory went: page cache, anonymous pages, slab (reclaimable and
   unreclaimable), vmalloc;
3. the resident set of the largest tasks;

and every event of the timeline (kswapd runs, direct reclaim, compaction, allocation
failures, OOM kills) is a vertical marker through all three, labelled in the legend; an
OOM kill is annotated with its victim.

matplotlib is used without pyplot (a ``Figure`` and its own canvas): nothing global
changes, so a notebook's own backend and style stay as they were.  SVG output keeps
text as text (``svg.fonttype: none``) and a fixed hash salt and no date, so the same
run writes the same file and a test can read the labels back.

When matplotlib is missing, ``PlotUnavailable`` carries the one-line message the caller
shows; nothing else in kmscript needs it.
"""

from __future__ import annotations

import io
from typing import Any, Protocol

from .runtime.timeline import EVENT_KINDS, Event, Sample

INSTALL_HINT = "pip install 'kmscript[plot]'"

EVENT_STYLE = {   # kind -> (colour, legend label)
    "kswapd": ("#2ca02c", "kswapd run"),
    "direct_reclaim": ("#ff7f0e", "direct reclaim"),
    "compaction": ("#9467bd", "compaction"),
    "alloc_fail": ("#8c564b", "allocation failure"),
    "oom_kill": ("#d62728", "OOM kill"),
}
ZONE_COLOURS = ("#1f77b4", "#17becf", "#bcbd22", "#7f7f7f", "#e377c2")
WATERMARKS = (("min", ":"), ("low", "--"), ("high", "-."))


class PlotUnavailable(RuntimeError):
    """matplotlib cannot be imported: the message says how to install it."""


class TimelineSource(Protocol):
    zone_names: tuple[str, ...]
    period_ns: int

    def samples(self) -> list[Sample]: ...
    def events(self) -> list[Event]: ...
    def comm(self, pid: int) -> str: ...


def _matplotlib() -> Any:
    try:
        import matplotlib
        from matplotlib.figure import Figure
    except ImportError as e:
        raise PlotUnavailable(f"matplotlib is not installed ({INSTALL_HINT}): {e.msg}") from None
    return matplotlib, Figure


def figure(tl: TimelineSource, title: str = "kmscript timeline") -> Any:
    """The chart as a matplotlib Figure (no pyplot state)."""
    matplotlib, Figure = _matplotlib()
    samples = tl.samples()
    events = tl.events()
    ms = [s.t_ns / 1e6 for s in samples]
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "kmscript"}):
        fig = Figure(figsize=(10, 8.5), layout="constrained")
        ax_free, ax_use, ax_rss = fig.subplots(3, 1, sharex=True, height_ratios=(3, 2, 2))
        fig.suptitle(title)
        for zi, name in enumerate(tl.zone_names):
            colour = ZONE_COLOURS[zi % len(ZONE_COLOURS)]
            line, = ax_free.plot(ms, [s.zones[zi].free for s in samples], color=colour, lw=1.8,
                                 label=f"{name} free")
            line.set_gid(f"series-{name}-free")
            for wname, style in WATERMARKS:
                wl, = ax_free.step(ms, [getattr(s.zones[zi], wname) for s in samples], where="post",
                                   color=colour, ls=style, lw=0.9, alpha=0.8, label=f"{name} {wname}")
                wl.set_gid(f"wmark-{name}-{wname}")
        ax_free.set_ylabel("free pages")
        ax_free.set_title("Free pages per zone against the min / low / high watermarks", fontsize=10)
        series = (("page cache", "file"), ("anon", "anon"), ("slab reclaimable", "slab_reclaimable"),
                  ("slab unreclaimable", "slab_unreclaimable"), ("vmalloc", "vmalloc"))
        for label, field in series:
            line, = ax_use.plot(ms, [getattr(s, field) for s in samples], lw=1.4, label=label)
            line.set_gid(f"series-{field}")
        ax_use.set_ylabel("pages")
        ax_use.set_title("Page cache, anonymous, slab and vmalloc pages", fontsize=10)
        peaks: dict[int, int] = {}
        for s in samples:
            for pid, pages in s.rss:
                peaks[pid] = max(peaks.get(pid, 0), pages)
        for pid in sorted(peaks, key=lambda p: (-peaks[p], p)):
            line, = ax_rss.plot(ms, [dict(s.rss).get(pid, 0) for s in samples], lw=1.4,
                                label=f"{tl.comm(pid)} ({pid})")
            line.set_gid(f"rss-{pid}")
        ax_rss.set_ylabel("resident pages")
        ax_rss.set_title("Resident set of the largest tasks", fontsize=10)
        ax_rss.set_xlabel("simulated time (ms)")
        seen: set[str] = set()
        for e in events:
            colour, label = EVENT_STYLE[e.kind]
            x = e.t_ns / 1e6
            for ax in (ax_free, ax_use, ax_rss):
                vl = ax.axvline(x, color=colour, lw=1.0 if e.kind != "oom_kill" else 1.8, alpha=0.7,
                                label=label if ax is ax_use and e.kind not in seen else None)
                vl.set_gid(f"event-{e.kind}")
            seen.add(e.kind)
            if e.kind == "oom_kill":
                ax_free.annotate(e.text, xy=(x, 1.0), xycoords=("data", "axes fraction"),
                                 xytext=(-4, -12), textcoords="offset points", ha="right", color=colour,
                                 fontsize=9, gid="label-oom_kill")
        for ax in (ax_free, ax_use, ax_rss):
            ax.set_ylim(bottom=0)
            ax.grid(True, alpha=0.25)
            if ax.get_legend_handles_labels()[0]:
                ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, borderaxespad=0)
    return fig


def write(tl: TimelineSource, path: str, title: str = "kmscript timeline") -> str:
    """Write the chart to *path* (the format from its suffix: .svg, .png, .pdf ...);
    returns a one-line description.  Raises PlotUnavailable or OSError/ValueError."""
    fig = figure(tl, title)
    matplotlib, _ = _matplotlib()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "kmscript"}):
        metadata = {"Date": None} if path.lower().endswith(".svg") else None
        fig.savefig(path, metadata=metadata)
    n = len(tl.samples())
    return f"timeline chart ({n} samples, {len(tl.events())} events) written to {path}"


def svg_text(tl: TimelineSource, title: str = "kmscript timeline") -> str:
    """The chart as SVG text (Jupyter shows it inline)."""
    fig = figure(tl, title)
    matplotlib, _ = _matplotlib()
    buf = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "kmscript"}):
        fig.savefig(buf, format="svg", metadata={"Date": None})
    return buf.getvalue()


def picture_to_file(picture: Any, path: str) -> None:
    """A pictures.Picture (coloured rectangles and text in pixels) as PNG/PDF: the same
    picture the SVG writer draws, rasterised by matplotlib at 100 dpi."""
    matplotlib, Figure = _matplotlib()
    from matplotlib.collections import PatchCollection
    from matplotlib.patches import Rectangle
    dpi = 100
    fig = Figure(figsize=(picture.width / dpi, picture.height / dpi), dpi=dpi)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, picture.width)
    ax.set_ylim(picture.height, 0)
    ax.axis("off")
    rects = [Rectangle((r.x, r.y), r.w, r.h) for r in picture.rects]
    ax.add_collection(PatchCollection(rects, facecolors=[r.fill for r in picture.rects], edgecolors="none"))
    for t in picture.texts:
        ax.text(t.x, t.y, t.text, fontsize=t.size * 72 / dpi, fontweight="bold" if t.bold else "normal",
                va="baseline", ha="left")
    fig.savefig(path, dpi=dpi, metadata={"Date": None} if path.lower().endswith(".svg") else None)


__all__ = ["picture_to_file", "PlotUnavailable", "figure", "write", "svg_text", "EVENT_STYLE", "INSTALL_HINT", "EVENT_KINDS"]
