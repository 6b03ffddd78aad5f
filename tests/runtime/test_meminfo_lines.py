"""/proc/meminfo has every line of the 6.18 file, in its order and format
(tests/runtime/data/meminfo-6.18.44.txt is the reference machine's file)."""

from __future__ import annotations

import re
from pathlib import Path

from kmscript.runtime.arch import X86_64
from kmscript.runtime.direct_map import PG_LEVEL_1G, PG_LEVEL_2M, init_mem_mapping, split_mem_range
from kmscript.session import Session

REAL = (Path(__file__).parent / "data" / "meminfo-6.18.44.txt").read_text()


def _names(text: str) -> list[str]:
    return [line.split(":")[0] for line in text.splitlines()]


def test_same_lines_same_order_same_widths() -> None:
    s = Session(out=lambda line: None, quiet=True)
    s.run_text("machine(mem=8G, cpus=2)\n")
    ours = s.machine.views.page_view("meminfo")
    assert _names(ours) == _names(REAL)
    for mine, real in zip(ours.splitlines(), REAL.splitlines()):
        # the value column ends at the same position; kB where the kernel prints kB
        assert len(mine) == len(real) or (len(mine) > len(real) and "VmallocTotal" in mine), (mine, real)
        assert mine.endswith(" kB") == real.endswith(" kB"), (mine, real)


def test_mapped_and_committed_follow_the_tasks() -> None:
    s = Session(out=lambda line: None, quiet=True)
    s.run_text('machine(mem=1G, cpus=2)\ntask t = spawn("t")\nt.fault(8M)\n')
    text = s.machine.views.page_view("meminfo")
    committed = re.search(r"^Committed_AS:\s+(\d+) kB$", text, re.M)
    assert committed is not None and int(committed.group(1)) == 8 * 1024


REFERENCE_MEMBLOCK = [(0x1, 0x9F), (0x100, 0xC0000), (0x100000, 0x640000)]   # its zoneinfo's present pages


def _direct_map_kb(text: str) -> tuple[int, int, int]:
    vals = dict(re.findall(r"^(DirectMap\w+):\s+(\d+) kB$", text, re.M))
    return int(vals["DirectMap4k"]), int(vals["DirectMap2M"]), int(vals["DirectMap1G"])


def test_split_mem_range() -> None:
    both = (1 << PG_LEVEL_2M) | (1 << PG_LEVEL_1G)
    # 1 MiB .. 3 GiB: a 4K head to 2 MiB, 2M pages to 1 GiB, then 1G pages
    assert split_mem_range(0x100, 0xC0000, both) == [(0x100, 0x200, 0), (0x200, 0x40000, 1 << PG_LEVEL_2M),
                                                     (0x40000, 0xC0000, both)]
    # a range inside one 2 MiB page is all 4K
    assert split_mem_range(0x300, 0x310, both) == [(0x300, 0x310, 0)]


def test_boot_counts_on_the_reference_layout() -> None:
    # the ISA range and [1 MiB, 2 MiB) in 4K pages, [2 MiB, 1 GiB) in 2M pages, and 1G pages
    # for [1, 3) GiB and [4, 25) GiB where the top one is counted by three top-down steps
    dm = init_mem_mapping(REFERENCE_MEMBLOCK, X86_64)
    assert (dm.pages_4k, dm.pages_2m, dm.pages_1g) == (512, 511, 25)
    assert dm.meminfo_kb() == (2048, 1046528, 26214400)
    # without 1 GiB pages everything above 2 MiB is 2M pages: the top-down steps meet at
    # 2 MiB boundaries, so no page is counted twice
    no_gb = init_mem_mapping(REFERENCE_MEMBLOCK, X86_64, gbpages=False)
    assert (no_gb.pages_4k, no_gb.pages_2m, no_gb.pages_1g) == (512, 511 + 2 * 512 + 21 * 512, 0)


def test_the_reference_machine_is_the_boot_map_after_whole_splits() -> None:
    """Both snapshots of the reference machine's meminfo are the simulated boot figures after
    a whole number of set_memory splits (split_page_count: one 1G page becomes 512 2M pages,
    one 2M page 512 4K pages), which is what the simulator leaves unmodelled; the total is
    the boot total."""
    s = Session(out=lambda line: None, quiet=True)
    s.run_text("machine(mem=24G, cpus=2)\n")
    boot4k, boot2m, boot1g = _direct_map_kb(s.machine.views.page_view("meminfo"))
    assert (boot4k, boot2m, boot1g) == (2048, 1046528, 26214400)
    for path, splits in ((Path(__file__).parent / "data" / "meminfo-6.18.44.txt", (1, 13)),
                         (Path(__file__).parent / "data" / "meminfo-6.18-2cpu.txt", (1, 9))):
        real4k, real2m, real1g = _direct_map_kb(path.read_text())
        assert real4k + real2m + real1g == boot4k + boot2m + boot1g
        split_1g = (boot1g - real1g) // (1 << 20)
        split_2m = (real4k - boot4k) // 2048
        assert (split_1g, split_2m) == splits
        assert real1g == boot1g - split_1g * (1 << 20)
        assert real2m == boot2m + split_1g * (1 << 20) - split_2m * 2048
        assert real4k == boot4k + split_2m * 2048


def test_a_small_machine_has_no_gigabyte_page() -> None:
    s = Session(out=lambda line: None, quiet=True)
    s.run_text("machine(mem=1G, cpus=2)\n")
    assert _direct_map_kb(s.machine.views.page_view("meminfo")) == (2048, 1046528, 0)
