"""kmscript in Jupyter: ``%load_ext kmscript`` gives ``%%kmscript`` cells (and a
``%kmscript`` line magic) that share one machine per notebook.  The one module that
imports IPython (the ``jupyter`` extra: ``pip install 'kmscript[jupyter]'``).

What a cell shows, in the order the script produced it:

- ``print`` output as text;
- ``show`` views as HTML tables when the /proc-style text is a table (columns separated
  by two or more blanks in every line: meminfo, buddyinfo, slabinfo, tasks ...), as
  preformatted text otherwise;
- kernel log records in kernel-log style (dmesg timestamps, warnings and reports
  coloured by kind);
- ``explain`` trees folded: each step a ``<details>`` whose summary is the kernel
  function and its result, opened to show its numbers and the steps below it;
- ``plot`` without a file name: the timeline chart inline (SVG; matplotlib), or the
  terminal timeline without it; a picture written as SVG (``plot "x.svg"``,
  ``show memmap "m.svg"``) is shown inline as well;
- errors as kmscript renders them (file:line:col, the line, a caret), never a Python
  traceback; ``%kmscript reset`` boots a fresh machine; ``%kmscript run FILE.kms`` shows
  a script file (folded open) and runs it in the notebook's machine.

The cell's code runs through the same Session as ``kmscript FILE`` (session.py): the
same machine, variables and rules.
"""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

try:
    from IPython.core import display as _rich
    from IPython.core import display_functions as _functions
except ImportError as e:  # exercised by tests/test_optional_extras.py
    raise ImportError(f"kmscript's Jupyter support needs IPython (pip install 'kmscript[jupyter]'): {e}") from None

# IPython is not typed: its names are Any here, so the rest of the module stays checked
HTML: Any = _rich.HTML
SVG: Any = _rich.SVG
display: Any = _functions.display

from .errors import KmsError
from .lang.include import read_script
from .runtime.printk import LogRecord
from .session import Session

STYLE = """<style>
.kms-log { margin: 2px 0; padding: 2px 6px; background: #111; color: #ddd; border-radius: 3px; }
.kms-log .warn { color: #ffb347; } .kms-log .bug, .kms-log .oom, .kms-log .panic, .kms-log .fault { color: #ff6b6b; }
.kms-log .alloc_fail { color: #ffb347; } .kms-log .ts { color: #8fbf8f; }
.kms-view { border-collapse: collapse; font-family: monospace; font-size: 12px; margin: 4px 0; }
.kms-view td, .kms-view th { border: 1px solid #ccc; padding: 1px 6px; text-align: right; }
.kms-view td:first-child, .kms-view th:first-child { text-align: left; }
.kms-view caption { text-align: left; font-weight: bold; }
.kms-error { color: #b00; }
details.kms-explain { margin-left: 1em; font-family: monospace; font-size: 12px; }
details.kms-explain summary { cursor: pointer; }
</style>"""

_COLUMNS = re.compile(r"\s{2,}|\t")
_PICTURE = re.compile(r"(?:picture|chart \(.*\)) written to (?P<path>.+\.svg)$")


def view_html(name: str, text: str) -> str:
    """A view as an HTML table when every line splits into the same number (>= 2) of
    columns (a first line that does not is its caption), as <pre> otherwise."""
    lines = [ln for ln in text.rstrip("\n").split("\n") if ln.strip()]
    rows = [_COLUMNS.split(ln.strip()) for ln in lines]
    caption = ""
    if len({len(r) for r in rows}) != 1:
        blank = [ln.split() for ln in lines]       # columns one blank apart (ps-like tables)
        if len({len(r) for r in blank}) == 1:
            rows = blank
        elif len(rows) >= 3 and len({len(r) for r in rows[1:]}) == 1:
            caption, rows = lines[0].strip(), rows[1:]
    widths = {len(r) for r in rows}
    if len(rows) < 2 or len(widths) != 1 or widths.pop() < 2:
        return f'<pre class="kms-view" data-view="{html.escape(name)}">{html.escape(text)}</pre>'
    head = ""
    body = rows
    if all(not re.fullmatch(r"[-+]?\d+(\.\d+)?( kB)?", c) for c in rows[0][1:]) and \
            any(re.fullmatch(r"[-+]?\d+(\.\d+)?( kB)?", c) for r in rows[1:] for c in r):
        head = "<tr>" + "".join(f"<th>{html.escape(c)}</th>" for c in rows[0]) + "</tr>"
        body = rows[1:]
    cap = f"<caption>{html.escape(caption)}</caption>" if caption else ""
    trs = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in body)
    return f'<table class="kms-view" data-view="{html.escape(name)}">{cap}{head}{trs}</table>'


def log_html(records: list[LogRecord]) -> str:
    """Kernel log records as dmesg prints them, coloured by kind."""
    out = []
    for rec in records:
        for line in rec.lines():
            ts, _, rest = line.partition("] ")
            out.append(f'<span class="{html.escape(rec.kind)}"><span class="ts">{html.escape(ts)}]</span> '
                       f"{html.escape(rest)}</span>")
    return '<pre class="kms-log">' + "\n".join(out) + "</pre>"


def _step_html(step: dict[str, Any]) -> str:
    numbers = step.get("numbers") or {}
    result = step.get("result")
    summary = html.escape(str(step.get("function", "?"))) + (f" &rarr; {html.escape(str(result))}" if result else "")
    rows = "".join(f"<tr><td>{html.escape(str(k))}</td><td>{html.escape(str(v))}</td></tr>" for k, v in numbers.items())
    table = f'<table class="kms-view">{rows}</table>' if rows else ""
    children = "".join(_step_html(c) for c in step.get("steps", []))
    return f'<details class="kms-explain"><summary>{summary}</summary>{table}{children}</details>'


def explain_html(explanation: dict[str, Any]) -> str:
    """An explain record (session.Explanation.to_json) as folded <details> trees."""
    head = f"<b>explain {html.escape(str(explanation.get('where', '')))}</b>: " \
           f"<code>{html.escape(str(explanation.get('statement', '')))}</code>"
    steps = "".join(_step_html(s) for s in explanation.get("steps", [])) or "<i>(no allocation or free)</i>"
    dropped = explanation.get("dropped") or 0
    more = f"<div>... {dropped} more steps not recorded</div>" if dropped else ""
    return f'<div class="kms-explain">{head}{steps}{more}</div>'


class NotebookSession(Session):
    """A Session whose output goes to the notebook as rich display objects, in order."""

    def __init__(self) -> None:
        super().__init__(out=self._line, explain_print=False)
        self.kernel_hook = self._kernel
        self.view_hook = self._view
        self.note_hook = self._note
        self._text: list[str] = []
        self._log: list[LogRecord] = []
        self.displayed: list[tuple[str, str]] = []   # (kind, html or text) as shown: tests read it

    # -- output, in order ----------------------------------------------------------------------
    def _show(self, kind: str, obj: Any, payload: str) -> None:
        self.displayed.append((kind, payload))
        display(obj)

    def flush(self) -> None:
        if self._text:
            text = "\n".join(self._text)
            self._text = []
            self._show("text", HTML(f"<pre>{html.escape(text)}</pre>"), text)
            self._inline_pictures(text)
        if self._log:
            recs, self._log = self._log, []
            body = log_html(recs)
            self._show("log", HTML(STYLE + body), body)

    def _inline_pictures(self, text: str) -> None:
        """An SVG picture or chart the script wrote is shown in the notebook too."""
        for line in text.split("\n"):
            m = _PICTURE.search(line)
            if m and Path(m.group("path")).is_file():
                svg = Path(m.group("path")).read_text(encoding="utf-8")
                self._show("svg", SVG(data=svg), m.group("path"))

    def _line(self, line: str) -> None:
        if self._log:
            self.flush()
        self._text.append(line)

    def _kernel(self, rec: LogRecord) -> None:
        if self._text:
            self.flush()
        self._log.append(rec)

    def _view(self, name: str, text: str) -> None:
        self.flush()
        body = view_html(name, text)
        self._show("view", HTML(STYLE + body), body)
        self._inline_pictures(text)

    def _note(self, line: str) -> None:
        self.flush()
        self._show("note", HTML(f"<pre><i>{html.escape(line)}</i></pre>"), line)

    def explained(self, where: str, text: str, recording: Any, implicit: bool = False) -> None:
        super().explained(where, text, recording, implicit)
        if implicit:
            return
        self.flush()
        body = explain_html(self.explanations[-1].to_json())
        self._show("explain", HTML(STYLE + body), body)

    def plot(self, path: str | None) -> str | None:
        if path is None and self.plot_file is None:
            self.flush()
            timeline = self.machine.timeline
            timeline.sample()
            try:
                from .plot import PlotUnavailable, svg_text
                svg = svg_text(timeline)
            except PlotUnavailable:
                return super().plot(path)       # the text timeline
            self._show("svg", SVG(data=svg), "timeline")
            return None
        return super().plot(path)

    # -- running a cell -------------------------------------------------------------------------
    def run_cell(self, code: str, name: str, *, path: str | None = None) -> bool:
        """Run a cell's code (or, with *path*, the script file: its source is shown first,
        folded open) in this session; False (and the error shown) when it failed."""
        try:
            self.reset_budget()      # each cell its own step and time budget, as a REPL entry
            if path is not None:
                text = read_script(path)
                body = (f'<details open class="kms-source"><summary><code>{html.escape(path)}</code></summary>'
                        f"<pre>{html.escape(text)}</pre></details>")
                self._show("source", HTML(body), text)
                self.run_file(path)
            else:
                self.run_text(code, name)
        except KmsError as e:
            self.flush()
            text = e.render()
            self._show("error", HTML(f'<pre class="kms-error">{html.escape(text)}</pre>'), text)
            return False
        finally:
            self.flush()
        return True


class KmscriptMagics:
    """``%%kmscript`` and ``%kmscript``: one NotebookSession per IPython shell."""

    def __init__(self) -> None:
        self.session = NotebookSession()
        self.cells = 0

    def cell(self, line: str, cell: str) -> None:
        """Run the cell as a kmscript script in the notebook's machine."""
        self.cells += 1
        self.session.run_cell(cell, f"<cell {self.cells}>")

    def line(self, line: str) -> None:
        """``%kmscript CODE`` runs one line; ``%kmscript reset`` boots a fresh machine;
        ``%kmscript run FILE.kms`` shows a script and runs it in the notebook's machine."""
        if line.strip() == "reset":
            self.session = NotebookSession()
            return
        words = line.split(None, 1)
        if len(words) == 2 and words[0] == "run":
            self.cells += 1
            self.session.run_cell("", f"<cell {self.cells}>", path=words[1].strip())
            return
        self.cells += 1
        self.session.run_cell(line, f"<cell {self.cells}>")


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext kmscript``: the magics, with their own session, for this shell."""
    magics = KmscriptMagics()
    ipython.register_magic_function(magics.cell, magic_kind="cell", magic_name="kmscript")
    ipython.register_magic_function(magics.line, magic_kind="line", magic_name="kmscript")


def unload_ipython_extension(ipython: Any) -> None:
    """``%unload_ext kmscript``: nothing to tear down (the magics go with the shell)."""


__all__ = ["load_ipython_extension", "unload_ipython_extension", "NotebookSession", "KmscriptMagics",
           "view_html", "log_html", "explain_html"]
