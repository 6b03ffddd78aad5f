"""The GFP renderer against the 6.18 kernel's own table.

tests/runtime/data/tracefs-kmem-6.18/ holds the ``format`` files of the kmem trace events
as /sys/kernel/tracing/events/kmem/*/format shows them on the 6.18.44 reference machine.
Their ``print fmt`` carries ``show_gfp_flags`` expanded: the ``__print_flags`` table of
include/trace/events/mmflags.h with every mask already turned into C arithmetic.  This test
evaluates that table, prints masks with the kernel's algorithm
(kernel/trace/trace_output.c: trace_print_flags_seq) and compares with ``format_gfp``.
"""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest

from kmscript.runtime import gfp as g

DATA = Path(__file__).parent / "data" / "tracefs-kmem-6.18"
_ENTRY = re.compile(r'\{\( unsigned long\)(?P<expr>.*?), "(?P<name>[A-Z_0-9]+)"\}')


def _c_mask(expr: str) -> int:
    """Evaluate one mask expression of the format file (casts, 1UL, shifts, |, &, ~)."""
    py = expr.replace("( gfp_t)", "").replace("1UL", "1")
    if not re.fullmatch(r"[0-9()|&~<> ]+", py):
        raise AssertionError(f"unexpected token in mask expression: {expr}")
    value = eval(py, {"__builtins__": {}})  # noqa: S307 - digits and operators only, checked above
    assert isinstance(value, int)
    return value & ((1 << 64) - 1)


def _kernel_table(event: str) -> list[tuple[int, str]]:
    text = (DATA / f"{event}.format").read_text()
    fmt = text[text.index("print fmt:"):]
    flags = fmt[fmt.index("__print_flags("):]
    return [(_c_mask(m["expr"]), m["name"]) for m in _ENTRY.finditer(flags)]


def _trace_print_flags_seq(mask: int, table: list[tuple[int, str]]) -> str:
    """kernel/trace/trace_output.c: trace_print_flags_seq with delim "|", behind
    show_gfp_flags' ``(flags) ? ... : "none"``."""
    if mask == 0:
        return "none"
    parts: list[str] = []
    flags = mask
    for value, name in table:
        if not flags:
            break
        if flags & value != value:
            continue
        flags &= ~value
        parts.append(name)
    if flags:
        parts.append(f"0x{flags:x}")
    return "|".join(parts)


@pytest.mark.parametrize("event", ["mm_page_alloc", "kmalloc", "kmem_cache_alloc"])
def test_table_matches_the_format_file(event: str) -> None:
    table = _kernel_table(event)
    assert len(table) == 38
    assert table[-1] == (1 << 24, "__GFP_NO_OBJ_EXT")
    assert [(v, n) for v, n in table] == list(g._GFPFLAG_NAMES)


def test_names_match_the_kernel_values() -> None:
    for value, name in _kernel_table("mm_page_alloc"):
        assert g.GFP_NAMES[name] == value, name


def test_random_masks_print_like_the_kernel() -> None:
    table = _kernel_table("mm_page_alloc")
    rng = random.Random(618)
    masks = [rng.getrandbits(g.__GFP_BITS_SHIFT) for _ in range(20000)]
    # sparse masks too: a few bits over a common composite, as real callers pass
    commons = [g.GFP_KERNEL, g.GFP_ATOMIC, g.GFP_NOWAIT, g.GFP_HIGHUSER_MOVABLE, g.GFP_USER, 0]
    for _ in range(5000):
        extra = 0
        for _bit in range(rng.randint(0, 3)):
            extra |= 1 << rng.randrange(g.__GFP_BITS_SHIFT)
        masks.append(rng.choice(commons) | extra)
    for mask in masks:
        assert g.format_gfp(mask) == _trace_print_flags_seq(mask, table), hex(mask)


@pytest.mark.parametrize("mask,text", [
    (g.GFP_HIGHUSER_MOVABLE | g.__GFP_ZERO | g.__GFP_COMP, "GFP_HIGHUSER_MOVABLE|__GFP_ZERO|__GFP_COMP"),
    (g.GFP_KERNEL | g.__GFP_NO_OBJ_EXT, "GFP_KERNEL|__GFP_NO_OBJ_EXT"),
    (g.GFP_DMA32 | g.__GFP_HIGHMEM, "GFP_DMA32|__GFP_HIGHMEM"),
    (g.__GFP_ZERO | g.__GFP_NOWARN | g.__GFP_DIRECT_RECLAIM, "__GFP_ZERO|__GFP_DIRECT_RECLAIM|__GFP_NOWARN"),
])
def test_known_6_18_renderings(mask: int, text: str) -> None:
    assert g.format_gfp(mask) == text
