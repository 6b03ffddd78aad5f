"""Scope analysis: which names a function binds, and where a statement stands.

Top-level names live in the session's globals dict.  Inside ``fn`` bodies, a name that is
assigned anywhere in the body (or is a parameter, loop variable, declaration or nested
function) is local, as in Python; every other name is read from globals.  Blocks do not
open scopes.  Every walk here visits each node once (nested loops and functions are not
re-entered), so analysis is linear in the program size.
"""

from __future__ import annotations

from . import ast

def assigned_names(body: tuple[ast.Stmt, ...], out: set[str]) -> set[str]:
    """Names a function body binds (its locals)."""
    for s in body:
        if isinstance(s, (ast.Assign, ast.AugAssign, ast.IncDec)) and isinstance(s.target, ast.Name):
            out.add(s.target.id)
        elif isinstance(s, ast.Decl):
            out.add(s.name)
        elif isinstance(s, ast.For):
            out.add(s.var)
            assigned_names(s.body.body, out)
        elif isinstance(s, ast.FnDef):
            out.add(s.name)
        elif isinstance(s, ast.If):
            for _, b in s.branches:
                assigned_names(b.body, out)
            if s.orelse:
                assigned_names(s.orelse.body, out)
        elif isinstance(s, (ast.Repeat, ast.While, ast.Expect, ast.Explain, ast.CpuBlock, ast.IrqBlock)):
            assigned_names(s.body.body, out)
    return out


def has_loop_control(body: tuple[ast.Stmt, ...]) -> bool:
    """Does a loop body contain break/continue for *this* loop?"""
    for s in body:
        if isinstance(s, (ast.Break, ast.Continue)):
            return True
        if isinstance(s, ast.If):
            if any(has_loop_control(b.body) for _, b in s.branches):
                return True
            if s.orelse and has_loop_control(s.orelse.body):
                return True
        elif isinstance(s, (ast.Expect, ast.Explain, ast.CpuBlock, ast.IrqBlock)):
            if has_loop_control(s.body.body):
                return True
    return False


class Scope:
    """Where the compiler stands: the enclosing function's locals (None at the top level),
    and whether it is inside a loop, inside a function, at the top level of a script."""

    __slots__ = ("locals", "in_loop", "in_fn", "top")

    def __init__(self, locals_: set[str] | None, in_loop: bool = False, in_fn: bool = False,
                 top: bool = True) -> None:
        self.locals = locals_
        self.in_loop = in_loop
        self.in_fn = in_fn
        self.top = top

    def loop(self) -> "Scope":
        return Scope(self.locals, True, self.in_fn, False)

    def nested(self) -> "Scope":
        return Scope(self.locals, self.in_loop, self.in_fn, False)

    def is_local(self, name: str) -> bool:
        return self.locals is not None and name in self.locals
