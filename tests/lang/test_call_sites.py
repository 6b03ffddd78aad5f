"""Built-in call sites (lang/calls.py, fast path and generic path):
they follow the session's current machine, store results into variables, and report
argument errors and unknown names at the argument."""

from __future__ import annotations

from kmscript.errors import KmsLimitError, KmsNameError, KmsTypeError
from kmscript.lang.values import Ptr
from kmscript.session import Session
from tests.conftest import run_script


def test_call_sites_follow_a_machine_rebooted_mid_loop() -> None:
    # The loop body is compiled once; after machine(...) the same call sites must
    # allocate from the new machine, whose first kmalloc-64 object is again the first.
    out, err, s = run_script("machine(cpus=2)\nfor i in 0..3 {\n  if i == 2 { machine(cpus=2) }\n"
                             "  p = kmalloc(64, GFP_KERNEL)\n  print(p)\n}\nk = ksize(p)\n")
    assert err is None, err.render()
    assert out[0] != out[1] and out[2] == out[0]
    p = s.interp.globals["p"]
    assert isinstance(p, Ptr) and s.machine.kmalloc.ksize(p.addr) == 64 and s.interp.globals["k"] == 64


def test_first_built_in_call_boots_the_default_machine() -> None:
    s = Session(out=lambda t: None)
    s.run_text("fn f() { return kmalloc(32) }\n", "t.kms")
    assert not s.has_machine
    s.run_text("p = f()\nkfree(p)\nq = kmalloc(8)\n", "t.kms")
    assert s.has_machine and s.machine.kmalloc.ksize(s.interp.globals["q"].addr) == 8


def test_assigned_calls_store_globals_and_locals() -> None:
    out, err, _ = run_script("fn size_of(n) { q = kmalloc(n, GFP_KERNEL); r = ksize(q); kfree(q); return r }\n"
                             "a = size_of(50)\nb = size_of(100)\nc = kmalloc(0)\nprint(a, b, c, size_of(3000))\n")
    assert err is None, err.render()
    assert out == ["64 128 0x0000000000000010 4096"]


def test_argument_errors_point_at_the_argument() -> None:
    _, err, _ = run_script('x = 1\np = kmalloc(x, "no")\n')
    assert isinstance(err, KmsTypeError)
    assert "'gfp' must be GFP flags" in err.message and err.span is not None and (err.span.line, err.span.column) == (2, 16)
    _, err, _ = run_script("kfree(nothing_here)\n")
    assert isinstance(err, KmsNameError) and "unknown name 'nothing_here'" in err.message
    _, err, _ = run_script("fn f() { kfree(p); p = NULL }\nf()\n")
    assert isinstance(err, KmsNameError) and "'p' is used before it is assigned" in err.message
    _, err, _ = run_script('p = "text"\nkfree(p)\n')
    assert isinstance(err, KmsTypeError) and "'p' must be a pointer, not string" in err.message


def test_calls_in_loops_still_count_steps() -> None:
    _, err, _ = run_script("repeat 10 { p = kmalloc(64, GFP_KERNEL); kfree(p) }\n", max_steps=5)
    assert isinstance(err, KmsLimitError)


def test_errors_from_an_implementation_point_at_the_call() -> None:
    # Positional (generated call site) and keyword (generic path) calls alike.
    for c in ("alloc_pages(GFP_KERNEL, -1)", "alloc_pages(GFP_KERNEL, order=-1)"):
        _, err, _ = run_script(f"x = 1\nif x == 1 {{\n  q = {c}\n}}\n")
        assert err is not None and "order -1" in err.message
        assert err.span is not None and (err.span.line, err.span.column) == (3, 7), c
