"""The optional extras (plot: matplotlib; jupyter: IPython) absent: every other feature
works and the missing one says so in one line.  Absence is simulated in a subprocess by
making the import fail (``sys.modules[name] = None`` makes ``import name`` raise
ImportError), so the test runs whether or not the extras are installed here."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BLOCKED = ("matplotlib", "IPython", "ipykernel", "nbclient", "nbformat")


def kms_without_extras(*args: str) -> subprocess.CompletedProcess[str]:
    code = ("import sys\n"
            f"for name in {BLOCKED!r}: sys.modules[name] = None\n"
            "from kmscript.cli import main\n"
            f"sys.exit(main({list(args)!r}))\n")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)


def test_the_main_job_runs_without_the_extras() -> None:
    r = kms_without_extras("examples/oom.kms")
    assert r.returncode == 0, r.stderr
    assert "Out of memory: Killed process" in r.stdout
    assert "Timeline: " in r.stdout          # the bare `plot` draws in the terminal
    assert "matplotlib" not in r.stderr


def test_plot_without_matplotlib_is_one_line_and_the_run_goes_on(tmp_path: Path) -> None:
    out = tmp_path / "oom.svg"
    r = kms_without_extras("--plot", str(out), "examples/oom.kms")
    assert r.returncode == 0, r.stderr
    assert not out.exists()
    lines = r.stderr.strip().split("\n")
    assert lines == [f"kmscript: note: plot {str(out)!r} skipped: matplotlib is not installed "
                     "(pip install 'kmscript[plot]'): import of matplotlib halted; None in sys.modules"]
    assert "Out of memory: Killed process" in r.stdout and r.stdout.rstrip().endswith("oom_kill 1")
    script = tmp_path / "s.kms"
    script.write_text('plot "chart.svg"\nprint("after")\n')
    r = kms_without_extras(str(script))
    assert r.returncode == 0 and r.stdout == "after\n" and r.stderr.count("\n") == 1
    assert "matplotlib is not installed" in r.stderr


def test_pictures_without_matplotlib(tmp_path: Path) -> None:
    """SVG pictures are written with the standard library; PNG needs matplotlib: a note."""
    script = tmp_path / "s.kms"
    script.write_text('show memmap DMA, "m.svg"\nshow slab "kmalloc-64", "s.png"\nprint("after")\n')
    r = kms_without_extras(str(script))
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "m.svg").stat().st_size > 0 and not (tmp_path / "s.png").exists()
    assert r.stdout.endswith("after\n")
    assert r.stderr.strip().split("\n") == [
        "kmscript: note: picture 's.png' skipped: matplotlib is not installed (pip install 'kmscript[plot]'): "
        "import of matplotlib halted; None in sys.modules"]


def test_jupyter_without_ipython_says_what_to_install() -> None:
    code = ("import sys\n"
            f"for name in {BLOCKED!r}: sys.modules[name] = None\n"
            "import kmscript\n"
            "try:\n"
            "    kmscript.load_ipython_extension(None)\n"
            "except ImportError as e:\n"
            "    print(e)\n"
            "from kmscript.cli import main\n"
            "sys.exit(main(['-c', 'print(1 + 1)']))\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 0, r.stderr
    first, second = r.stdout.split("\n")[:2]
    assert first.startswith("kmscript's Jupyter support needs IPython (pip install 'kmscript[jupyter]'): ")
    assert "IPython" in first[len("kmscript's Jupyter support needs IPython"):] and second == "2"
