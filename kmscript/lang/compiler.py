"""The compiler: AST -> Python closures, and the semantics of every statement.

A program is compiled once into nested closures; running it calls them.  A loop such as
``repeat 1000000 { i += 1 }`` therefore never re-dispatches on node types: the loop
closure calls the body closure, which adds to a dict slot.

Scopes: top-level names live in the session's globals dict.  Inside ``fn`` bodies, a name
that is assigned anywhere in the body (or is a parameter, loop variable or declaration)
is local, as in Python; every other name is read from globals.  Blocks do not open scopes.
Constants (GFP and SLAB flags, ``PAGE_SIZE`` ...) and built-in names cannot be assigned,
so they are resolved at compile time.

Control flow: ``break``/``continue``/``return`` are exceptions caught by the enclosing
loop or call; a loop only sets up a handler when its body contains ``break``/``continue``.

Limits: every loop iteration and every user-function call costs one step from the
session's work meter (``--max-steps``, runtime/limits.py), which the runtime also charges
for the pages a built-in touches; user-function nesting is capped (``MAX_CALL_DEPTH``).
Values are capped too (lang/limits.py).  All raise :class:`KmsLimitError`, never a
Python RecursionError or MemoryError.

Kernel reports are logged and the script goes on, as the kernel does -- except the two
that end the task or the machine.  An Oops kills the current task (the script): it stops
at the call that oopsed (exit status 3) unless that call is inside ``expect bug { ... }``,
where the block ends and the script goes on after it.  A kernel panic stops the script
(exit status 3) unless it happens inside ``expect panic { ... }``, after which the machine
is rebooted with the same configuration.  (``kmscript test`` also fails a case on any
other unexpected BUG/WARN-class report; see runtime/reports.py.)  ``KernelFault`` (a request the simulated kernel cannot attempt) becomes a
runtime error at the call that made it.
"""

from __future__ import annotations

import operator
import weakref
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, NoReturn, cast

from ..errors import (KmsAssertionError, KmsError, KmsExpectationError, KmsLimitError, KmsNameError, KmsOops,
                      KmsPanic, KmsRuntimeError, KmsSyntaxError, KmsTypeError, did_you_mean)
from ..runtime.errors import KernelCrash, KernelFault, KernelOops, KernelPanic, WorkLimitExceeded
from ..runtime.history import HISTORICAL, historical
from ..runtime.reports import classify
from ..source import Source, Span
from . import ast
from .builtins import load_all
from .include import allowed_roots, read_script, resolve_include
from .limits import INT_LIMIT, MAX_INT_BITS, check_concat, check_int, int_too_large
from .builtins.registry import BUILTINS, CONSTANTS, METHODS, PTR, VALUES, VIEWS, ArgError, Builtin, Call
from .values import NULL, Ptr, format_value, repr_value, type_name

if TYPE_CHECKING:
    from ..session import Session

Frame = dict[str, Any]
Ev = Callable[[Frame], Any]
Run = Callable[[Frame], Any]

MAX_CALL_DEPTH = 200

EXPECT_KINDS = {
    "oom": ("oom",),
    "bug": ("bug",),
    "warn": ("warn", "alloc_fail"),
    "warning": ("warn", "alloc_fail"),
    "alloc_fail": ("alloc_fail",),
    "allocation_failure": ("alloc_fail",),
    "panic": ("panic",),
    "fault": ("fault",),
}
_KIND_WORDS = {"oom": "an OOM kill", "bug": "a BUG report", "warn": "a warning", "warning": "a warning",
               "alloc_fail": "an allocation failure", "allocation_failure": "an allocation failure",
               "panic": "a kernel panic", "fault": "an injected fault"}
DECL_TYPES = {"cache": "cache", "task": "task", "file": "file"}


def _what_happened(records: list[Any], limit: int = 3) -> str:
    """The kernel reports of a block, by headline, for an expectation that failed."""
    reports = [classify(r) for r in records if r.kind != "info"]
    if not reports:
        return "it produced no kernel report"
    shown = [f"{r.what}: {r.title}" for r in reports[:limit]]
    more = len(reports) - limit
    return "it produced " + "; ".join(shown) + (f"; and {more} more report{'s' if more > 1 else ''}" if more > 0 else "")


_NOT_CONST = object()


class BreakLoop(Exception):
    pass


class ContinueLoop(Exception):
    pass


class ReturnValue(Exception):
    def __init__(self, value: Any) -> None:
        self.value = value


class UserFunction:
    KMS_TYPE = "function"
    __slots__ = ("name", "params", "defaults", "body", "span", "interp")

    def __init__(self, name: str, params: tuple[str, ...], defaults: tuple[Ev | None, ...], body: Run,
                 span: Span, interp: "Interpreter") -> None:
        self.name = name
        self.params = params
        self.defaults = defaults
        self.body = body
        self.span = span
        self.interp = interp

    def __str__(self) -> str:
        return f"<fn {self.name}({', '.join(self.params)})>"


# ----------------------------------------------------------------------- value semantics
def truthy(v: Any) -> bool:
    if v is None:
        return False
    if isinstance(v, (bool, int, str, list, Ptr)):
        return bool(v)
    return True


def _c_div(a: int, b: int) -> int:
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


def _c_mod(a: int, b: int) -> int:
    return a - b * _c_div(a, b)


_INT_OPS: dict[str, Callable[[int, int], int]] = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "|": lambda a, b: a | b,
    "&": lambda a, b: a & b,
    "^": lambda a, b: a ^ b,
    "<<": lambda a, b: a << b,
    ">>": lambda a, b: a >> b,
    "/": _c_div,
    "%": _c_mod,
}


def binop(op: str, a: Any, b: Any, span: Span) -> Any:
    ta, tb = type(a), type(b)
    if ta is int and tb is int:
        if op in ("/", "%") and b == 0:
            raise KmsRuntimeError("division by zero", span)
        if op in ("<<", ">>") and b < 0:
            raise KmsRuntimeError(f"negative shift count {b}", span)
        if op == "<<" and a and a.bit_length() + b > MAX_INT_BITS + 1:
            # refused before Python builds the number
            raise KmsLimitError(f"integer too large: {a} << {b} has more than {MAX_INT_BITS} bits", span)
        return check_int(_INT_OPS[op](a, b), span)
    if ta is Ptr and tb is int:
        if op == "+":
            return Ptr(a.addr + b)
        if op == "-":
            return Ptr(a.addr - b)
        if op in ("&", "|", "^", ">>", "<<", "%", "/"):
            return binop(op, a.addr, b, span)
    if ta is int and tb is Ptr and op == "+":
        return Ptr(a + b.addr)
    if ta is Ptr and tb is Ptr and op == "-":
        return a.addr - b.addr
    if (ta is str and tb is str or ta is list and tb is list) and op == "+":
        check_concat(a, b, span)
        return a + b
    if ta is bool or tb is bool:
        raise KmsTypeError(f"cannot use '{op}' on {type_name(a)} and {type_name(b)} "
                           "(true/false are not numbers)", span)
    raise KmsTypeError(f"cannot use '{op}' on {type_name(a)} and {type_name(b)}", span)


_ORDERING: dict[str, Callable[[Any, Any], Any]] = {"<": operator.lt, ">": operator.gt, "<=": operator.le,
                                                    ">=": operator.ge}


def compare(op: str, a: Any, b: Any, span: Span) -> bool:
    if op == "==":
        return bool(a == b)
    if op == "!=":
        return bool(a != b)
    if op in ("in", "contains"):
        container, item = (b, a) if op == "in" else (a, b)
        if isinstance(container, str):
            if not isinstance(item, str):
                raise KmsTypeError(f"'{op}' on a string needs a string, not {type_name(item)}", span)
            return item in container
        if isinstance(container, list):
            return item in container
        raise KmsTypeError(f"'{op}' needs a string or a list, not {type_name(container)}", span)
    x: Any = a.addr if type(a) is Ptr else a
    y: Any = b.addr if type(b) is Ptr else b
    if (type(x) is int and type(y) is int) or (type(x) is str and type(y) is str):
        return bool(_ORDERING[op](x, y))
    raise KmsTypeError(f"cannot compare {type_name(a)} with {type_name(b)} using '{op}'", span)


# ----------------------------------------------------------------------- analysis helpers
def _assigned_names(body: tuple[ast.Stmt, ...], out: set[str]) -> set[str]:
    """Names a function body binds (its locals)."""
    for s in body:
        if isinstance(s, (ast.Assign, ast.AugAssign, ast.IncDec)) and isinstance(s.target, ast.Name):
            out.add(s.target.id)
        elif isinstance(s, ast.Decl):
            out.add(s.name)
        elif isinstance(s, ast.For):
            out.add(s.var)
            _assigned_names(s.body.body, out)
        elif isinstance(s, ast.FnDef):
            out.add(s.name)
        elif isinstance(s, ast.If):
            for _, b in s.branches:
                _assigned_names(b.body, out)
            if s.orelse:
                _assigned_names(s.orelse.body, out)
        elif isinstance(s, (ast.Repeat, ast.While, ast.Expect, ast.CpuBlock, ast.IrqBlock)):
            _assigned_names(s.body.body, out)
    return out


def _has_loop_control(body: tuple[ast.Stmt, ...]) -> bool:
    """Does a loop body contain break/continue for *this* loop?"""
    for s in body:
        if isinstance(s, (ast.Break, ast.Continue)):
            return True
        if isinstance(s, ast.If):
            if any(_has_loop_control(b.body) for _, b in s.branches):
                return True
            if s.orelse and _has_loop_control(s.orelse.body):
                return True
        elif isinstance(s, (ast.Expect, ast.CpuBlock, ast.IrqBlock)):
            if _has_loop_control(s.body.body):
                return True
    return False


_BREAK = object()  # what a loop step returns for `break` (no statement can return it)


def _loop_step(body: Run, block: ast.Block) -> Run:
    """One loop iteration; returns ``_BREAK`` to leave the loop.

    Only a body that contains break/continue pays for the exception handler.
    """
    if not _has_loop_control(block.body):
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


class _Scope:
    __slots__ = ("locals", "in_loop", "in_fn", "top")

    def __init__(self, locals_: set[str] | None, in_loop: bool = False, in_fn: bool = False,
                 top: bool = True) -> None:
        self.locals = locals_
        self.in_loop = in_loop
        self.in_fn = in_fn
        self.top = top

    def loop(self) -> "_Scope":
        return _Scope(self.locals, True, self.in_fn, False)

    def nested(self) -> "_Scope":
        return _Scope(self.locals, self.in_loop, self.in_fn, False)


# ----------------------------------------------------------------------- the interpreter
class Interpreter:
    """Compiles and runs programs for one Session."""

    def __init__(self, session: "Session") -> None:
        load_all()
        self.session = session
        self.globals: dict[str, Any] = {}
        self.meter = session.meter
        self.depth = 0
        self.source: Source = Source("", "<input>")
        self.include_stack: list[str] = []
        self.register_tests = True
        # Built-in call sites compiled by _fast_builtin_call, by their closure: each maps to
        # a function that rebuilds the site so that it also stores its result in a
        # variable (target name, in the frame rather than globals), see store().
        self.call_sites: weakref.WeakKeyDictionary[Ev, Callable[[str | None, bool], Ev]] = \
            weakref.WeakKeyDictionary()

    # -- errors ------------------------------------------------------------------------
    def err(self, cls: type[KmsError], message: str, span: Span | None, notes: tuple[str, ...] = ()) -> KmsError:
        return cls(message, span, self.source, notes)

    def fail(self, cls: type[KmsError], message: str, span: Span | None) -> NoReturn:
        raise self.err(cls, message, span)

    def caller_of(self, span: Span) -> str:
        return f"{Path(self.source.name).name}:{span.line}"

    def tick(self) -> None:
        m = self.meter
        m.left -= 1
        if m.left < 0:
            m.exhausted()

    # -- entry points --------------------------------------------------------------------
    def compile_program(self, prog: ast.Program, source: Source) -> list[tuple[ast.Stmt, Run]]:
        """Compile top-level statements; each runner returns the statement's result value."""
        self.source = source
        scope = _Scope(None)
        compiled = []
        for s in prog.body:
            try:
                compiled.append((s, self.stmt(s, scope)))
            except KmsError as e:
                raise e.with_location(s.span, source)
            except RecursionError:
                raise self.err(KmsLimitError, "this statement is nested too deeply to compile "
                               "(split the expression or block)", s.span) from None
        return compiled

    def run_compiled(self, compiled: list[tuple[ast.Stmt, Run]], source: Source,
                     on_result: Callable[[ast.Stmt, Any], None] | None = None) -> None:
        self.source = source
        g = self.globals
        for node, run in compiled:
            value = self.guard(run, g, node.span)
            if on_result is not None:
                on_result(node, value)

    def guard(self, run: Run, frame: Frame, span: Span) -> Any:
        """Run one top-level statement, turning runtime exceptions into KmsErrors."""
        try:
            return run(frame)
        except KmsError as e:
            raise e.with_location(span, self.source)
        except KernelPanic as e:
            raise self.err(KmsPanic, e.message, span) from None
        except KernelOops as e:
            raise self.err(KmsOops, e.message, span, (
                "the kernel killed the task that oopsed (the script) -- put the call inside "
                "`expect bug { ... }` if the Oops is what it demonstrates",)) from None
        except KernelFault as e:
            raise self.err(KmsRuntimeError, e.message, span) from None
        except RecursionError:
            raise self.err(KmsLimitError, "nesting too deep for the interpreter", span) from None
        except WorkLimitExceeded as e:
            raise self.err(KmsLimitError, e.message, span) from None
        except MemoryError:
            raise self.err(KmsLimitError, "out of host memory: the script needs more than the memory limit "
                           "allows (raise it with --max-memory)", span) from None
        except (BreakLoop, ContinueLoop, ReturnValue):
            raise self.err(KmsRuntimeError, "break/continue/return outside its loop or function", span) from None

    # -- statements ----------------------------------------------------------------------
    def block(self, b: ast.Block, scope: _Scope) -> Run:
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

    def stmt(self, s: ast.Stmt, scope: _Scope) -> Run:
        method = getattr(self, "stmt_" + type(s).__name__)
        run: Run = method(s, scope)
        return run

    def stmt_ExprStmt(self, s: ast.ExprStmt, scope: _Scope) -> Run:
        return self.expr(s.expr, scope)

    def stmt_Assign(self, s: ast.Assign, scope: _Scope) -> Run:
        value = self.expr(s.value, scope)
        return self.store(s.target, scope, value)

    def store(self, target: ast.Expr, scope: _Scope, value: Ev) -> Run:
        if isinstance(target, ast.Name):
            name = target.id
            self.check_assignable(name, target.span)
            if scope.locals is not None and name in scope.locals:
                build_local = self.call_sites.get(value)
                if build_local is not None:
                    return build_local(name, True)

                def set_local(f: Frame) -> Any:
                    v = f[name] = value(f)
                    return v
                return set_local
            g = self.globals
            build = self.call_sites.get(value)
            if build is not None:
                # `p = kmalloc(64, GFP_KERNEL)`: the call site stores its result itself.
                return build(name, False)

            def set_global(f: Frame) -> Any:
                v = g[name] = value(f)
                return v
            return set_global
        if isinstance(target, ast.Index):
            obj, idx, span = self.expr(target.obj, scope), self.expr(target.index, scope), target.span

            def set_index(f: Frame) -> Any:
                o = obj(f)
                i = idx(f)
                v = value(f)
                self.index_store(o, i, v, span)
                return v
            return set_index
        if isinstance(target, ast.Attr):
            self.fail(KmsTypeError, f"cannot assign to attribute '{target.name}': handle attributes are read-only",
                      target.span)
        if isinstance(target, ast.Call) and isinstance(target.func, ast.Name):
            b = BUILTINS.get(target.func.id)
            if b is not None and b.setter is not None:
                setter_args = self.call_args(b, target, scope)
                setter, setter_call = b.setter, self.make_call(target.span)

                def set_call(f: Frame) -> Any:
                    a, k = setter_args(f)
                    v = value(f)
                    bound = self.bind(b, a, k, target.span)
                    self.invoke(setter, setter_call, (*bound, v), target.span)
                    return v
                return set_call
        self.fail(KmsSyntaxError, "cannot assign to this expression", target.span)

    def check_assignable(self, name: str, span: Span) -> None:
        if name in CONSTANTS:
            self.fail(KmsNameError, f"cannot assign to '{name}': it is a constant", span)
        if name in BUILTINS:
            self.fail(KmsNameError, f"cannot assign to '{name}': it is a built-in function", span)
        if name in VALUES:
            self.fail(KmsNameError, f"cannot assign to '{name}': it is a built-in value", span)

    def stmt_AugAssign(self, s: ast.AugAssign, scope: _Scope) -> Run:
        return self._update(s.target, s.op, self.expr(s.value, scope), scope, s.span)

    def stmt_IncDec(self, s: ast.IncDec, scope: _Scope) -> Run:
        delta = s.delta
        if isinstance(s.target, ast.Call):
            # get_cpu_var(x)++ : read once (the getter's side effects happen once), then store.
            getter = self.expr(s.target, scope)
            store = self.store(s.target, scope, lambda f: f["\0incdec"])

            def run_call(f: Frame) -> Any:
                old = getter(f)
                f["\0incdec"] = binop("+", old, delta, s.span)
                try:
                    return store(f)
                finally:
                    del f["\0incdec"]
            return run_call
        return self._update(s.target, "+" if delta > 0 else "-", lambda f: 1, scope, s.span)

    def _update(self, target: ast.Expr, op: str, rhs: Ev, scope: _Scope, span: Span) -> Run:
        if isinstance(target, ast.Name):
            name = target.id
            self.check_assignable(name, target.span)
            local = scope.locals is not None and name in scope.locals
            g = self.globals
            read = self.name_reader(target, scope)
            fast_add = op == "+"
            fast_sub = op == "-"

            def upd(f: Frame) -> Any:
                d = f if local else g
                try:
                    old = d[name]
                except KeyError:
                    old = read(f)  # raises the right "unknown name" error
                r = rhs(f)
                if type(old) is int and type(r) is int:
                    if fast_add:
                        v = old + r
                    elif fast_sub:
                        v = old - r
                    else:
                        v = binop(op, old, r, span)
                    if not -INT_LIMIT < v < INT_LIMIT:
                        raise int_too_large(v, span)
                else:
                    v = binop(op, old, r, span)
                d[name] = v
                return v
            return upd
        if isinstance(target, ast.Index):
            obj, idx = self.expr(target.obj, scope), self.expr(target.index, scope)

            def upd_index(f: Frame) -> Any:
                o, i = obj(f), idx(f)
                v = binop(op, self.index_load(o, i, target.span), rhs(f), span)
                self.index_store(o, i, v, target.span)
                return v
            return upd_index
        if isinstance(target, ast.Call):
            getter = self.expr(target, scope)
            store = self.store(target, scope, lambda f: f["\0update"])

            def upd_call(f: Frame) -> Any:
                f["\0update"] = binop(op, getter(f), rhs(f), span)
                try:
                    return store(f)
                finally:
                    del f["\0update"]
            return upd_call
        self.fail(KmsSyntaxError, "cannot assign to this expression", target.span)

    def stmt_Assert(self, s: ast.Assert, scope: _Scope) -> Run:
        msg = self.expr(s.message, scope) if s.message is not None else None
        source_text = self.source.snippet(s.test.span) if s.test.span.end else "expression"
        hook = self.session.assert_hook
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

    def stmt_Return(self, s: ast.Return, scope: _Scope) -> Run:
        if not scope.in_fn:
            self.fail(KmsSyntaxError, "'return' outside a function", s.span)
        value = self.expr(s.value, scope) if s.value is not None else (lambda f: None)

        def run(f: Frame) -> NoReturn:
            raise ReturnValue(value(f))
        return run

    def stmt_Break(self, s: ast.Break, scope: _Scope) -> Run:
        return self._loop_exit("break", BreakLoop, s.span, scope)

    def stmt_Continue(self, s: ast.Continue, scope: _Scope) -> Run:
        return self._loop_exit("continue", ContinueLoop, s.span, scope)

    def _loop_exit(self, word: str, exc: type[Exception], span: Span, scope: _Scope) -> Run:
        if not scope.in_loop:
            self.fail(KmsSyntaxError, f"'{word}' outside a loop", span)

        def run(f: Frame) -> NoReturn:
            raise exc
        return run

    def stmt_Show(self, s: ast.Show, scope: _Scope) -> Run:
        v = VIEWS.get(s.view)
        if v is None:
            self.fail(KmsNameError, f"unknown view '{s.view}'{did_you_mean(s.view, VIEWS)}", s.view_span)
        fake = ast.Call(ast.Name(s.view, s.view_span), s.args, (), s.span)
        args = self.call_args(v, fake, scope)
        call = self.make_call(s.span)
        session = self.session

        def run(f: Frame) -> None:
            a, k = args(f)
            bound = self.bind(v, a, k, s.span)
            text = self.invoke(v.impl, call, bound, s.span)
            if text is not None:
                session.write_view(s.view, str(text))
        return run

    def stmt_Include(self, s: ast.Include, scope: _Scope) -> Run:
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
                self.session.run_text(text, str(path), nested=True)
            finally:
                self.include_stack.pop()
                self.source = outer
        return run

    def stmt_Decl(self, s: ast.Decl, scope: _Scope) -> Run:
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

    def stmt_PercpuDef(self, s: ast.PercpuDef, scope: _Scope) -> Run:
        init = self.expr(s.init, scope) if s.init is not None else (lambda f: 0)
        session, name, ctype = self.session, s.name, s.ctype

        def run(f: Frame) -> None:
            v = init(f)
            if type(v) is not int:
                raise self.err(KmsTypeError, f"per-cpu variable '{name}' holds an integer, not {type_name(v)}",
                               s.init.span if s.init else s.span)
            define = getattr(session.machine, "define_per_cpu", None)
            if define is None:
                raise self.err(KmsRuntimeError, "per-cpu variables are not available in this build", s.span)
            define(name, v, ctype)
        return run

    def stmt_PercpuAdd(self, s: ast.PercpuAdd, scope: _Scope) -> Run:
        amount = self.expr(s.value, scope) if s.value is not None else (lambda f: 1)
        sign = 1 if s.op == "+" else -1
        session, name = self.session, s.name

        def run(f: Frame) -> Any:
            n = amount(f)
            if type(n) is not int:
                raise self.err(KmsTypeError, f"per-cpu arithmetic needs an integer, not {type_name(n)}", s.span)
            # DEFINE_PER_CPU(long, name) on first use: the design card's `cpu 2 < percpu ctx++ >`
            return session.machine.this_cpu_add_define(name, sign * n)
        return run

    def stmt_Sysctl(self, s: ast.Sysctl, scope: _Scope) -> Run:
        value = self.expr(s.value, scope)
        session, name = self.session, s.name

        def run(f: Frame) -> None:
            v = value(f)
            m = session.machine
            if name not in m.sysctl_names():
                raise self.err(KmsNameError, f"unknown sysctl '{name}'{did_you_mean(name, m.sysctl_names())}", s.span)
            try:
                m.sysctl_set(name, v)
            except (ValueError, TypeError) as e:
                raise self.err(KmsRuntimeError, f"sysctl {name}: {e}", s.value.span) from None
        return run

    def stmt_Fail(self, s: ast.Fail, scope: _Scope) -> Run:
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

    def stmt_TestBlock(self, s: ast.TestBlock, scope: _Scope) -> Run:
        if not scope.top:
            self.fail(KmsSyntaxError, "'test' blocks are only allowed at the top level of a script", s.span)
        body = self.block(s.body, scope.nested())
        source = self.source

        def run(f: Frame) -> None:
            if self.register_tests:
                self.session.tests.append((s.name, body, s, source))
        return run

    def stmt_If(self, s: ast.If, scope: _Scope) -> Run:
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

    def stmt_Repeat(self, s: ast.Repeat, scope: _Scope) -> Run:
        """``repeat N { ... }``: N iterations; N <= 0 runs the body zero times.

        Each iteration is charged one step as it starts (as ``for`` and ``while`` do), so a
        ``break`` ends the charging too and a nested call sees the exact budget left.
        """
        count = self.expr(s.count, scope)
        step = _loop_step(self.block(s.body, scope.loop()), s.body)
        interp = self

        meter = interp.meter

        def run(f: Frame) -> None:
            n = self._loop_int(count(f), s.count.span, "repeat count")
            for _ in range(n):
                meter.left -= 1  # interp.tick(), inlined
                if meter.left < 0:
                    meter.exhausted()
                if step(f) is _BREAK:
                    break
        return run

    def stmt_For(self, s: ast.For, scope: _Scope) -> Run:
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

    def stmt_While(self, s: ast.While, scope: _Scope) -> Run:
        cond = self.expr(s.cond, scope)
        step = _loop_step(self.block(s.body, scope.loop()), s.body)

        def run(f: Frame) -> None:
            while truthy(cond(f)):
                self.tick()
                if step(f) is _BREAK:
                    break
        return run

    def stmt_FnDef(self, s: ast.FnDef, scope: _Scope) -> Run:
        self.check_assignable(s.name, s.span)
        locals_ = {p.name for p in s.params}
        _assigned_names(s.body.body, locals_)
        fscope = _Scope(locals_, in_loop=False, in_fn=True, top=False)
        body = self.block(s.body, fscope)
        defaults = tuple(self.expr(p.default, scope) if p.default is not None else None for p in s.params)
        fn = UserFunction(s.name, tuple(p.name for p in s.params), defaults, body, s.span, self)
        return self.store(ast.Name(s.name, s.span), scope, lambda f: fn)

    def stmt_Expect(self, s: ast.Expect, scope: _Scope) -> Run:
        kinds = EXPECT_KINDS.get(s.kind)
        if kinds is None:
            self.fail(KmsNameError, f"unknown event kind '{s.kind}'{did_you_mean(s.kind, EXPECT_KINDS)} "
                      f"(kinds: {', '.join(sorted(EXPECT_KINDS))})", s.span)
        body = self.block(s.body, scope.nested())
        session, text = self.session, s.text

        def run(f: Frame) -> None:
            log = session.machine.log
            before = len(log.records)
            before_suppressed = len(log.suppressed)
            panicked = False
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
            records = log.records[before:]
            # a report a rate limit kept out of the log still happened (printk.KernelLog.suppressed)
            found = [r for r in records + log.suppressed[before_suppressed:]
                     if r.kind in kinds and (text is None or text in r.text)]
            if panicked:
                session.reboot_after_panic()
            if not found:
                what = _KIND_WORDS[s.kind] + (f' mentioning "{text}"' if text is not None else "")
                raise self.err(KmsExpectationError, f"expected {what} in this block; {_what_happened(records)}",
                               s.span)
            # Every report of the expected kinds in the block is expected (a SLUB error comes
            # as several records); a panic is expected with all that led to it.
            session.expect_reports(r for r in records if panicked or r.kind in kinds)
        return run

    def stmt_CpuBlock(self, s: ast.CpuBlock, scope: _Scope) -> Run:
        cpu = self.expr(s.cpu, scope)
        body = self.block(s.body, scope.nested())
        session = self.session

        def run(f: Frame) -> None:
            n = self._loop_int(cpu(f), s.cpu.span, "CPU number")
            ctx = session.machine.ctx
            try:
                snap = ctx.enter_cpu(n)
            except KernelFault as e:
                raise self.err(KmsRuntimeError, e.message, s.cpu.span) from None
            try:
                body(f)
            finally:
                ctx.restore(snap)
        return run

    def stmt_IrqBlock(self, s: ast.IrqBlock, scope: _Scope) -> Run:
        cpu = self.expr(s.cpu, scope) if s.cpu is not None else None
        body = self.block(s.body, scope.nested())
        session = self.session

        def run(f: Frame) -> None:
            n = self._loop_int(cpu(f), s.cpu.span, "CPU number") if cpu is not None and s.cpu is not None else None
            ctx = session.machine.ctx
            try:
                snap = ctx.enter_hardirq(n)
            except KernelFault as e:
                raise self.err(KmsRuntimeError, e.message, s.span) from None
            try:
                body(f)
            finally:
                ctx.restore(snap)
        return run

    # -- expressions ---------------------------------------------------------------------
    def expr(self, e: ast.Expr, scope: _Scope) -> Ev:
        method = getattr(self, "expr_" + type(e).__name__)
        ev: Ev = method(e, scope)
        return ev

    def expr_Num(self, e: ast.Num, scope: _Scope) -> Ev:
        v = check_int(e.value, e.span)
        return lambda f: v

    def expr_Str(self, e: ast.Str, scope: _Scope) -> Ev:
        v = e.value
        return lambda f: v

    def expr_Bool(self, e: ast.Bool, scope: _Scope) -> Ev:
        v = e.value
        return lambda f: v

    def expr_Null(self, e: ast.Null, scope: _Scope) -> Ev:
        return lambda f: NULL

    def expr_ListLit(self, e: ast.ListLit, scope: _Scope) -> Ev:
        items = [self.expr(i, scope) for i in e.items]
        return lambda f: [i(f) for i in items]

    def name_reader(self, e: ast.Name, scope: _Scope) -> Ev:
        name = e.id
        if scope.locals is not None and name in scope.locals:
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
        self.session.note(f"{self.source.name}:{span.line}:{span.column}: note: {message}", key)

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

    def expr_Unary(self, e: ast.Unary, scope: _Scope) -> Ev:
        operand = self.expr(e.operand, scope)
        op = e.op

        def ev(f: Frame) -> Any:
            v = operand(f)
            if type(v) is not int:
                raise self.err(KmsTypeError, f"cannot use unary '{op}' on {type_name(v)}", e.span)
            return check_int(-v if op == "-" else ~v, e.span)
        return ev

    def expr_Not(self, e: ast.Not, scope: _Scope) -> Ev:
        operand = self.expr(e.operand, scope)
        return lambda f: not truthy(operand(f))

    def expr_BinOp(self, e: ast.BinOp, scope: _Scope) -> Ev:
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

    def expr_Logic(self, e: ast.Logic, scope: _Scope) -> Ev:
        left, right = self.expr(e.left, scope), self.expr(e.right, scope)
        if e.op == "and":
            return lambda f: truthy(left(f)) and truthy(right(f))
        return lambda f: truthy(left(f)) or truthy(right(f))

    def expr_Compare(self, e: ast.Compare, scope: _Scope) -> Ev:
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

    def expr_Attr(self, e: ast.Attr, scope: _Scope) -> Ev:
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

    def expr_Index(self, e: ast.Index, scope: _Scope) -> Ev:
        obj, idx = self.expr(e.obj, scope), self.expr(e.index, scope)
        return lambda f: self.index_load(obj(f), idx(f), e.span)

    def index_load(self, o: Any, i: Any, span: Span) -> Any:
        if type(i) is not int:
            raise self.err(KmsTypeError, f"an index must be an integer, not {type_name(i)}", span)
        if isinstance(o, (list, str)):
            if not -len(o) <= i < len(o):
                raise self.err(KmsRuntimeError, f"index {i} out of range for a {type_name(o)} of length {len(o)}",
                               span)
            return o[i]
        if isinstance(o, Ptr):
            if o.addr == 0 or o.addr <= 16:
                raise self.err(KmsRuntimeError, f"dereferencing {'NULL' if o.addr == 0 else 'ZERO_SIZE_PTR'}: "
                               "BUG: kernel NULL pointer dereference", span)
            read = getattr(self.session.machine, "memory_read", None)
            if read is None:
                raise self.err(KmsRuntimeError, "memory access is not available in this build", span)
            try:
                return read(o.addr + i, 1)[0]
            except KernelFault as ex:
                raise self.err(KmsRuntimeError, ex.message, span) from None
        raise self.err(KmsTypeError, f"cannot index {type_name(o)}", span)

    def index_store(self, o: Any, i: Any, v: Any, span: Span) -> None:
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
            if o.addr <= 16:
                raise self.err(KmsRuntimeError, f"writing through {'NULL' if o.addr == 0 else 'ZERO_SIZE_PTR'}: "
                               "BUG: kernel NULL pointer dereference", span)
            write = getattr(self.session.machine, "memory_write", None)
            if write is None:
                raise self.err(KmsRuntimeError, "memory access is not available in this build", span)
            try:
                write(o.addr + i, bytes([v]))
            except KernelFault as ex:
                raise self.err(KmsRuntimeError, ex.message, span) from None
            return
        raise self.err(KmsTypeError, f"cannot assign into {type_name(o)} by index", span)

    # -- calls ---------------------------------------------------------------------------
    def make_call(self, span: Span) -> Call:
        return Call(self.session, span, self.caller_of(span))

    def bare_or_expr(self, e: ast.Expr, scope: _Scope) -> Ev:
        """A bare name that is not a variable evaluates to its text (for NAME parameters)."""
        if not isinstance(e, ast.Name):
            return self.expr(e, scope)
        name = e.id
        if name in CONSTANTS:
            c = CONSTANTS[name]
            return lambda f: c
        local = scope.locals is not None and name in scope.locals
        g = self.globals

        def ev(f: Frame) -> Any:
            if local and name in f:
                return f[name]
            if name in g:
                return g[name]
            return name
        return ev

    def call_args(self, b: Builtin, e: ast.Call, scope: _Scope) -> Callable[[Frame], tuple[list[Any], dict[str, Any]]]:
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

    def bind(self, b: Builtin, args: list[Any], kwargs: dict[str, Any], span: Span,
             arg_spans: tuple[Span, ...] = ()) -> list[Any]:
        try:
            return b.bind(args, kwargs)
        except ArgError as ae:
            where = arg_spans[ae.index] if ae.index is not None and ae.index < len(arg_spans) else span
            raise self.err(KmsTypeError, ae.message, where) from None

    def invoke(self, impl: Callable[..., Any], call: Call, args: Any, span: Span) -> Any:
        try:
            return impl(call, *args)
        except KmsError as ke:
            raise ke.with_location(span, self.source)
        except KernelCrash:
            raise
        except KernelFault as kf:
            raise self.err(KmsRuntimeError, kf.message, span) from None

    def expr_Call(self, e: ast.Call, scope: _Scope) -> Ev:
        if isinstance(e.func, ast.Name):
            name = e.func.id
            local = scope.locals is not None and name in scope.locals
            b = BUILTINS.get(name)
            if b is not None and not local:
                return self.builtin_call(b, e, scope)
            return self.user_call(e, scope)
        if isinstance(e.func, ast.Attr):
            return self.method_call(e, e.func, scope)
        self.fail(KmsTypeError, "only names and methods can be called", e.func.span)

    def builtin_call(self, b: Builtin, e: ast.Call, scope: _Scope) -> Ev:
        call = self.make_call(e.span)
        impl = b.impl
        arg_spans = tuple(a.span for a in e.args)
        normal = [p for p in b.params if p.kind == "normal"]
        simple = (not e.kwargs and all(p.kind == "normal" for p in b.params)
                  and len(normal) >= len(e.args)
                  and all(not p.required for p in normal[len(e.args):])
                  and not any(p.type is not None and p.type.bare_name for p in normal[:len(e.args)]))
        if simple:
            return self._fast_builtin_call(b, e, scope, normal, call)
        args = self.call_args(b, e, scope)

        def ev(f: Frame) -> Any:
            a, k = args(f)
            return self.invoke(impl, call, self.bind(b, a, k, e.span, arg_spans), e.span)
        return ev

    def _fast_builtin_call(self, b: Builtin, e: ast.Call, scope: _Scope, normal: list[Any], call: Call) -> Ev:
        """Positional arguments only: constant arguments are converted once, here, and a
        closure made for this shape of call site (see ``_call_site_factory``) calls the
        implementation directly with a fixed number of arguments.  The closure is
        remembered in ``call_sites`` so that an assignment of the call can be fused
        into it (see store())."""
        from .builtins.registry import _Default
        impl, span = b.impl, e.span
        tail = [p.default.value if isinstance(p.default, _Default) else p.default for p in normal[len(e.args):]]
        kinds: list[str] = []
        consts: list[Any] = []
        evs: list[Ev | None] = []
        convs: list[Callable[[Any], Any] | None] = []
        names: list[str | None] = []
        for i, a in enumerate(e.args):
            ptype = normal[i].type
            conv = ptype.convert
            local = scope.locals is not None and isinstance(a, ast.Name) and a.id in scope.locals
            const_value: Any = _NOT_CONST
            if isinstance(a, (ast.Num, ast.Str, ast.Bool)):
                const_value = a.value
            elif isinstance(a, ast.Null):
                const_value = NULL
            elif isinstance(a, ast.Name) and a.id in CONSTANTS and not local:
                const_value = CONSTANTS[a.id]
            if const_value is not _NOT_CONST:
                try:
                    consts.append(conv(const_value))
                    kinds.append("k")
                    evs.append(None)
                    convs.append(None)
                    names.append(None)
                    continue
                except (TypeError, ValueError):
                    pass  # reported at run time, with the argument's span
            kind = "e"
            if isinstance(a, ast.Name):
                if local:
                    kind = "l"  # read the frame slot directly (the reader closure only on a miss)
                elif a.id not in VALUES and a.id not in CONSTANTS:
                    kind = "g"  # read the global directly
            kinds.append(kind + ("p" if ptype is PTR else ""))
            consts.append(None)
            evs.append(self.expr(a, scope))
            convs.append(conv)
            names.append(a.id if kind != "e" and isinstance(a, ast.Name) else None)
        for d in tail:
            kinds.append("k")
            consts.append(d)
            evs.append(None)
            convs.append(None)
            names.append(None)

        def convert_error(i: int, v: Any, ex: Exception) -> KmsError:
            pname = normal[i].name
            if isinstance(ex, TypeError):
                return self.err(KmsTypeError, f"{b.name}(): '{pname}' must be {ex.args[0]}, not {type_name(v)}",
                                e.args[i].span)
            return self.err(KmsTypeError, f"{b.name}(): {ex.args[0]}", e.args[i].span)

        def fault(kf: KernelFault) -> KmsError:
            if isinstance(kf, KernelCrash):
                raise kf
            return self.err(KmsRuntimeError, kf.message, span)

        def located(ke: KmsError) -> KmsError:
            # An error raised by the implementation is at the call, as in invoke().
            return ke.with_location(span, self.source)

        shape = tuple(kinds)
        g = self.globals
        site_args = (impl, call, fault, located, convert_error, g, tuple(consts), tuple(evs), tuple(convs),
                     tuple(names))

        def build(target: str | None, to_frame: bool) -> Ev:
            return _call_site_factory(shape, "frame" if to_frame else "global" if target is not None else None)(
                *site_args, target)

        site = build(None, False)
        self.call_sites[site] = build
        return site

    def user_call(self, e: ast.Call, scope: _Scope) -> Ev:
        assert isinstance(e.func, ast.Name)
        fname = e.func.id
        read = self.expr(e.func, scope) if not (fname in CONSTANTS or fname in VALUES) else None
        if read is None:
            self.fail(KmsTypeError, f"'{fname}' is not a function", e.func.span)
        args = [self.expr(a, scope) for a in e.args]
        kwargs = [(k.name, self.expr(k.value, scope), k.span) for k in e.kwargs]
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
            return self.call_user(fn, [a(f) for a in args], {n: v(f) for n, v, _ in kwargs}, span)
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
            raise self.err(KmsLimitError, f"recursion too deep: more than {MAX_CALL_DEPTH} nested calls "
                           f"(in {fn.name}())", span)
        self.depth += 1
        try:
            fn.body(frame)
        except ReturnValue as r:
            return r.value
        finally:
            self.depth -= 1
        return None

    def method_call(self, e: ast.Call, func: ast.Attr, scope: _Scope) -> Ev:
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


# ------------------------------------------------------------- built-in call-site closures
_CALL_SITE_FACTORIES: dict[tuple[tuple[str, ...], str | None], Callable[..., Ev]] = {}


def _call_site_factory(kinds: tuple[str, ...], store: str | None) -> Callable[..., Ev]:
    """The closure factory for one shape of positional built-in call, generated once.

    ``kinds`` has one letter per argument of the implementation: ``k`` a constant
    (already converted), ``e`` an expression, ``g``/``l`` a global/local variable read
    straight from its dict (falling back to the reader closure, which reports an
    unknown or unassigned name); a trailing ``p`` marks a pointer parameter, whose
    ``Ptr`` argument is unwrapped without calling the converter.  ``store`` is
    ``"global"``/``"frame"`` to assign the result to a variable as well.  Errors are
    those of the generic path (invoke()): a KernelFault becomes a runtime error at the
    call, a KmsError from the implementation gets the call's location.

    Generating the source lets the closure call the implementation with a fixed
    number of arguments: CPython 3.11 then runs it as an inlined Python-to-Python
    call, where ``impl(call, *args)`` goes through the generic, several times slower
    path; and it keeps every per-call value in a closure cell instead of a tuple or a
    list built per call.  The factory is made once per shape and cached.
    """
    key = (kinds, store)
    factory = _CALL_SITE_FACTORIES.get(key)
    if factory is not None:
        return factory
    pre: list[str] = []
    body: list[str] = []
    args: list[str] = []
    for i, kind in enumerate(kinds):
        if kind == "k":
            pre.append(f"k{i} = K[{i}]")
            args.append(f"k{i}")
            continue
        pre.append(f"e{i} = E[{i}]")
        pre.append(f"c{i} = C[{i}]")
        if kind[0] in "gl":
            pre.append(f"n{i} = N[{i}]")
            body += ["try:", f"    v{i} = {'g' if kind[0] == 'g' else 'f'}[n{i}]",
                     "except KeyError:", f"    v{i} = e{i}(f)"]
        else:
            body.append(f"v{i} = e{i}(f)")
        convert = ["try:", f"    a{i} = c{i}(v{i})",
                   "except (TypeError, ValueError) as ex:", f"    raise convert_error({i}, v{i}, ex) from None"]
        if kind.endswith("p"):
            body += [f"if type(v{i}) is Ptr:", f"    a{i} = v{i}.addr", "else:"] + ["    " + c for c in convert]
        else:
            body += convert
        args.append(f"a{i}")
    call_expr = f"impl({', '.join(['call'] + args)})"
    if store == "global":
        result = [f"v = g[target] = {call_expr}", "return v"]
    elif store == "frame":
        result = [f"v = f[target] = {call_expr}", "return v"]
    else:
        result = [f"return {call_expr}"]
    lines = ["def factory(impl, call, fault, located, convert_error, g, K, E, C, N, target):"]
    lines += ["    " + line for line in pre]
    lines.append("    def site(f):")
    lines += ["        " + line for line in body]
    lines.append("        try:")
    lines += ["            " + line for line in result]
    lines += ["        except KernelFault as kf:", "            raise fault(kf) from None",
              "        except KmsError as ke:", "            raise located(ke)", "    return site"]
    namespace: dict[str, Any] = {"Ptr": Ptr, "KernelFault": KernelFault, "KmsError": KmsError}
    exec(compile("\n".join(lines), f"<kmscript call site {''.join(kinds)}>", "exec"), namespace)
    factory = cast(Callable[..., Ev], namespace["factory"])
    _CALL_SITE_FACTORIES[key] = factory
    return factory
