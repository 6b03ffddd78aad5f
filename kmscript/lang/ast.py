"""The kmscript abstract syntax tree: frozen, slotted dataclasses.

Every node has a ``span`` (where it came from) that is excluded from equality and
hashing, so two parses of the same program compare equal whatever the spacing.  Nothing
here knows Lark: the parser builds these nodes directly and no Lark type escapes it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import TypeVar, Union, dataclass_transform

from ..source import Span

_NOSPAN = Span(0, 0, 0, 0, 0, 0)
_T = TypeVar("_T")


def _span() -> Span:
    return field(default=_NOSPAN, compare=False, repr=False)


class _Node:
    """Equality, hashing and repr shared by all nodes.

    Each node is a frozen, slotted dataclass; these three methods are written once here
    instead of being generated per class (``eq=False, repr=False``), which halves the
    time ``import kmscript.lang.ast`` spends in the dataclass machinery -- it is a large
    part of start-up.  They behave as the generated ones would: fields with
    ``compare=False`` (spans) take no part in equality or hashing, nor in the repr.
    """

    __slots__ = ()

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return all(getattr(self, name) == getattr(other, name) for name in _compared(type(self)))

    def __hash__(self) -> int:
        return hash((type(self),) + tuple(getattr(self, name) for name in _compared(type(self))))

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in _compared(type(self)))
        return f"{type(self).__qualname__}({shown})"


_COMPARED: dict[type, tuple[str, ...]] = {}


def _compared(cls: type) -> tuple[str, ...]:
    names = _COMPARED.get(cls)
    if names is None:
        names = _COMPARED[cls] = tuple(f.name for f in fields(cls) if f.compare)
    return names


@dataclass_transform(frozen_default=True, field_specifiers=(field,))
def _node(cls: type[_T]) -> type[_T]:
    return dataclass(frozen=True, slots=True, eq=False, repr=False)(cls)


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
    name: str
    init: Expr | None
    span: Span = _span()


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


Stmt = Union[Assign, AugAssign, IncDec, ExprStmt, Assert, Return, Break, Continue, Show, Include, Decl,
             PercpuDef, PercpuAdd, Sysctl, Fail, If, Repeat, For, While, FnDef, Expect, CpuBlock, IrqBlock,
             TestBlock]


@_node
class Program(_Node):
    body: tuple[Stmt, ...]
    span: Span = _span()
