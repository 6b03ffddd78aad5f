"""Interpreter tests through the public Session API."""

from __future__ import annotations

import pytest

from kmscript.errors import (EXIT_ASSERT, EXIT_RUNTIME, EXIT_USAGE, KmsAssertionError, KmsError,
                             KmsExpectationError, KmsLimitError, KmsNameError, KmsTypeError)
from kmscript.session import Session
from tests.conftest import run_script


def out_of(src: str) -> list[str]:
    out, err, _ = run_script(src)
    assert err is None, err.render()
    return out


def err_of(src: str) -> KmsError:
    _, err, _ = run_script(src)
    assert err is not None
    return err


def test_arithmetic_and_printing() -> None:
    assert out_of("print(1 + 2 * 3, 7 / 2, -7 / 2, -7 % 3, 1 << 10, 0xff & 0x0f, 5 ^ 1)") == ["7 3 -3 -1 1024 15 4"]
    assert out_of('print("a" + "b", [1, 2] + [3], true, false, NULL)') == ['ab [1, 2, 3] true false NULL']
    assert out_of("print(4K, 2M, hex(1G))") == ["4096 2097152 0x40000000"]


def test_variables_assignment_forms() -> None:
    assert out_of("x = 1; x += 4; x -= 2; x++; x++; x--; x *= 3; x |= 0x100; print(x)") == ["268"]
    assert out_of("l = [1, 2, 3]; l[1] = 9; l[0] += 1; print(l, l[-1], len(l))") == ["[2, 9, 3] 3 3"]


def test_control_flow() -> None:
    src = """
    total = 0
    for i in 0..10 { if i % 2 == 0 { continue } ; if i > 7 { break } ; total += i }
    n = 0
    while n < 5 { n++ }
    repeat 3 { n += 10 }
    if n == 35 { r = "yes" } elif n > 35 { r = "more" } else { r = "no" }
    print(total, n, r)
    for x in ["a", "b"] { print(x) }
    """
    assert out_of(src) == ["16 35 yes", "a", "b"]


def test_loop_bodies_whose_value_is_false_keep_looping() -> None:
    assert out_of("n = 0\nrepeat 3 { n += 1; }\nk = 0\nrepeat 4 { k == 99 }\nf = 0\n"
                  "for i in 0..3 { flag = false }\nw = 0\nwhile w < 3 { w += 1 }\nc = 0\n"
                  "repeat 5 { c += 1; d = c == 99 }\nprint(n, i, w, c)") == ["3 2 3 5"]
    assert out_of("x = 0\nrepeat 5 { x = false }\ny = 0\nrepeat 5 { y += 1; z = false }\nprint(y)") == ["5"]


def test_functions_scope_and_recursion() -> None:
    src = """
    g = 100
    fn fact(n) { if n <= 1 { return 1 } ; return n * fact(n - 1) }
    fn local_only() { g = 5; return g }
    fn reads_global() { return g + 1 }
    fn kw(a, b=2, c=3) { return a * 100 + b * 10 + c }
    print(fact(10), local_only(), g, reads_global(), kw(1), kw(1, c=9), kw(a=4, b=5))
    """
    assert out_of(src) == ["3628800 5 100 101 123 129 453"]


def test_comparison_chains_and_logic() -> None:
    assert out_of("print(1 < 2 < 3, 3 > 2 > 5, not 0, 1 and 0, 0 or 2, \"ab\" contains \"b\", 2 in [1, 2])") == \
        ["true false true false true true true"]


def test_assert_shows_operand_values() -> None:
    e = err_of("free = 87\nassert free >= 100")
    assert isinstance(e, KmsAssertionError) and e.exit_status == EXIT_ASSERT
    assert e.message == "87 >= 100"
    assert e.render().startswith("t.kms:2:8: assertion failed: 87 >= 100")
    e = err_of('x = 3\nassert x == 4, "x must be four"')
    assert e.message == 'x must be four (3 == 4)'
    e = err_of('assert "abc" contains "z"')
    assert e.message == '"abc" contains "z"'


def test_unknown_name_suggests() -> None:
    e = err_of("counter = 1\nprint(countr)")
    assert isinstance(e, KmsNameError)
    assert "did you mean 'counter'" in e.message
    assert e.span is not None and (e.span.line, e.span.column) == (2, 7)


def test_type_errors_have_spans() -> None:
    e = err_of('x = 1 + "a"')
    assert isinstance(e, KmsTypeError) and e.exit_status == EXIT_RUNTIME
    e = err_of("x = 1 / 0")
    assert "division by zero" in e.message


def test_cannot_assign_constants_or_builtins() -> None:
    assert "constant" in err_of("PAGE_SIZE = 1").message
    assert "built-in" in err_of("print = 1").message


def test_step_budget_and_recursion_limit() -> None:
    out: list[str] = []
    s = Session(out=out.append, max_steps=1000)
    with pytest.raises(KmsLimitError) as ei:
        s.run_text("while true { }", "t.kms")
    assert "step budget" in ei.value.message
    s = Session(out=out.append, max_steps=1000)
    with pytest.raises(KmsLimitError):
        s.run_text("repeat 5000 { x = 1 }", "t.kms")
    e = err_of("fn f(n) { return f(n + 1) }\nf(0)")
    assert isinstance(e, KmsLimitError) and "recursion too deep" in e.message


def test_break_outside_loop_is_an_error() -> None:
    e = err_of("break")
    assert e.exit_status == EXIT_USAGE
    assert "outside a loop" in e.message
    assert "outside a function" in err_of("return 1").message


def test_include(tmp_path: object) -> None:
    from pathlib import Path
    d = Path(str(tmp_path))
    (d / "lib.kms").write_text("fn twice(x) { return 2 * x }\nshared = 21\n")
    (d / "main.kms").write_text('include "lib.kms"\nprint(twice(shared))\n')
    out: list[str] = []
    s = Session(out=out.append)
    s.run_file(d / "main.kms")
    assert out == ["42"]
    (d / "loop.kms").write_text('include "loop.kms"\n')
    with pytest.raises(KmsError) as ei:
        Session(out=out.append).run_file(d / "loop.kms")
    assert "include cycle" in ei.value.message


def test_expect_requires_event() -> None:
    e = err_of('expect oom { x = 1 }')
    assert isinstance(e, KmsExpectationError) and e.exit_status == EXIT_ASSERT
    assert "expected an OOM kill" in e.message
    assert "unknown event kind" in err_of("expect ooom { x = 1 }").message


def test_expect_sees_kernel_log_records() -> None:
    from kmscript.lang.builtins.registry import BUILTINS
    assert "print" in BUILTINS
    s = Session(out=[].append)
    s.machine.log.printk("BUG: something odd", kind="bug")
    s.run_text('assert dmesg contains "something odd"\n', "t.kms")
    src = 'expect bug "odd" { x = 1 }'
    with pytest.raises(KmsExpectationError):
        s.run_text(src, "t.kms")


def test_cpu_context_restored_after_error() -> None:
    s = Session(out=[].append)
    with pytest.raises(KmsError):
        s.run_text("cpu 1 < x = 1 / 0 >", "t.kms")
    assert s.machine.ctx.cpu == 0 and s.machine.ctx.preempt_count == 0
    with pytest.raises(KmsError) as ei:
        s.run_text("cpu 99 < x = 1 >", "t.kms")
    assert "CPU 99 does not exist" in ei.value.message


def test_test_blocks_are_collected_not_run() -> None:
    out, err, s = run_script('x = 1\ntest "a" { print("in a") }\ntest "b" { print("in b") }\nprint("top")')
    assert err is None
    assert out == ["top"]
    assert [t[0] for t in s.tests] == ["a", "b"]


def test_machine_options_are_checked() -> None:
    e = err_of("machine(memory=1G)")
    assert "has no option 'memory'" in e.message and "did you mean 'mem'" in e.message
    assert "must be an integer" in err_of('machine(cpus="two")').message


def test_huge_expressions_are_limit_errors_with_a_short_caret_line() -> None:
    e = err_of("x = 1" + " + 1" * 20000)
    assert isinstance(e, KmsLimitError) and "nested too deeply" in e.message
    rendered = e.render()
    assert "Traceback" not in rendered
    assert max(len(line) for line in rendered.splitlines()) < 200
    assert out_of("x = 1" + " + 1" * 500 + "\nprint(x)") == ["501"]


def test_long_line_errors_show_a_window_around_the_caret() -> None:
    e = err_of("a = 1\nx = " + "a + " * 100 + "zz")
    lines = e.render().splitlines()
    assert lines[1].startswith("    ...") and lines[1].rstrip().endswith("zz")
    assert lines[2].index("^") == lines[1].index("zz")
