"""Compiling expressions: literals, names, operators, attributes and indexing.

Literals and constants (GFP/SLAB flags, ``PAGE_SIZE``) become closures returning the
value; an operation on two number literals is folded at compile time unless it would
fail (then it fails when it runs, like any other).  The common integer cases of ``+``,
``|`` and the orderings are tested inline before falling back to :mod:`operators`, which
holds the full semantics and every error.  Calls are compiled by ``calls.py``.
"""

from __future__ import annotations

from typing import Any

from ..errors import KmsError, KmsNameError, KmsRuntimeError, KmsTypeError, did_you_mean
from ..runtime.errors import KernelCrash, KernelFault
from ..runtime.history import HISTORICAL, historical
from ..source import Span
from . import ast
from .builtins.registry import BUILTINS, CONSTANTS, VALUES, VIEWS
from .compile_core import CompilerCore, Ev, Frame
from .limits import INT_LIMIT, check_int, int_too_large
from .operators import binop, compare, truthy
from .scope import Scope
from .values import NULL, Ptr, repr_value, type_name


class ExpressionCompiler(CompilerCore):
    def expr_Num(self, e: ast.Num, scope: Scope) -> Ev:
        v = check_int(e.value, e.span)
        return lambda f: v

    def expr_Str(self, e: ast.Str, scope: Scope) -> Ev:
        v = e.value
        return lambda f: v

    def expr_Bool(self, e: ast.Bool, scope: Scope) -> Ev:
        v = e.value
        return lambda f: v

    def expr_Null(self, e: ast.Null, scope: Scope) -> Ev:
        return lambda f: NULL

    def expr_ListLit(self, e: ast.ListLit, scope: Scope) -> Ev:
        items = [self.expr(i, scope) for i in e.items]
        return lambda f: [i(f) for i in items]

    def name_reader(self, e: ast.Name, scope: Scope) -> Ev:
        name = e.id
        if scope.is_local(name):
            def read_local(f: Frame) -> Any:
                try:
                    return f[name]
                except KeyError:
                    raise self.err(KmsNameError, f"'{name}' is used before it is assigned", e.span) from None
            return read_local
        if name in CONSTANTS:
            c = CONSTANTS[name]
            return lambda f: c
        old = historical(name)
        if old is not None and old.today is not None and name not in self.globals:
            hv = old.value if old.value is not None else CONSTANTS.get(old.today)
            if hv is not None:  # a textbook-era flag with a 6.18 equivalent: use it, say so
                self.note(e.span, old.note(), key=name)
                return lambda f: hv
        if name in VALUES:
            vb = VALUES[name]
            call = self.make_call(e.span)
            return lambda f: self.invoke(vb.impl, call, (), e.span)
        g = self.globals

        def read_global(f: Frame) -> Any:
            try:
                return g[name]
            except KeyError:
                raise self.unknown_name(name, e.span) from None
        return read_global

    expr_Name = name_reader

    def note(self, span: Span, message: str, key: str | None = None) -> None:
        self.host.note(f"{self.source.name}:{span.line}:{span.column}: note: {message}", key)

    def unknown_name(self, name: str, span: Span) -> KmsError:
        old = historical(name)
        if old is not None:
            return self.err(KmsNameError, old.note(), span)
        if name in BUILTINS:
            return self.err(KmsNameError, f"'{name}' is a built-in function: call it as {BUILTINS[name].signature()}",
                            span)
        if name in VIEWS:
            return self.err(KmsNameError, f"'{name}' is a view: use 'show {name}'", span)
        candidates = list(self.globals) + list(CONSTANTS) + list(BUILTINS) + list(VALUES) + list(HISTORICAL)
        return self.err(KmsNameError, f"unknown name '{name}'{did_you_mean(name, candidates)}", span)

    def expr_Unary(self, e: ast.Unary, scope: Scope) -> Ev:
        operand = self.expr(e.operand, scope)
        op = e.op

        def ev(f: Frame) -> Any:
            v = operand(f)
            if type(v) is not int:
                raise self.err(KmsTypeError, f"cannot use unary '{op}' on {type_name(v)}", e.span)
            return check_int(-v if op == "-" else ~v, e.span)
        return ev

    def expr_Not(self, e: ast.Not, scope: Scope) -> Ev:
        operand = self.expr(e.operand, scope)
        return lambda f: not truthy(operand(f))

    def expr_BinOp(self, e: ast.BinOp, scope: Scope) -> Ev:
        left, right = self.expr(e.left, scope), self.expr(e.right, scope)
        op, span = e.op, e.span
        if isinstance(e.left, ast.Num) and isinstance(e.right, ast.Num):
            # Constant folding never changes behaviour: an operation that would fail
            # (`1 << -1`) is left to fail when and where it runs.
            try:
                v = binop(op, e.left.value, e.right.value, span)
            except KmsError:
                pass
            else:
                return lambda f: v
        if op == "+":
            def add(f: Frame) -> Any:
                a, b = left(f), right(f)
                if type(a) is int and type(b) is int:
                    r = a + b
                    if -INT_LIMIT < r < INT_LIMIT:
                        return r
                    raise int_too_large(r, span)
                return binop("+", a, b, span)
            return add
        if op == "|":
            def bor(f: Frame) -> Any:
                a, b = left(f), right(f)
                if type(a) is int and type(b) is int:
                    return a | b
                return binop("|", a, b, span)
            return bor
        return lambda f: binop(op, left(f), right(f), span)

    def expr_Logic(self, e: ast.Logic, scope: Scope) -> Ev:
        left, right = self.expr(e.left, scope), self.expr(e.right, scope)
        if e.op == "and":
            return lambda f: truthy(left(f)) and truthy(right(f))
        return lambda f: truthy(left(f)) or truthy(right(f))

    def expr_Compare(self, e: ast.Compare, scope: Scope) -> Ev:
        left = self.expr(e.left, scope)
        rights = [self.expr(r, scope) for r in e.rights]
        ops, span = e.ops, e.span
        if len(ops) == 1:
            op, right = ops[0], rights[0]
            if op in ("<", ">", "<=", ">="):
                def cmp_fast(f: Frame) -> bool:
                    a, b = left(f), right(f)
                    if type(a) is int and type(b) is int:
                        if op == "<":
                            return a < b
                        if op == ">":
                            return a > b
                        if op == "<=":
                            return a <= b
                        return a >= b
                    return compare(op, a, b, span)
                return cmp_fast
            return lambda f: compare(op, left(f), right(f), span)

        def chain(f: Frame) -> bool:
            a = left(f)
            for op, r in zip(ops, rights):
                b = r(f)
                if not compare(op, a, b, span):
                    return False
                a = b
            return True
        return chain

    def expr_Attr(self, e: ast.Attr, scope: Scope) -> Ev:
        obj = self.expr(e.obj, scope)
        name = e.name

        def ev(f: Frame) -> Any:
            o = obj(f)
            allowed = getattr(type(o), "KMS_ATTRS", None)
            if allowed is None or name not in allowed:
                hint = ""
                if allowed:
                    hint = did_you_mean(name, allowed) or f" (it has: {', '.join(sorted(allowed))})"
                raise self.err(KmsNameError, f"{type_name(o)} has no attribute '{name}'{hint}", e.span)
            try:
                return getattr(o, name)
            except KernelFault as ex:
                raise self.err(KmsRuntimeError, ex.message, e.span) from None
        return ev

    def expr_Index(self, e: ast.Index, scope: Scope) -> Ev:
        obj, idx = self.expr(e.obj, scope), self.expr(e.index, scope)
        site = self.caller_of(e.span)
        return lambda f: self.index_load(obj(f), idx(f), e.span, site)

    def index_load(self, o: Any, i: Any, span: Span, site: str = "") -> Any:
        """``o[i]``; *site* is the script line ("file.kms:LINE") a KASAN report names."""
        if type(i) is not int:
            raise self.err(KmsTypeError, f"an index must be an integer, not {type_name(i)}", span)
        if isinstance(o, (list, str)):
            if not -len(o) <= i < len(o):
                raise self.err(KmsRuntimeError, f"index {i} out of range for a {type_name(o)} of length {len(o)}",
                               span)
            return o[i]
        if isinstance(o, Ptr):
            m = self.host.machine
            if o.addr == 0 or o.addr <= 16:
                if m.kasan is not None:
                    self._kasan_wild(o.addr + i, False, site, span)
                raise self.err(KmsRuntimeError, f"dereferencing {'NULL' if o.addr == 0 else 'ZERO_SIZE_PTR'}: "
                               "BUG: kernel NULL pointer dereference", span)
            try:
                return m.mem.read(o.addr + i, 1, site)[0]
            except KernelCrash:
                raise  # an Oops (KASAN's #GP on a wild address) ends the task, as any Oops
            except KernelFault as ex:
                raise self.err(KmsRuntimeError, ex.message, span) from None
        raise self.err(KmsTypeError, f"cannot index {type_name(o)}", span)

    def _kasan_wild(self, addr: int, write: bool, site: str, span: Span) -> None:
        """A NULL/ZERO_SIZE_PTR access under KASAN: the inline check reads a non-canonical
        shadow address first (the general protection fault Oops, runtime/kasan.py)."""
        kasan = self.host.machine.kasan
        assert kasan is not None
        kasan.check_access(addr & kasan.arch.ulong_max, 1, write, site)  # the Oops ends the task

    def index_store(self, o: Any, i: Any, v: Any, span: Span, site: str = "") -> None:
        if type(i) is not int:
            raise self.err(KmsTypeError, f"an index must be an integer, not {type_name(i)}", span)
        if isinstance(o, list):
            if not -len(o) <= i < len(o):
                raise self.err(KmsRuntimeError, f"index {i} out of range for a list of length {len(o)}", span)
            o[i] = v
            return
        if isinstance(o, Ptr):
            if type(v) is not int or not 0 <= v <= 255:
                raise self.err(KmsTypeError, f"memory holds bytes: store an integer 0..255, not {repr_value(v)}",
                               span)
            m = self.host.machine
            if o.addr <= 16:
                if m.kasan is not None:
                    self._kasan_wild(o.addr + i, True, site, span)
                raise self.err(KmsRuntimeError, f"writing through {'NULL' if o.addr == 0 else 'ZERO_SIZE_PTR'}: "
                               "BUG: kernel NULL pointer dereference", span)
            try:
                m.mem.write(o.addr + i, bytes([v]), site)
            except KernelCrash:
                raise
            except KernelFault as ex:
                raise self.err(KmsRuntimeError, ex.message, span) from None
            return
        raise self.err(KmsTypeError, f"cannot assign into {type_name(o)} by index", span)
