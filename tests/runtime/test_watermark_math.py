"""Watermarks, lowmem_reserve, pcp sizing and min_free_kbytes against the verified 6.18 machine.

Oracles: the zoneinfo snapshot copied from the 6.18.44 machine (tests/runtime/data) and
the second verified snapshot of linux-mm-facts.md section 2 (Normal managed 458752).
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest

from kmscript.runtime.gfp import GFP_ATOMIC, GFP_KERNEL, GFP_NOWAIT, __GFP_HIGH
from kmscript.runtime.machine import Machine, MachineConfig
from kmscript.runtime.internal import (ALLOC_MIN_RESERVE, ALLOC_NON_BLOCK, ALLOC_OOM, ALLOC_WMARK_MIN,
                                       zone_watermark_ok)
from kmscript.runtime.page_alloc import PageAllocator

DATA = Path(__file__).parent / "data"


def parse_zoneinfo(text: str) -> dict[str, dict[str, object]]:
    zones: dict[str, dict[str, object]] = {}
    cur: dict[str, object] = {}
    for line in text.splitlines():
        m = re.match(r"Node 0, zone\s+(\S+)", line)
        if m:
            cur = zones.setdefault(m.group(1), {"pcp": []})
            continue
        s = line.strip()
        m = re.match(r"(pages free|boost|min|low|high|promo|spanned|present|managed)\s+(\d+)$", s)
        if m:
            cur[m.group(1)] = int(m.group(2))
        m = re.match(r"protection: \((.*)\)", s)
        if m:
            cur["protection"] = [int(x) for x in m.group(1).split(",")]
        m = re.match(r"(count|high|batch|high_min|high_max):\s+(\d+)$", s)
        if m and line.startswith("              "):
            pcp = cur["pcp"]
            assert isinstance(pcp, list)
            if m.group(1) == "count":
                pcp.append({})
            pcp[-1][m.group(1)] = int(m.group(2))
        m = re.match(r"vm stats threshold: (\d+)", s)
        if m:
            cur["threshold"] = int(m.group(1))
        m = re.match(r"start_pfn:\s+(\d+)", s)
        if m:
            cur["start_pfn"] = int(m.group(1))
    return zones


SNAP = parse_zoneinfo((DATA / "zoneinfo-6.18.44.txt").read_text())


def snapshot_machine() -> Machine:
    return Machine(MachineConfig(cpus=2, dma_pages=SNAP["DMA"]["managed"], dma32_pages=SNAP["DMA32"]["managed"],
                                 normal_pages=SNAP["Normal"]["managed"]))


def test_snapshot_watermarks_protection_and_sizes_match() -> None:
    pa = snapshot_machine().page_alloc
    assert pa.min_free_kbytes == 67584
    for z in pa.zones:
        snap = SNAP[z.name]
        assert [z.min, z.low, z.high, z.promo, z.boost] == \
            [snap["min"], snap["low"], snap["high"], snap["promo"], snap["boost"]], z.name
        assert z.protection == snap["protection"], z.name
        assert z.managed == snap["managed"], z.name
        if z.name in ("DMA", "DMA32"):
            assert (z.spanned, z.present) == (snap["spanned"], snap["present"]), z.name
        if z.populated:
            assert z.start_pfn == snap["start_pfn"]
            assert z.threshold == snap["threshold"]
            pcp_snap = snap["pcp"][0]  # type: ignore[index]
            assert (z.batch, z.high_min, z.high_max) == \
                (pcp_snap["batch"], pcp_snap["high_min"], pcp_snap["high_max"]), z.name


def test_facts_second_snapshot_table() -> None:
    pa = Machine(MachineConfig(cpus=2, dma_pages=3840, dma32_pages=772917, normal_pages=458752)).page_alloc
    table = {"DMA": (52, 65, 78, 91), "DMA32": (10569, 13211, 15853, 18495), "Normal": (6273, 7841, 9409, 10977),
             "Movable": (32, 32, 32, 32), "Device": (0, 0, 0, 0)}
    for z in pa.zones:
        assert (z.min, z.low, z.high, z.promo) == table[z.name]
    assert pa.zone_by_name("DMA").protection == [0, 3019, 4811, 4811, 4811]
    assert pa.zone_by_name("DMA32").protection == [0, 0, 1792, 1792, 1792]
    assert pa.zone_by_name("Normal").protection == [0, 0, 0, 0, 0]
    dma, dma32, normal = pa.zones[:3]
    assert (dma.batch, dma.high_min, dma.high_max) == (1, 32, 240)
    assert (dma32.batch, dma32.high_min, dma32.high_max) == (63, 6605, 48307)
    assert (normal.batch, normal.high_min, normal.high_max) == (63, 3920, 28672)
    assert [z.threshold for z in pa.zones[:3]] == [4, 24, 20]


def test_min_free_kbytes_without_thp_uses_sqrt_formula() -> None:
    pa = Machine(MachineConfig(cpus=2, dma_pages=3840, dma32_pages=772917, normal_pages=458752, thp=False)).page_alloc
    # boot: high watermarks are still 0, so lowmem = all managed pages of DMA..Normal
    first = math.isqrt((3840 + 772917 + 458752) * 4 * 16)
    # khugepaged's hook without THP recomputes with the high watermarks of the first pass
    pages_min = first // 4
    lowmem = 3840 + 772917 + 458752
    total = 0
    for managed in (3840, 772917, 458752):
        tmp = pages_min * managed // lowmem
        delta = max(tmp // 4, managed * 10 // 10000)
        total += managed - (tmp + 2 * delta)
    assert pa.min_free_kbytes == min(max(math.isqrt(total * 4 * 16), 128), 262144)
    assert pa.min_free_kbytes < 67584


def test_sysctl_min_free_kbytes_user_value_wins_and_recomputes() -> None:
    m = snapshot_machine()
    pa = m.page_alloc
    m.sysctls.set("vm.min_free_kbytes", 16384)
    assert m.sysctls.get("vm.min_free_kbytes") == 16384
    dma32 = pa.zone_by_name("DMA32")
    lowmem = 3840 + 772918 + 163840
    assert dma32.min == 4096 * 772918 // lowmem
    # pcp high_min follows the low watermark
    assert dma32.high_min == max(dma32.low // 2, 4 * 63)
    # a later recalculation keeps the user's value (calculate_min_free_kbytes only raises it)
    pa.calculate_min_free_kbytes()
    assert pa.min_free_kbytes == 16384 or pa.min_free_kbytes > 16384


def test_sysctl_watermark_scale_factor() -> None:
    m = snapshot_machine()
    m.sysctls.set("vm.watermark_scale_factor", 1000)   # 10%
    dma32 = m.page_alloc.zone_by_name("DMA32")
    delta = max(13883 // 4, 772918 * 1000 // 10000)
    assert (dma32.min, dma32.low, dma32.high, dma32.promo) == (13883, 13883 + delta, 13883 + 2 * delta, 13883 + 3 * delta)
    with pytest.raises(Exception):
        m.sysctls.set("vm.watermark_scale_factor", 0)


def test_sysctl_lowmem_reserve_ratio() -> None:
    m = snapshot_machine()
    m.sysctls.set("vm.lowmem_reserve_ratio", "128 128 32 0 0")
    assert m.page_alloc.zone_by_name("DMA").protection == [0, 772918 // 128, (772918 + 163840) // 128] + \
        [(772918 + 163840) // 128] * 2
    m.sysctls.set("vm.lowmem_reserve_ratio", [0, 256, 32, 0, 0])
    assert m.page_alloc.zone_by_name("DMA").protection == [0, 0, 0, 0, 0]
    assert m.sysctls.get("vm.lowmem_reserve_ratio") == "0\t256\t32\t0\t0"


def test_sysctl_percpu_pagelist_high_fraction() -> None:
    m = snapshot_machine()
    m.sysctls.set("vm.percpu_pagelist_high_fraction", 8)
    dma32 = m.page_alloc.zone_by_name("DMA32")
    assert dma32.high_min == dma32.high_max == 772918 // 8 // 2
    with pytest.raises(Exception):
        m.sysctls.set("vm.percpu_pagelist_high_fraction", 4)
    m.sysctls.set("vm.percpu_pagelist_high_fraction", 0)
    assert (dma32.high_min, dma32.high_max) == (8676, 48307)


def test_zone_watermark_ok_reserve_arithmetic() -> None:
    """Effective min of the facts 3.2 table for Normal min 6273."""
    pa = Machine(MachineConfig(cpus=2, dma_pages=3840, dma32_pages=772917, normal_pages=458752)).page_alloc
    z = pa.zone_by_name("Normal")
    M = z.min

    def passes(flags: int, free: int) -> bool:
        return zone_watermark_ok(z, 0, M, 2, flags, free)

    for flags, eff in ((ALLOC_WMARK_MIN, 6273), (ALLOC_MIN_RESERVE, 3137),
                       (ALLOC_MIN_RESERVE | ALLOC_NON_BLOCK, 2353), (ALLOC_OOM, 3137)):
        assert not passes(flags, eff) and passes(flags, eff + 1), hex(flags)
    assert pa.gfp_to_alloc_flags(GFP_ATOMIC, 0) & (ALLOC_MIN_RESERVE | ALLOC_NON_BLOCK) == \
        ALLOC_MIN_RESERVE | ALLOC_NON_BLOCK
    assert pa.gfp_to_alloc_flags(GFP_NOWAIT, 0) & ALLOC_MIN_RESERVE == 0
    assert pa.gfp_to_alloc_flags(GFP_KERNEL | __GFP_HIGH, 0) & ALLOC_NON_BLOCK == 0


def test_default_machine_layout() -> None:
    m = Machine()
    pa: PageAllocator = m.page_alloc
    assert m.nr_cpus == 4
    dma, dma32, normal = pa.zones[:3]
    assert dma.start_pfn == 1 and dma.spanned == 4095 and dma.present == 3998 and dma.managed == 3840
    assert dma32.start_pfn == 4096 and dma32.spanned == (1 << 20) - 4096
    assert dma32.present == 786432 - 4096            # RAM below 4 GiB ends at 3 GiB (PCI hole)
    assert dma32.managed < dma32.present
    assert normal.start_pfn == 1 << 20 and normal.present == (8 << 18) - 786432
    assert normal.managed < normal.present           # the memmap is reserved at the top
    assert pa.page_state(0)[0] == "absent"
    assert pa.page_state(0x9F)[0] == "absent" and pa.page_state(0x9E)[0] == "reserved"
    assert pa.page_state(786432)[0] == "absent"      # inside the PCI hole
    counts = pa.page_counts()
    assert sum(counts.values()) == sum(z.managed for z in pa.zones)
    assert counts["free"] == pa.nr_free_pages()
    assert counts["pcp"] == pa.nr_pcp_pages()
