"""The compiler: AST -> Python closures, and the semantics of every statement.

A program is compiled once into nested closures; running it calls them.  A loop such as
``repeat 1000000 { i += 1 }`` therefore never re-dispatches on node types: the loop
closure calls the body closure, which adds to a dict slot.

The compiler is split by concern, one module each:

- ``operators.py``    values and operators (what ``+``, ``<``, ``in``, truth mean);
- ``scope.py``        scope analysis (a function's locals, loop/function/top-level context);
- ``compile_core.py`` closure types, control flow, the step budget, built-in invocation;
- ``expressions.py``  literals, names, operators, attributes, indexing;
- ``calls.py``        built-in, method and user-function calls (and the built-in fast path);
- ``statements.py``   every statement.

This module puts the parts together as the :class:`Interpreter`.  A whole program is
compiled before any of it runs, so a compile error (``break`` outside a loop, an unknown
view) stops the script before its first statement, as a syntax error does; the closures
of that check are not kept: each top-level statement is compiled again just before it
runs (compiling costs a few percent of parsing, and a program's closures take more
memory than its AST).
"""

from __future__ import annotations

from typing import Any, Callable

from ..errors import KmsError, KmsLimitError
from ..source import Source
from . import ast
from .calls import CallCompiler
from .compile_core import MAX_CALL_DEPTH, Frame, Run, UserFunction
from .expressions import ExpressionCompiler
from .scope import Scope
from .statements import DECL_TYPES, EXPECT_KINDS, StatementCompiler

__all__ = ["Interpreter", "UserFunction", "EXPECT_KINDS", "DECL_TYPES", "MAX_CALL_DEPTH", "Frame", "Run", "Scope"]


class Interpreter(StatementCompiler, CallCompiler, ExpressionCompiler):
    """Compiles and runs programs for one host (a Session)."""

    def compile_statement(self, s: ast.Stmt, source: Source, scope: Scope | None = None) -> Run:
        """Compile one top-level statement; compile errors carry the statement's file."""
        self.source = source
        try:
            return self.stmt(s, scope if scope is not None else Scope(None))
        except KmsError as e:
            raise e.with_location(s.span, source)
        except RecursionError:
            raise self.err(KmsLimitError, "this statement is nested too deeply to compile "
                           "(split the expression or block)", s.span) from None

    def check_program(self, prog: ast.Program, source: Source) -> None:
        """Compile every top-level statement for its compile errors, keeping nothing:
        a program's closures take more memory than its AST, so they are made again,
        one statement at a time, by run_statements()."""
        scope = Scope(None)
        for s in prog.body:
            self.compile_statement(s, source, scope)

    def run_statements(self, prog: ast.Program, source: Source,
                       on_result: Callable[[ast.Stmt, Any], None] | None = None) -> None:
        """Run a checked program: each top-level statement is compiled just before it
        runs and dropped after, so a long script never holds all its closures at once."""
        scope = Scope(None)
        g = self.globals
        explain_all = self.host.explain_all
        for s in prog.body:
            self.current_where = (source.name, s.span.line)  # for a front end's progress line
            run = self.compile_statement(s, source, scope)
            if explain_all and not isinstance(s, (ast.Explain, ast.FnDef, ast.TestBlock)):
                run = self.explained(run, s, implicit=True)   # --explain: every top-level statement
            value = self.guard(run, g, s.span)
            if on_result is not None:
                on_result(s, value)

    def run_program(self, prog: ast.Program, source: Source,
                    on_result: Callable[[ast.Stmt, Any], None] | None = None) -> None:
        """Check the whole program (a compile error stops it before anything runs), then
        run it."""
        self.check_program(prog, source)
        self.run_statements(prog, source, on_result)

    def compile_test_body(self, block: ast.TestBlock, source: Source) -> Run:
        """A ``test`` block's body, compiled as the top level's continuation."""
        self.source = source
        return self.block(block.body, Scope(None, top=False))
