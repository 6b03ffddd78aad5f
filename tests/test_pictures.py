"""Pictures of memory: `show memmap "map.svg"` (frames by owner, buddy order, slab cache
and migratetype) and `show slab CACHE, "slab.svg"` (slabs and objects), read back as XML
and checked against the runtime's own state and the text views."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

from kmscript.errors import KmsError
from kmscript.runtime.frames import frame_map
from kmscript.runtime.procfs import MEMMAP_LEGEND, memmap
from kmscript.session import Session

SVG = "{http://www.w3.org/2000/svg}"

SCENE = """
machine(mem=64M, cpus=2)
cache inode = create(size=600, align=64)
objs = []
for i in 0..100 { append(objs, inode.alloc()) }
for i in 0..100 { if i % 3 == 0 { inode.free(objs[i]) } }
task t = spawn("x")
t.fault(8M)
v = vmalloc(1M)
"""


def run_file(directory: Path, text: str) -> tuple[list[str], KmsError | None, Session]:
    script = directory / "s.kms"
    script.write_text(text)
    out: list[str] = []
    s = Session(out=out.append)
    try:
        s.run_file(script)
    except KmsError as e:
        return out, e, s
    return out, None, s


def _cache_of(s: Session):  # type: ignore[no-untyped-def]
    by_pfn = s.machine.slab.slab_by_pfn
    return lambda pfn: (lambda sl: None if sl is None else sl.cache.name)(by_pfn.get(pfn))


def test_frame_cells_are_the_text_views_cells(tmp_path: Path) -> None:
    """At the text view's cell size the picture's owners are exactly its characters."""
    _out, err, s = run_file(tmp_path, SCENE)
    assert err is None, err
    pa = s.machine.page_alloc
    text = memmap(pa)
    char = dict(MEMMAP_LEGEND)
    for z in frame_map(pa, _cache_of(s), max_cells=64 * 8):
        block = text.split(f"zone {z.name:>8}: ")[1].split("\nNode")[0].split("\n")[1:]
        drawn = "".join(line[13:] for line in block if line.startswith("  0x"))
        assert drawn == "".join(char[c.owner] for c in z.cells), z.name


def test_memmap_svg(tmp_path: Path) -> None:
    out, err, s = run_file(tmp_path, SCENE + 'show memmap "mm.svg"\n')
    assert err is None, err
    assert out[-1] == f"Page frames by owner and migratetype: picture written to {tmp_path / 'mm.svg'}"
    root = ET.parse(tmp_path / "mm.svg").getroot()
    zones = frame_map(s.machine.page_alloc, _cache_of(s))
    groups = {g.get("id"): g for g in root.iter(f"{SVG}g")}
    for z in zones:
        cells = [r for r in groups[f"zone-{z.name}"].iter(f"{SVG}rect") if r.get("data-owner")]
        assert [(r.get("data-pfn"), r.get("data-owner"), r.get("data-detail"), r.get("data-mt")) for r in cells] == \
               [(f"{c.pfn:#x}", c.owner, c.detail, c.migratetype) for c in z.cells]
    cells = [r for r in root.iter(f"{SVG}rect") if r.get("data-owner")]
    owners = Counter(r.get("data-owner") for r in cells)
    assert owners["free"] and owners["user"] and owners["slab"] and owners["reserved"]
    # every slab page of the inode cache is drawn as a slab cell of that cache (DMA32: 4 pages a cell,
    # an order-1 inode slab fills half a cell, so the cell's majority may be another owner's)
    inode = s.machine.slab.find_cache("inode")
    assert any(r.get("data-detail") == "inode" for r in cells)
    assert inode is not None
    # the boot's untouched memory is free in order-10 blocks
    assert any(r.get("data-detail") == "order 10" for r in cells)
    legend = {r.get("data-legend") for r in root.iter(f"{SVG}rect") if r.get("data-legend")}
    assert {"slab: inode", "order 0 (1 pages)", "order 10 (1024 pages)", "Unmovable", "Movable", "vmalloc",
            "anonymous (user)"} <= legend
    texts = ["".join(t.itertext()) for t in root.iter(f"{SVG}text")]
    assert "Page frames by owner and migratetype" in texts
    assert any(t.startswith("zone DMA32: pfn 0x1000-0x4000, one cell = 4 pages") for t in texts)
    tips = [r.find(f"{SVG}title") for r in cells]
    assert all(t is not None and t.text and t.text.startswith("pfn 0x") for t in tips)


def test_slab_svg_counts_the_objects(tmp_path: Path) -> None:
    out, err, s = run_file(tmp_path, SCENE + 'show slab inode, "slab.svg"\n')
    assert err is None, err
    root = ET.parse(tmp_path / "slab.svg").getroot()
    objs = [r for r in root.iter(f"{SVG}rect") if r.get("data-state")]
    inode = s.machine.slab.find_cache("inode")
    assert inode is not None
    per_slab = Counter(r.get("data-slab") for r in objs)
    assert set(per_slab.values()) == {inode.objs_per_slab} and len(per_slab) == inode.nr_slabs
    states = Counter(r.get("data-state") for r in objs)
    assert states["allocated"] == inode.live_objects() == 100 - 34
    text = s.machine.views.slab_cache_info(inode)
    assert states["free(cpu)"] == sum(line.count("c") for line in text.split("\n") if line.strip().startswith("["))
    labels = ["".join(t.itertext()) for t in root.iter(f"{SVG}text")]
    assert "slab cache inode" in labels and any("cpu0 slab (c->slab, frozen)" in t for t in labels)


def test_picture_files_are_checked(tmp_path: Path) -> None:
    _out, err, _s = run_file(tmp_path, 'show slab "kmalloc-64", "slab.txt"')
    assert err is not None and "a picture file name ends in .svg or .png or .pdf" in err.render()
    assert "s.kms:1:1" in err.render()
    _out, err, _s = run_file(tmp_path, 'show memmap DMA, "/etc/m.svg"')
    assert err is not None and "pictures are written only below" in err.render()


def test_a_cache_without_slabs_is_a_valid_picture(tmp_path: Path) -> None:
    _out, err, _s = run_file(tmp_path, 'cache c = create(size=100)\nshow slab c, "empty.svg"\n')
    assert err is None, err
    root = ET.parse(tmp_path / "empty.svg").getroot()
    assert "(no slabs)" in ["".join(t.itertext()) for t in root.iter(f"{SVG}text")]
    assert not [r for r in root.iter(f"{SVG}rect") if r.get("data-state")]
