"""kmscript in Jupyter (kmscript/jupyter.py, the jupyter extra): the IPython extension
driven in-process by an InteractiveShell, and examples/notebooks/tour.ipynb executed
headless by nbclient (one kernel start for the whole suite)."""

from __future__ import annotations

import html
import os
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("IPython")

from IPython.core.interactiveshell import InteractiveShell  # noqa: E402
from IPython.utils.capture import capture_output  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def shell() -> Any:
    sh = InteractiveShell.instance()
    sh.run_line_magic("load_ext", "kmscript")
    return sh


def cell(shell: Any, code: str) -> list[dict[str, str]]:
    """Run a %%kmscript cell; the rich outputs it displayed, in order."""
    with capture_output() as cap:
        result = shell.run_cell("%%kmscript\n" + code)
    assert result.success, result.error_in_exec       # a kmscript error is shown, never raised
    return [dict(o.data) for o in cap.outputs]


def body(out: dict[str, str]) -> str:
    h = out.get("text/html", "")
    return h[h.index("</style>") + len("</style>"):] if "</style>" in h else h


class Summaries(HTMLParser):
    """The <summary> texts of nested <details>, with their depth."""

    def __init__(self) -> None:
        super().__init__()
        self.depth = 0
        self.items: list[tuple[int, str]] = []
        self._in = False

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag == "details":
            self.depth += 1
        elif tag == "summary":
            self._in = True
            self.items.append((self.depth, ""))

    def handle_endtag(self, tag: str) -> None:
        if tag == "details":
            self.depth -= 1
        elif tag == "summary":
            self._in = False

    def handle_data(self, data: str) -> None:
        if self._in:
            d, t = self.items[-1]
            self.items[-1] = (d, t + data)


def test_cells_share_one_machine_and_render_views_logs_and_text(shell: Any) -> None:
    shell.run_line_magic("kmscript", "reset")
    out = cell(shell, 'machine(mem=64M, cpus=2)\nx = kmalloc(50, GFP_KERNEL)\nprint("ksize", ksize(x))\nshow meminfo')
    assert body(out[0]) == "<pre>ksize 64</pre>"
    table = body(out[1])
    assert table.startswith('<table class="kms-view" data-view="meminfo">')
    assert "<tr><td>MemTotal:</td><td>25820 kB</td></tr>" in table
    # the next cell sees the same machine and variables
    out = cell(shell, "print(ksize(x), x == NULL)\nshow tasks")
    assert body(out[0]) == "<pre>64 false</pre>"
    tasks = body(out[1])
    assert "<td>PID</td>" in tasks or "<th>PID</th>" in tasks
    assert "<td>init</td>" in tasks
    # kernel reports in kernel-log style, coloured by kind
    out = cell(shell, "expect warn { q = alloc_pages(GFP_ATOMIC, 11) }")
    log = [body(o) for o in out if '<pre class="kms-log">' in body(o)]
    assert log and '<span class="warn"><span class="ts">[' in log[0] and "WARNING: CPU: 0" in log[0]


def test_explain_trees_fold(shell: Any) -> None:
    shell.run_line_magic("kmscript", "reset")
    out = cell(shell, "explain x = kmalloc(50, GFP_KERNEL)")
    (tree,) = [body(o) for o in out if "<details" in body(o)]
    assert tree.startswith("<div class=\"kms-explain\"><b>explain &lt;cell")
    parser = Summaries()
    parser.feed(tree)
    items = [(d, html.unescape(t)) for d, t in parser.items]
    assert items[0][0] == 1 and items[0][1].startswith("kmalloc → 0xffff888")
    assert (2, "kmalloc_slab → kmalloc-64") in items
    # the folded tree has the terminal tree's steps, in the same order and depth
    functions = [t.split(" → ")[0] for _d, t in items]
    assert functions[:4] == ["kmalloc", "kmalloc_slab", "___slab_alloc", "new_slab"]
    assert "<table class=\"kms-view\"><tr><td>size</td><td>50</td></tr><tr><td>gfp</td><td>GFP_KERNEL</td></tr>" in tree


def test_plot_inline_and_errors(shell: Any) -> None:
    pytest.importorskip("matplotlib")
    shell.run_line_magic("kmscript", "reset")
    out = cell(shell, 'machine(mem=64M, cpus=1)\ntask t = spawn("hog")\nexpect oom { t.fault(128M) }\nplot')
    svgs = [o["image/svg+xml"] for o in out if "image/svg+xml" in o]
    assert len(svgs) == 1 and "simulated time (ms)" in svgs[0] and "OOM kill" in svgs[0]
    out = cell(shell, "print(t.alive)\ny = (")
    (err,) = out
    text = html.unescape(body(err))
    assert 'class="kms-error"' in body(err)
    assert re.search(r"<cell \d+>:2:6: error: unexpected end of input", text) and "Traceback" not in text
    shell.run_line_magic("kmscript", "reset")
    out = cell(shell, "print(t)")
    assert "unknown name 't'" in html.unescape(body(out[0]))


def test_views_as_tables() -> None:
    from kmscript.jupyter import view_html
    t = view_html("buddyinfo", "Node 0, zone      DMA      1      2\nNode 0, zone    DMA32      3      4\n")
    assert t == ('<table class="kms-view" data-view="buddyinfo"><tr><td>Node 0, zone</td><td>DMA</td><td>1</td>'
                 "<td>2</td></tr><tr><td>Node 0, zone</td><td>DMA32</td><td>3</td><td>4</td></tr></table>")
    assert view_html("page", "page: refcount:1\n  flags: 0x0()").startswith('<pre class="kms-view"')


def test_the_tour_notebook_walks_the_textbook_and_runs_headless(tmp_path: Path, monkeypatch: Any) -> None:
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    src = ROOT / "examples" / "notebooks" / "tour.ipynb"
    nb = nbformat.read(str(src), as_version=4)
    code = [c.source for c in nb.cells if c.cell_type == "code"]
    # every textbook script, in order, run from its file (the notebook cannot drift from it)
    scripts = sorted((ROOT / "examples" / "textbook").glob("*.kms"))
    runs = [c for c in code if c.startswith("%kmscript run ")]
    assert runs == [f"%kmscript run ../textbook/{p.name}" for p in scripts]
    # run in a copy laid out like examples/ (pictures are written next to the notebook)
    (tmp_path / "notebooks").mkdir()
    shutil.copy(src, tmp_path / "notebooks" / "tour.ipynb")
    shutil.copytree(ROOT / "examples" / "textbook", tmp_path / "textbook")
    monkeypatch.setenv("PYTHONPATH", str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    client = nbclient.NotebookClient(nb, timeout=120, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path / "notebooks")}})
    client.execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    htmls = [o.get("data", {}).get("text/html", "") for o in outputs]
    assert not [h for h in htmls if 'class="kms-error"' in h]
    kms_cells = [c for c in nb.cells if c.cell_type == "code" and c.source.startswith(("%%kmscript", "%kmscript run"))]
    # every script shows its source and what it printed
    for c in kms_cells:
        if c.source.startswith("%kmscript run "):
            first = c.outputs[0].data["text/html"]
            assert first.startswith('<details open class="kms-source"><summary><code>../textbook/')
    assert any('<details class="kms-explain">' in h for h in htmls)
    assert any("image/svg+xml" in o.get("data", {}) for o in outputs)
    assert (tmp_path / "notebooks" / "tour_memmap.svg").is_file()
    assert (tmp_path / "notebooks" / "tour_slab.svg").is_file()
