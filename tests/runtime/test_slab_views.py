"""Views: /proc/slabinfo columns, show slab, slabtop."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from slab_fakes import Rig  # noqa: E402

from kmscript.runtime.gfp import GFP_KERNEL  # noqa: E402
from kmscript.runtime.kmalloc import slab_detail, slabinfo, slabtop  # noqa: E402

C = "t.kms:1"


def test_slabinfo_header_and_row_format() -> None:
    r = Rig()
    for _ in range(50):
        r.km.kmalloc(90, GFP_KERNEL, C)
    lines = slabinfo(r.sa).splitlines()
    assert lines[0] == "slabinfo - version: 2.1"
    assert lines[1].startswith("# name            <active_objs> <num_objs> <objsize> <objperslab> <pagesperslab>")
    row = next(line for line in lines if line.startswith("kmalloc-96 "))
    # "%-17s %6lu %6lu %6u %4u %4d : tunables %4u %4u %4u : slabdata %6lu %6lu %6lu"
    assert row == ("kmalloc-96            84     84     96   42    1 : tunables    0    0    0 : "
                   "slabdata      2      2      0")


def test_slabinfo_active_excludes_only_node_partial_free() -> None:
    r = Rig()
    s = r.sa.kmem_cache_create("x", 1000, 0, 0)
    objs = [r.km.kmem_cache_alloc(s, GFP_KERNEL, C) for _ in range(s.objs_per_slab * 2)]
    for p in objs[:3]:
        r.km.kmem_cache_free(s, p, C)
    r.sa.flush_all(s)
    active, total, _ = r.sa.slabinfo_row(s)
    assert (active, total) == (total - 3, 2 * s.objs_per_slab)


def test_show_slab_and_slabtop() -> None:
    r = Rig()
    s = r.sa.kmem_cache_create("inode", 600, 64, 1 << 4)
    a = r.km.kmem_cache_alloc(s, GFP_KERNEL, C)
    text = slab_detail(r.sa, s)
    assert "object_size 600  slab_size 640  align 64  order 1  objs_per_slab 12" in text
    assert (f"slab pfn 0x{r.sa.slab_of(a).pfn:x} @0x{r.sa.slab_of(a).base:016x}  inuse 1/12  "
            "on cpu0 slab (c->slab, frozen)") in text and "[Accccccccccc]" in text
    top = slabtop(r.sa).splitlines()
    assert top[0] == " Active / Total Objects (% used)    : 12 / 12 (100.0%)"
    assert top[6] == "  OBJS ACTIVE  USE OBJ SIZE  SLABS OBJ/SLAB CACHE SIZE NAME"
    assert top[7] == "    12     12 100%    0.62K      1       12         8K inode"
