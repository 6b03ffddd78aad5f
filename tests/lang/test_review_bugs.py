"""Regression tests for the language bugs found by review (issue 13, item 4)."""

from __future__ import annotations

import signal
import time
from typing import Any, Iterator

import pytest

from kmscript.errors import KmsLimitError, KmsRuntimeError
from tests.conftest import run_script, within_time


# ---------------------------------------------------------------- repeat and the step budget
def test_break_ends_the_charging() -> None:
    # `repeat 90 { break }` runs one iteration and costs one step, not 90.
    out, err, _ = run_script("repeat 90 { break }\nn = 0\nrepeat 95 { n += 1 }\nprint(n)\n", max_steps=100)
    assert err is None, err.render()
    assert out == ["95"]


@pytest.mark.parametrize("count", ["-1000", "-1", "0"])
def test_a_count_of_zero_or_less_runs_nothing_and_adds_no_budget(count: str) -> None:
    out, err, _ = run_script(f'repeat {count} {{ print("body") }}\nprint("after")\n', max_steps=100)
    assert err is None and out == ["after"]
    out, err, _ = run_script(f"repeat {count} {{}}\nn = 0\nwhile n < 1050 {{ n += 1 }}\n", max_steps=100)
    assert isinstance(err, KmsLimitError)


def test_steps_are_charged_as_iterations_run() -> None:
    # Each iteration costs a step and so does each call: with a budget of 100 the 51st
    # iteration fails, after 50 whole ones.  (Charging all 90 iterations up front left
    # the calls only 10 steps.)
    out, err, s = run_script("fn f() { return 1 }\nk = 0\nrepeat 90 { f(); k += 1 }\n", max_steps=100)
    assert isinstance(err, KmsLimitError)
    assert s.interp.globals["k"] == 50


def test_repeat_counts_exactly_like_for() -> None:
    for loop in ("repeat 10 { n += 1 }", "for i in 0..10 { n += 1 }"):
        _, err, _ = run_script(f"n = 0\n{loop}\n", max_steps=10)
        assert err is None
        _, err, _ = run_script(f"n = 0\n{loop}\n", max_steps=9)
        assert isinstance(err, KmsLimitError), loop


# ---------------------------------------------------------------- compile time is linear
@pytest.fixture
def deadline() -> Iterator[None]:
    def expired(signum: int, frame: Any) -> None:
        raise TimeoutError("compiling took too long")
    old = signal.signal(signal.SIGALRM, expired)
    signal.alarm(60)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


@pytest.mark.parametrize("first", ["n += 1", "if x { n += 1 }", "p = kmalloc(8)"])
def test_nested_repeat_compiles_in_linear_time(deadline: None, first: str) -> None:
    # Two-statement bodies were compiled twice per level: depth 20 took 15 s, depth 40
    # would never finish.  Linear: both depths take milliseconds.
    def timed(depth: int) -> float:
        src = "x = 1"
        for _ in range(depth):
            src = f"repeat 1 {{ {first}; {src} }}"
        src = "n = 0; x = 0\n" + src + "\n"
        t = time.perf_counter()
        out, err, s = run_script(src)
        assert err is None, err.render()
        return time.perf_counter() - t
    timed(20)
    assert within_time(timed(40), 10, time.perf_counter)


# ---------------------------------------------------------------- constant folding
def test_folding_never_moves_an_error_to_compile_time() -> None:
    out, err, _ = run_script('print("start"); if false { x = 1 << -1 }\nprint("end")\n')
    assert err is None and out == ["start", "end"]
    out, err, _ = run_script('print("start")\nx = 10 / 0\n', "div.kms")
    assert out == ["start"]
    assert isinstance(err, KmsRuntimeError) and "division by zero" in err.message
    assert err.location() == "div.kms:2:5"


def test_folded_values_are_the_values() -> None:
    out, err, _ = run_script("print(1 << 3, 7 / 2, -7 % 3, 2 * 3 + 1, 0x10 | 1)\n")
    assert err is None and out == ["8 3 -1 7 17"]


# ---------------------------------------------------------------- every error keeps its file
def test_a_huge_shift_reports_the_file_and_line() -> None:
    _, err, _ = run_script("y = 1\nx = 1 << 100000\n", "shift.kms")
    assert isinstance(err, KmsRuntimeError)
    rendered = err.render()
    assert rendered.startswith("shift.kms:2:5: error: integer too large: 1 << 100000 has more than 8192 bits")
    assert "    x = 1 << 100000" in rendered


# ---------------------------------------------------------------- compile errors come first
def test_a_compile_error_stops_the_script_before_its_first_statement() -> None:
    # Statements are compiled again one at a time as they run (to keep memory flat), but
    # the whole program is checked first, as before.
    for bad in ("break", "show no_such_view", "PAGE_SIZE = 1", "fn f() { continue }"):
        out, err, _ = run_script(f'print("first")\n{bad}\n', "c.kms")
        assert out == [] and err is not None and err.location().startswith("c.kms:2:"), bad
