"""How the REPL shows things: the colour scheme, results, kernel messages, long views.

Output is a list of (style class, text) fragments, so the same code prints in colour on a
terminal, without colour under ``NO_COLOR`` (https://no-color.org: any non-empty value),
and as plain text into a test's sink.

The colour scheme uses only the terminal's ANSI hues (the user's palette decides the
shade), never white, black or a background colour, so it reads on dark and on light
terminals alike.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from typing import Any, Callable

from prompt_toolkit.output import ColorDepth, Output
from prompt_toolkit.styles import DEFAULT_ATTRS, Attrs, BaseStyle, Style, merge_styles, style_from_pygments_cls

from ..errors import escape_controls
from ..highlight import KmscriptStyle
from ..lang.values import Ptr, repr_value, type_name

Fragments = list[tuple[str, str]]

# Style classes used by the REPL (the syntax colours come from KmscriptStyle).
UI_STYLE = {
    "prompt": "bold ansicyan",
    "meta-command": "bold",
    "continuation": "ansicyan",
    "output": "",
    "result.name": "bold",
    "result.value": "bold ansigreen",
    "result.where": "ansicyan",
    "result.handle": "ansigreen",
    "result.gfp": "ansiblue",
    "assert.ok": "ansigreen",
    "assert.fail": "bold ansired",
    "error": "ansired",
    "error.head": "bold ansired",
    "internal": "bold ansimagenta",
    "note": "italic",
    "kernel.info": "",
    "kernel.warn": "ansiyellow",
    "kernel.alloc_fail": "ansiyellow",
    "kernel.bug": "bold ansired",
    "kernel.oom": "bold ansimagenta",
    "kernel.panic": "bold reverse ansired",
    "kernel.fault": "ansired",
    "trace": "ansiblue",
    "help.title": "bold underline",
    "help.sig": "bold ansicyan",
    "bottom-toolbar": "noreverse bg:default",
    "bottom-toolbar.text": "",
    "toolbar.label": "bold",
    "toolbar.ok": "ansigreen",
    "toolbar.high": "ansicyan",
    "toolbar.low": "bold ansimagenta",
    "toolbar.min": "bold ansired",
    "toolbar.dim": "italic",
    "validation-toolbar": "bold ansired",
}


def no_color() -> bool:
    """True when the user asked for no colour (NO_COLOR set to a non-empty value)."""
    return bool(os.environ.get("NO_COLOR"))


def repl_style(color: bool) -> BaseStyle:
    if not color:
        # No colours at all: attributes only where they carry meaning (the toolbar and
        # the validation message stay readable in plain text).
        return Style.from_dict({"bottom-toolbar": "noreverse", "bottom-toolbar.text": ""})
    return merge_styles([style_from_pygments_cls(KmscriptStyle), Style.from_dict(UI_STYLE)])


class Printer:
    """Prints fragments above the prompt, or into *sink* (tests) as plain text."""

    def __init__(self, *, color: bool, output: Output | None = None,
                 sink: Callable[[str], None] | None = None, pager: bool | None = None) -> None:
        self.color = color
        self.output = output
        self.sink = sink
        self.style = repl_style(color)
        self._attr_cache: dict[str, Attrs] = {}
        self._depth: ColorDepth | None = None
        # A pager only on a real terminal, and only for text that does not fit.
        self.use_pager = (sink is None and sys.stdout.isatty()) if pager is None else pager

    def frags(self, frags: Fragments) -> None:
        # Text from the script (printed strings, names, source lines) is shown with its
        # control characters escaped: it cannot retitle, clear or move the terminal.
        frags = [(cls, escape_controls(text)) for cls, text in frags]
        if self.sink is not None:
            self.sink("".join(t for _, t in frags))
            return
        # Written straight to the Output with cached attributes: print_formatted_text
        # costs ~2.5 ms a line (it builds a renderer each call), too slow for a loop
        # that prints.
        out = self._output()
        for cls, text in frags:
            out.set_attributes(self._attrs(cls), self.depth)
            out.write(text)
        out.reset_attributes()
        out.write("\n")
        out.flush()

    def _output(self) -> Output:
        if self.output is None:
            from prompt_toolkit.output import create_output
            self.output = create_output()
        return self.output

    @property
    def depth(self) -> ColorDepth:
        if not self.color:
            return ColorDepth.DEPTH_1_BIT
        if self._depth is None:
            self._depth = self._output().get_default_color_depth()
        return self._depth

    def _attrs(self, cls: str) -> Attrs:
        attrs = self._attr_cache.get(cls)
        if attrs is None:
            attrs = self.style.get_attrs_for_style_str(cls) if self.color else DEFAULT_ATTRS
            self._attr_cache[cls] = attrs
        return attrs

    def line(self, text: str, cls: str = "") -> None:
        self.frags([(f"class:{cls}" if cls else "", text)])

    def lines(self, text: str, cls: str = "") -> None:
        for ln in text.split("\n"):
            self.line(ln, cls)

    def long_text(self, text: str, cls: str = "") -> None:
        """A view or help page: through a pager only when it does not fit the screen."""
        text = text.rstrip("\n")
        if self.use_pager:
            size = shutil.get_terminal_size((80, 24))
            n = sum(1 + len(ln) // max(1, size.columns) for ln in text.split("\n"))
            if n > size.lines - 2:
                import pydoc
                try:
                    pydoc.pager(text + "\n")
                    return
                except Exception:
                    pass  # no pager available: print it
        self.lines(text, cls)


def human_bytes(n: int) -> str:
    """1536 -> 1.5K, as free(1) -h does (binary units)."""
    for unit, shift in (("T", 40), ("G", 30), ("M", 20), ("K", 10)):
        if n >= 1 << shift:
            v = n / (1 << shift)
            return f"{v:.1f}{unit}" if v < 10 else f"{v:.0f}{unit}"
    return f"{n}B"


def describe_pointer(session: Any, p: Ptr) -> str | None:
    """Where an address lives, from the machine's ``views.describe_address``."""
    if not p.addr or not session.has_machine:
        return None
    try:
        where = session.machine.views.describe_address(p.addr)
    except Exception:
        return None
    return where if isinstance(where, str) and where else None


def value_fragments(session: Any, v: Any, gfp_of: Callable[[int], str | None] | None = None) -> Fragments:
    """A result value: the value, then where it came from for pointers (and with which
    GFP flags, when *gfp_of* knows them from the trace)."""
    if isinstance(v, Ptr):
        out: Fragments = [("class:result.value", repr_value(v))]
        where = describe_pointer(session, v)
        if where:
            out += [("", "  "), ("class:result.where", where)]
        gfp = gfp_of(v.addr) if gfp_of is not None and v.addr else None
        if gfp:
            out += [("", "  "), ("class:result.gfp", gfp)]
        return out
    if isinstance(v, (bool, int, str, list)) or v is None:
        return [("class:result.value", repr_value(v))]
    # A handle (page, cache, task, zone...): its own readable __str__.
    try:
        text = str(v)
    except Exception:
        text = f"<{type_name(v)}>"
    return [("class:result.handle", text)]


def summary(v: Any, width: int = 40) -> str:
    """A one-line summary of a value for completion menus."""
    try:
        text = repr_value(v) if isinstance(v, (bool, int, str, list, Ptr)) or v is None else str(v)
    except Exception:
        text = type_name(v)
    text = text.replace("\n", " ")
    return text if len(text) <= width else text[: width - 1] + "…"


_SIG_PREFIX = re.compile(r"^[\w.]+\([^)]*\)\s*:\s*")
_VIEW_PREFIX = re.compile(r"^show \w+( \[?[A-Za-z_]+\]?)*\s*:\s*")


def doc_summary(doc: str, width: int = 72) -> str:
    """The first line of a built-in's doc for a listing or a menu, without a leading
    ``name(args):`` or ``show NAME ARGS:`` (the listing shows the signature already)."""
    line = _SIG_PREFIX.sub("", doc.strip().split("\n")[0])
    line = _VIEW_PREFIX.sub("", line)
    return line if len(line) <= width else line[: width - 1] + "…"
