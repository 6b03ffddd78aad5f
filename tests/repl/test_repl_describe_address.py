"""Machine.describe_address: the REPL's "where does this pointer live" line."""

from __future__ import annotations

import re

from kmscript.session import Session


def _run(code: str) -> Session:
    s = Session(out=lambda line: None)
    s.run_text(code)
    return s


def _addr(s: Session, name: str) -> int:
    return int(s.interp.globals[name].addr)


def test_slab_object() -> None:
    s = _run("a = kmalloc(50); b = kmalloc(50); c = b + 8")
    m = s.machine
    da, db = m.views.describe_address(_addr(s, "a")), m.views.describe_address(_addr(s, "b"))
    assert re.fullmatch(r"kmalloc-64  slab pfn 0x[0-9a-f]+  obj 0/64", da or ""), da
    assert re.fullmatch(r"kmalloc-64  slab pfn 0x[0-9a-f]+  obj 1/64", db or ""), db
    assert (m.views.describe_address(_addr(s, "c")) or "").endswith("obj 1/64  +8")
    s.run_text("kfree(b)")
    assert "free" in (m.views.describe_address(_addr(s, "b")) or "")


def test_pages_vmalloc_percpu_and_special_values() -> None:
    s = _run("g = __get_free_pages(GFP_KERNEL, 2); v = vmalloc(16K); p = alloc_percpu(8)")
    m = s.machine
    assert re.fullmatch(r"page pfn 0x[0-9a-f]+  order 2  zone Normal  kernel", m.views.describe_address(_addr(s, "g")) or "")
    dv = m.views.describe_address(_addr(s, "v")) or ""
    assert re.match(r"vmalloc area 0xffffc9[0-9a-f]+-0x[0-9a-f]+  4 pages  page pfn 0x", dv), dv
    assert "guard page" in (m.views.describe_address(_addr(s, "v") + 16 * 1024) or "")
    assert (m.views.describe_address(_addr(s, "p")) or "").startswith("per-cpu first chunk  cpu 0")
    assert m.views.describe_address(16) == "ZERO_SIZE_PTR (kmalloc(0))"
    assert m.views.describe_address(0x1234) is None
