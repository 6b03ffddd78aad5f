"""Compiling calls: built-in functions, methods on handles, and user functions.

A built-in call evaluates all its arguments (left to right), then binds and converts them
with the registry's signature (:meth:`Builtin.bind`), then calls the implementation.

The fast path: a call with positional arguments only, none of them a bare-name (NAME)
parameter -- ``kmalloc(64, GFP_KERNEL)``, ``kfree(p)``, most calls in loops.  Its
argument conversions are known at compile time, so the site converts each value with its
parameter's converter directly and calls the implementation with a fixed number of
arguments (constants converted once, at compile time, also when only the second of two
arguments is one: ``__free_pages(p, 0)``).  It keeps the generic path's
semantics exactly: the same evaluation order (all arguments, then all conversions); when
a conversion fails it hands the values to :meth:`CompilerCore.bind`, which makes the
error the generic path makes; and every exception from the implementation goes through
:meth:`CompilerCore.call_error`.  ``tests/lang/test_fast_path.py`` runs every built-in
through both paths and compares results and errors.
"""

from __future__ import annotations

from typing import Any, Callable, NoReturn

from ..errors import KmsError, KmsLimitError, KmsNameError, KmsTypeError, did_you_mean
from ..runtime.errors import KernelFault
from ..runtime.history import historical
from ..source import Span
from . import ast
from .builtins.registry import BUILTINS, CONSTANTS, METHODS, VALUES, Builtin, Call, Param, default_value
from .compile_core import MAX_CALL_DEPTH, CompilerCore, Ev, Frame, ReturnValue, UserFunction
from .scope import Scope
from .values import NULL, type_name

Convert = Callable[[Any], Any]
_UNSET = object()


def fast_path_applies(b: Builtin, e: ast.Call) -> bool:
    """Can this built-in call take the fast path (positional arguments only)?"""
    normal = [p for p in b.params if p.kind == "normal"]
    return (not e.kwargs and len(normal) == len(b.params) and len(normal) >= len(e.args)
            and all(not p.required for p in normal[len(e.args):])
            and not any(p.type is not None and p.type.bare_name for p in normal[:len(e.args)]))


def _literal(a: ast.Expr, scope: Scope) -> Any:
    """The value of a literal or constant argument, or _UNSET."""
    if isinstance(a, (ast.Num, ast.Str, ast.Bool)):
        return a.value
    if isinstance(a, ast.Null):
        return NULL
    if isinstance(a, ast.Name) and a.id in CONSTANTS and not scope.is_local(a.id):
        return CONSTANTS[a.id]
    return _UNSET


class CallCompiler(CompilerCore):
    # -- arguments ----------------------------------------------------------------------
    def bare_or_expr(self, e: ast.Expr, scope: Scope) -> Ev:
        """A bare name that is not a variable evaluates to its text (for NAME parameters)."""
        if not isinstance(e, ast.Name):
            return self.expr(e, scope)
        name = e.id
        if name in CONSTANTS:
            c = CONSTANTS[name]
            return lambda f: c
        local = scope.is_local(name)
        g = self.globals

        def ev(f: Frame) -> Any:
            if local and name in f:
                return f[name]
            if name in g:
                return g[name]
            return name
        return ev

    def call_args(self, b: Builtin, e: ast.Call, scope: Scope) -> Callable[[Frame], tuple[list[Any], dict[str, Any]]]:
        normal = [p for p in b.params if p.kind == "normal"]
        evs: list[Ev] = []
        for i, a in enumerate(e.args):
            p = normal[i] if i < len(normal) else (b.params[-1] if b.params else None)
            bare = p is not None and p.type is not None and p.type.bare_name
            evs.append(self.bare_or_expr(a, scope) if bare else self.expr(a, scope))
        kws: list[tuple[str, Ev]] = []
        by_name = {p.name: p for p in normal}
        for k in e.kwargs:
            p = by_name.get(k.name)
            bare = p is not None and p.type is not None and p.type.bare_name
            kws.append((k.name, self.bare_or_expr(k.value, scope) if bare else self.expr(k.value, scope)))
        if not kws:
            return lambda f: ([ev(f) for ev in evs], {})
        return lambda f: ([ev(f) for ev in evs], {n: ev(f) for n, ev in kws})

    # -- calls --------------------------------------------------------------------------
    def expr_Call(self, e: ast.Call, scope: Scope) -> Ev:
        if isinstance(e.func, ast.Name):
            name = e.func.id
            b = BUILTINS.get(name)
            if b is not None and not scope.is_local(name):
                if fast_path_applies(b, e):
                    return self.builtin_call_fast(b, e, scope)
                return self.builtin_call(b, e, scope)
            return self.user_call(e, scope)
        if isinstance(e.func, ast.Attr):
            return self.method_call(e, e.func, scope)
        self.fail(KmsTypeError, "only names and methods can be called", e.func.span)

    def builtin_call(self, b: Builtin, e: ast.Call, scope: Scope) -> Ev:
        """The generic path: any mix of positional and keyword arguments."""
        call = self.make_call(e.span)
        impl, span = b.impl, e.span
        arg_spans = tuple(a.span for a in e.args)
        args = self.call_args(b, e, scope)

        def ev(f: Frame) -> Any:
            a, k = args(f)
            return self.invoke(impl, call, self.bind(b, a, k, span, arg_spans), span)
        return ev

    def builtin_call_fast(self, b: Builtin, e: ast.Call, scope: Scope) -> Ev:
        """The fast path (see the module docstring); only when fast_path_applies()."""
        call = self.make_call(e.span)
        impl, span = b.impl, e.span
        arg_spans = tuple(a.span for a in e.args)
        params: list[Param] = list(b.params)
        tail = tuple(default_value(p) for p in params[len(e.args):])

        def generic(values: list[Any]) -> Any:
            # A conversion failed: the generic path makes the error (or, should the value
            # convert after all, the call) exactly as it would have.
            return self.invoke(impl, call, self.bind(b, values, {}, span, arg_spans), span)

        literals = [_literal(a, scope) for a in e.args]
        constant = []
        for p, v in zip(params, literals):
            if v is _UNSET:
                break
            assert p.type is not None
            try:
                constant.append(p.type.convert(v))
            except (TypeError, ValueError):
                break  # reported when the call runs, at the argument
        else:
            return self._constant_site(impl, call, tuple(constant) + tail, span)
        evs = [self.expr(a, scope) for a in e.args]
        convs: list[Convert] = [p.type.convert for p in params[:len(e.args)]]  # type: ignore[union-attr]
        if len(evs) == 2 and not tail and literals[0] is _UNSET and literals[1] is not _UNSET:
            # __free_pages(p, 0), kmem_cache_alloc(c, GFP_KERNEL): the constant converted now
            try:
                k1 = convs[1](literals[1])
            except (TypeError, ValueError):
                pass  # converted (and reported) at run time, after the first argument
            else:
                return self._site_var_const(impl, call, evs[0], convs[0], literals[1], k1, span, generic)
        return self._site(impl, call, evs, convs, tail, span, generic)

    def _site_var_const(self, impl: Callable[..., Any], call: Call, e0: Ev, c0: Convert, lit1: Any, k1: Any,
                        span: Span, generic: Callable[[list[Any]], Any]) -> Ev:
        """Two arguments, the second a constant converted at compile time to ``k1``: the
        first is evaluated and converted at run time.  A failed conversion hands the
        generic path the values it would have seen (the constant as written, ``lit1``)."""
        fail = self.call_error

        def site_vk(f: Frame) -> Any:
            v0 = e0(f)
            try:
                a0 = c0(v0)
            except (TypeError, ValueError):
                return generic([v0, lit1])
            try:
                return impl(call, a0, k1)
            except (KmsError, KernelFault) as ex:
                raise fail(ex, span) from None
        return site_vk

    def _constant_site(self, impl: Callable[..., Any], call: Call, args: tuple[Any, ...], span: Span) -> Ev:
        """Every argument is a constant, converted at compile time."""
        fail = self.call_error
        if len(args) == 2:  # kmalloc(64, GFP_KERNEL)
            k0, k1 = args

            def site2(f: Frame) -> Any:
                try:
                    return impl(call, k0, k1)
                except (KmsError, KernelFault) as ex:
                    raise fail(ex, span) from None
            return site2

        def site(f: Frame) -> Any:
            try:
                return impl(call, *args)
            except (KmsError, KernelFault) as ex:
                raise fail(ex, span) from None
        return site

    def _site(self, impl: Callable[..., Any], call: Call, evs: list[Ev], convs: list[Convert],
              tail: tuple[Any, ...], span: Span, generic: Callable[[list[Any]], Any]) -> Ev:
        """Arguments evaluated at run time, then converted, then the call."""
        fail = self.call_error
        if len(evs) == 1 and not tail:  # kfree(p)
            (e0,), (c0,) = evs, convs

            def site1(f: Frame) -> Any:
                v0 = e0(f)
                try:
                    a0 = c0(v0)
                except (TypeError, ValueError):
                    return generic([v0])
                try:
                    return impl(call, a0)
                except (KmsError, KernelFault) as ex:
                    raise fail(ex, span) from None
            return site1
        if len(evs) == 2 and not tail:  # kmalloc(n, GFP_KERNEL)
            (e0, e1), (c0, c1) = evs, convs

            def site2(f: Frame) -> Any:
                v0 = e0(f)
                v1 = e1(f)
                try:
                    a0 = c0(v0)
                    a1 = c1(v1)
                except (TypeError, ValueError):
                    return generic([v0, v1])
                try:
                    return impl(call, a0, a1)
                except (KmsError, KernelFault) as ex:
                    raise fail(ex, span) from None
            return site2
        pairs = tuple(zip(evs, convs))

        def site(f: Frame) -> Any:
            values = [ev(f) for ev in evs]
            try:
                args = [conv(v) for (_, conv), v in zip(pairs, values)]
            except (TypeError, ValueError):
                return generic(values)
            try:
                return impl(call, *args, *tail)
            except (KmsError, KernelFault) as ex:
                raise fail(ex, span) from None
        return site

    def user_call(self, e: ast.Call, scope: Scope) -> Ev:
        assert isinstance(e.func, ast.Name)
        fname = e.func.id
        if fname in CONSTANTS or fname in VALUES:
            self.fail(KmsTypeError, f"'{fname}' is not a function", e.func.span)
        read = self.expr(e.func, scope)
        args = [self.expr(a, scope) for a in e.args]
        kwargs = [(k.name, self.expr(k.value, scope)) for k in e.kwargs]
        span = e.span
        g = self.globals

        def ev(f: Frame) -> Any:
            try:
                fn = read(f)
            except KmsNameError:
                old = historical(fname)
                if old is not None:
                    raise self.err(KmsNameError, old.note(), e.func.span) from None
                cands = list(BUILTINS) + [n for n, v in g.items() if isinstance(v, UserFunction)]
                raise self.err(KmsNameError, f"unknown function '{fname}'{did_you_mean(fname, cands)}",
                               e.func.span) from None
            if not isinstance(fn, UserFunction):
                raise self.err(KmsTypeError, f"'{fname}' is a {type_name(fn)}, not a function", e.func.span)
            return self.call_user(fn, [a(f) for a in args], {n: v(f) for n, v in kwargs}, span)
        return ev

    def call_user(self, fn: UserFunction, args: list[Any], kwargs: dict[str, Any], span: Span) -> Any:
        if len(args) > len(fn.params):
            raise self.err(KmsTypeError, f"{fn.name}() takes {len(fn.params)} argument"
                           f"{'s' if len(fn.params) != 1 else ''}, got {len(args)}", span)
        frame: Frame = dict(zip(fn.params, args))
        for k, v in kwargs.items():
            if k not in fn.params:
                raise self.err(KmsTypeError, f"{fn.name}() has no parameter '{k}'{did_you_mean(k, fn.params)}", span)
            if k in frame:
                raise self.err(KmsTypeError, f"{fn.name}() got two values for '{k}'", span)
            frame[k] = v
        for pname, default in zip(fn.params, fn.defaults):
            if pname not in frame:
                if default is None:
                    raise self.err(KmsTypeError, f"{fn.name}() is missing argument '{pname}'", span)
                frame[pname] = default(self.globals)
        self.tick()
        if self.depth >= MAX_CALL_DEPTH:
            self.too_deep(fn, span)
        self.depth += 1
        try:
            fn.body(frame)
        except ReturnValue as r:
            return r.value
        finally:
            self.depth -= 1
        return None

    def too_deep(self, fn: UserFunction, span: Span) -> NoReturn:
        raise self.err(KmsLimitError, f"recursion too deep: more than {MAX_CALL_DEPTH} nested calls "
                       f"(in {fn.name}())", span)

    def method_call(self, e: ast.Call, func: ast.Attr, scope: Scope) -> Ev:
        obj = self.expr(func.obj, scope)
        args = [self.expr(a, scope) for a in e.args]
        kwargs = [(k.name, self.expr(k.value, scope)) for k in e.kwargs]
        mname, span = func.name, e.span
        call = self.make_call(span)
        arg_spans = tuple(a.span for a in e.args)

        def ev(f: Frame) -> Any:
            o = obj(f)
            tn = type_name(o)
            m = METHODS.get((tn, mname))
            if m is None:
                have = [n for (t, n) in METHODS if t == tn]
                hint = did_you_mean(mname, have) or (f" (methods: {', '.join(sorted(have))})" if have else "")
                raise self.err(KmsNameError, f"{tn} has no method '{mname}'{hint}", func.span)
            bound = self.bind(m, [a(f) for a in args], {n: v(f) for n, v in kwargs}, span, arg_spans)
            return self.invoke(m.impl, call, (o, *bound), span)
        return ev
