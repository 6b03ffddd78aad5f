"""Issue 14: property tests with generated extreme inputs.

- Every built-in of the registry (functions and handle methods) called with extreme
  arguments (huge and negative integers, pointers anywhere, long and control-character
  strings, lists that contain themselves): the call returns a value or raises a
  kmscript error, within bounded CPU time, and the machine's invariants hold afterwards.
- Generated huge values, self-referencing data, bytes that are not text and closed pipes
  never escape as anything but a kmscript error or a clean exit.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kmscript.errors import KmsError, KmsPanic
from kmscript.lang.builtins import load_all
from kmscript.lang.builtins.registry import BUILTINS, GFP, INT, LIST, METHODS, NAME, PTR, SIZE, STR
from kmscript.lang.include import decode_script
from kmscript.session import Session
from tests.conftest import within_time

ROOT = Path(__file__).resolve().parents[2]
load_all()

SETUP = ('machine(mem=256M, cpus=2); cache c = create("fuzz", 192); task t = spawn("fz"); file f = open("fz"); '
         'p = kmalloc(100, GFP_KERNEL); v = vmalloc(64K); pg = alloc_pages(GFP_KERNEL, 2); '
         'selfref = [1]; append(selfref, selfref); deep = []; d = deep; repeat 300 { e = []; append(d, e); d = e }')

EXTREME_INTS = [0, 1, -1, 7, 4095, 4096, 1 << 12, 1 << 20, 1 << 31, 1 << 32, 1 << 40, 1 << 46, 1 << 47,
                1 << 52, 1 << 60, 1 << 62, (1 << 63) - 1, 1 << 63, 1 << 64, 1 << 200, 1 << 4000, -(1 << 63),
                -(1 << 4000), (1 << 8191)]
INT_TEXT = st.sampled_from([str(i) if i >= 0 else f"({i})" for i in EXTREME_INTS]) | \
    st.integers(-(1 << 70), 1 << 70).map(lambda i: str(i) if i >= 0 else f"({i})")
PTR_TEXT = st.sampled_from(["p", "v", "NULL", "p + 4096", "v + 65536", "0xffff888000000000", "0xffffc90000000000",
                            "0xdead", "ZERO_SIZE_PTR", "pg"]) | INT_TEXT
GFP_TEXT = st.sampled_from(["GFP_KERNEL", "GFP_ATOMIC", "GFP_NOWAIT", "GFP_KERNEL | __GFP_NOFAIL", "GFP_DMA",
                            "GFP_KERNEL | __GFP_COMP | __GFP_ZERO", "0", "0xffffffff", "(1 << 62)"])
STR_TEXT = st.sampled_from(['""', '"kmalloc-64"', '"fuzz"', '"\\x1b]0;t\\x07"', '"/proc/self/environ"',
                            '"x" * 3', '"GFP_KERNEL"', '"pgsteal_kswapd"', '"Normal"', '"DMA"']) | \
    st.text(st.characters(codec="utf-8", exclude_characters='"\\\n\r'), max_size=30).map(lambda s: f'"{s}"')
ANY_TEXT = INT_TEXT | PTR_TEXT | STR_TEXT | st.sampled_from(["selfref", "deep", "[]", "true", "c", "t", "f"])


def _arg_for(ptype: Any) -> st.SearchStrategy[str]:
    if ptype is SIZE or ptype is INT:
        return INT_TEXT
    if ptype is PTR:
        return PTR_TEXT
    if ptype is GFP:
        return GFP_TEXT
    if ptype is STR:
        return STR_TEXT
    if ptype is LIST:
        return st.sampled_from(["selfref", "deep", "[]", "[1, 2, 3]", "[p, v]"])
    if ptype is NAME:
        return st.sampled_from(["fuzzvar", "x", "GFP_KERNEL"])
    return ANY_TEXT


CALLS = sorted(BUILTINS) + [f"{t}.{n}" for t, n in sorted(METHODS) if t in ("cache", "task", "file")]
HANDLE = {"cache": "c", "task": "t", "file": "f"}


@st.composite
def call_text(draw: Any) -> str:
    name = draw(st.sampled_from(CALLS))
    if "." in name:
        kind, meth = name.split(".")
        b = METHODS[(kind, meth)]
        target = f"{HANDLE[kind]}.{meth}"
    else:
        b = BUILTINS[name]
        target = name
    args: list[str] = []
    for prm in b.params:
        if prm.kind == "normal":
            if prm.required or draw(st.booleans()):
                args.append(draw(_arg_for(prm.type)))
            else:
                break
        elif prm.kind == "varargs":
            args.extend(draw(st.lists(ANY_TEXT, max_size=3)))
    if draw(st.integers(0, 9)) == 0:  # a wrong arity now and then
        args.append(draw(ANY_TEXT))
    return f"r = {target}({', '.join(args)})"


def check_machine(s: Session) -> None:
    m = s.machine
    m.page_alloc.check_invariants()
    vm = m.vmstat
    lru = m.reclaim.lru
    assert lru.nr == [vm.nr_inactive_anon, vm.nr_active_anon, vm.nr_inactive_file, vm.nr_active_file]
    assert vm.nr_file_pages == sum(f.nr_cached for f in m.pagecache.files.values())


_BASE: dict[str, Any] = {}


def fresh_session() -> Session:
    """A session after SETUP (booted once, then copied: the fuzz loop stays fast)."""
    if "snap" not in _BASE:
        s = Session(quiet=True, max_steps=200_000)
        s.run_text(SETUP, "setup.kms")
        _BASE["snap"] = s.snapshot()
    s = Session(quiet=True, max_steps=200_000)
    s.restore(_BASE["snap"])
    return s


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(calls=st.lists(call_text(), min_size=1, max_size=3))
def test_builtins_with_extreme_arguments(calls: list[str]) -> None:
    s = fresh_session()
    for text in calls:
        t0 = time.process_time()
        try:
            s.run_text(text, "fuzz.kms")
        except KmsPanic:
            return  # the machine is gone; a panic is a kmscript error like any other
        except KmsError:
            pass
        took = time.process_time() - t0
        assert within_time(took, 5), f"{text} took {took:.1f} s"
        check_machine(s)


# -- generated huge values and self-referencing data -----------------------------------------
VALUE_EXPR = st.recursive(
    st.sampled_from(["1", "(1 << 4000)", "(1 << 8000)", '"abc"', "selfref", "deep", "[]", "NULL", "p"]),
    lambda inner: st.tuples(inner, st.sampled_from(["+", "*", "<<", "-", "|", "==", "in"]), inner)
    .map(lambda t: f"({t[0]} {t[1]} {t[2]})") | st.lists(inner, max_size=3).map(lambda xs: f"[{', '.join(xs)}]"),
    max_leaves=8)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(expr=VALUE_EXPR, doublings=st.integers(0, 40), op=st.sampled_from(["x = x + x", "x = x * x",
                                                                          "x = [x, x]", "append(x, x)"]))
def test_growing_values_stop_with_a_kmscript_error(expr: str, doublings: int, op: str) -> None:
    s = fresh_session()
    out: list[str] = []
    s.out = out.append
    t0 = time.process_time()
    try:
        s.run_text(f"x = {expr}\nrepeat {doublings} {{ {op} }}\nprint(x)\ny = str(x)\nprint(x == x)", "grow.kms")
    except KmsError:
        pass
    assert within_time(time.process_time() - t0, 10)
    assert sum(len(line) for line in out) <= 2 * (16 << 20) + 100


# -- bytes that are not text ---------------------------------------------------------------------
@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=200))
def test_any_bytes_are_text_or_a_clean_error(data: bytes) -> None:
    try:
        text = decode_script(data, "data.kms")
    except KmsError as e:
        assert e.exit_status == 2 and "not UTF-8 text" in e.message
        return
    s = Session(quiet=True, max_steps=10_000)
    try:
        s.run_text(text, "data.kms")
    except KmsError:
        pass


# -- closed pipes ------------------------------------------------------------------------------------
@settings(max_examples=4, deadline=None)
@given(lines_read=st.integers(0, 3), args=st.sampled_from([["-c", "repeat 100000 { print(1) }"],
                                                           ["test", "tests/scenarios/context"],
                                                           ["test", "--tap", "tests/scenarios/context"]]))
def test_a_reader_that_goes_away_is_not_an_error(lines_read: int, args: list[str]) -> None:
    p = subprocess.Popen([sys.executable, "-m", "kmscript", *args], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert p.stdout is not None and p.stderr is not None
    for _ in range(lines_read):
        p.stdout.readline()
    p.stdout.close()
    err = p.stderr.read().decode()
    p.wait(timeout=120)
    assert "Traceback" not in err and "internal error" not in err
