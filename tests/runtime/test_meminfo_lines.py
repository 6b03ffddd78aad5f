"""/proc/meminfo has every line of the 6.18 file, in its order and format
(tests/runtime/data/meminfo-6.18.44.txt is the reference machine's file)."""

from __future__ import annotations

import re
from pathlib import Path

from kmscript.runtime.direct_map import direct_map_pages, split_mem_range
from kmscript.session import Session

REAL = (Path(__file__).parent / "data" / "meminfo-6.18.44.txt").read_text()


def _names(text: str) -> list[str]:
    return [line.split(":")[0] for line in text.splitlines()]


def test_same_lines_same_order_same_widths() -> None:
    s = Session(out=lambda line: None, quiet=True)
    s.run_text("machine(mem=8G, cpus=2)\n")
    ours = s.machine.show_page_view("meminfo")
    assert _names(ours) == _names(REAL)
    for mine, real in zip(ours.splitlines(), REAL.splitlines()):
        # the value column ends at the same position; kB where the kernel prints kB
        assert len(mine) == len(real) or (len(mine) > len(real) and "VmallocTotal" in mine), (mine, real)
        assert mine.endswith(" kB") == real.endswith(" kB"), (mine, real)


def test_mapped_and_committed_follow_the_tasks() -> None:
    s = Session(out=lambda line: None, quiet=True)
    s.run_text('machine(mem=1G, cpus=2)\ntask t = spawn("t")\nt.fault(8M)\n')
    text = s.machine.show_page_view("meminfo")
    committed = re.search(r"^Committed_AS:\s+(\d+) kB$", text, re.M)
    assert committed is not None and int(committed.group(1)) == 8 * 1024


def test_split_mem_range() -> None:
    # 1 MiB .. 3 GiB: a 4K head to 2 MiB, 2M pages to 1 GiB, then 1G pages
    assert split_mem_range(0x100, 0xC0000) == (0x100, 0x40000 - 0x200, 0x80000)
    # a range inside one 2 MiB page is all 4K
    assert split_mem_range(0x300, 0x310) == (0x10, 0, 0)
    # every page is counted once
    k4, m2, g1 = direct_map_pages([(0, 0x9F), (0x100, 0xC0000), (0x100000, 0x640000)])
    assert k4 + m2 + g1 == 0x9F + (0xC0000 - 0x100) + (0x640000 - 0x100000)
