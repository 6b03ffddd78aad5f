"""Differential test: every built-in the fast path can take, called through the fast path
and through the generic path with the same arguments, gives the same result, the same
error (class, message, place), the same output and the same machine state.

Two sessions run the same sequence of calls in lockstep, one compiling each call with
``builtin_call_fast`` and the other with ``builtin_call``; each argument is tried as a
literal (the fast path converts it at compile time) and as a variable (converted at run
time), with values of every kind, valid and not.
"""

from __future__ import annotations

from typing import Any

import pytest

from kmscript.errors import KmsError
from kmscript.lang import ast
from kmscript.lang.builtins import load_all
from kmscript.lang.builtins.registry import BUILTINS, Builtin
from kmscript.lang.calls import fast_path_applies
from kmscript.lang.scope import Scope
from kmscript.lang.values import repr_value, type_name
from kmscript.session import Session
from kmscript.source import Source, Span

load_all()

SETUP = """
machine(mem=256M, cpus=2)
p = kmalloc(100, GFP_KERNEL)
q = kzalloc(64)
v = vmalloc(64K)
pg = alloc_pages(GFP_KERNEL, 1)
c = create("diff_cache", 96)
t = spawn("worker")
fl = open("data")
xs = [1, 2, 3]
pc = alloc_percpu(16)
"""
# Literals (as AST nodes) and the variables above, by the kind of value they hold.
LITERALS: list[Any] = [0, 1, 3, 64, 4096, -1, -64, True, "kmalloc-64", "", None]  # None: NULL
VARIABLES = ["p", "q", "v", "pg", "c", "t", "fl", "xs", "pc"]
SPAN = Span(0, 1, 1, 1, 1, 2)
SOURCE = Source("x", "diff.kms")


def at(i: int) -> Span:
    """Each argument position has a place of its own, so an error's place tells them apart."""
    return Span(10 * i + 5, 10 * i + 6, 1, 10 * i + 6, 1, 10 * i + 7)


def literal(v: Any, span: Span) -> ast.Expr:
    if v is None:
        return ast.Null(span)
    if isinstance(v, bool):
        return ast.Bool(v, span)
    if isinstance(v, int):
        return ast.Num(v, span)
    return ast.Str(v, span)


def candidates(i: int) -> list[ast.Expr]:
    return [literal(v, at(i)) for v in LITERALS] + [ast.Name(n, at(i)) for n in VARIABLES]


class Lockstep:
    def __init__(self) -> None:
        self.outs: tuple[list[str], list[str]] = ([], [])
        self.sessions = (Session(out=self.outs[0].append, seed=7), Session(out=self.outs[1].append, seed=7))
        for s in self.sessions:
            s.run_text(SETUP, "setup.kms")
        self.scope = Scope(None)

    def observe(self, s: Session, out: list[str], b: Builtin, node: ast.Call, fast: bool) -> tuple[Any, ...]:
        interp = s.interp
        interp.source = SOURCE
        before = len(out)
        try:
            ev = interp.builtin_call_fast(b, node, self.scope) if fast else interp.builtin_call(b, node, self.scope)
            value = interp.guard(ev, interp.globals, SPAN)
            result: tuple[Any, ...] = ("ok", type_name(value), repr_value(value))
        except KmsError as e:
            result = ("error", type(e).__name__, e.message, e.span, e.source.name if e.source else None)
        state = s.machine.log.dmesg() if s.has_machine else ""
        return result, tuple(out[before:]), state

    def check(self, b: Builtin, args: list[ast.Expr]) -> None:
        node = ast.Call(ast.Name(b.name, SPAN), tuple(args), (), SPAN)
        fast = self.observe(self.sessions[0], self.outs[0], b, node, True)
        generic = self.observe(self.sessions[1], self.outs[1], b, node, False)
        shown = f"{b.name}({', '.join(str(a) for a in args)})"
        assert fast == generic, shown


def argument_lists(b: Builtin) -> list[list[ast.Expr]]:
    """Each parameter position tried with every candidate, the others held at a value
    that converts; for both the required and the full arity."""
    params = [p for p in b.params if p.kind == "normal"]
    required = sum(1 for p in params if p.required)
    out: list[list[ast.Expr]] = []
    for arity in sorted({required, len(params)}):
        base = [ast.Num(64, at(i)) for i in range(arity)]
        for i in range(arity):
            for cand in candidates(i):
                args = list(base)
                args[i] = cand
                out.append(args)
        if arity >= 2:
            # Two bad arguments: which error wins shows the evaluation order (all the
            # arguments are evaluated before any is converted).
            for first, second in ((ast.Str("x", at(0)), ast.Name("nowhere", at(1))),
                                  (ast.Name("nowhere", at(0)), ast.Str("x", at(1))),
                                  (ast.Str("x", at(0)), ast.Bool(True, at(1)))):
                out.append([first, second] + base[2:])
    return out or [[]]


FAST = sorted(n for n, b in BUILTINS.items()
              if fast_path_applies(b, ast.Call(ast.Name(n, SPAN), (), (), SPAN))
              or any(fast_path_applies(b, ast.Call(ast.Name(n, SPAN), tuple(a), (), SPAN)) for a in argument_lists(b)))

# Built-ins whose work is unbounded in their argument or that end the machine: called
# with the small values above they are cheap, but these are not worth a lockstep pair.
SKIP = {"msleep"}


def test_the_fast_path_covers_the_common_built_ins() -> None:
    for name in ("kmalloc", "kfree", "kzalloc", "alloc_pages", "vmalloc", "vfree", "ksize", "kmem_cache_alloc"):
        assert name in FAST


@pytest.mark.parametrize("name", [n for n in FAST if n not in SKIP])
def test_fast_and_generic_paths_agree(name: str) -> None:
    b = BUILTINS[name]
    run = Lockstep()
    for args in argument_lists(b):
        node = ast.Call(ast.Name(name, SPAN), tuple(args), (), SPAN)
        if fast_path_applies(b, node):
            run.check(b, args)
