"""Compiling statements: assignment, control flow, blocks, declarations, and the
statements that talk to the machine (``show``, ``expect``, ``cpu``/``irq`` blocks,
``percpu``, ``sysctl``, ``fail``, ``include``, ``test``).

Loops: every iteration of ``repeat``/``for``/``while`` costs one step, charged as it
starts; ``repeat N`` with N <= 0 runs the body zero times.  A loop sets up a handler for
``break``/``continue`` only when its body contains one (:func:`_loop_step`).  Each
statement is compiled exactly once, so compiling is linear in the program size.

Kernel reports are logged and the script goes on, as the kernel does -- except the two
that end the task or the machine.  An Oops kills the current task (the script): it stops
at the call that oopsed unless that call is inside ``expect bug { ... }``, where the
block ends and the script goes on after it.  A kernel panic stops the script unless it
happens inside ``expect panic { ... }``, after which the machine is rebooted with the
same configuration.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, NoReturn

from ..errors import (KmsAssertionError, KmsError, KmsExpectationError, KmsNameError, KmsRuntimeError, KmsSyntaxError,
                      KmsTypeError, did_you_mean)
from ..runtime.errors import KernelFault, KernelOops, KernelPanic
from ..runtime.reports import classify
from ..source import Span
from . import ast
from .builtins.registry import BUILTINS, CONSTANTS, VALUES, VIEWS
from .include import allowed_roots, read_script, resolve_include
from .limits import INT_LIMIT, int_too_large
from .compile_core import BreakLoop, CompilerCore, ContinueLoop, Ev, Frame, ReturnValue, Run, UserFunction
from .operators import binop, compare, truthy
from .scope import Scope, assigned_names, has_loop_control
from .values import NULL, format_value, repr_value, type_name

EXPECT_KINDS = {
    "oom": ("oom",),
    "bug": ("bug",),
    "warn": ("warn", "alloc_fail"),
    "warning": ("warn", "alloc_fail"),
    "alloc_fail": ("alloc_fail",),
    "allocation_failure": ("alloc_fail",),
    "panic": ("panic",),
    "fault": ("fault",),
    "kasan": ("bug",),  # BUG-kind records that are KASAN reports (_is_kasan_report)
}
_KIND_WORDS = {"kasan": "a KASAN report", "oom": "an OOM kill", "bug": "a BUG report", "warn": "a warning", "warning": "a warning",
               "alloc_fail": "an allocation failure", "allocation_failure": "an allocation failure",
               "panic": "a kernel panic", "fault": "an injected fault"}
DECL_TYPES = {"cache": "cache", "task": "task", "file": "file"}


def _is_kasan_report(rec: Any) -> bool:
    """A KASAN report (``BUG: KASAN: ...``, mm/kasan/report.c) or the general protection
    fault of an inline check whose kasan_non_canonical_hook line says ``KASAN: ...``."""
    return classify(rec).cls == "kasan" or any(ln.startswith("KASAN: ") for ln in rec.text.split("\n"))


def _what_happened(records: list[Any], limit: int = 3) -> str:
    """The kernel reports of a block, by headline, for an expectation that failed."""
    reports = [classify(r) for r in records if r.kind != "info"]
    if not reports:
        return "it produced no kernel report"
    shown = [f"{r.what}: {r.title}" for r in reports[:limit]]
    more = len(reports) - limit
    return "it produced " + "; ".join(shown) + (f"; and {more} more report{'s' if more > 1 else ''}" if more > 0 else "")


_BREAK = object()  # what a loop step returns for `break` (no statement can return it)


def _loop_step(body: Run, block: ast.Block) -> Run:
    """One loop iteration; returns ``_BREAK`` to leave the loop.

    Only a body that contains break/continue pays for the exception handler.
    """
    if not has_loop_control(block.body):
        return body

    def step(f: Frame) -> Any:
        try:
            body(f)
        except BreakLoop:
            return _BREAK
        except ContinueLoop:
            pass
        return None
    return step


class StatementCompiler(CompilerCore):
    def block(self, b: ast.Block, scope: Scope) -> Run:
        runs = [self.stmt(s, scope) for s in b.body]
        if not runs:
            return lambda f: None
        if len(runs) == 1:
            return runs[0]
        if len(runs) == 2:
            r0, r1 = runs

            def run2(f: Frame) -> None:
                r0(f)
                r1(f)
            return run2
        if len(runs) == 3:
            s0, s1, s2 = runs

            def run3(f: Frame) -> None:
                s0(f)
                s1(f)
                s2(f)
            return run3
        seq = tuple(runs)

        def run_n(f: Frame) -> None:
            for r in seq:
                r(f)
        return run_n

    def stmt_ExprStmt(self, s: ast.ExprStmt, scope: Scope) -> Run:
        return self.expr(s.expr, scope)

    def stmt_Assign(self, s: ast.Assign, scope: Scope) -> Run:
        value = self.expr(s.value, scope)
        return self.store(s.target, scope, value)

    def store(self, target: ast.Expr, scope: Scope, value: Ev) -> Run:
        """Assignment of *value* to *target* (a name, an index, or a built-in with a setter)."""
        if isinstance(target, ast.Name):
            name = target.id
            self.check_assignable(name, target.span)
            if scope.is_local(name):
                def set_local(f: Frame) -> Any:
                    v = f[name] = value(f)
                    return v
                return set_local
            g = self.globals

            def set_global(f: Frame) -> Any:
                v = g[name] = value(f)
                return v
            return set_global
        if isinstance(target, ast.Index):
            obj, idx, span = self.expr(target.obj, scope), self.expr(target.index, scope), target.span
            site = self.caller_of(span)

            def set_index(f: Frame) -> Any:
                o = obj(f)
                i = idx(f)
                v = value(f)
                self.index_store(o, i, v, span, site)
                return v
            return set_index
        if isinstance(target, ast.Attr):
            self.fail(KmsTypeError, f"cannot assign to attribute '{target.name}': handle attributes are read-only",
                      target.span)
        if isinstance(target, ast.Call):
            set_call = self.setter(target, scope)
            return lambda f: set_call(f, value)
        self.fail(KmsSyntaxError, "cannot assign to this expression", target.span)

    def setter(self, target: ast.Call, scope: Scope) -> Callable[[Frame, Ev], Any]:
        """Assignment through a built-in's setter (``get_cpu_var(c) = v``): evaluates the
        call's arguments, then the value, then stores it; returns the value."""
        b = BUILTINS.get(target.func.id) if isinstance(target.func, ast.Name) else None
        if b is None or b.setter is None or scope.is_local(b.name):
            self.fail(KmsSyntaxError, "cannot assign to this expression", target.span)
        setter_args = self.call_args(b, target, scope)
        impl, call, span = b.setter, self.make_call(target.span), target.span

        def set_call(f: Frame, value: Ev) -> Any:
            a, k = setter_args(f)
            v = value(f)
            bound = self.bind(b, a, k, span)
            self.invoke(impl, call, (*bound, v), span)
            return v
        return set_call

    def check_assignable(self, name: str, span: Span) -> None:
        if name in CONSTANTS:
            self.fail(KmsNameError, f"cannot assign to '{name}': it is a constant", span)
        if name in BUILTINS:
            self.fail(KmsNameError, f"cannot assign to '{name}': it is a built-in function", span)
        if name in VALUES:
            self.fail(KmsNameError, f"cannot assign to '{name}': it is a built-in value", span)

    def stmt_AugAssign(self, s: ast.AugAssign, scope: Scope) -> Run:
        return self._update(s.target, s.op, s.value, scope, s.span)

    def stmt_IncDec(self, s: ast.IncDec, scope: Scope) -> Run:
        delta, span = s.delta, s.span
        if isinstance(s.target, ast.Call):
            # get_cpu_var(x)++ : read once (the getter's side effects happen once), then store.
            getter = self.expr(s.target, scope)
            set_call = self.setter(s.target, scope)

            def run_call(f: Frame) -> Any:
                new = binop("+", getter(f), delta, span)
                return set_call(f, lambda _f: new)
            return run_call
        return self._update(s.target, "+" if delta > 0 else "-", ast.Num(1, span), scope, span)

    def _update(self, target: ast.Expr, op: str, rhs_node: ast.Expr, scope: Scope, span: Span) -> Run:
        """``target op= rhs``: the target is read once, then stored."""
        rhs = self.expr(rhs_node, scope)
        if isinstance(target, ast.Name):
            name = target.id
            self.check_assignable(name, target.span)
            d = None if scope.is_local(name) else self.globals  # None: the frame (a function's locals)
            read = self.name_reader(target, scope)
            if isinstance(rhs_node, ast.Num) and op in ("+", "-"):
                # `i += 1`, `n--`: the loop counter case, with the integer test inline.
                step = rhs_node.value if op == "+" else -rhs_node.value

                def add_const(f: Frame) -> Any:
                    vars_ = f if d is None else d
                    try:
                        old = vars_[name]
                    except KeyError:
                        old = read(f)  # raises the right "unknown name" error
                    if type(old) is int:
                        v = old + step
                        if not -INT_LIMIT < v < INT_LIMIT:
                            raise int_too_large(v, span)
                    else:
                        v = binop(op, old, rhs(f), span)
                    vars_[name] = v
                    return v
                return add_const

            def upd(f: Frame) -> Any:
                vars_ = f if d is None else d
                try:
                    old = vars_[name]
                except KeyError:
                    old = read(f)  # raises the right "unknown name" error
                r = rhs(f)
                if op == "+" and type(old) is int and type(r) is int:
                    v = old + r
                    if not -INT_LIMIT < v < INT_LIMIT:
                        raise int_too_large(v, span)
                else:
                    v = binop(op, old, r, span)
                vars_[name] = v
                return v
            return upd
        if isinstance(target, ast.Index):
            obj, idx = self.expr(target.obj, scope), self.expr(target.index, scope)
            site = self.caller_of(target.span)

            def upd_index(f: Frame) -> Any:
                o, i = obj(f), idx(f)
                v = binop(op, self.index_load(o, i, target.span, site), rhs(f), span)
                self.index_store(o, i, v, target.span, site)
                return v
            return upd_index
        if isinstance(target, ast.Call):
            getter = self.expr(target, scope)
            set_call = self.setter(target, scope)

            def upd_call(f: Frame) -> Any:
                new = binop(op, getter(f), rhs(f), span)
                return set_call(f, lambda _f: new)
            return upd_call
        self.fail(KmsSyntaxError, "cannot assign to this expression", target.span)

    def stmt_Assert(self, s: ast.Assert, scope: Scope) -> Run:
        msg = self.expr(s.message, scope) if s.message is not None else None
        source_text = self.source.snippet(s.test.span) if s.test.span.end else "expression"
        hook = self.host.assert_hook
        if isinstance(s.test, ast.Compare) and len(s.test.ops) == 1:
            left, right, op = self.expr(s.test.left, scope), self.expr(s.test.rights[0], scope), s.test.ops[0]

            def run_cmp(f: Frame) -> None:
                a, b = left(f), right(f)
                ok = compare(op, a, b, s.span)
                detail = f"{repr_value(a)} {op} {repr_value(b)}"
                if hook is not None:
                    hook(s, ok, source_text, detail)
                if not ok:
                    self.assert_failed(s, msg, f, detail)
            return run_cmp
        test = self.expr(s.test, scope)

        def run(f: Frame) -> None:
            v = test(f)
            ok = truthy(v)
            detail = f"{source_text} is {format_value(v)}" if not isinstance(v, bool) else f"{source_text}"
            if hook is not None:
                hook(s, ok, source_text, detail)
            if not ok:
                self.assert_failed(s, msg, f, detail)
        return run

    def assert_failed(self, s: ast.Assert, msg: Ev | None, f: Frame, detail: str) -> NoReturn:
        text = detail
        if msg is not None:
            text = f"{format_value(msg(f))} ({detail})"
        raise self.err(KmsAssertionError, text, s.test.span)

    def stmt_Return(self, s: ast.Return, scope: Scope) -> Run:
        if not scope.in_fn:
            self.fail(KmsSyntaxError, "'return' outside a function", s.span)
        value = self.expr(s.value, scope) if s.value is not None else (lambda f: None)

        def run(f: Frame) -> NoReturn:
            raise ReturnValue(value(f))
        return run

    def stmt_Break(self, s: ast.Break, scope: Scope) -> Run:
        return self._loop_exit("break", BreakLoop, s.span, scope)

    def stmt_Continue(self, s: ast.Continue, scope: Scope) -> Run:
        return self._loop_exit("continue", ContinueLoop, s.span, scope)

    def _loop_exit(self, word: str, exc: type[Exception], span: Span, scope: Scope) -> Run:
        if not scope.in_loop:
            self.fail(KmsSyntaxError, f"'{word}' outside a loop", span)

        def run(f: Frame) -> NoReturn:
            raise exc
        return run

    def stmt_Show(self, s: ast.Show, scope: Scope) -> Run:
        v = VIEWS.get(s.view)
        if v is None:
            self.fail(KmsNameError, f"unknown view '{s.view}'{did_you_mean(s.view, VIEWS)}", s.view_span)
        fake = ast.Call(ast.Name(s.view, s.view_span), s.args, (), s.span)
        args = self.call_args(v, fake, scope)
        call = self.make_call(s.span)
        host = self.host

        def run(f: Frame) -> None:
            a, k = args(f)
            bound = self.bind(v, a, k, s.span)
            text = self.invoke(v.impl, call, bound, s.span)
            if text is not None:
                host.write_view(s.view, str(text))
        return run

    def stmt_Plot(self, s: ast.Plot, scope: Scope) -> Run:
        target = s.target
        path = self.expr(target, scope) if target is not None else None
        host = self.host

        def run(f: Frame) -> None:
            name = None
            if path is not None and target is not None:
                value = path(f)
                if not isinstance(value, str) or not value:
                    raise self.err(KmsTypeError, f"plot needs a file name (a string), got {type_name(value)}",
                                   target.span)
                name = str(self.output_path(value, target.span))
            problem = host.plot(name)
            if problem is not None:
                raise self.err(KmsRuntimeError, problem, s.span)
        return run

    def output_path(self, target: str, span: Span) -> Path:
        """Where a picture statement may write *target*, or its error at *span*."""
        try:
            return self.picture_path(target)
        except KmsError as e:
            raise e.with_location(span, self.source)

    def stmt_Include(self, s: ast.Include, scope: Scope) -> Run:
        if not scope.top:
            self.fail(KmsSyntaxError, "'include' is only allowed at the top level of a script", s.span)

        def run(f: Frame) -> None:
            # lang/include.py: only .kms scripts below the allowed roots, bounded size
            stack = self.include_stack
            including = None if self.source.name in ("<input>", "<stdin>", "<string>") else self.source.name
            try:
                path = resolve_include(s.path, including, allowed_roots(stack[0] if stack else None), stack)
                text = read_script(path, regular_only=True)
            except KmsError as e:
                raise e.with_location(s.span, self.source)
            key = str(path)
            outer = self.source
            self.include_stack.append(key)
            try:
                self.host.run_text(text, str(path), nested=True)
            finally:
                self.include_stack.pop()
                self.source = outer
        return run

    def stmt_Decl(self, s: ast.Decl, scope: Scope) -> Run:
        value_node = s.value
        if isinstance(value_node, ast.Call) and isinstance(value_node.func, ast.Name):
            b = BUILTINS.get(value_node.func.id)
            if b is not None and any(p.name == "name" for p in b.params) \
                    and not any(k.name == "name" for k in value_node.kwargs):
                names = [p.name for p in b.params if p.kind == "normal"]
                if names.index("name") >= len(value_node.args):
                    value_node = ast.Call(value_node.func, value_node.args,
                                          value_node.kwargs + (ast.Keyword("name", ast.Str(s.name, s.span), s.span),),
                                          value_node.span)
        value = self.expr(value_node, scope)
        want = DECL_TYPES[s.kind]
        span = s.value.span

        def checked(f: Frame) -> Any:
            v = value(f)
            if v is not NULL and type_name(v) != want:
                raise self.err(KmsTypeError, f"'{s.kind} {s.name} = ...' needs a {want}, got {type_name(v)}", span)
            return v
        return self.store(ast.Name(s.name, s.span), scope, checked)

    def stmt_PercpuDef(self, s: ast.PercpuDef, scope: Scope) -> Run:
        init = self.expr(s.init, scope) if s.init is not None else (lambda f: 0)
        host, name, ctype = self.host, s.name, s.ctype

        def run(f: Frame) -> None:
            v = init(f)
            if type(v) is not int:
                raise self.err(KmsTypeError, f"per-cpu variable '{name}' holds an integer, not {type_name(v)}",
                               s.init.span if s.init else s.span)
            host.machine.percpu.define_per_cpu(name, v, ctype)
        return run

    def stmt_PercpuAdd(self, s: ast.PercpuAdd, scope: Scope) -> Run:
        amount = self.expr(s.value, scope) if s.value is not None else (lambda f: 1)
        sign = 1 if s.op == "+" else -1
        host, name = self.host, s.name

        def run(f: Frame) -> Any:
            n = amount(f)
            if type(n) is not int:
                raise self.err(KmsTypeError, f"per-cpu arithmetic needs an integer, not {type_name(n)}", s.span)
            # DEFINE_PER_CPU(long, name) on first use: the design card's `cpu 2 < percpu ctx++ >`
            return host.machine.percpu.this_cpu_add_define(name, sign * n)
        return run

    def stmt_Sysctl(self, s: ast.Sysctl, scope: Scope) -> Run:
        value = self.expr(s.value, scope)
        host, name = self.host, s.name

        def run(f: Frame) -> None:
            v = value(f)
            m = host.machine
            if name not in m.sysctls.names():
                raise self.err(KmsNameError, f"unknown sysctl '{name}'{did_you_mean(name, m.sysctls.names())}", s.span)
            try:
                m.sysctls.set(name, v)
            except (ValueError, TypeError) as e:
                raise self.err(KmsRuntimeError, f"sysctl {name}: {e}", s.value.span) from None
        return run

    def stmt_Fail(self, s: ast.Fail, scope: Scope) -> Run:
        b = BUILTINS.get("fail")
        if b is None:
            self.fail(KmsNameError, "fault injection ('fail') is not available in this build", s.span)
        kind = s.kind
        opts = [(k.name, self.bare_or_expr(k.value, scope), k.span) for k in s.options]
        call = self.make_call(s.span)

        def run(f: Frame) -> None:
            options = {name: ev(f) for name, ev, _ in opts}
            self.invoke(b.impl, call, self.bind(b, [kind], options, s.span), s.span)
        return run

    def stmt_TestBlock(self, s: ast.TestBlock, scope: Scope) -> Run:
        if not scope.top:
            self.fail(KmsSyntaxError, "'test' blocks are only allowed at the top level of a script", s.span)
        body = self.block(s.body, scope.nested())
        source = self.source

        def run(f: Frame) -> None:
            if self.register_tests:
                self.host.tests.append((s.name, body, s, source))
        return run

    def stmt_If(self, s: ast.If, scope: Scope) -> Run:
        sub = scope.nested()
        branches = [(self.expr(c, scope), self.block(b, sub)) for c, b in s.branches]
        orelse = self.block(s.orelse, sub) if s.orelse is not None else None
        if len(branches) == 1:
            cond, body = branches[0]

            def run1(f: Frame) -> None:
                c = cond(f)
                if c is True or (c is not False and truthy(c)):
                    body(f)
                elif orelse is not None:
                    orelse(f)
            return run1

        def run(f: Frame) -> None:
            for cond, body in branches:
                if truthy(cond(f)):
                    body(f)
                    return
            if orelse is not None:
                orelse(f)
        return run

    def _loop_int(self, v: Any, span: Span, what: str) -> int:
        if type(v) is not int:
            raise self.err(KmsTypeError, f"{what} must be an integer, not {type_name(v)}", span)
        return v

    def stmt_Repeat(self, s: ast.Repeat, scope: Scope) -> Run:
        """``repeat N { ... }``: N iterations; N <= 0 runs the body zero times.

        Each iteration is charged one step as it starts (as ``for`` and ``while`` do), so a
        ``break`` ends the charging too and a nested call sees the exact budget left.
        """
        count = self.expr(s.count, scope)
        step = _loop_step(self.block(s.body, scope.loop()), s.body)
        meter = self.meter

        def run(f: Frame) -> None:
            n = self._loop_int(count(f), s.count.span, "repeat count")
            for _ in range(n):
                meter.left -= 1  # tick(), inlined
                if meter.left < 0:
                    meter.exhausted()
                if step(f) is _BREAK:
                    break
        return run

    def stmt_For(self, s: ast.For, scope: Scope) -> Run:
        start = self.expr(s.start, scope)
        end = self.expr(s.end, scope) if s.end is not None else None
        step = _loop_step(self.block(s.body, scope.loop()), s.body)
        var = s.var
        self.check_assignable(var, s.span)
        local = scope.locals is not None and var in scope.locals
        g = self.globals

        def run(f: Frame) -> None:
            d = f if local else g
            if end is not None:
                a = self._loop_int(start(f), s.start.span, "range start")
                b = self._loop_int(end(f), s.end.span if s.end else s.span, "range end")
                items: Any = range(a, b)
            else:
                items = start(f)
                if not isinstance(items, (list, str)):
                    raise self.err(KmsTypeError, f"cannot iterate over {type_name(items)} "
                                   "(use a list or a range like 0..10)", s.start.span)
                items = list(items)
            for item in items:
                self.tick()
                d[var] = item
                if step(f) is _BREAK:
                    break
        return run

    def stmt_While(self, s: ast.While, scope: Scope) -> Run:
        cond = self.expr(s.cond, scope)
        step = _loop_step(self.block(s.body, scope.loop()), s.body)

        def run(f: Frame) -> None:
            while truthy(cond(f)):
                self.tick()
                if step(f) is _BREAK:
                    break
        return run

    def stmt_FnDef(self, s: ast.FnDef, scope: Scope) -> Run:
        self.check_assignable(s.name, s.span)
        locals_ = {p.name for p in s.params}
        assigned_names(s.body.body, locals_)
        fscope = Scope(locals_, in_loop=False, in_fn=True, top=False)
        body = self.block(s.body, fscope)
        defaults = tuple(self.expr(p.default, scope) if p.default is not None else None for p in s.params)
        fn = UserFunction(s.name, tuple(p.name for p in s.params), defaults, body, s.span)
        return self.store(ast.Name(s.name, s.span), scope, lambda f: fn)

    def stmt_Expect(self, s: ast.Expect, scope: Scope) -> Run:
        kinds = EXPECT_KINDS.get(s.kind)
        if kinds is None:
            self.fail(KmsNameError, f"unknown event kind '{s.kind}'{did_you_mean(s.kind, EXPECT_KINDS)} "
                      f"(kinds: {', '.join(sorted(EXPECT_KINDS))})", s.span)
        body = self.block(s.body, scope.nested())
        host, text = self.host, s.text
        kasan_only = s.kind == "kasan"

        def expected(r: Any) -> bool:
            return r.kind in kinds and (not kasan_only or _is_kasan_report(r))

        def run(f: Frame) -> None:
            machine = host.machine
            log = machine.log
            before = len(log.records)
            before_suppressed = len(log.suppressed)
            panicked = False
            # like KUnit's KUNIT_EXPECT_KASAN_FAIL, the block runs with kasan_multi_shot on
            # (kasan_save_enable_multi_shot), so each expected bug is reported
            kasan = machine.kasan if kasan_only else None
            multi_shot = kasan.save_enable_multi_shot() if kasan is not None else False
            try:
                body(f)
            except KernelPanic:
                if "panic" not in kinds:
                    raise
                panicked = True
            except KernelOops:
                # The Oops killed the task inside the block: the block ends here.
                if "bug" not in kinds:
                    raise
            finally:
                if kasan is not None:
                    kasan.restore_multi_shot(multi_shot)
            records = log.records[before:]
            # a report a rate limit kept out of the log still happened (printk.KernelLog.suppressed)
            found = [r for r in records + log.suppressed[before_suppressed:]
                     if expected(r) and (text is None or text in r.text)]
            if panicked:
                host.reboot_after_panic()
            if not found:
                what = _KIND_WORDS[s.kind] + (f' mentioning "{text}"' if text is not None else "")
                hint = (" (the machine was booted without kasan=true)"
                        if kasan_only and machine.kasan is None else "")
                raise self.err(KmsExpectationError, f"expected {what} in this block; {_what_happened(records)}"
                               f"{hint}", s.span)
            # Every report of the expected kinds in the block is expected (a SLUB error comes
            # as several records); a panic is expected with all that led to it.
            host.expect_reports(r for r in records if panicked or expected(r))
        return run

    def stmt_Explain(self, s: ast.Explain, scope: Scope) -> Run:
        body = self.block(s.body, scope.nested())
        return self.explained(body, s.body.body[0])

    def explained(self, run: Run, stmt: ast.Stmt, implicit: bool = False) -> Run:
        """*run* with the allocators' decision records on (runtime/explain.py); the
        host gets the statement's record when it ends, even when it ends in an error."""
        host = self.host
        where = f"{self.source.name}:{stmt.span.line}"
        text = self.source.snippet(stmt.span)

        def run_explained(f: Frame) -> Any:
            log = host.machine.tracer.explain
            try:
                value, rec = log.record(lambda: run(f))
            except BaseException as e:
                partial = getattr(e, "explain_recording", None)
                if partial is not None:
                    host.explained(where, text, partial, implicit)
                raise
            host.explained(where, text, rec, implicit)
            return value
        return run_explained

    def stmt_CpuBlock(self, s: ast.CpuBlock, scope: Scope) -> Run:
        cpu = self.expr(s.cpu, scope)
        body = self.block(s.body, scope.nested())
        host = self.host

        def run(f: Frame) -> None:
            n = self._loop_int(cpu(f), s.cpu.span, "CPU number")
            ctx = host.machine.ctx
            try:
                snap = ctx.enter_cpu(n)
            except KernelFault as e:
                raise self.err(KmsRuntimeError, e.message, s.cpu.span) from None
            try:
                body(f)
            finally:
                ctx.restore(snap)
        return run

    def stmt_IrqBlock(self, s: ast.IrqBlock, scope: Scope) -> Run:
        cpu = self.expr(s.cpu, scope) if s.cpu is not None else None
        body = self.block(s.body, scope.nested())
        host = self.host

        def run(f: Frame) -> None:
            n = self._loop_int(cpu(f), s.cpu.span, "CPU number") if cpu is not None and s.cpu is not None else None
            ctx = host.machine.ctx
            try:
                snap = ctx.enter_hardirq(n)
            except KernelFault as e:
                raise self.err(KmsRuntimeError, e.message, s.span) from None
            try:
                body(f)
            finally:
                ctx.restore(snap)
        return run
