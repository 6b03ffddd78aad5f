"""WARN/BUG/might_sleep reports name the check's place in the 6.18 sources (bug_sites.py):
``WARNING: CPU: N PID: P at FILE:LINE FUNC``, ``kernel BUG at FILE:LINE!`` and ``... invalid
context at FILE:LINE``, every one a site of the table."""

from __future__ import annotations

import re
from pathlib import Path

from kmscript.runtime import bug_sites
from kmscript.runtime.bug_sites import Site
from kmscript.runtime.gfp import GFP_ATOMIC, GFP_KERNEL, __GFP_NOFAIL, __GFP_NOWARN
from kmscript.runtime.machine import Machine, MachineConfig

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"
SITES = {(s.file, s.line): s for s in vars(bug_sites).values() if isinstance(s, Site)}

WARNING = re.compile(r"WARNING: CPU: \d+ PID: \d+ at (\S+):(\d+) (\w+)$")
BUG = re.compile(r"kernel BUG at (\S+):(\d+)!$")
MIGHT_SLEEP = re.compile(r"BUG: sleeping function called from invalid context at (\S+):(\d+)$")


def test_every_report_in_the_goldens_names_a_site() -> None:
    seen = 0
    for out in sorted(SCENARIOS.rglob("*.out")):
        for line in out.read_text().splitlines():
            body = re.sub(r"^\[\s*\d+\.\d+\] ", "", line)
            if "WARNING: CPU:" in body:
                m = WARNING.match(body)
                assert m, (out, line)
                site = SITES.get((m.group(1), int(m.group(2))))
                assert site is not None and site.func == m.group(3), (out, line)
                seen += 1
            elif "kernel BUG at" in body:
                m = BUG.match(body)
                assert m and (m.group(1), int(m.group(2))) in SITES, (out, line)
                seen += 1
            elif (m2 := MIGHT_SLEEP.match(body)) and not m2.group(1).endswith(".kms"):
                assert (m2.group(1), int(m2.group(2))) in SITES, (out, line)
                seen += 1
    assert seen >= 10


def test_sites_are_distinct_places() -> None:
    all_sites = [s for s in vars(bug_sites).values() if isinstance(s, Site)]
    assert len({(s.file, s.line) for s in all_sites}) == len(all_sites)
    assert all(s.line > 0 and s.file.endswith((".c", ".h")) for s in all_sites)


def _machine() -> Machine:
    m = Machine(MachineConfig(cpus=2, dma_pages=3840, dma32_pages=6000, normal_pages=9000))
    m.page_alloc.reclaim = None
    return m


def test_nofail_without_reclaim_warns_on_entering_the_slowpath() -> None:
    """mm/page_alloc.c: __alloc_pages_slowpath checks a __GFP_NOFAIL request on entry, so the
    WARN comes even when the slow path then finds a page (here in the atomic reserve)."""
    m = _machine()
    while m.page_alloc.alloc_pages(GFP_KERNEL | __GFP_NOWARN, 0) is not None:
        pass
    assert m.page_alloc.alloc_pages(GFP_ATOMIC | __GFP_NOFAIL, 0) is not None
    warns = [r.text for r in m.log.records if r.kind == "warn" and "WARNING: CPU:" in r.text]
    assert len(warns) == 1
    assert "at mm/page_alloc.c:4687 __alloc_pages_slowpath" in warns[0]


def test_bug_and_warn_lines_print_file_and_line() -> None:
    m = _machine()
    m.ctx.warn(bug_sites.VFREE_NONEXISTENT, "Trying to vfree() nonexistent vm area (0000000000000001)")
    text = m.log.records[-1].text.splitlines()
    assert text[2].startswith("WARNING: CPU: 0 PID: ") and text[2].endswith(" at mm/vmalloc.c:3422 vfree")
    assert "RIP: 0010:vfree" in text


def test_vfree_might_sleep_and_a_misaligned_vfree_warns_twice() -> None:
    """mm/vmalloc.c: vfree() might_sleep()s outside interrupts; remove_vm_area() WARNs on a
    misaligned address and returns NULL, which vfree() reports as a nonexistent area."""
    m = _machine()
    p = m.vmalloc.vmalloc(8192)
    assert p is not None
    m.ctx.spin_lock("lock")
    m.vmalloc.vfree(p)
    m.ctx.spin_unlock("lock")
    assert "BUG: sleeping function called from invalid context at mm/vmalloc.c:3415" in m.log.records[-1].text
    q = m.vmalloc.vmalloc(8192)
    assert q is not None
    n = len(m.log.records)
    m.vmalloc.vfree(q + 8)
    warned = [r.text for r in m.log.records[n:] if "WARNING: CPU:" in r.text]
    assert len(warned) == 2
    assert " at mm/vmalloc.c:3287 remove_vm_area" in warned[0] and " at mm/vmalloc.c:3422 vfree" in warned[1]


def test_a_zeroed_allocation_from_a_constructed_cache_warns_once_in_new_slab() -> None:
    """mm/slub.c: new_slab: WARN_ON_ONCE(s->ctor && (flags & __GFP_ZERO))."""
    from kmscript.runtime.gfp import __GFP_ZERO
    m = _machine()
    s = m.slab.kmem_cache_create("ctor_cache", 96, ctor="ctor_fn")
    for _ in range(100):   # several new slabs, one WARN
        assert m.kmalloc.kmem_cache_alloc(s, GFP_KERNEL | __GFP_ZERO, "t.kms:1") is not None
    warns = [r.text for r in m.log.records if "WARNING: CPU:" in r.text]
    assert len(warns) == 1 and " at mm/slub.c:3284 new_slab" in warns[0]
