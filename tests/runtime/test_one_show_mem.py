"""warn_alloc and the OOM report print the same __show_mem block (mm/show_mem.c): the
per-zone LRU sizes are computed, not 0, in the allocation-failure report too."""

from __future__ import annotations

import re

from kmscript.session import Session


def test_warn_alloc_zone_lines_carry_the_lru_sizes() -> None:
    s = Session(out=lambda line: None, quiet=True)
    s.run_text('machine(dma_pages=0, dma32_pages=8192, cpus=1)\nz = zone(DMA32)\n'
               'task hog = spawn("hog")\nhog.fault(20M)\nheld = []\n'
               "irq < while true { p = alloc_page(GFP_ATOMIC | __GFP_NOWARN)\n"
               "  if is_null(p) { break }\n  append(held, p) } >\n"
               'expect alloc_fail "order:4" { p = alloc_pages(GFP_KERNEL, 4) }\n')
    report = next(r.text for r in s.machine.log.records if "page allocation failure" in r.text)
    zone_line = next(line for line in report.splitlines() if line.startswith("Node 0 DMA32 free:"))
    node_line = next(line for line in report.splitlines() if line.startswith("Node 0 active_anon:"))
    anon = re.search(r" inactive_anon:(\d+)kB", zone_line)
    assert anon is not None and int(anon.group(1)) > 0, zone_line
    # one zone: the zone's LRU sizes are the node's
    assert anon.group(1) == re.search(r" inactive_anon:(\d+)kB", node_line).group(1)  # type: ignore[union-attr]
