"""The parser: kmscript text -> :mod:`kmscript.lang.ast`.  The only module that imports Lark.

How it works
------------
``grammar/kmscript.lark`` is the single source of truth for the syntax, operator
precedence included.  Lark builds its own LALR(1) parser and basic lexer from it, and this
module plugs in the two things Lark leaves to its user (public API only):

- a post-lexer (:class:`_Newlines`) with kmscript's newline rules: newlines inside
  ``(...)``/``[...]`` are dropped (calls and lists may span lines), and so is a newline
  before ``elif``/``else`` (so ``}\\nelse {`` works);
- a transformer (:class:`_Builder`) with one handler per rule.  Lark calls it during the
  parse (``Lark(transformer=...)``), so each handler builds its AST node as soon as its
  rule is reduced: there is no parse tree and no second pass, and no Lark type survives
  the parse.

Lark's analysis of the grammar (the LALR table) is serialised by Lark itself and cached
on disk, but only in a directory that only the user can write (see
:mod:`kmscript.lang.parser_cache`); without one, the tables are rebuilt at every start.

Spans: a node's span runs from its first to its last child that has a position.
Anonymous tokens (commas, parentheses) are not children, so a span starts at the first
named token or sub-expression of its rule; statement keywords and braces are named
terminals so that statement spans start at the keyword and blocks end at ``}``.  (Lark's
``propagate_positions`` would do the same for every reduction, at twice the cost.)

Errors never show Lark's vocabulary: they become :class:`KmsSyntaxError` with the
expected tokens in user words (``)``, "a number like 4K"), never ``__ANON_0`` or
``$END``; an unclosed block says where it was opened.  The expected set is what Lark's
interactive parser accepts at the point of the error.
"""

from __future__ import annotations

import re
import sys
from typing import Any, Iterator

from lark import Lark, Token, Transformer, Tree, __version__ as lark_version
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken
from lark.lark import PostLex

from ..errors import KmsSyntaxError
from ..source import Source, Span
from . import ast
from .grammar import grammar_text
from .limits import check_source
from .parser_cache import lark_cache_file

_SIZE_SUFFIX = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}

# How the parser is built; part of the cache key (Lark keys its cache by the same options).
_OPTIONS: dict[str, Any] = {"parser": "lalr", "lexer": "basic", "maybe_placeholders": True}


# ------------------------------------------------------------------ the post-lexer
class _Newlines(PostLex):
    """kmscript's newline rules, between Lark's lexer and its parser.

    A newline inside ``(...)`` or ``[...]`` is dropped; a run of newlines is held back
    until the next token shows whether it is ``elif``/``else`` (then it is dropped too).
    The state lives in the generator, so one instance serves every parse.
    """

    always_accept = ("_NL",)

    def process(self, stream: Iterator[Token]) -> Iterator[Token]:
        depth = 0  # () and [] nesting, where newlines are insignificant
        pending: Token | None = None
        for tok in stream:
            t = tok.type
            if t == "_NL":
                if depth == 0 and pending is None:
                    pending = tok
                continue
            if pending is not None:
                if t != "ELIF" and t != "ELSE":
                    yield pending
                pending = None
            if t == "LPAR" or t == "LSQB":
                depth += 1
            elif (t == "RPAR" or t == "RSQB") and depth:
                depth -= 1
            yield tok
        if pending is not None:
            yield pending


# ------------------------------------------------------------------ spans
_NO_SPAN = Span(0, 0, 0, 0, 0, 0)
_new = tuple.__new__  # _new(Span, (...)) skips NamedTuple's Python-level __new__


def _tok_span(t: Token) -> Span:
    return _new(Span, (t.start_pos, t.end_pos, t.line, t.column, t.end_line, t.end_column))


def _first_edge(item: Any) -> Span | None:
    """The span of the first positioned part of a child, or None."""
    if isinstance(item, Token):
        return _tok_span(item)
    sp = getattr(item, "span", None)
    if sp is not None:
        return sp if sp.line else None
    if type(item) is list:
        for x in item:
            found = _first_edge(x)
            if found is not None:
                return found
    return None


def _last_edge(item: Any) -> Span | None:
    """The span of the last positioned part of a child, or None."""
    if isinstance(item, Token):
        return _tok_span(item)
    sp = getattr(item, "span", None)
    if sp is not None:
        return sp if sp.line else None
    if type(item) is list:
        for x in reversed(item):
            found = _last_edge(x)
            if found is not None:
                return found
    return None


def _items_span(items: list[Any]) -> Span:
    """The span from a rule's first to its last child that has a position."""
    for x in items:
        first = _first_edge(x)
        if first is not None:
            break
    else:
        return _NO_SPAN
    for x in reversed(items):
        last = _last_edge(x)
        if last is not None:
            break
    assert last is not None
    return _new(Span, (first[0], last[1], first[2], first[3], last[4], last[5]))


def _join(a: Span, b: Span) -> Span:
    if not a.line:
        return b
    if not b.line:
        return a
    return _new(Span, (a[0], b[1], a[2], a[3], b[4], b[5]))


def _span_of(node: Any) -> Span:
    if isinstance(node, Token):
        return _tok_span(node)
    return node.span  # type: ignore[no-any-return]


# ------------------------------------------------------------------ literals
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
_ESCAPE = re.compile(r"\\(x[0-9a-fA-F]{2}|.)", re.S)


def parse_string(tok: Token) -> str:
    body = str(tok)[1:-1]
    if "\\" not in body:
        return body

    def unescape(m: re.Match[str]) -> str:
        e = m.group(1)
        if e in _ESCAPES:
            return _ESCAPES[e]
        if len(e) == 3:
            return chr(int(e[1:], 16))
        i = m.start()
        start = (tok.start_pos or 0) + 1 + i
        line, col = tok.line or 0, (tok.column or 0) + 1 + i
        raise KmsSyntaxError(f"unknown escape sequence '\\{e}' in string",
                             Span(start, start + 2, line, col, line, col + 2))

    return _ESCAPE.sub(unescape, body)


# ------------------------------------------------------------------ rule handlers
class _Clause:
    """An ``elif``/``else`` clause on its way into its ``if`` statement."""

    __slots__ = ("kind", "cond", "body", "span")

    def __init__(self, kind: str, cond: Any, body: Any, span: Span) -> None:
        self.kind = kind
        self.cond = cond
        self.body = body
        self.span = span


# Tokens that only mark where a statement or block starts and ends (named in the grammar
# for that reason): they count for the span but the handlers skip them.
_SPAN_ONLY = frozenset({"IF", "ELIF", "ELSE", "REPEAT", "FOR", "WHILE", "FN", "ASSERT", "EXPECT", "EXPLAIN", "CPU",
                        "IRQ", "TEST", "SHOW", "PLOT", "INCLUDE", "PERCPU", "DEFINE_PER_CPU", "SYSCTL", "FAIL", "LBRACE", "RBRACE", "RETURN",
                        "BREAK", "CONTINUE", "CPU_CLOSE"})
_LOGIC = {"or": "or", "||": "or", "and": "and", "&&": "and"}


def _kept(items: list[Any]) -> list[Any]:
    return [c for c in items if not (isinstance(c, Token) and c.type in _SPAN_ONLY)]


def _stmts(items: list[Any]) -> tuple[Any, ...]:
    return tuple(c for c in items if not isinstance(c, Token))


class _Builder(Transformer):  # type: ignore[type-arg]
    """One handler per grammar rule (or alias); Lark calls them during the parse with the
    rule's children (tokens, AST nodes, ``None`` for a missing ``[optional]``)."""

    def __default__(self, data: Any, children: Any, meta: Any) -> Any:
        if data.startswith("_"):
            # An inlined rule (`_sep`, `!_add`, Lark's own `__x_star_0`): Lark splices the
            # children of this tree into the parent rule's children.
            return Tree(data, children)
        raise AssertionError(f"grammar rule '{data}' has no handler in the parser")

    # -- statements
    def start(self, items: list[Any]) -> ast.Program:
        return ast.Program(tuple(items), _items_span(items))

    def block(self, items: list[Any]) -> ast.Block:
        return ast.Block(_stmts(items), _items_span(items))

    def ctx_body(self, items: list[Any]) -> ast.Block:
        return ast.Block(tuple(items), _items_span(items))

    def assign(self, items: list[Any]) -> ast.Assign:
        target, value = items
        return ast.Assign(target, value, _join(target.span, value.span))

    def aug_assign(self, items: list[Any]) -> ast.AugAssign:
        target, op, value = items
        return ast.AugAssign(target, str(op)[:-1], value, _join(target.span, value.span))

    def incdec(self, items: list[Any]) -> ast.IncDec:
        target, op = items
        return ast.IncDec(target, 1 if op == "++" else -1, _items_span(items))

    def expr_stmt(self, items: list[Any]) -> ast.ExprStmt:
        return ast.ExprStmt(items[0], items[0].span)

    def assert_stmt(self, items: list[Any]) -> ast.Assert:
        k = _kept(items)
        return ast.Assert(k[0], k[1] if len(k) > 1 else None, _items_span(items))

    def return_stmt(self, items: list[Any]) -> ast.Return:
        k = _kept(items)
        return ast.Return(k[0] if k else None, _items_span(items))

    def break_stmt(self, items: list[Any]) -> ast.Break:
        return ast.Break(_items_span(items))

    def continue_stmt(self, items: list[Any]) -> ast.Continue:
        return ast.Continue(_items_span(items))

    def show_stmt(self, items: list[Any]) -> ast.Show:
        k = _kept(items)
        return ast.Show(str(k[0]), tuple(k[1:]), _items_span(items), _tok_span(k[0]))

    def view_name(self, items: list[Any]) -> Token:
        return items[0].update(type="NAME")  # type: ignore[no-any-return]  # a keyword as a name (`show task`)

    def plot_stmt(self, items: list[Any]) -> ast.Plot:
        k = _kept(items)
        return ast.Plot(k[0] if k else None, _items_span(items))

    def include_stmt(self, items: list[Any]) -> ast.Include:
        return ast.Include(parse_string(_kept(items)[0]), _items_span(items))

    def decl_kind(self, items: list[Any]) -> str:
        return str(items[0])

    def decl_stmt(self, items: list[Any]) -> ast.Decl:
        return ast.Decl(items[0], str(items[1]), items[2], _items_span(items))

    def percpu_def(self, items: list[Any]) -> ast.PercpuDef:
        k = _kept(items)
        return ast.PercpuDef(str(k[0]), k[1] if len(k) > 1 else None, _items_span(items))

    def c_type(self, items: list[Any]) -> str:
        words = [str(t) for t in items if str(t) != "*"]
        stars = sum(1 for t in items if str(t) == "*")
        return " ".join(words) + (" " + "*" * stars if stars else "")

    def define_per_cpu(self, items: list[Any]) -> ast.PercpuDef:
        k = _kept(items)
        return ast.PercpuDef(str(k[1]), k[2] if len(k) > 2 else None, _items_span(items), ctype=k[0])

    def percpu_incdec(self, items: list[Any]) -> ast.PercpuAdd:
        k = _kept(items)
        return ast.PercpuAdd(str(k[0]), "+" if k[1] == "++" else "-", None, _items_span(items))

    def percpu_aug(self, items: list[Any]) -> ast.PercpuAdd:
        k = _kept(items)
        op = str(k[1])[:-1]
        if op not in ("+", "-"):
            raise KmsSyntaxError(f"per-cpu variables support '+=' and '-=', not '{k[1]}'", _items_span(items))
        return ast.PercpuAdd(str(k[0]), op, k[2], _items_span(items))

    def sysctl_stmt(self, items: list[Any]) -> ast.Sysctl:
        k = _kept(items)
        return ast.Sysctl(str(k[0]), k[1], _items_span(items))

    def dotted_name(self, items: list[Any]) -> Token:
        # One NAME token covering the whole dotted name.
        first, last = items[0], items[-1]
        return Token("NAME", ".".join(str(t) for t in items), first.start_pos, first.line, first.column,
                     last.end_line, last.end_column, last.end_pos)

    def fail_key(self, items: list[Any]) -> Token:
        return items[0].update(type="NAME")  # type: ignore[no-any-return]  # `fail slab cache=...`

    def fail_opt(self, items: list[Any]) -> ast.Keyword:
        return ast.Keyword(str(items[0]), items[1], _items_span(items))

    def fail_stmt(self, items: list[Any]) -> ast.Fail:
        k = _kept(items)
        return ast.Fail(str(k[0]), tuple(k[1:]), _items_span(items))

    def elif_clause(self, items: list[Any]) -> _Clause:
        k = _kept(items)
        return _Clause("elif", k[0], k[1], _items_span(items))

    def else_clause(self, items: list[Any]) -> _Clause:
        return _Clause("else", None, _kept(items)[0], _items_span(items))

    def if_stmt(self, items: list[Any]) -> ast.If:
        k = _kept(items)
        branches = [(k[0], k[1])]
        orelse = None
        for clause in k[2:]:
            if clause.kind == "elif":
                branches.append((clause.cond, clause.body))
            else:
                orelse = clause.body
        return ast.If(tuple(branches), orelse, _items_span(items))

    def repeat_stmt(self, items: list[Any]) -> ast.Repeat:
        k = _kept(items)
        return ast.Repeat(k[0], k[1], _items_span(items))

    def for_stmt(self, items: list[Any]) -> ast.For:
        k = items[1:]  # after FOR; the loop variable may be a keyword token (`for cpu in ...`)
        name, start = str(k[0]), k[1]
        if len(k) == 5:
            return ast.For(name, start, k[3], k[4], _items_span(items))
        return ast.For(name, start, None, k[-1], _items_span(items))

    def while_stmt(self, items: list[Any]) -> ast.While:
        k = _kept(items)
        return ast.While(k[0], k[1], _items_span(items))

    def param(self, items: list[Any]) -> ast.Param:
        return ast.Param(str(items[0]), items[1] if len(items) > 1 else None, _items_span(items))

    def fn_def(self, items: list[Any]) -> ast.FnDef:
        k = _kept(items)
        params = tuple(p for p in k[1:-1] if p is not None)
        seen: set[str] = set()
        for p in params:
            if p.name in seen:
                raise KmsSyntaxError(f"parameter '{p.name}' appears twice", p.span)
            seen.add(p.name)
        return ast.FnDef(str(k[0]), params, k[-1], _items_span(items))

    def expect_stmt(self, items: list[Any]) -> ast.Expect:
        k = _kept(items)
        text = parse_string(k[1]) if len(k) == 3 and k[1] is not None else None
        return ast.Expect(str(k[0]), text, k[-1], _items_span(items))

    def explain_stmt(self, items: list[Any]) -> ast.Explain:
        k = _kept(items)
        return ast.Explain(ast.Block((k[0],), k[0].span), _items_span(items))

    def cpu_block(self, items: list[Any]) -> ast.CpuBlock:
        k = _kept(items)
        return ast.CpuBlock(k[0], k[1], _items_span(items))

    def irq_block(self, items: list[Any]) -> ast.IrqBlock:
        k = _kept(items)
        if len(k) == 1:
            return ast.IrqBlock(None, k[0], _items_span(items))
        return ast.IrqBlock(k[0], k[1], _items_span(items))

    def test_block(self, items: list[Any]) -> ast.TestBlock:
        k = _kept(items)
        return ast.TestBlock(parse_string(k[0]), k[1], _items_span(items))

    def augop(self, items: list[Any]) -> Token:
        return items[0]  # type: ignore[no-any-return]

    # -- expressions (precedence is the grammar's; each handler gets one level's operands)
    def logic(self, items: list[Any]) -> ast.Logic:
        left, op, right = items
        return ast.Logic(_LOGIC[op], left, right, _join(left.span, right.span))

    def not_expr(self, items: list[Any]) -> ast.Not:
        op, operand = items
        return ast.Not(operand, _join(_tok_span(op), operand.span))

    def compare(self, items: list[Any]) -> ast.Compare:
        rights = tuple(items[2::2])
        return ast.Compare(items[0], tuple(str(op) for op in items[1::2]), rights,
                           _join(items[0].span, rights[-1].span))

    def compare_not(self, items: list[Any]) -> ast.Compare:
        # `a == not b`: the last operand is a `not` expression.
        *head, not_op, operand = items
        return self.compare(head + [self.not_expr([not_op, operand])])

    def binop(self, items: list[Any]) -> ast.BinOp:
        left, op, right = items
        return ast.BinOp(str(op), left, right, _join(left.span, right.span))

    def unary(self, items: list[Any]) -> ast.Expr:
        op, operand = items
        span = _join(_tok_span(op), operand.span)
        if op == "-" and type(operand) is ast.Num:
            return ast.Num(-operand.value, span)  # a negative literal
        return ast.Unary(str(op), operand, span)

    def call(self, items: list[Any]) -> ast.Call:
        func, arglist, rpar = items
        span = _join(func.span, _tok_span(rpar))
        if not arglist:
            return ast.Call(func, (), (), span)
        args: list[Any] = []
        kwargs: list[ast.Keyword] = []
        for a in arglist:
            if type(a) is ast.Keyword:
                if any(k.name == a.name for k in kwargs):
                    raise KmsSyntaxError(f"keyword argument '{a.name}' given twice", a.span)
                kwargs.append(a)
            elif kwargs:
                raise KmsSyntaxError("positional argument after a keyword argument", _span_of(a))
            else:
                args.append(a)
        return ast.Call(func, tuple(args), tuple(kwargs), span)

    def arguments(self, items: list[Any]) -> list[Any]:
        return items

    def kwarg(self, items: list[Any]) -> ast.Keyword:
        name, value = items
        return ast.Keyword(str(name), value, _join(_tok_span(name), value.span))

    def attr(self, items: list[Any]) -> ast.Attr:
        obj, name = items
        return ast.Attr(obj, str(name), _join(obj.span, _tok_span(name)))

    def index(self, items: list[Any]) -> ast.Index:
        obj, index, rsqb = items
        return ast.Index(obj, index, _join(obj.span, _tok_span(rsqb)))

    def number(self, items: list[Any]) -> ast.Num:
        t = items[0]
        text = str(t)
        return ast.Num(int(text) if text.isdigit() else parse_number(text), _tok_span(t))

    def string(self, items: list[Any]) -> ast.Str:
        # adjacent literals concatenate, as in C ("a" "b" is "ab")
        return ast.Str("".join(parse_string(t) for t in items), _items_span(items))

    def prefixed_string(self, items: list[Any]) -> ast.Expr:
        # `KERN_INFO "fmt"`: C concatenates the level's literal with the format; any other
        # name before a string literal is a syntax error, as it is in C.
        name = items[0]
        if not str(name).startswith("KERN_"):
            raise KmsSyntaxError(f"unexpected string after '{name}': only a KERN_* level may come right "
                                 "before a string literal (did you forget a ',' or an operator?)",
                                 _tok_span(items[1]))
        rest = self.string(items[1:])
        return ast.BinOp("+", ast.Name(str(name), _tok_span(name)), rest, _items_span(items))

    def for_each_stmt(self, items: list[Any]) -> ast.Stmt:
        call, body = items
        ok = (isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id.startswith("for_each_")
              and len(call.args) == 1 and isinstance(call.args[0], ast.Name) and not call.kwargs)
        if not ok:
            raise KmsSyntaxError("a block follows only a for_each_*(var) iterator macro "
                                 "(for_each_possible_cpu(cpu) { ... }); did you mean 'if' or 'while'?",
                                 _span_of(call))
        var = call.args[0]
        return ast.For(var.id, ast.Call(call.func, (), (), call.span), None, body, _items_span(items))

    def true(self, items: list[Any]) -> ast.Bool:
        return ast.Bool(True, _tok_span(items[0]))

    def false(self, items: list[Any]) -> ast.Bool:
        return ast.Bool(False, _tok_span(items[0]))

    def null(self, items: list[Any]) -> ast.Null:
        return ast.Null(_tok_span(items[0]))

    def name(self, items: list[Any]) -> ast.Name:
        t = items[0]
        return ast.Name(sys.intern(str(t)), _tok_span(t))  # one string per distinct name

    def list(self, items: list[Any]) -> ast.ListLit:
        return ast.ListLit(tuple(i for i in items[:-1] if i is not None), _items_span(items))


# ------------------------------------------------------------------ building the parser
_lark: Lark | None = None


def _parser() -> Lark:
    global _lark
    if _lark is None:
        text = grammar_text()
        key_text = f"{text}\n{sorted(_OPTIONS.items())}"
        with lark_cache_file(lark_version, key_text) as cache:
            _lark = Lark(text, postlex=_Newlines(), transformer=_Builder(), cache=cache or False, **_OPTIONS)
    return _lark


def warm_up() -> None:
    """Build (or load) the parser now (the REPL does this while the user types)."""
    _parser()


def terminal_literals() -> dict[str, str]:
    """Terminal name -> its literal text, for the terminals that are a fixed string."""
    out: dict[str, str] = {}
    for t in _parser().terminals:
        if t.pattern.type == "str":
            out[t.name] = t.pattern.value
    return out


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


def _describe_terminal(name: str, literals: dict[str, str]) -> str:
    if name in _NAMED:
        return _NAMED[name]
    lit = literals.get(name)
    if lit is not None:
        return f"'{lit}'"
    return name.lower()


def _describe_token(tok: Token) -> str:
    kind, text = tok.type, str(tok)
    if kind == "_NL":
        return "end of line"
    if kind == "NAME":
        return f"name '{text}'"
    if kind == "NUMBER":
        return f"number {text}"
    if kind == "STRING":
        return f"string {text}"
    if text.isalpha():
        return f"keyword '{text}'"
    return f"'{text}'"


def _describe_expected(expected: set[str]) -> str:
    literals = terminal_literals()
    exp = {e for e in expected if not e.startswith("__IGNORE")}
    if "NUMBER" in exp and "NAME" in exp:
        rest = sorted(_describe_terminal(e, literals) for e in exp - _EXPR_STARTERS
                      if e in ("RPAR", "RSQB", "RBRACE", "CPU_CLOSE"))
        return "an expression" + (" or " + " or ".join(rest) if rest else "")
    words = sorted({_describe_terminal(e, literals) for e in exp})
    if len(words) > 6:
        preferred = [w for w in words if w in ("')'", "']'", "'}'", "','", "'='", "a newline")]
        words = preferred or words[:6]
    if len(words) == 1:
        return words[0]
    return ", ".join(words[:-1]) + " or " + words[-1]


_OPENED = {"LPAR": "'('", "LSQB": "'['", "LBRACE": "'{'", "CPU": "'cpu ... <' block", "IRQ": "'irq ... <' block"}
_CLOSES = {"RPAR": ("LPAR",), "RSQB": ("LSQB",), "RBRACE": ("LBRACE",), "CPU_CLOSE": ("CPU", "IRQ")}


def _unclosed(text: str) -> str | None:
    """Which bracket or block the input left open (only asked after a parse failed)."""
    open_: list[Token] = []
    try:
        for tok in _parser().lex(text):
            kind = tok.type
            if kind in _OPENED:
                open_.append(tok)
            elif kind in _CLOSES:
                wanted = _CLOSES[kind]
                for i in range(len(open_) - 1, -1, -1):
                    if open_[i].type in wanted:
                        del open_[i:]
                        break
    except UnexpectedInput:
        pass  # the tokens before the bad character decide
    if not open_:
        return None
    tok = open_[-1]
    return f"{_OPENED[tok.type]} opened at {tok.line}:{tok.column} is not closed"


def _char_error(source: Source, pos: int) -> KmsSyntaxError:
    ch = source.text[pos] if pos < len(source.text) else ""
    span = source.span_at(pos)
    if ch in "\"'":
        return KmsSyntaxError("unterminated string", span, source)
    if ch.isdigit():
        return KmsSyntaxError("malformed number (sizes are written like 4K, 2M, 1G, 1T)", span, source)
    return KmsSyntaxError(f"unexpected character '{ch}'", span, source)


def _accepted(e: UnexpectedToken) -> set[str]:
    """The terminals Lark's interactive parser accepts where the parse stopped."""
    ip = e.interactive_parser
    if ip is not None:
        try:
            return set(ip.accepts())  # type: ignore[no-untyped-call]
        except Exception:  # noqa: BLE001 - fall back to the state's own lookaheads
            pass
    return set(e.expected or ())


def _token_error(source: Source, e: UnexpectedToken) -> KmsSyntaxError:
    tok = e.token
    expected = _accepted(e)
    if tok.type == "$END":
        unclosed = _unclosed(source.text)
        msg = "unexpected end of input"
        if unclosed:
            msg += ": " + unclosed
        elif expected:
            msg += f": expected {_describe_expected(expected)}"
        return KmsSyntaxError(msg, source.end_span(), source, incomplete=True)
    if tok.type == "_NL":
        span = Span(tok.start_pos, tok.start_pos + 1, tok.line, tok.column, tok.line, tok.column + 1)
    else:
        span = _tok_span(tok)
    msg = f"unexpected {_describe_token(tok)}"
    if expected:
        msg += f": expected {_describe_expected(expected)}"
    return KmsSyntaxError(msg, span, source)


# ------------------------------------------------------------------ entry points
def parse(text: str, name: str = "<input>") -> ast.Program:
    """Parse a whole script.  Raises KmsSyntaxError (``incomplete`` when it ended early)."""
    source = text if isinstance(text, Source) else Source(text, name)
    return parse_source(source)


def parse_source(source: Source) -> ast.Program:
    check_source(source)  # size caps before the lexer sees the text (lang/limits.py)
    lk = _parser()
    try:
        result = lk.parse(source.text)
    except UnexpectedCharacters as e:
        raise _char_error(source, e.pos_in_stream or 0) from None
    except UnexpectedToken as e:
        raise _token_error(source, e) from None
    except UnexpectedInput as e:  # any other kind Lark may raise: still a syntax error here
        raise KmsSyntaxError("syntax error", source.span_at(getattr(e, "pos_in_stream", 0) or 0),
                             source) from None
    except KmsSyntaxError as e:
        e.source = source
        raise
    except RecursionError:
        raise KmsSyntaxError("program nested too deeply", source.span_at(0), source) from None
    assert isinstance(result, ast.Program)
    return result


if sys.getrecursionlimit() < 10000:
    sys.setrecursionlimit(10000)

__all__ = ["parse", "parse_source", "parse_number", "warm_up"]
