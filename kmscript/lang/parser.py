"""The parser: kmscript text -> :mod:`kmscript.lang.ast`.  The only module that imports Lark.

The Lark LALR parser is built once per process (and cached on disk by Lark, so start-up
stays fast).  A post-lexer drops newlines inside ``(...)`` and ``[...]`` (calls and lists
may span lines) and before ``elif``/``else`` (so ``}\\nelse {`` works), and keeps a stack
of open brackets so that "unexpected end of input" can say which ``{`` is not closed.

Lark's exceptions never leave this module: they become :class:`KmsSyntaxError` with the
expected tokens in user words (``)``, "a number like 4K"), never ``__ANON_0`` or ``$END``.
"""

from __future__ import annotations

import sys
from typing import Any, Iterator

from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from ..errors import KmsSyntaxError
from ..source import Source, Span
from . import ast
from .grammar import grammar_text

_SIZE_SUFFIX = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
_OPENERS = {"LPAR": "(", "LSQB": "[", "LBRACE": "{"}
_CLOSERS = {"RPAR": "LPAR", "RSQB": "LSQB", "RBRACE": "LBRACE"}


class _PostLex:
    """Newline handling and bracket tracking between the lexer and the parser."""

    always_accept = ("_NL",)

    def __init__(self) -> None:
        self.open: list[Token] = []

    def process(self, stream: Iterator[Token]) -> Iterator[Token]:
        self.open = []
        depth = 0  # () and [] nesting, where newlines are insignificant
        pending_nl: Token | None = None
        for tok in stream:
            t = tok.type
            if t == "_NL":
                if depth == 0 and pending_nl is None:
                    pending_nl = tok
                continue
            if pending_nl is not None:
                if t not in ("ELIF", "ELSE"):
                    yield pending_nl
                pending_nl = None
            if t in ("LPAR", "LSQB"):
                depth += 1
                self.open.append(tok)
            elif t == "LBRACE":
                self.open.append(tok)
            elif t in ("RPAR", "RSQB"):
                depth = max(0, depth - 1)
                self._close(_CLOSERS[t])
            elif t == "RBRACE":
                self._close("LBRACE")
            elif t in ("CPU", "IRQ"):
                self.open.append(tok)
            elif t == "CPU_CLOSE":
                self._close("CPU")
            yield tok
        if pending_nl is not None:
            yield pending_nl

    def _close(self, kind: str) -> None:
        for i in range(len(self.open) - 1, -1, -1):
            k = self.open[i].type
            if k == kind or (kind == "CPU" and k == "IRQ"):
                del self.open[i:]
                return


_postlex = _PostLex()
_lark: Lark | None = None


def _cache_file(text: str) -> str | bool:
    """Where Lark keeps its analysed grammar between runs (start-up is 10x faster with it)."""
    import hashlib
    import os
    import tempfile
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    for d in (os.path.join(base, "kmscript"), os.path.join(tempfile.gettempdir(), f"kmscript-{os.getuid()}")):
        try:
            os.makedirs(d, exist_ok=True)
            if os.access(d, os.W_OK):
                return os.path.join(d, f"grammar-{digest}.lark-cache")
        except OSError:
            continue
    return False


def _parser() -> Lark:
    global _lark
    if _lark is None:
        text = grammar_text()
        _lark = Lark(text, parser="lalr", lexer="basic", maybe_placeholders=True, postlex=_postlex,
                     transformer=_callbacks, cache=_cache_file(text))
    return _lark


# ------------------------------------------------------------------ tree -> AST
def _tok_span(t: Token) -> Span:
    return Span(t.start_pos or 0, t.end_pos or 0, t.line or 0, t.column or 0, t.end_line or 0,
                t.end_column or 0)


_NO_SPAN = Span(0, 0, 0, 0, 0, 0)


def _meta_span(meta: Any) -> Span:
    """Rule handlers receive the span computed from their children (see _items_span)."""
    return meta if isinstance(meta, Span) else _NO_SPAN


def _join(a: Span, b: Span) -> Span:
    if not a.line:
        return b
    if not b.line:
        return a
    return Span(a.start, b.end, a.line, a.column, b.end_line, b.end_column)


def _edge_span(item: Any, last: bool) -> Span | None:
    """The span of a child (a token, an AST node, or a list of them), or None."""
    if type(item) is Token:
        return _tok_span(item) if item.line else None
    sp = getattr(item, "span", None)
    if sp is not None:
        return sp if sp.line else None
    if type(item) is list or type(item) is tuple:
        for x in (reversed(item) if last else item):
            found = _edge_span(x, last)
            if found is not None:
                return found
    return None


def _items_span(items: list[Any]) -> Span:
    """The span of a rule from its first to its last child that has a position.

    Lark's propagate_positions would do this for every reduction and doubles the
    parse time; anonymous tokens (commas, parentheses) are not among the children, so
    a span starts at the first named token or sub-expression of the rule.
    """
    first = last = None
    for x in items:
        first = _edge_span(x, False)
        if first is not None:
            break
    if first is None:
        return _NO_SPAN
    for x in reversed(items):
        last = _edge_span(x, True)
        if last is not None:
            break
    assert last is not None
    return Span(first.start, last.end, first.line, first.column, last.end_line, last.end_column)


def _span_of(node: Any) -> Span:
    if isinstance(node, Token):
        return _tok_span(node)
    return node.span  # type: ignore[no-any-return]


def parse_number(text: str) -> int:
    t = text.replace("_", "")
    if t[:2] in ("0x", "0X"):
        return int(t[2:], 16)
    if t[:2] in ("0b", "0B"):
        return int(t[2:], 2)
    mult = 1
    if t[-1] in _SIZE_SUFFIX:
        mult = _SIZE_SUFFIX[t[-1]]
        t = t[:-1]
    return int(t, 10) * mult


_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "0": "\0", "\\": "\\", '"': '"', "'": "'", "e": "\x1b"}


def parse_string(tok: Token) -> str:
    body = str(tok)[1:-1]
    out: list[str] = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch != "\\":
            out.append(ch)
            i += 1
            continue
        nxt = body[i + 1]
        if nxt in _ESCAPES:
            out.append(_ESCAPES[nxt])
            i += 2
        elif nxt == "x" and i + 3 < len(body) + 1 and all(c in "0123456789abcdefABCDEF" for c in body[i + 2:i + 4]) \
                and len(body[i + 2:i + 4]) == 2:
            out.append(chr(int(body[i + 2:i + 4], 16)))
            i += 4
        else:
            start = (tok.start_pos or 0) + 1 + i
            raise KmsSyntaxError(f"unknown escape sequence '\\{nxt}' in string",
                                 Span(start, start + 2, tok.line or 0, (tok.column or 0) + 1 + i,
                                      tok.line or 0, (tok.column or 0) + 3 + i))
    return "".join(out)


def _fold_binary(meta: Any, items: list[Any], make: Any) -> Any:
    left = items[0]
    for i in range(1, len(items), 2):
        op, right = items[i], items[i + 1]
        left = make(op, left, right, _join(_span_of(left), _span_of(right)))
    return left


# Binding power of each binary operator (higher binds tighter); `not` sits at NOT_POWER.
_POWER = {"or": 1, "||": 1, "and": 2, "&&": 2,
          "==": 4, "!=": 4, "<": 4, ">": 4, "<=": 4, ">=": 4, "in": 4, "contains": 4,
          "|": 5, "^": 6, "&": 7, "<<": 8, ">>": 8, "+": 9, "-": 9, "*": 10, "/": 10, "%": 10}
NOT_POWER = 3
COMPARE_POWER = 4
_LOGIC = {"or": "or", "||": "or", "and": "and", "&&": "and"}


class _Prefixed:
    """An operand with prefix operators, before precedence climbing resolves it."""

    __slots__ = ("ops", "operand", "span")

    def __init__(self, ops: tuple[str, ...], operand: Any, span: Span) -> None:
        self.ops = ops
        self.operand = operand
        self.span = span


class _Climber:
    """Precedence climbing over ``operand op operand op ...``.

    Unary ``-``/``~`` bind tightest; ``not``/``!`` binds looser than comparisons (so
    ``not a == b`` is ``not (a == b)``) but tighter than ``and``; comparisons chain
    (``a < b <= c``); everything else is left-associative.
    """

    def __init__(self, items: list[Any]) -> None:
        self.items = items
        self.pos = 0

    def parse(self) -> Any:
        return self.binary(self.operand(), 0)

    def peek_power(self) -> int:
        if self.pos >= len(self.items):
            return -1
        return _POWER[str(self.items[self.pos])]

    def operand(self) -> Any:
        item = self.items[self.pos]
        self.pos += 1
        if isinstance(item, _Prefixed):
            return self.apply_prefixes(item)
        return item

    def apply_prefixes(self, p: _Prefixed) -> Any:
        value = p.operand
        for op in reversed(p.ops):
            if op in ("not", "!"):
                operand = self.binary(value, NOT_POWER + 1)
                value = ast.Not(operand, _join(p.span, _span_of(operand)))
            elif op == "-" and isinstance(value, ast.Num):
                value = ast.Num(-value.value, _join(p.span, _span_of(value)))
            else:
                value = ast.Unary(op, value, _join(p.span, _span_of(value)))
        return value

    def binary(self, left: Any, min_power: int) -> Any:
        while True:
            power = self.peek_power()
            if power < min_power:
                return left
            op = str(self.items[self.pos])
            self.pos += 1
            if power == COMPARE_POWER:
                ops, rights = [op], [self.binary(self.operand(), power + 1)]
                while self.peek_power() == COMPARE_POWER:
                    ops.append(str(self.items[self.pos]))
                    self.pos += 1
                    rights.append(self.binary(self.operand(), power + 1))
                left = ast.Compare(left, tuple(ops), tuple(rights), _join(_span_of(left), _span_of(rights[-1])))
                continue
            right = self.binary(self.operand(), power + 1)
            span = _join(_span_of(left), _span_of(right))
            if op in _LOGIC:
                left = ast.Logic(_LOGIC[op], left, right, span)
            else:
                left = ast.BinOp(op, left, right, span)


class _ToAst:
    """One method per grammar rule: (meta, converted children) -> AST node."""

    # --- program structure
    def start(self, meta: Any, items: list[Any]) -> ast.Program:
        return ast.Program(tuple(items), _meta_span(meta))

    def block(self, meta: Any, items: list[Any]) -> ast.Block:
        return ast.Block(tuple(items), _meta_span(meta))

    def ctx_body(self, meta: Any, items: list[Any]) -> ast.Block:
        return ast.Block(tuple(items), _meta_span(meta))

    # --- simple statements
    def assign(self, meta: Any, items: list[Any]) -> ast.Assign:
        return ast.Assign(items[0], items[1], _meta_span(meta))

    def aug_assign(self, meta: Any, items: list[Any]) -> ast.AugAssign:
        return ast.AugAssign(items[0], items[1][:-1], items[2], _meta_span(meta))

    def incdec(self, meta: Any, items: list[Any]) -> ast.IncDec:
        return ast.IncDec(items[0], 1 if str(items[1]) == "++" else -1, _meta_span(meta))

    def expr_stmt(self, meta: Any, items: list[Any]) -> ast.ExprStmt:
        return ast.ExprStmt(items[0], _meta_span(meta))

    def assert_stmt(self, meta: Any, items: list[Any]) -> ast.Assert:
        return ast.Assert(items[0], items[1] if len(items) > 1 else None, _meta_span(meta))

    def return_stmt(self, meta: Any, items: list[Any]) -> ast.Return:
        return ast.Return(items[0] if items else None, _meta_span(meta))

    def break_stmt(self, meta: Any, items: list[Any]) -> ast.Break:
        return ast.Break(_meta_span(meta))

    def continue_stmt(self, meta: Any, items: list[Any]) -> ast.Continue:
        return ast.Continue(_meta_span(meta))

    def show_stmt(self, meta: Any, items: list[Any]) -> ast.Show:
        return ast.Show(str(items[0]), tuple(items[1:]), _meta_span(meta), _tok_span(items[0]))

    def view_name(self, meta: Any, items: list[Any]) -> Token:
        return Token.new_borrow_pos("NAME", str(items[0]), items[0])  # a keyword used as a name

    def include_stmt(self, meta: Any, items: list[Any]) -> ast.Include:
        return ast.Include(parse_string(items[0]), _meta_span(meta))

    def decl_kind(self, meta: Any, items: list[Any]) -> str:
        return str(items[0])

    def decl_stmt(self, meta: Any, items: list[Any]) -> ast.Decl:
        return ast.Decl(items[0], str(items[1]), items[2], _meta_span(meta))

    def percpu_def(self, meta: Any, items: list[Any]) -> ast.PercpuDef:
        return ast.PercpuDef(str(items[0]), items[1] if len(items) > 1 else None, _meta_span(meta))

    def percpu_incdec(self, meta: Any, items: list[Any]) -> ast.PercpuAdd:
        return ast.PercpuAdd(str(items[0]), "+" if str(items[1]) == "++" else "-", None, _meta_span(meta))

    def percpu_aug(self, meta: Any, items: list[Any]) -> ast.PercpuAdd:
        op = items[1][:-1]
        if op not in ("+", "-"):
            raise KmsSyntaxError(f"per-cpu variables support '+=' and '-=', not '{items[1]}'", _meta_span(meta))
        return ast.PercpuAdd(str(items[0]), op, items[2], _meta_span(meta))

    def sysctl_stmt(self, meta: Any, items: list[Any]) -> ast.Sysctl:
        return ast.Sysctl(items[0], items[1], _meta_span(meta))

    def dotted_name(self, meta: Any, items: list[Any]) -> str:
        return ".".join(str(t) for t in items)

    def fail_key(self, meta: Any, items: list[Any]) -> Token:
        return Token.new_borrow_pos("NAME", str(items[0]), items[0])  # a keyword used as a name

    def fail_opt(self, meta: Any, items: list[Any]) -> ast.Keyword:
        return ast.Keyword(str(items[0]), items[1], _meta_span(meta))

    def fail_stmt(self, meta: Any, items: list[Any]) -> ast.Fail:
        return ast.Fail(str(items[0]), tuple(items[1:]), _meta_span(meta))

    # --- compound statements
    def elif_clause(self, meta: Any, items: list[Any]) -> tuple[str, Any, Any]:
        return ("elif", items[0], items[1])

    def else_clause(self, meta: Any, items: list[Any]) -> tuple[str, Any, Any]:
        return ("else", None, items[0])

    def if_stmt(self, meta: Any, items: list[Any]) -> ast.If:
        branches = [(items[0], items[1])]
        orelse = None
        for kind, cond, body in items[2:]:
            if kind == "elif":
                branches.append((cond, body))
            else:
                orelse = body
        return ast.If(tuple(branches), orelse, _meta_span(meta))

    def repeat_stmt(self, meta: Any, items: list[Any]) -> ast.Repeat:
        return ast.Repeat(items[0], items[1], _meta_span(meta))

    def for_stmt(self, meta: Any, items: list[Any]) -> ast.For:
        name, start = str(items[0]), items[1]
        if len(items) == 5:
            return ast.For(name, start, items[3], items[4], _meta_span(meta))
        return ast.For(name, start, None, items[-1], _meta_span(meta))

    def while_stmt(self, meta: Any, items: list[Any]) -> ast.While:
        return ast.While(items[0], items[1], _meta_span(meta))

    def param(self, meta: Any, items: list[Any]) -> ast.Param:
        return ast.Param(str(items[0]), items[1] if len(items) > 1 else None, _meta_span(meta))

    def fn_def(self, meta: Any, items: list[Any]) -> ast.FnDef:
        params = tuple(p for p in items[1:-1] if p is not None)
        seen: set[str] = set()
        for p in params:
            if p.name in seen:
                raise KmsSyntaxError(f"parameter '{p.name}' appears twice", p.span)
            seen.add(p.name)
        return ast.FnDef(str(items[0]), params, items[-1], _meta_span(meta))

    def expect_stmt(self, meta: Any, items: list[Any]) -> ast.Expect:
        text = parse_string(items[1]) if len(items) == 3 and items[1] is not None else None
        return ast.Expect(str(items[0]), text, items[-1], _meta_span(meta))

    def cpu_block(self, meta: Any, items: list[Any]) -> ast.CpuBlock:
        return ast.CpuBlock(items[0], items[1], _meta_span(meta))

    def irq_block(self, meta: Any, items: list[Any]) -> ast.IrqBlock:
        parts = [i for i in items if not isinstance(i, Token)]
        if len(parts) == 1:
            return ast.IrqBlock(None, parts[0], _meta_span(meta))
        return ast.IrqBlock(parts[0], parts[1], _meta_span(meta))

    def test_block(self, meta: Any, items: list[Any]) -> ast.TestBlock:
        return ast.TestBlock(parse_string(items[0]), items[1], _meta_span(meta))

    # --- operators: precedence climbing over the flat `operand (op operand)*` list
    def augop(self, meta: Any, items: list[Any]) -> str:
        return str(items[0])

    def expr(self, meta: Any, items: list[Any]) -> Any:
        if len(items) == 1 and not isinstance(items[0], _Prefixed):
            return items[0]
        return _Climber(items).parse()

    def prefixed(self, meta: Any, items: list[Any]) -> "_Prefixed":
        return _Prefixed(tuple(str(t) for t in items[:-1]), items[-1], _meta_span(meta))

    # --- primaries
    def call(self, meta: Any, items: list[Any]) -> ast.Call:
        func, arglist = items[0], items[1] or []  # items[2] is the closing ')'
        args: list[Any] = []
        kwargs: list[ast.Keyword] = []
        for a in arglist:
            if isinstance(a, ast.Keyword):
                if any(k.name == a.name for k in kwargs):
                    raise KmsSyntaxError(f"keyword argument '{a.name}' given twice", a.span)
                kwargs.append(a)
            elif kwargs:
                raise KmsSyntaxError("positional argument after a keyword argument", _span_of(a))
            else:
                args.append(a)
        return ast.Call(func, tuple(args), tuple(kwargs), _meta_span(meta))

    def arguments(self, meta: Any, items: list[Any]) -> list[Any]:
        return list(items)

    def kwarg(self, meta: Any, items: list[Any]) -> ast.Keyword:
        return ast.Keyword(str(items[0]), items[1], _meta_span(meta))

    def attr(self, meta: Any, items: list[Any]) -> ast.Attr:
        return ast.Attr(items[0], str(items[1]), _meta_span(meta))

    def index(self, meta: Any, items: list[Any]) -> ast.Index:
        return ast.Index(items[0], items[1], _meta_span(meta))

    def number(self, meta: Any, items: list[Any]) -> ast.Num:
        return ast.Num(parse_number(str(items[0])), _meta_span(meta))

    def string(self, meta: Any, items: list[Any]) -> ast.Str:
        return ast.Str(parse_string(items[0]), _meta_span(meta))

    def true(self, meta: Any, items: list[Any]) -> ast.Bool:
        return ast.Bool(True, _meta_span(meta))

    def false(self, meta: Any, items: list[Any]) -> ast.Bool:
        return ast.Bool(False, _meta_span(meta))

    def null(self, meta: Any, items: list[Any]) -> ast.Null:
        return ast.Null(_meta_span(meta))

    def name(self, meta: Any, items: list[Any]) -> ast.Name:
        return ast.Name(str(items[0]), _meta_span(meta))

    def list(self, meta: Any, items: list[Any]) -> ast.ListLit:
        return ast.ListLit(tuple(i for i in items[:-1] if i is not None), _meta_span(meta))


_to_ast = _ToAst()


# Tokens that only mark where a statement or block starts and ends (named in the grammar
# for that reason) and the rules whose handlers must not see them.
_SPAN_ONLY = frozenset({"IF", "ELIF", "ELSE", "REPEAT", "FOR", "WHILE", "FN", "ASSERT", "EXPECT", "CPU", "IRQ",
                        "TEST", "SHOW", "INCLUDE", "PERCPU", "SYSCTL", "FAIL", "LBRACE", "RBRACE", "RETURN",
                        "BREAK", "CONTINUE"})
_KEYWORD_LED = frozenset({"block", "assert_stmt", "show_stmt", "include_stmt", "percpu_def", "percpu_incdec",
                          "percpu_aug", "sysctl_stmt", "fail_stmt", "if_stmt", "elif_clause", "else_clause",
                          "repeat_stmt", "for_stmt", "while_stmt", "fn_def", "expect_stmt", "cpu_block",
                          "irq_block", "test_block", "return_stmt", "break_stmt", "continue_stmt"})


class _InlineCallbacks:
    """Lark's in-parse transformer: each reduction calls the rule's handler directly.

    No parse tree is built and no second pass runs; the handler gets the span computed
    from the children (``_items_span``).
    """

    def __init__(self) -> None:
        for name in dir(_to_ast):
            if not name.startswith("__"):
                setattr(self, name, self._wrap(getattr(_to_ast, name)))

    @staticmethod
    def _wrap(handler: Any) -> Any:
        if handler.__name__ in _KEYWORD_LED:
            def statement(children: list[Any]) -> Any:
                kept = [c for c in children if not (type(c) is Token and c.type in _SPAN_ONLY)]
                return handler(_items_span(children), kept)
            return statement

        def callback(children: list[Any]) -> Any:
            return handler(_items_span(children), children)
        return callback


_callbacks = _InlineCallbacks()

# ------------------------------------------------------------------ errors in user words
_NAMED = {
    "NUMBER": "a number (like 42, 0x1f or 4K)",
    "STRING": "a string",
    "NAME": "a name",
    "_NL": "a newline",
    "$END": "end of input",
    "CPU_CLOSE": "'>' closing the block",
    "INCDEC": "'++' or '--'",
    "RANGE": "'..'",
}
_EXPR_STARTERS = {"NUMBER", "NAME", "STRING", "LPAR", "LSQB", "MINUS", "TILDE", "TRUE", "FALSE", "NULL"}


def _describe_terminal(name: str) -> str:
    if name in _NAMED:
        return _NAMED[name]
    p = _parser()
    for term in p.terminals:
        if term.name == name:
            pat = term.pattern
            if pat.type == "str":
                return f"'{pat.value}'"
            break
    return name.lower()


def _describe_token(tok: Token) -> str:
    if tok.type == "$END":
        return "end of input"
    if tok.type == "_NL":
        return "end of line"
    if tok.type == "NAME":
        return f"name '{tok}'"
    if tok.type == "NUMBER":
        return f"number {tok}"
    if tok.type == "STRING":
        return f"string {tok}"
    text = str(tok)
    if text.isalpha():
        return f"keyword '{text}'"
    return f"'{text}'"


def _describe_expected(expected: set[str]) -> str:
    exp = {e for e in expected if not e.startswith("__IGNORE")}
    if "NUMBER" in exp and "NAME" in exp:
        rest = sorted(_describe_terminal(e) for e in exp - _EXPR_STARTERS
                      if e in ("RPAR", "RSQB", "RBRACE", "CPU_CLOSE"))
        return "an expression" + (" or " + " or ".join(rest) if rest else "")
    words = sorted({_describe_terminal(e) for e in exp})
    if len(words) > 6:
        preferred = [w for w in words if w in ("')'", "']'", "'}'", "','", "'='", "a newline")]
        words = preferred or words[:6]
    if len(words) == 1:
        return words[0]
    return ", ".join(words[:-1]) + " or " + words[-1]


def _unclosed() -> str | None:
    """Which bracket or block the input left open (tracked by the post-lexer)."""
    if not _postlex.open:
        return None
    tok = _postlex.open[-1]
    what = {"LPAR": "'('", "LSQB": "'['", "LBRACE": "'{'", "CPU": "'cpu ... <' block",
            "IRQ": "'irq ... <' block"}[tok.type]
    return f"{what} opened at {tok.line}:{tok.column} is not closed"


def _translate(e: UnexpectedInput, source: Source) -> KmsSyntaxError:
    if isinstance(e, UnexpectedCharacters):
        pos = e.pos_in_stream or 0
        ch = source.text[pos] if pos < len(source.text) else ""
        span = source.span_at(pos)
        if ch in "\"'":
            return KmsSyntaxError("unterminated string", span, source)
        if ch.isdigit():
            return KmsSyntaxError("malformed number (sizes are written like 4K, 2M, 1G, 1T)", span, source)
        return KmsSyntaxError(f"unexpected character '{ch}'", span, source)
    if isinstance(e, (UnexpectedToken, UnexpectedEOF)):
        tok = getattr(e, "token", None)
        expected = set(getattr(e, "expected", set()) or set())
        accepts = getattr(e, "accepts", None)
        if accepts:
            expected = set(accepts)
        if tok is None or tok.type == "$END":
            unclosed = _unclosed()
            msg = "unexpected end of input"
            if unclosed:
                msg += ": " + unclosed
            elif expected:
                msg += f": expected {_describe_expected(expected)}"
            return KmsSyntaxError(msg, source.end_span(), source, incomplete=True)
        span = _tok_span(tok)
        if tok.type == "_NL":
            span = Span(span.start, span.start + 1, span.line, span.column, span.line, span.column + 1)
        msg = f"unexpected {_describe_token(tok)}"
        if expected:
            msg += f": expected {_describe_expected(expected)}"
        return KmsSyntaxError(msg, span, source)
    return KmsSyntaxError(str(e).splitlines()[0], None, source)


def parse(text: str, name: str = "<input>") -> ast.Program:
    """Parse a whole script.  Raises KmsSyntaxError (``incomplete`` when it ended early)."""
    source = text if isinstance(text, Source) else Source(text, name)
    return parse_source(source)


def parse_source(source: Source) -> ast.Program:
    parser = _parser()
    try:
        result = parser.parse(source.text)
    except UnexpectedInput as e:
        raise _translate(e, source) from None
    except KmsSyntaxError as e:
        e.source = source
        raise
    except RecursionError:
        raise KmsSyntaxError("program nested too deeply", source.span_at(0), source) from None
    assert isinstance(result, ast.Program)
    return result


def warm_up() -> None:
    """Build the parser now (the REPL does this while the user types)."""
    _parser()


if sys.getrecursionlimit() < 10000:
    sys.setrecursionlimit(10000)

__all__ = ["parse", "parse_source", "parse_number", "warm_up", "Tree"]
