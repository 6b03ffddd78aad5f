"""What every part of the compiler shares: the closure types, control flow, the step
budget, error construction, and calling a built-in's implementation.

The compiler turns each AST node into a Python closure taking the current frame (a dict
of variables: the globals at the top level, a function's locals inside it).  It is split
by concern into mixins of :class:`CompilerCore`: ``expressions.py``, ``calls.py`` and
``statements.py``; ``compiler.py`` puts them together as the ``Interpreter``.  Dispatch
on node types happens once, at compile time (``expr``/``stmt``); running a closure never
looks at the AST again.

Control flow: ``break``/``continue``/``return`` are exceptions caught by the enclosing
loop or call.  Limits: every loop iteration and every user-function call costs one step
of the host's work meter (:meth:`CompilerCore.tick`, ``--max-steps``, runtime/limits.py),
charged as it starts; the runtime charges the same meter for the pages a built-in
touches.  User-function nesting is capped at ``MAX_CALL_DEPTH``; values are capped by
lang/limits.py.  All raise :class:`KmsLimitError`, never a Python RecursionError or
MemoryError.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, NoReturn

from ..errors import KmsError, KmsHostMemoryError, KmsLimitError, KmsOops, KmsPanic, KmsRuntimeError, KmsTypeError
from ..runtime.errors import KernelCrash, KernelFault, KernelOops, KernelPanic, WorkLimitExceeded
from ..source import Source, Span
from . import ast
from .builtins import load_all
from .builtins.registry import ArgError, Builtin, Call
from .include import allowed_roots, resolve_output
from .scope import Scope

if TYPE_CHECKING:
    from .host import Host

Frame = dict[str, Any]
Ev = Callable[[Frame], Any]   # an expression: frame -> value
Run = Callable[[Frame], Any]  # a statement: frame -> its result (shown by the REPL)

MAX_CALL_DEPTH = 200


class BreakLoop(Exception):
    pass


class ContinueLoop(Exception):
    pass


class ReturnValue(Exception):
    def __init__(self, value: Any) -> None:
        self.value = value


class UserFunction:
    """A function defined by ``fn``: its compiled body and default-value closures."""

    KMS_TYPE = "function"
    __slots__ = ("name", "params", "defaults", "body", "span")

    def __init__(self, name: str, params: tuple[str, ...], defaults: tuple[Ev | None, ...], body: Run,
                 span: Span) -> None:
        self.name = name
        self.params = params
        self.defaults = defaults
        self.body = body
        self.span = span

    def __str__(self) -> str:
        return f"<fn {self.name}({', '.join(self.params)})>"


class CompilerCore:
    """The state of one interpreter and the services every compiler part uses."""

    def __init__(self, host: "Host") -> None:
        load_all()
        self.host = host
        self.globals: dict[str, Any] = {}
        self.meter = host.meter  # the step budget, shared with the machines the host boots
        self.depth = 0
        self.source: Source = Source("", "<input>")
        self.current_where: tuple[str, int] = ("<input>", 0)  # the top-level statement running
        self.include_stack: list[str] = []
        self.register_tests = True
        self._file_names: dict[str, str] = {}  # source name -> its file name, for call sites

    # -- dispatch (once per node, at compile time) ----------------------------------------
    def expr(self, e: ast.Expr, scope: Scope) -> Ev:
        method = getattr(self, "expr_" + type(e).__name__)
        ev: Ev = method(e, scope)
        return ev

    def stmt(self, s: ast.Stmt, scope: Scope) -> Run:
        method = getattr(self, "stmt_" + type(s).__name__)
        run: Run = method(s, scope)
        return run

    # Implemented by the parts (each one's module says what it covers).
    def block(self, b: ast.Block, scope: Scope) -> Run:  # statements.py
        raise NotImplementedError

    def name_reader(self, e: ast.Name, scope: Scope) -> Ev:  # expressions.py
        raise NotImplementedError

    def index_load(self, o: Any, i: Any, span: Span, site: str = "") -> Any:  # expressions.py
        raise NotImplementedError

    def index_store(self, o: Any, i: Any, v: Any, span: Span, site: str = "") -> None:  # expressions.py
        raise NotImplementedError

    def bare_or_expr(self, e: ast.Expr, scope: Scope) -> Ev:  # calls.py
        raise NotImplementedError

    def call_args(self, b: Builtin, e: ast.Call, scope: Scope) -> Callable[[Frame], tuple[list[Any], dict[str, Any]]]:
        raise NotImplementedError  # calls.py

    # -- errors ----------------------------------------------------------------------------
    def err(self, cls: type[KmsError], message: str, span: Span | None, notes: tuple[str, ...] = ()) -> KmsError:
        return cls(message, span, self.source, notes)

    def fail(self, cls: type[KmsError], message: str, span: Span | None) -> NoReturn:
        raise self.err(cls, message, span)

    # -- the step budget -------------------------------------------------------------------
    def tick(self) -> None:
        m = self.meter
        m.left -= 1
        if m.left < 0:
            m.exhausted()

    # -- running ---------------------------------------------------------------------------
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
            raise self.err(KmsHostMemoryError, "out of host memory: the script needs more than the memory limit "
                           "allows (raise it with --max-memory)", span) from None
        except (BreakLoop, ContinueLoop, ReturnValue):
            raise self.err(KmsRuntimeError, "break/continue/return outside its loop or function", span) from None

    # -- calling built-ins -----------------------------------------------------------------
    def caller_of(self, span: Span) -> str:
        """The kernel's call site for a call at *span*: ``file.kms:LINE``."""
        name = self.source.name
        base = self._file_names.get(name)
        if base is None:
            base = self._file_names[name] = Path(name).name
        return f"{base}:{span.line}"

    def make_call(self, span: Span) -> Call:
        return Call(self.host, span, self.caller_of(span), self.picture_path)

    def picture_path(self, target: str) -> Path:
        """Where a picture statement of the script being compiled may write *target*
        (lang/include.py: resolve_output); KmsUsageError, without a location, otherwise."""
        stack = self.include_stack
        including = None if self.source.name in ("<input>", "<stdin>", "<string>") else self.source.name
        return resolve_output(target, including, allowed_roots(stack[0] if stack else None))

    def bind(self, b: Builtin, args: list[Any], kwargs: dict[str, Any], span: Span,
             arg_spans: tuple[Span, ...] = ()) -> list[Any]:
        """Check and convert a call's arguments (the one place argument errors are made:
        the built-in fast path calls it too when a conversion fails)."""
        try:
            return b.bind(args, kwargs)
        except ArgError as ae:
            where = arg_spans[ae.index] if ae.index is not None and ae.index < len(arg_spans) else span
            raise self.err(KmsTypeError, ae.message, where) from None

    def invoke(self, impl: Callable[..., Any], call: Call, args: Any, span: Span) -> Any:
        try:
            return impl(call, *args)
        except (KmsError, KernelFault) as ex:
            raise self.call_error(ex, span) from None

    def call_error(self, ex: KmsError | KernelFault, span: Span) -> Exception:
        """What an exception from a built-in's implementation becomes (the one error path
        of every built-in call, fast or generic): a KmsError is located at the call; a
        request the simulated kernel cannot attempt (KernelFault) is a runtime error at
        the call; a crash (panic, Oops) passes through unchanged to guard() or ``expect``."""
        if isinstance(ex, KmsError):
            return ex.with_location(span, self.source)
        if isinstance(ex, KernelCrash):
            return ex
        return self.err(KmsRuntimeError, ex.message, span)
