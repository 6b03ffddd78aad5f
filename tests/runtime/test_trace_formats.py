"""Every kmem trace event the simulator emits has the shape of its 6.18 TP_printk.

The ``print fmt`` of tests/runtime/data/tracefs-kmem-6.18/<event>.format (the reference
machine's tracefs) is turned into a pattern: ``%p`` is 16 hex digits without ``0x``
(unhashed, lib/vsprintf.c pointer_string), ``%pS`` a symbol (here the script's line),
``%d``/``%u``/``%zu`` decimals, ``0x%lx`` hex, ``%s`` a word.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from kmscript.session import Session

DATA = Path(__file__).parent / "data" / "tracefs-kmem-6.18"
_CONV = [("%pS", r"\S+"), ("%p", r"[0-9a-f]{16}"), ("0x%lx", r"0x[0-9a-f]+"), ("%zu", r"\d+"),
         ("%d", r"-?\d+"), ("%u", r"\d+"), ("%s", r"\S+")]


def _pattern(event: str) -> re.Pattern[str]:
    text = (DATA / f"{event}.format").read_text()
    fmt = re.search(r'print fmt: "(.*?)", ', text)
    assert fmt is not None
    out, rest = "", fmt.group(1)
    while rest:
        for conv, rx in _CONV:
            if rest.startswith(conv):
                out += rx
                rest = rest[len(conv):]
                break
        else:
            out += re.escape(rest[0])
            rest = rest[1:]
    return re.compile(out)


@pytest.fixture(scope="module")
def events() -> list[tuple[str, str]]:
    s = Session(out=lambda line: None, quiet=True)
    s.run_text("machine(mem=1G, cpus=2)")
    s.machine.tracer.record()
    s.run_text("cache c = create(size=100)\n"
               "x = kmalloc(50, GFP_KERNEL); kfree(x)\n"
               "y = kmem_cache_alloc(c, GFP_KERNEL); kmem_cache_free(c, y)\n"
               "big = kmalloc(20000, GFP_KERNEL); kfree(big)\n"
               "p = alloc_pages(GFP_KERNEL, 3); __free_pages(p, 3)\n"
               "q = alloc_pages(GFP_ATOMIC, 11)\n"
               "l = []\nrepeat 20 { l += [alloc_page(GFP_KERNEL)] }\nfor x in l { __free_page(x) }\n"
               "drain_all_pages()\n")
    return list(s.machine.tracer.events)


@pytest.mark.parametrize("event", sorted(f.stem for f in DATA.glob("*.format")))
def test_event_fields_match_the_print_fmt(events: list[tuple[str, str]], event: str) -> None:
    seen = [fields for name, fields in events if name == event]
    if event in ("mm_page_alloc_extfrag",):
        pytest.skip("no fallback in this run")
    assert seen, f"the run emitted no {event}"
    pat = _pattern(event)
    for fields in seen:
        assert pat.fullmatch(fields), (event, fields, pat.pattern)


def test_pointers_print_without_0x(events: list[tuple[str, str]]) -> None:
    for name, fields in events:
        for m in re.finditer(r"\b(ptr|page)=(\S+)", fields):
            assert not m.group(2).startswith("0x"), (name, fields)


def test_flags_column_reflects_irq_and_preempt_state() -> None:
    out: list[str] = []
    s = Session(out=out.append, quiet=True, trace=True)
    s.run_text("machine(mem=1G, cpus=2)\n"
               "a = kmalloc(8, GFP_ATOMIC)\n"
               "spin_lock_irqsave(l); b = kmalloc(8, GFP_ATOMIC); spin_unlock_irqrestore(l)\n"
               "irq < c = kmalloc(8, GFP_ATOMIC) >\n"
               "cpu 1 < d = kmalloc(8, GFP_ATOMIC) >\n"
               "local_bh_disable(); e = kmalloc(8, GFP_ATOMIC); local_bh_enable()\n")
    cols = [line.split("] ", 1)[1][:5] for line in out if ": kmalloc: " in line]
    assert cols == [".....", "d..1.", "d.h..", "...1.", "b...."]
