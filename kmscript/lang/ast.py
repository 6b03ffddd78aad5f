"""The kmscript abstract syntax tree: frozen, slotted dataclasses.

Every node has a ``span`` (where it came from) that is excluded from equality and
hashing, so two parses of the same program compare equal whatever the spacing.  Nothing
here knows Lark: the parser builds these nodes directly and no Lark type escapes it.
"""

from __future__ import annotations

from dataclasses import MISSING, FrozenInstanceError, dataclass, field, fields
from typing import TypeVar, Union, dataclass_transform

from ..source import Span

_NOSPAN = Span(0, 0, 0, 0, 0, 0)
_T = TypeVar("_T")


def _span() -> Span:
    return field(default=_NOSPAN, compare=False, repr=False)


class _Node:
    """What every node shares: immutability, equality, hashing, repr.

    Nodes are slotted dataclasses whose fields cannot be assigned or deleted after
    construction (``FrozenInstanceError``, as with ``frozen=True``).  The methods that
    ``@dataclass(frozen=True)`` would generate for each class -- ``__init__``,
    ``__setattr__``, ``__delattr__``, ``__eq__``, ``__hash__``, ``__repr__``, six
    ``exec`` calls per class -- are written once here, and the ``__init__`` of all
    classes is generated in one go by :func:`_install_inits`: importing this module is
    on every start-up's path, and the per-class code generation was the largest part of
    it.  They behave as the generated ones would: fields with ``compare=False`` (spans)
    take no part in equality, hashing or the repr.
    """

    __slots__ = ()

    def __setattr__(self, name: str, value: object) -> None:
        raise FrozenInstanceError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        raise FrozenInstanceError(f"cannot delete field {name!r}")

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return all(getattr(self, name) == getattr(other, name) for name in _compared(type(self)))

    def __hash__(self) -> int:
        return hash((type(self),) + tuple(getattr(self, name) for name in _compared(type(self))))

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in _compared(type(self)))
        return f"{type(self).__qualname__}({shown})"

    # An immutable tree of immutable values: a copy is the node itself.
    def __copy__(self: _T) -> _T:
        return self

    def __deepcopy__(self: _T, memo: dict[int, object]) -> _T:
        return self

    def __getstate__(self) -> tuple[object, ...]:
        return tuple(getattr(self, f.name) for f in fields(self))  # type: ignore[arg-type]

    def __setstate__(self, state: tuple[object, ...]) -> None:
        for f, value in zip(fields(self), state):  # type: ignore[arg-type]
            object.__setattr__(self, f.name, value)


_COMPARED: dict[type, tuple[str, ...]] = {}


def _compared(cls: type) -> tuple[str, ...]:
    names = _COMPARED.get(cls)
    if names is None:
        names = _COMPARED[cls] = tuple(f.name for f in fields(cls) if f.compare)
    return names


_NODE_CLASSES: list[type] = []
_AUTO_DOC = "<signature>"


@dataclass_transform(frozen_default=True, field_specifiers=(field,))
def _node(cls: type[_T]) -> type[_T]:
    if cls.__doc__ is None:  # written by _install_inits (dataclass would call inspect.signature)
        cls.__doc__ = _AUTO_DOC
    made = dataclass(slots=True, init=False, eq=False, repr=False)(cls)
    _NODE_CLASSES.append(made)
    return made


def _install_inits() -> None:
    """Give every node class its ``__init__`` (what ``frozen=True`` would generate),
    compiled from one piece of source."""
    src: list[str] = []
    namespace: dict[str, object] = {"_set": object.__setattr__}
    for cls in _NODE_CLASSES:
        params, body = [], []
        for f in fields(cls):
            if f.default is not MISSING:
                namespace[f"_d_{cls.__name__}_{f.name}"] = f.default
                params.append(f"{f.name}=_d_{cls.__name__}_{f.name}")
            elif f.default_factory is not MISSING:
                raise TypeError(f"{cls.__name__}.{f.name}: default_factory is not supported for AST nodes")
            else:
                params.append(f.name)
            body.append(f"    _set(self, {f.name!r}, {f.name})")
        src.append(f"def _init_{cls.__name__}(self, {', '.join(params)}) -> None:\n" + "\n".join(body or ["    pass"]))
    exec(compile("\n".join(src), "<kmscript.lang.ast __init__s>", "exec"), namespace)
    for cls in _NODE_CLASSES:
        init = namespace[f"_init_{cls.__name__}"]
        init.__qualname__ = f"{cls.__qualname__}.__init__"  # type: ignore[attr-defined]
        cls.__init__ = init  # type: ignore[misc]
        if cls.__doc__ == _AUTO_DOC:
            cls.__doc__ = f"{cls.__name__}({', '.join(f.name for f in fields(cls))})"


# ------------------------------------------------------------------------- expressions
@_node
class Num(_Node):
    value: int
    span: Span = _span()


@_node
class Str(_Node):
    value: str
    span: Span = _span()


@_node
class Bool(_Node):
    value: bool
    span: Span = _span()


@_node
class Null(_Node):
    span: Span = _span()


@_node
class Name(_Node):
    id: str
    span: Span = _span()


@_node
class ListLit(_Node):
    items: tuple["Expr", ...]
    span: Span = _span()


@_node
class Unary(_Node):
    op: str  # "-" | "~"
    operand: "Expr"
    span: Span = _span()


@_node
class Not(_Node):
    operand: "Expr"
    span: Span = _span()


@_node
class BinOp(_Node):
    op: str  # + - * / % << >> | & ^
    left: "Expr"
    right: "Expr"
    span: Span = _span()


@_node
class Logic(_Node):
    op: str  # "and" | "or"
    left: "Expr"
    right: "Expr"
    span: Span = _span()


@_node
class Compare(_Node):
    """A comparison chain ``a < b <= c``; ops are == != < > <= >= in contains."""

    left: "Expr"
    ops: tuple[str, ...]
    rights: tuple["Expr", ...]
    span: Span = _span()


@_node
class Keyword(_Node):
    name: str
    value: "Expr"
    span: Span = _span()


@_node
class Call(_Node):
    func: "Expr"
    args: tuple["Expr", ...]
    kwargs: tuple[Keyword, ...]
    span: Span = _span()


@_node
class Attr(_Node):
    obj: "Expr"
    name: str
    span: Span = _span()


@_node
class Index(_Node):
    obj: "Expr"
    index: "Expr"
    span: Span = _span()


Expr = Union[Num, Str, Bool, Null, Name, ListLit, Unary, Not, BinOp, Logic, Compare, Call, Attr, Index]


# -------------------------------------------------------------------------- statements
@_node
class Assign(_Node):
    target: Expr
    value: Expr
    span: Span = _span()


@_node
class AugAssign(_Node):
    target: Expr
    op: str  # "+" "-" "*" "|" "&" "<<" ">>"
    value: Expr
    span: Span = _span()


@_node
class IncDec(_Node):
    target: Expr
    delta: int  # +1 or -1
    span: Span = _span()


@_node
class ExprStmt(_Node):
    expr: Expr
    span: Span = _span()


@_node
class Assert(_Node):
    test: Expr
    message: Expr | None
    span: Span = _span()


@_node
class Return(_Node):
    value: Expr | None
    span: Span = _span()


@_node
class Break(_Node):
    span: Span = _span()


@_node
class Continue(_Node):
    span: Span = _span()


@_node
class Show(_Node):
    view: str
    args: tuple[Expr, ...]
    span: Span = _span()
    view_span: Span = _span()


@_node
class Plot(_Node):
    target: Expr | None  # the file to write; None: where --plot says
    span: Span = _span()


@_node
class Include(_Node):
    path: str
    span: Span = _span()


@_node
class Decl(_Node):
    kind: str  # cache | task | file
    name: str
    value: Expr
    span: Span = _span()


@_node
class PercpuDef(_Node):
    """``percpu NAME [= e]`` (a ``long``) or ``DEFINE_PER_CPU(type, NAME) [= e]``."""

    name: str
    init: Expr | None
    span: Span = _span()
    ctype: str = "long"


@_node
class PercpuAdd(_Node):
    """``percpu NAME++``, ``percpu NAME--``, ``percpu NAME += e``, ``percpu NAME -= e``."""

    name: str
    op: str  # "+" or "-"
    value: Expr | None  # None for ++/--
    span: Span = _span()


@_node
class Sysctl(_Node):
    name: str
    value: Expr
    span: Span = _span()


@_node
class Fail(_Node):
    kind: str
    options: tuple[Keyword, ...]
    span: Span = _span()


@_node
class Block(_Node):
    body: tuple["Stmt", ...]
    span: Span = _span()


@_node
class If(_Node):
    branches: tuple[tuple[Expr, Block], ...]
    orelse: Block | None
    span: Span = _span()


@_node
class Repeat(_Node):
    count: Expr
    body: Block
    span: Span = _span()


@_node
class For(_Node):
    var: str
    start: Expr  # the iterable, or the range start when ``end`` is given
    end: Expr | None
    body: Block
    span: Span = _span()


@_node
class While(_Node):
    cond: Expr
    body: Block
    span: Span = _span()


@_node
class Param(_Node):
    name: str
    default: Expr | None
    span: Span = _span()


@_node
class FnDef(_Node):
    name: str
    params: tuple[Param, ...]
    body: Block
    span: Span = _span()


@_node
class Expect(_Node):
    kind: str
    text: str | None
    body: Block
    span: Span = _span()


@_node
class Explain(_Node):
    """``explain STATEMENT``: the statement (as a one-statement block) run with the
    allocators' decision records on."""
    body: Block
    span: Span = _span()


@_node
class CpuBlock(_Node):
    cpu: Expr
    body: Block
    span: Span = _span()


@_node
class IrqBlock(_Node):
    cpu: Expr | None
    body: Block
    span: Span = _span()


@_node
class TestBlock(_Node):
    name: str
    body: Block
    span: Span = _span()


Stmt = Union[Assign, AugAssign, IncDec, ExprStmt, Assert, Return, Break, Continue, Show, Plot, Include, Decl,
             PercpuDef, PercpuAdd, Sysctl, Fail, If, Repeat, For, While, FnDef, Expect, Explain, CpuBlock,
             IrqBlock, TestBlock]


@_node
class Program(_Node):
    body: tuple[Stmt, ...]
    span: Span = _span()


_install_inits()
