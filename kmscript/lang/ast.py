"""The kmscript abstract syntax tree: frozen, slotted dataclasses.

Every node has a ``span`` (where it came from) that is excluded from equality and
hashing, so two parses of the same program compare equal whatever the spacing.  Nothing
here knows Lark: the parser converts Lark trees into these nodes and no Lark type
escapes it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Union

from ..source import Span

_NOSPAN = Span(0, 0, 0, 0, 0, 0)


def _span() -> Span:
    return field(default=_NOSPAN, compare=False, repr=False)


# ------------------------------------------------------------------------- expressions
@dataclass(frozen=True, slots=True)
class Num:
    value: int
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Str:
    value: str
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Bool:
    value: bool
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Null:
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Name:
    id: str
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class ListLit:
    items: tuple["Expr", ...]
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Unary:
    op: str  # "-" | "~"
    operand: "Expr"
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Not:
    operand: "Expr"
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class BinOp:
    op: str  # + - * / % << >> | & ^
    left: "Expr"
    right: "Expr"
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Logic:
    op: str  # "and" | "or"
    left: "Expr"
    right: "Expr"
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Compare:
    """A comparison chain ``a < b <= c``; ops are == != < > <= >= in contains."""

    left: "Expr"
    ops: tuple[str, ...]
    rights: tuple["Expr", ...]
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Keyword:
    name: str
    value: "Expr"
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Call:
    func: "Expr"
    args: tuple["Expr", ...]
    kwargs: tuple[Keyword, ...]
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Attr:
    obj: "Expr"
    name: str
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Index:
    obj: "Expr"
    index: "Expr"
    span: Span = _span()


Expr = Union[Num, Str, Bool, Null, Name, ListLit, Unary, Not, BinOp, Logic, Compare, Call, Attr, Index]


# -------------------------------------------------------------------------- statements
@dataclass(frozen=True, slots=True)
class Assign:
    target: Expr
    value: Expr
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class AugAssign:
    target: Expr
    op: str  # "+" "-" "*" "|" "&" "<<" ">>"
    value: Expr
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class IncDec:
    target: Expr
    delta: int  # +1 or -1
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class ExprStmt:
    expr: Expr
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Assert:
    test: Expr
    message: Expr | None
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Return:
    value: Expr | None
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Break:
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Continue:
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Show:
    view: str
    args: tuple[Expr, ...]
    span: Span = _span()
    view_span: Span = _span()


@dataclass(frozen=True, slots=True)
class Include:
    path: str
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Decl:
    kind: str  # cache | task | file
    name: str
    value: Expr
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class PercpuDef:
    name: str
    init: Expr | None
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class PercpuAdd:
    """``percpu NAME++``, ``percpu NAME--``, ``percpu NAME += e``, ``percpu NAME -= e``."""

    name: str
    op: str  # "+" or "-"
    value: Expr | None  # None for ++/--
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Sysctl:
    name: str
    value: Expr
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Fail:
    kind: str
    options: tuple[Keyword, ...]
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Block:
    body: tuple["Stmt", ...]
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class If:
    branches: tuple[tuple[Expr, Block], ...]
    orelse: Block | None
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Repeat:
    count: Expr
    body: Block
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class For:
    var: str
    start: Expr  # the iterable, or the range start when ``end`` is given
    end: Expr | None
    body: Block
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class While:
    cond: Expr
    body: Block
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    default: Expr | None
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class FnDef:
    name: str
    params: tuple[Param, ...]
    body: Block
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Expect:
    kind: str
    text: str | None
    body: Block
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class CpuBlock:
    cpu: Expr
    body: Block
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class IrqBlock:
    cpu: Expr | None
    body: Block
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class TestBlock:
    name: str
    body: Block
    span: Span = _span()


Stmt = Union[Assign, AugAssign, IncDec, ExprStmt, Assert, Return, Break, Continue, Show, Include, Decl,
             PercpuDef, PercpuAdd, Sysctl, Fail, If, Repeat, For, While, FnDef, Expect, CpuBlock, IrqBlock,
             TestBlock]


@dataclass(frozen=True, slots=True)
class Program:
    body: tuple[Stmt, ...]
    span: Span = _span()
