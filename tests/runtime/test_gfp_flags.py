"""GFP flag values, composites, %pGg formatting, gfp_zone and gfp_migratetype (facts section 4)."""

from __future__ import annotations

import pytest

from kmscript.runtime import gfp as g


def test_bit_values_match_6_18() -> None:
    expected = {
        "__GFP_DMA": 0x1, "__GFP_HIGHMEM": 0x2, "__GFP_DMA32": 0x4, "__GFP_MOVABLE": 0x8,
        "__GFP_RECLAIMABLE": 0x10, "__GFP_HIGH": 0x20, "__GFP_IO": 0x40, "__GFP_FS": 0x80,
        "__GFP_ZERO": 0x100, "__GFP_DIRECT_RECLAIM": 0x400, "__GFP_KSWAPD_RECLAIM": 0x800,
        "__GFP_WRITE": 0x1000, "__GFP_NOWARN": 0x2000, "__GFP_RETRY_MAYFAIL": 0x4000,
        "__GFP_NOFAIL": 0x8000, "__GFP_NORETRY": 0x10000, "__GFP_MEMALLOC": 0x20000,
        "__GFP_COMP": 0x40000, "__GFP_NOMEMALLOC": 0x80000, "__GFP_HARDWALL": 0x100000,
        "__GFP_THISNODE": 0x200000, "__GFP_ACCOUNT": 0x400000, "__GFP_ZEROTAGS": 0x800000,
        "__GFP_NO_OBJ_EXT": 0x1000000, "__GFP_RECLAIM": 0xC00,
    }
    for name, value in expected.items():
        assert g.GFP_NAMES[name] == value, name


def test_composites() -> None:
    assert g.GFP_ATOMIC == 0x820
    assert g.GFP_KERNEL == 0xCC0
    assert g.GFP_KERNEL_ACCOUNT == 0x400CC0
    assert g.GFP_NOWAIT == 0x2800
    assert g.GFP_NOIO == 0xC00
    assert g.GFP_NOFS == 0xC40
    assert g.GFP_USER == 0x100CC0
    assert g.GFP_HIGHUSER == 0x100CC2
    assert g.GFP_HIGHUSER_MOVABLE == 0x100CCA
    assert g.GFP_TRANSHUGE_LIGHT == (0x100CCA | 0x40000 | 0x80000 | 0x2000) & ~0xC00
    assert g.GFP_TRANSHUGE == g.GFP_TRANSHUGE_LIGHT | 0x400


@pytest.mark.parametrize("mask,text", [
    (g.GFP_KERNEL, "GFP_KERNEL"),
    (g.GFP_KERNEL | g.__GFP_ZERO, "GFP_KERNEL|__GFP_ZERO"),
    (g.GFP_ATOMIC, "GFP_ATOMIC"),
    (g.GFP_NOWAIT, "GFP_NOWAIT"),
    (g.GFP_ATOMIC | g.__GFP_NOWARN, "GFP_ATOMIC|__GFP_NOWARN"),
    (g.GFP_KERNEL_ACCOUNT, "GFP_KERNEL_ACCOUNT"),
    (g.GFP_HIGHUSER_MOVABLE | g.__GFP_ZERO, "GFP_HIGHUSER_MOVABLE|__GFP_ZERO"),
    (g.GFP_TRANSHUGE, "GFP_TRANSHUGE"),
    (g.GFP_USER, "GFP_USER"),
    (g.GFP_KERNEL | g.__GFP_HARDWALL, "GFP_USER"),   # most bits first: the table order decides
    (g.GFP_DMA | g.GFP_KERNEL, "GFP_KERNEL|GFP_DMA"),
    (g.__GFP_DIRECT_RECLAIM, "__GFP_DIRECT_RECLAIM"),
    (g.__GFP_NOFAIL | g.GFP_KERNEL, "GFP_KERNEL|__GFP_NOFAIL"),
    (g.GFP_KERNEL | g.__GFP_NO_OBJ_EXT, "GFP_KERNEL|__GFP_NO_OBJ_EXT"),
    (0x200, "0x200"),
    (0, "none"),
])
def test_format_gfp(mask: int, text: str) -> None:
    assert g.format_gfp(mask) == text


def test_pGg_of_zero_is_empty() -> None:
    assert g.format_gfp_pGg(0) == ""


@pytest.mark.parametrize("mask,zone", [
    (0, g.ZONE_NORMAL), (g.GFP_KERNEL, g.ZONE_NORMAL), (g.__GFP_DMA, g.ZONE_DMA), (g.__GFP_HIGHMEM, g.ZONE_NORMAL),
    (g.__GFP_DMA32, g.ZONE_DMA32), (g.__GFP_MOVABLE, g.ZONE_NORMAL), (g.__GFP_MOVABLE | g.__GFP_DMA, g.ZONE_DMA),
    (g.GFP_HIGHUSER_MOVABLE, g.ZONE_MOVABLE), (g.__GFP_MOVABLE | g.__GFP_DMA32, g.ZONE_DMA32),
])
def test_gfp_zone(mask: int, zone: int) -> None:
    assert g.gfp_zone(mask) == zone
    assert not g.gfp_zone_bad(mask)


def test_gfp_zone_bad_combinations() -> None:
    assert g.gfp_zone_bad(g.__GFP_DMA | g.__GFP_DMA32)
    assert g.gfp_zone_bad(g.__GFP_DMA | g.__GFP_HIGHMEM)


def test_gfp_migratetype() -> None:
    assert g.gfp_migratetype(g.GFP_KERNEL) == g.MIGRATE_UNMOVABLE
    assert g.gfp_migratetype(g.GFP_HIGHUSER_MOVABLE) == g.MIGRATE_MOVABLE
    assert g.gfp_migratetype(g.GFP_KERNEL | g.__GFP_RECLAIMABLE) == g.MIGRATE_RECLAIMABLE
