"""`plot "out.svg"` and `--plot FILE`: the timeline chart (matplotlib, the plot extra),
read back as XML and checked for its axes, series, watermark lines, event markers and
labels against the run's own figures."""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from kmscript.errors import KmsError
from kmscript.session import Session

pytest.importorskip("matplotlib")

ROOT = Path(__file__).resolve().parent.parent
SVG = "{http://www.w3.org/2000/svg}"

OOM_RUN = """
machine(mem=80M, cpus=2)
task db = spawn("postgres", oom_score_adj=-800)
db.fault(24M)
file backup = open("backup.tar")
backup.read(20M)
task worker = spawn("worker")
expect oom "worker" { worker.fault(256M) }
plot "{path}"
"""


def run_file(directory: Path, text: str) -> tuple[list[str], KmsError | None, Session]:
    """Run *text* as the script directory/s.kms (pictures may be written next to it)."""
    script = directory / "s.kms"
    script.write_text(text)
    out: list[str] = []
    s = Session(out=out.append)
    try:
        s.run_file(script)
    except KmsError as e:
        return out, e, s
    return out, None, s


def _ids(root: ET.Element) -> set[str]:
    return {el.get("id", "") for el in root.iter()}


def _texts(root: ET.Element) -> list[str]:
    return ["".join(el.itertext()).strip() for el in root.iter(f"{SVG}text")]


def test_plot_statement_writes_an_svg_chart(tmp_path: Path) -> None:
    path = tmp_path / "oom.svg"
    out, err, s = run_file(tmp_path, OOM_RUN.replace("{path}", "oom.svg"))
    assert err is None, err
    tl = s.machine.timeline
    assert out[-1] == f"timeline chart ({len(tl.samples())} samples, {len(tl.events())} events) written to {path}"
    root = ET.parse(path).getroot()
    assert root.tag == f"{SVG}svg"
    ids = _ids(root)
    # three panels, each with its axes
    assert {"axes_1", "axes_2", "axes_3"} <= ids
    # the series: free pages and the three watermarks of each zone, the memory users, the tasks
    for zone in ("DMA", "DMA32"):
        assert f"series-{zone}-free" in ids
        assert {f"wmark-{zone}-min", f"wmark-{zone}-low", f"wmark-{zone}-high"} <= ids
    assert {"series-file", "series-anon", "series-slab_reclaimable", "series-slab_unreclaimable",
            "series-vmalloc"} <= ids
    worker = next(t for t in s.machine.tasks.tasks.values() if t.comm == "worker")
    assert f"rss-{worker.pid}" in ids
    # an event marker per kind seen, and the OOM kill labelled with its victim
    assert {"event-kswapd", "event-direct_reclaim", "event-oom_kill"} <= ids
    texts = _texts(root)
    assert "simulated time (ms)" in texts and "free pages" in texts and "resident pages" in texts
    assert f"OOM kill {worker.pid} (worker)" in texts
    assert "kmscript timeline" in texts
    for label in ("DMA32 free", "DMA32 min", "page cache", "kswapd run", "direct reclaim", "OOM kill",
                  f"worker ({worker.pid})"):
        assert label in texts, label


def test_chart_series_carry_the_sampled_values(tmp_path: Path) -> None:
    """The free-pages line of a zone goes through the sampled points: its path has one
    vertex per sample, and the lowest vertex is drawn for the lowest sample."""
    path = tmp_path / "sub" / "oom.svg"
    path.parent.mkdir()
    _out, err, s = run_file(tmp_path, OOM_RUN.replace("{path}", str(path)))   # absolute, below the script
    assert err is None, err
    samples = s.machine.timeline.samples()
    root = ET.parse(path).getroot()
    group = next(el for el in root.iter() if el.get("id") == "series-DMA32-free")
    d = next(el for el in group.iter(f"{SVG}path")).get("d", "")
    vertices = [tuple(map(float, seg.split()[-2:])) for seg in d.replace("M", "|").replace("L", "|").split("|")
                if seg.strip()]
    assert len(vertices) == len(samples)
    lowest = min(range(len(samples)), key=lambda i: (samples[i].zones[1].free, i))
    ys = [v[1] for v in vertices]                     # SVG y grows downwards
    assert ys[lowest] == max(ys)


def test_png_and_files_a_script_may_not_write(tmp_path: Path) -> None:
    _out, err, _s = run_file(tmp_path, 'task t = spawn("x")\nt.fault(4M)\nplot "t.png"')
    assert err is None, err
    assert (tmp_path / "t.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    _out, err, _s = run_file(tmp_path, 'plot "no/such/dir/t.svg"')
    assert err is not None and "plot: cannot write" in err.render() and "s.kms:1:1" in err.render()
    _out, err, _s = run_file(tmp_path, "plot 5")
    assert err is not None and "plot needs a file name (a string), got int" in err.render()
    # only picture files, only below the script's directory or the working directory
    (tmp_path / "d.svg").mkdir()
    for target, why in (("s.kms", "a picture file name ends in .svg or .png or .pdf"),
                        ("/etc/kms.svg", "pictures are written only below"),
                        ("../outside.svg", "pictures are written only below"),
                        ("/proc/self/x.svg", "proc is not a place for pictures"),
                        ("d.svg", "it exists and is not a regular file")):
        _out, err, _s = run_file(tmp_path, f'plot "{target}"')
        assert err is not None and why in err.render(), (target, err)
        assert "s.kms:1:6" in err.render()
    assert not (tmp_path.parent / "outside.svg").exists()


def test_command_line_plot_option(tmp_path: Path) -> None:
    out = tmp_path / "run.svg"
    script = tmp_path / "s.kms"
    script.write_text('task t = spawn("x")\nt.fault(8M)\n')
    r = subprocess.run([sys.executable, "-m", "kmscript", "--plot", str(out), str(script)], capture_output=True,
                       text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().endswith(f"written to {out}")          # no `plot` in the script: at its end
    assert "series-DMA32-free" in _ids(ET.parse(out).getroot())
    # examples/oom.kms has a bare `plot`: with --plot the chart goes to the file, not the terminal
    oom = tmp_path / "oom.svg"
    r = subprocess.run([sys.executable, "-m", "kmscript", "--plot", str(oom), "examples/oom.kms"],
                       capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "Timeline: " not in r.stdout and f"written to {oom}" in r.stdout
    assert "OOM kill" in " ".join(_texts(ET.parse(oom).getroot()))
