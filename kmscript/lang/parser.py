"""The parser: kmscript text -> :mod:`kmscript.lang.ast`.  The only module that imports Lark.

How it works
------------
Lark analyses ``grammar/kmscript.lark`` (LALR(1)): it computes the parse table, the
terminal patterns in its basic lexer's order, and how each rule shapes its children
(``_rule`` inlining, ``?rule`` single-child expansion, ``[x]`` placeholders, anonymous
tokens filtered out, ``!rule`` keeping them).  That analysis is exported once into plain
data and cached on disk (``marshal``), keyed by the grammar and this module.  Parsing then runs
on that data with a small driver in this module:

- a one-regex lexer with the same terminal order and keyword rules as Lark's basic
  lexer, which also applies kmscript's newline rules: newlines inside ``(...)``/``[...]``
  are dropped (calls and lists may span lines), and so is a newline before
  ``elif``/``else`` (so ``}\\nelse {`` works);
- the LALR driver, which applies Lark's child shaping and calls one handler per rule
  that builds the AST node directly: there is no parse tree and no second pass.

So the grammar file stays the single source of truth, every parse follows Lark's table,
and a warm start never imports Lark (which costs more than the rest of start-up); the
driver is also several times faster than Lark's generic one, because tokens are plain
tuples and unit rules (``?primary: atom``) reduce without a call.  If Lark's analysis
could not be exported (an unexpected grammar feature), building the tables fails loudly
at the first parse, not with a wrong tree.

Spans: a node's span runs from its first to its last child that has a position.
Anonymous tokens (commas, parentheses) are not children, so a span starts at the first
named token or sub-expression of its rule; statement keywords and braces are named
terminals so that statement spans start at the keyword and blocks end at ``}``.

Errors never show Lark's vocabulary: they become :class:`KmsSyntaxError` with the
expected tokens in user words (``)``, "a number like 4K"), never ``__ANON_0`` or
``$END``; an unclosed block says where it was opened.  The expected set is what Lark's
interactive parser would report as acceptable at that point.
"""

from __future__ import annotations

import marshal
import os
import re
import sys
import zlib
from itertools import chain
from typing import Any, Callable, Iterator

from ..errors import KmsSyntaxError
from ..source import Source, Span
from . import ast
from .grammar import grammar_text

# Bump when the exported table format or the lexer/driver semantics change.
_FORMAT = 1

_SIZE_SUFFIX = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}

# A token is a plain tuple (cheaper than an object by a wide margin):
#   (type, text, start offset, end offset, line, column)  -- line and column are 1-based,
# and no token but a newline crosses a line, so its end column is column + length.
Tok = tuple[str, str, int, int, int, int]
_END_TYPE = "$END"
_END_TOKEN: Tok = (_END_TYPE, "", 0, 0, 0, 0)


# ------------------------------------------------------------------ exported tables
def _cache_dirs() -> Iterator[str]:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    yield os.path.join(base, "kmscript")
    import tempfile  # only when the user cache is not writable (tempfile costs start-up time)
    yield os.path.join(tempfile.gettempdir(), f"kmscript-{os.getuid()}")


def _cache_file(digest: str) -> str | None:
    """Where the exported tables live between runs."""
    for d in _cache_dirs():
        try:
            os.makedirs(d, exist_ok=True)
            if os.access(d, os.W_OK):
                return os.path.join(d, f"parser-{digest}.tables")
        except OSError:
            continue
    return None


def _export_tables(text: str) -> dict[str, Any]:
    """Run Lark's analysis of the grammar and export what the driver needs as plain data."""
    from lark import Lark
    from lark.lexer import PatternStr, _regexp_has_newline  # Lark's own test, so the lexers agree
    from lark.parsers.lalr_analysis import Shift

    lk = Lark(text, parser="lalr", lexer="basic", maybe_placeholders=True)
    conf = lk.lexer_conf

    # The lexer: the terminal order of Lark's BasicLexer (lark/lexer.py), and its
    # "unless" rule: a string terminal that a regex terminal of the same priority
    # matches in full (a keyword matched by NAME) is found by retyping that regex's match.
    terms = sorted(conf.terminals, key=lambda t: (-t.priority, -t.pattern.max_width, -len(t.pattern.value), t.name))
    retype: dict[str, dict[str, str]] = {}
    embedded: set[str] = set()
    for rt in terms:
        if isinstance(rt.pattern, PatternStr):
            continue
        rx = re.compile(rt.pattern.to_regexp())
        for st in terms:
            if isinstance(st.pattern, PatternStr) and st.priority == rt.priority:
                m = rx.match(st.pattern.value)
                if m and m.group(0) == st.pattern.value:
                    if st.pattern.flags:
                        raise RuntimeError(f"grammar: flagged keyword {st.name} is not supported")
                    retype.setdefault(str(rt.name), {})[str(st.pattern.value)] = str(st.name)
                    embedded.add(st.name)  # an unflagged string: lexed as the regex, then retyped
    lexer_terms = [(str(t.name), str(t.pattern.to_regexp())) for t in terms if t.name not in embedded]
    newline_types = [str(t.name) for t in terms if _regexp_has_newline(t.pattern.to_regexp())]
    if set(retype) - {"NAME"}:
        raise RuntimeError(f"grammar: keywords matched by {sorted(set(retype) - {'NAME'})} are not supported")
    # Blanks become an optional prefix of every match (see _Grammar); that needs every
    # other terminal to be unable to start with a blank.
    ignore = {str(name) for name in conf.ignore}
    blanks = [regexp for name, regexp in lexer_terms if name in ignore and name not in newline_types]
    for name, regexp in lexer_terms:
        if name not in ignore and any(re.match(regexp, ch + "a1>(\n") for ch in " \t\f"):
            raise RuntimeError(f"grammar: terminal {name} may start with a blank")
    literal = {str(t.name): str(t.pattern.value) for t in conf.terminals if isinstance(t.pattern, PatternStr)}

    # The rules: Lark's child shaping (lark/parse_tree_builder.py maybe_create_child_filter).
    rule_index = {id(r): i for i, r in enumerate(lk.rules)}
    rules: list[tuple[Any, ...]] = []
    for r in lk.rules:
        opts = r.options
        empty = opts.empty_indices
        if empty:
            s = "".join(str(int(b)) for b in empty)
            nones = [len(ones) for ones in s.split("0")]
        else:
            nones = [0] * (len(r.expansion) + 1)
        include: list[tuple[int, bool, int]] = []
        pending = 0
        for i, sym in enumerate(r.expansion):
            pending += nones[i]
            if opts.keep_all_tokens or not (sym.is_term and getattr(sym, "filter_out", False)):
                include.append((i, (not sym.is_term) and sym.name.startswith("_"), pending))
                pending = 0
        pending += nones[len(r.expansion)]
        inline = r.origin.name.startswith("_")
        expand1 = bool(opts.expand1) and not r.alias
        if inline and expand1:
            raise RuntimeError(f"grammar: inlined rule {r.origin.name} cannot also be ?-expanded")
        handler = str(r.alias or opts.template_source or r.origin.name)
        rules.append((str(r.origin.name), len(r.expansion), handler, inline, expand1, tuple(include), pending))

    table = lk.parser.parser.parser.parse_table
    states: dict[int, dict[str, int]] = {}
    for st, actions in table.states.items():
        row: dict[str, int] = {}
        for sym, (action, arg) in actions.items():
            # A shift (or a goto on a rule name) is the target state (>= 0); a reduction
            # is ~rule_index (< 0).
            row[str(sym)] = arg if action is Shift else ~rule_index[id(arg)]
        states[st] = row
    return {
        "format": _FORMAT,
        "lexer": lexer_terms,
        "retype": retype,
        "newline_types": newline_types,
        "ignore": sorted(ignore),
        "blanks": blanks,
        "literal": literal,
        "rules": rules,
        "states": states,
        "start": table.start_states["start"],
        "end": table.end_states["start"],
    }


def _load_tables() -> dict[str, Any]:
    text = grammar_text()
    # The key covers the grammar and this module (whose export code shapes the tables).
    # zlib rather than hashlib: this runs at every start, and hashlib loads OpenSSL.
    try:
        with open(__file__, "rb") as f:
            raw = text.encode() + f.read()
    except OSError:
        raw = text.encode()
    digest = f"{_FORMAT}-{len(raw)}-{zlib.crc32(raw):08x}-{zlib.adler32(raw):08x}"
    path = _cache_file(digest)
    if path is not None:
        try:
            with open(path, "rb") as f:
                data = marshal.load(f)
            if isinstance(data, dict) and data.get("format") == _FORMAT:
                return data
        except (OSError, EOFError, ValueError, TypeError):
            pass
    data = _export_tables(text)
    if path is not None:
        tmp = f"{path}.{os.getpid()}.tmp"
        try:
            with open(tmp, "wb") as f:
                marshal.dump(_interned(data), f)  # repeated names are written once
            os.replace(tmp, path)  # atomic: parallel first runs never read half a file
        except OSError:
            pass  # no cache this time; the tables in hand are fine
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    return data


def _interned(x: Any) -> Any:
    if isinstance(x, str):
        return sys.intern(x)
    if isinstance(x, dict):
        return {_interned(k): _interned(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return type(x)(_interned(v) for v in x)
    return x


# ------------------------------------------------------------------ spans
_NO_SPAN = Span(0, 0, 0, 0, 0, 0)
_new = tuple.__new__  # _new(Span, (...)) skips NamedTuple's Python-level __new__


def _tok_span(t: Tok) -> Span:
    return _new(Span, (t[2], t[3], t[4], t[5], t[4], t[5] + t[3] - t[2]))


def _first_edge(item: Any) -> tuple[int, int, int] | None:
    """(start, line, column) of the first positioned part of a child, or None."""
    if type(item) is tuple:
        return (item[2], item[4], item[5])
    sp = getattr(item, "span", None)
    if sp is not None:
        return (sp.start, sp.line, sp.column) if sp.line else None
    if type(item) is list:
        for x in item:
            found = _first_edge(x)
            if found is not None:
                return found
    return None


def _last_edge(item: Any) -> tuple[int, int, int] | None:
    """(end, end line, end column) of the last positioned part of a child, or None."""
    if type(item) is tuple:
        return (item[3], item[4], item[5] + item[3] - item[2])
    sp = getattr(item, "span", None)
    if sp is not None:
        return (sp.end, sp.end_line, sp.end_column) if sp.line else None
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
    return _new(Span, (first[0], last[0], first[1], first[2], last[1], last[2]))


def _join(a: Span, b: Span) -> Span:
    if not a.line:
        return b
    if not b.line:
        return a
    return _new(Span, (a[0], b[1], a[2], a[3], b[4], b[5]))


def _node_tok_span(node: Any, tok: Tok) -> Span:
    """From a node's start to the end of a token (calls, indexing: ``f(...)``, ``p[i]``)."""
    sp = node.span
    if not sp.line:
        return _tok_span(tok)
    return _new(Span, (sp[0], tok[3], sp[2], sp[3], tok[4], tok[5] + tok[3] - tok[2]))


def _span_of(node: Any) -> Span:
    if type(node) is tuple:
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
_HEX = frozenset("0123456789abcdefABCDEF")


def parse_string(tok: Tok) -> str:
    body = tok[1][1:-1]
    if "\\" not in body:
        return body
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
        elif nxt == "x" and len(body[i + 2:i + 4]) == 2 and all(c in _HEX for c in body[i + 2:i + 4]):
            out.append(chr(int(body[i + 2:i + 4], 16)))
            i += 4
        else:
            start = tok[2] + 1 + i
            raise KmsSyntaxError(f"unknown escape sequence '\\{nxt}' in string",
                                 Span(start, start + 2, tok[4], tok[5] + 1 + i, tok[4], tok[5] + 3 + i))
    return "".join(out)


# ------------------------------------------------------------------ operators
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
    """Precedence climbing over ``operand op operand op ...`` (ops are token tuples).

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
        return _POWER[self.items[self.pos][1]]

    def operand(self) -> Any:
        item = self.items[self.pos]
        self.pos += 1
        if type(item) is _Prefixed:
            return self.apply_prefixes(item)
        return item

    def apply_prefixes(self, p: _Prefixed) -> Any:
        value = p.operand
        for op in reversed(p.ops):
            if op in ("not", "!"):
                operand = self.binary(value, NOT_POWER + 1)
                value = ast.Not(operand, _join(p.span, operand.span))
            elif op == "-" and type(value) is ast.Num:
                value = ast.Num(-value.value, _join(p.span, value.span))
            else:
                value = ast.Unary(op, value, _join(p.span, value.span))
        return value

    def binary(self, left: Any, min_power: int) -> Any:
        items = self.items
        while True:
            power = self.peek_power()
            if power < min_power:
                return left
            op = items[self.pos][1]
            self.pos += 1
            if power == COMPARE_POWER:
                ops, rights = [op], [self.binary(self.operand(), power + 1)]
                while self.peek_power() == COMPARE_POWER:
                    ops.append(items[self.pos][1])
                    self.pos += 1
                    rights.append(self.binary(self.operand(), power + 1))
                left = ast.Compare(left, tuple(ops), tuple(rights), _join(left.span, rights[-1].span))
                continue
            right = self.binary(self.operand(), power + 1)
            span = _join(left.span, right.span)
            if op in _LOGIC:
                left = ast.Logic(_LOGIC[op], left, right, span)
            else:
                left = ast.BinOp(op, left, right, span)


class _Clause:
    """An ``elif``/``else`` clause on its way into its ``if`` statement."""

    __slots__ = ("kind", "cond", "body", "span")

    def __init__(self, kind: str, cond: Any, body: Any, span: Span) -> None:
        self.kind = kind
        self.cond = cond
        self.body = body
        self.span = span


# ------------------------------------------------------------------ rule handlers
# Tokens that only mark where a statement or block starts and ends (named in the grammar
# for that reason): they count for the span but the handlers never see them.
_SPAN_ONLY = frozenset({"IF", "ELIF", "ELSE", "REPEAT", "FOR", "WHILE", "FN", "ASSERT", "EXPECT", "CPU", "IRQ",
                        "TEST", "SHOW", "INCLUDE", "PERCPU", "SYSCTL", "FAIL", "LBRACE", "RBRACE", "RETURN",
                        "BREAK", "CONTINUE"})


def _kept(items: list[Any]) -> list[Any]:
    return [c for c in items if not (type(c) is tuple and c[0] in _SPAN_ONLY)]


def _stmts(items: list[Any]) -> tuple[Any, ...]:
    return tuple(c for c in items if type(c) is not tuple)


def _named(tok: Tok) -> Tok:
    """A keyword used as a name (``show task db``, ``fail slab cache=...``)."""
    return ("NAME",) + tok[1:]


def _h_start(items: list[Any]) -> ast.Program:
    return ast.Program(tuple(items), _items_span(items))


def _h_block(items: list[Any]) -> ast.Block:
    return ast.Block(_stmts(items), _items_span(items))


def _h_ctx_body(items: list[Any]) -> ast.Block:
    return ast.Block(tuple(items), _items_span(items))


def _h_assign(items: list[Any]) -> ast.Assign:
    target, value = items
    return ast.Assign(target, value, _join(target.span, value.span))


def _h_aug_assign(items: list[Any]) -> ast.AugAssign:
    target, op, value = items
    return ast.AugAssign(target, op[1][:-1], value, _join(target.span, value.span))


def _h_incdec(items: list[Any]) -> ast.IncDec:
    target, op = items
    return ast.IncDec(target, 1 if op[1] == "++" else -1, _items_span(items))


def _h_expr_stmt(items: list[Any]) -> ast.ExprStmt:
    return ast.ExprStmt(items[0], items[0].span)


def _h_assert_stmt(items: list[Any]) -> ast.Assert:
    k = _kept(items)
    return ast.Assert(k[0], k[1] if len(k) > 1 else None, _items_span(items))


def _h_return_stmt(items: list[Any]) -> ast.Return:
    k = _kept(items)
    return ast.Return(k[0] if k else None, _items_span(items))


def _h_break_stmt(items: list[Any]) -> ast.Break:
    return ast.Break(_items_span(items))


def _h_continue_stmt(items: list[Any]) -> ast.Continue:
    return ast.Continue(_items_span(items))


def _h_show_stmt(items: list[Any]) -> ast.Show:
    k = _kept(items)
    return ast.Show(k[0][1], tuple(k[1:]), _items_span(items), _tok_span(k[0]))


def _h_view_name(items: list[Any]) -> Tok:
    return _named(items[0])


def _h_include_stmt(items: list[Any]) -> ast.Include:
    return ast.Include(parse_string(_kept(items)[0]), _items_span(items))


def _h_decl_kind(items: list[Any]) -> str:
    return items[0][1]  # type: ignore[no-any-return]


def _h_decl_stmt(items: list[Any]) -> ast.Decl:
    return ast.Decl(items[0], items[1][1], items[2], _items_span(items))


def _h_percpu_def(items: list[Any]) -> ast.PercpuDef:
    k = _kept(items)
    return ast.PercpuDef(k[0][1], k[1] if len(k) > 1 else None, _items_span(items))


def _h_percpu_incdec(items: list[Any]) -> ast.PercpuAdd:
    k = _kept(items)
    return ast.PercpuAdd(k[0][1], "+" if k[1][1] == "++" else "-", None, _items_span(items))


def _h_percpu_aug(items: list[Any]) -> ast.PercpuAdd:
    k = _kept(items)
    op = k[1][1][:-1]
    if op not in ("+", "-"):
        raise KmsSyntaxError(f"per-cpu variables support '+=' and '-=', not '{k[1][1]}'", _items_span(items))
    return ast.PercpuAdd(k[0][1], op, k[2], _items_span(items))


def _h_sysctl_stmt(items: list[Any]) -> ast.Sysctl:
    k = _kept(items)
    return ast.Sysctl(k[0][1], k[1], _items_span(items))


def _h_dotted_name(items: list[Any]) -> Tok:
    # A NAME token covering the whole dotted name (only its text and start are used).
    first, last = items[0], items[-1]
    return ("NAME", ".".join(t[1] for t in items), first[2], last[3], first[4], first[5])


def _h_fail_key(items: list[Any]) -> Tok:
    return _named(items[0])


def _h_fail_opt(items: list[Any]) -> ast.Keyword:
    return ast.Keyword(items[0][1], items[1], _items_span(items))


def _h_fail_stmt(items: list[Any]) -> ast.Fail:
    k = _kept(items)
    return ast.Fail(k[0][1], tuple(k[1:]), _items_span(items))


def _h_elif_clause(items: list[Any]) -> _Clause:
    k = _kept(items)
    return _Clause("elif", k[0], k[1], _items_span(items))


def _h_else_clause(items: list[Any]) -> _Clause:
    return _Clause("else", None, _kept(items)[0], _items_span(items))


def _h_if_stmt(items: list[Any]) -> ast.If:
    k = _kept(items)
    branches = [(k[0], k[1])]
    orelse = None
    for clause in k[2:]:
        if clause.kind == "elif":
            branches.append((clause.cond, clause.body))
        else:
            orelse = clause.body
    return ast.If(tuple(branches), orelse, _items_span(items))


def _h_repeat_stmt(items: list[Any]) -> ast.Repeat:
    k = _kept(items)
    return ast.Repeat(k[0], k[1], _items_span(items))


def _h_for_stmt(items: list[Any]) -> ast.For:
    k = _kept(items)
    name, start = k[0][1], k[1]
    if len(k) == 5:
        return ast.For(name, start, k[3], k[4], _items_span(items))
    return ast.For(name, start, None, k[-1], _items_span(items))


def _h_while_stmt(items: list[Any]) -> ast.While:
    k = _kept(items)
    return ast.While(k[0], k[1], _items_span(items))


def _h_param(items: list[Any]) -> ast.Param:
    return ast.Param(items[0][1], items[1] if len(items) > 1 else None, _items_span(items))


def _h_fn_def(items: list[Any]) -> ast.FnDef:
    k = _kept(items)
    params = tuple(p for p in k[1:-1] if p is not None)
    seen: set[str] = set()
    for p in params:
        if p.name in seen:
            raise KmsSyntaxError(f"parameter '{p.name}' appears twice", p.span)
        seen.add(p.name)
    return ast.FnDef(k[0][1], params, k[-1], _items_span(items))


def _h_expect_stmt(items: list[Any]) -> ast.Expect:
    k = _kept(items)
    text = parse_string(k[1]) if len(k) == 3 and k[1] is not None else None
    return ast.Expect(k[0][1], text, k[-1], _items_span(items))


def _h_cpu_block(items: list[Any]) -> ast.CpuBlock:
    k = _kept(items)
    return ast.CpuBlock(k[0], k[1], _items_span(items))


def _h_irq_block(items: list[Any]) -> ast.IrqBlock:
    parts = [i for i in items if type(i) is not tuple]
    if len(parts) == 1:
        return ast.IrqBlock(None, parts[0], _items_span(items))
    return ast.IrqBlock(parts[0], parts[1], _items_span(items))


def _h_test_block(items: list[Any]) -> ast.TestBlock:
    k = _kept(items)
    return ast.TestBlock(parse_string(k[0]), k[1], _items_span(items))


def _h_augop(items: list[Any]) -> Tok:
    return items[0]  # type: ignore[no-any-return]


def _h_expr(items: list[Any]) -> Any:
    if len(items) == 1 and type(items[0]) is not _Prefixed:
        return items[0]
    return _Climber(items).parse()


def _h_prefixed(items: list[Any]) -> _Prefixed:
    return _Prefixed(tuple(t[1] for t in items[:-1]), items[-1], _items_span(items))


def _h_call(items: list[Any]) -> ast.Call:
    func, arglist, rpar = items
    span = _node_tok_span(func, rpar)
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


def _h_arguments(items: list[Any]) -> list[Any]:
    return items


def _h_kwarg(items: list[Any]) -> ast.Keyword:
    name, value = items
    sp = value.span
    return ast.Keyword(name[1], value, _new(Span, (name[2], sp[1], name[4], name[5], sp[4], sp[5])))


def _h_attr(items: list[Any]) -> ast.Attr:
    obj, name = items
    return ast.Attr(obj, name[1], _node_tok_span(obj, name))


def _h_index(items: list[Any]) -> ast.Index:
    obj, index, rsqb = items
    return ast.Index(obj, index, _node_tok_span(obj, rsqb))


def _h_number(items: list[Any]) -> ast.Num:
    t = items[0]
    text = t[1]
    value = int(text) if text.isdigit() else parse_number(text)
    return ast.Num(value, _new(Span, (t[2], t[3], t[4], t[5], t[4], t[5] + t[3] - t[2])))


def _h_string(items: list[Any]) -> ast.Str:
    return ast.Str(parse_string(items[0]), _tok_span(items[0]))


def _h_true(items: list[Any]) -> ast.Bool:
    return ast.Bool(True, _tok_span(items[0]))


def _h_false(items: list[Any]) -> ast.Bool:
    return ast.Bool(False, _tok_span(items[0]))


def _h_null(items: list[Any]) -> ast.Null:
    return ast.Null(_tok_span(items[0]))


def _h_name(items: list[Any]) -> ast.Name:
    t = items[0]
    return ast.Name(t[1], _new(Span, (t[2], t[3], t[4], t[5], t[4], t[5] + t[3] - t[2])))


def _h_list(items: list[Any]) -> ast.ListLit:
    return ast.ListLit(tuple(i for i in items[:-1] if i is not None), _items_span(items))


_HANDLERS: dict[str, Callable[[list[Any]], Any]] = {
    name[3:]: fn for name, fn in list(globals().items()) if name.startswith("_h_")
}


# ------------------------------------------------------------------ the lexer and driver
# Token classes of the lexer loop.
_C_PLAIN, _C_NAME, _C_MULTILINE, _C_IGNORE, _C_OPEN, _C_CLOSE, _C_BAD = range(7)


class _Grammar:
    """The exported tables, prepared for the lexer and the LALR driver."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.literal: dict[str, str] = data["literal"]
        self.ignore = frozenset(data["ignore"])
        self.newline_types = frozenset(data["newline_types"])
        # Blanks (ignored terminals that never hold a newline) are matched as an optional
        # prefix of the next token instead of as tokens of their own: that halves the
        # regex matches.  It is equivalent to Lark's lexer because no other terminal can
        # start with a blank (checked when the tables are exported).
        blanks = data["blanks"]
        self.blank = re.compile("|".join(f"(?:{rx})" for rx in blanks) if blanks else "(?!)")
        # The last alternative takes any character no terminal matches, so that finditer
        # never skips ahead past an error.
        alternatives = "|".join(f"(?P<{name}>{rx})" for name, rx in data["lexer"]) + "|(?P<_BAD>(?s:.))"
        prefix = f"(?:{'|'.join(blanks)})*+" if blanks else ""  # possessive: never backtracks
        self.master = re.compile(f"{prefix}(?:{alternatives})")
        # What the lexer loop does with each kind of match (one dict lookup per token).
        self.token_class: dict[str, int] = {name: _C_PLAIN for name, _rx in data["lexer"]}
        for name in data["newline_types"]:
            self.token_class[name] = _C_MULTILINE
        for name in self.ignore - self.newline_types:
            self.token_class[name] = _C_IGNORE
        self.token_class.update({"NAME": _C_NAME, "LPAR": _C_OPEN, "LSQB": _C_OPEN, "RPAR": _C_CLOSE,
                                 "RSQB": _C_CLOSE, "_BAD": _C_BAD})
        self.keywords: dict[str, str] = data["retype"].get("NAME", {})
        # states[s][symbol] -> target state (>= 0) or ~rule (< 0); symbol is a terminal
        # type or, for gotos, a rule name.
        n = max(data["states"]) + 1
        self.states: list[dict[str, int]] = [data["states"].get(i, {}) for i in range(n)]
        self.start: int = data["start"]
        self.end: int = data["end"]
        # rules[i] = (origin, size, reduce function or None for a unit rule that passes
        # its only child up unchanged).
        self.rules: list[tuple[str, int, Callable[[list[Any]], Any] | None]] = [
            (origin, size, _reducer(origin, size, handler, inline, expand1, include, pending))
            for origin, size, handler, inline, expand1, include, pending in data["rules"]]

    def skip_blanks(self, text: str, pos: int) -> int:
        """The offset of the first non-blank at or after ``pos``."""
        while True:
            m = self.blank.match(text, pos)
            if m is None or m.end() == pos:
                return pos
            pos = m.end()


def _reducer(origin: str, size: int, handler_name: str, inline: bool, expand1: bool,
             include: tuple[tuple[int, bool, int], ...], pending: int) -> Callable[[list[Any]], Any] | None:
    """The function that turns a rule's popped children into its value (Lark's shaping)."""
    include = tuple(tuple(x) for x in include)  # type: ignore[misc]
    identity = len(include) == size and not pending and all(i == n and not exp and not nones
                                                             for n, (i, exp, nones) in enumerate(include))
    if inline:
        if identity:
            return _identity_list
        return _make_filter(include, pending, None, False)
    handler = _HANDLERS.get(handler_name)
    if expand1 and size == 1 and identity:
        return None  # `?a: b` -> the child itself
    if handler is None:
        # Only a `?rule` alternative that always keeps exactly one child (`"(" expr ")"`)
        # may go without a handler.
        static = len(include) + sum(nones for _i, _e, nones in include) + pending
        if not (expand1 and static == 1 and not any(exp for _i, exp, _n in include)):
            raise RuntimeError(f"grammar: rule '{handler_name}' has no handler in the parser")
    if identity and not expand1:
        return handler
    return _make_filter(include, pending, handler, expand1)


def _identity_list(kids: list[Any]) -> list[Any]:
    return kids


def _make_filter(include: tuple[tuple[int, bool, int], ...], pending: int,
                 handler: Callable[[list[Any]], Any] | None, expand1: bool) -> Callable[[list[Any]], Any]:
    def reduce(kids: list[Any]) -> Any:
        out: list[Any] = []
        for i, expand, nones in include:
            if nones:
                out += [None] * nones
            if expand:
                if out:
                    out += kids[i]
                else:  # a left-recursive list grows in place (as in Lark), not copied each time
                    out = kids[i]
            else:
                out.append(kids[i])
        if pending:
            out += [None] * pending
        if expand1 and len(out) == 1:
            return out[0]
        if handler is None:
            return out
        return handler(out)
    return reduce


_grammar: _Grammar | None = None


def _get_grammar() -> _Grammar:
    global _grammar
    if _grammar is None:
        _grammar = _Grammar(_load_tables())
    return _grammar


class _SyntaxFailure(Exception):
    """Where the parse stopped: raised inside the driver, translated by parse_source."""

    def __init__(self, index: int, expected: set[str]) -> None:
        self.index = index
        self.expected = expected


def _lex(g: _Grammar, text: str) -> tuple[list[Any], int | None]:
    """The token tuples, and the offset of an unlexable character (or None).

    Newlines inside (...) and [...] and a newline before elif/else are dropped here.
    """
    toks: list[Any] = []
    add = toks.append
    token_class, ignore, keywords = g.token_class, g.ignore, g.keywords
    line, line_start = 1, 0
    depth = 0  # () and [] nesting, where newlines are insignificant
    pending: Tok | None = None  # a newline waiting to see whether elif/else follows
    pos = 0
    # No gaps between matches: the `_BAD` alternative takes any other character, and
    # blanks are a prefix of the next match (only trailing blanks stay unmatched).
    for m in g.master.finditer(text):
        kind = m.lastgroup
        value = m.group(kind)  # type: ignore[arg-type]
        pos = m.end()
        c = token_class[kind]  # type: ignore[index]
        if c == _C_NAME:
            kind = keywords.get(value, "NAME")
        elif c:
            if c == _C_MULTILINE:
                nl = value.count("\n")
                if nl:
                    start = pos - len(value)
                    tok_line, tok_col = line, start - line_start + 1
                    line += nl
                    line_start = start + value.rindex("\n") + 1
                    if kind == "_NL":
                        if depth == 0 and pending is None:
                            pending = ("_NL", value, start, pos, tok_line, tok_col)
                    elif kind not in ignore:
                        add((kind, value, start, pos, tok_line, tok_col))
                    continue
                if kind in ignore:
                    continue
            elif c == _C_IGNORE:
                continue
            elif c == _C_OPEN:
                depth += 1
            elif c == _C_CLOSE:
                if depth:
                    depth -= 1
            else:  # _C_BAD
                return toks, pos - len(value)
        if pending is not None:
            if kind != "ELIF" and kind != "ELSE":
                add(pending)
            pending = None
        start = pos - len(value)
        add((kind, value, start, pos, line, start - line_start + 1))
    if pos != len(text):
        pos = g.skip_blanks(text, pos)
        if pos != len(text):
            return toks, pos
    if pending is not None:
        add(pending)
    return toks, None


def _drive(g: _Grammar, toks: list[Any]) -> Any:
    """Run the LALR(1) automaton over the tokens; returns the start rule's value.

    ``top`` is the current state and ``stack`` the states below it; a unit rule
    (``?primary: atom``) only changes ``top``.
    """
    states, rules, end = g.states, g.rules, g.end
    stack: list[int] = []
    top = g.start
    values: list[Any] = []
    push_state = stack.append
    push_value = values.append
    # The input ends with $END, which is never shifted: it only triggers the reductions
    # that finish the parse (the start rule's goto leads to ``end``).
    for tok in chain(toks, (_END_TOKEN,)):
        t = tok[0]
        while True:
            act = states[top].get(t)
            if act is None or (act >= 0 and tok is _END_TOKEN):
                index = len(toks) if tok is _END_TOKEN else toks.index(tok)
                raise _SyntaxFailure(index, _accepted(g, stack + [top]))
            if act >= 0:
                push_state(top)
                top = act
                push_value(tok)
                break
            origin, size, fn = rules[~act]
            if fn is None:
                top = states[stack[-1]][origin]
                continue
            if size:
                kids = values[-size:]
                del values[-size:]
                if size > 1:
                    del stack[1 - size:]
            else:
                kids = []
                push_state(top)
            push_value(fn(kids))
            top = states[stack[-1]][origin]
            if top == end:
                return values[-1]
    raise AssertionError("the parse table never reached its end state")  # unreachable


def _accepted(g: _Grammar, state_stack: list[int]) -> set[str]:
    """The terminals the parser would accept here (what Lark's interactive parser's
    ``accepts()`` reports): each candidate is tried on a copy of the state stack."""
    states, rules = g.states, g.rules
    out: set[str] = set()
    for t in states[state_stack[-1]]:
        if not t.isupper():
            continue
        stack = list(state_stack)
        while True:
            act = states[stack[-1]].get(t)
            if act is None:
                break
            if act >= 0:
                out.add(t)
                break
            origin, size, _fn = rules[~act]
            if size:
                del stack[-size:]
            stack.append(states[stack[-1]][origin])
            if t == _END_TYPE and stack[-1] == g.end:
                out.add(t)
                break
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


def _describe_terminal(name: str) -> str:
    if name in _NAMED:
        return _NAMED[name]
    lit = _get_grammar().literal.get(name)
    if lit is not None:
        return f"'{lit}'"
    return name.lower()


def _describe_token(tok: Tok) -> str:
    kind, text = tok[0], tok[1]
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


_OPENED = {"LPAR": "'('", "LSQB": "'['", "LBRACE": "'{'", "CPU": "'cpu ... <' block", "IRQ": "'irq ... <' block"}
_CLOSES = {"RPAR": ("LPAR",), "RSQB": ("LSQB",), "RBRACE": ("LBRACE",), "CPU_CLOSE": ("CPU", "IRQ")}


def _unclosed(toks: list[Any]) -> str | None:
    """Which bracket or block the input left open."""
    open_: list[Tok] = []
    for tok in toks:
        kind = tok[0]
        if kind in _OPENED:
            open_.append(tok)
        elif kind in _CLOSES:
            wanted = _CLOSES[kind]
            for i in range(len(open_) - 1, -1, -1):
                if open_[i][0] in wanted:
                    del open_[i:]
                    break
    if not open_:
        return None
    tok = open_[-1]
    return f"{_OPENED[tok[0]]} opened at {tok[4]}:{tok[5]} is not closed"


def _char_error(source: Source, pos: int) -> KmsSyntaxError:
    ch = source.text[pos] if pos < len(source.text) else ""
    span = source.span_at(pos)
    if ch in "\"'":
        return KmsSyntaxError("unterminated string", span, source)
    if ch.isdigit():
        return KmsSyntaxError("malformed number (sizes are written like 4K, 2M, 1G, 1T)", span, source)
    return KmsSyntaxError(f"unexpected character '{ch}'", span, source)


def _token_error(source: Source, toks: list[Any], failure: _SyntaxFailure) -> KmsSyntaxError:
    expected = failure.expected
    if failure.index >= len(toks):
        unclosed = _unclosed(toks)
        msg = "unexpected end of input"
        if unclosed:
            msg += ": " + unclosed
        elif expected:
            msg += f": expected {_describe_expected(expected)}"
        return KmsSyntaxError(msg, source.end_span(), source, incomplete=True)
    tok = toks[failure.index]
    if tok[0] == "_NL":
        span = Span(tok[2], tok[2] + 1, tok[4], tok[5], tok[4], tok[5] + 1)
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
    g = _get_grammar()
    toks, bad_char = _lex(g, source.text)
    try:
        result = _drive(g, toks)
    except _SyntaxFailure as failure:
        if bad_char is not None and failure.index >= len(toks):
            raise _char_error(source, bad_char) from None
        raise _token_error(source, toks, failure) from None
    except KmsSyntaxError as e:
        e.source = source
        raise
    except RecursionError:
        raise KmsSyntaxError("program nested too deeply", source.span_at(0), source) from None
    if bad_char is not None:
        raise _char_error(source, bad_char)
    assert isinstance(result, ast.Program)
    return result


def warm_up() -> None:
    """Load the parser tables now (the REPL does this while the user types)."""
    _get_grammar()


if sys.getrecursionlimit() < 10000:
    sys.setrecursionlimit(10000)

__all__ = ["parse", "parse_source", "parse_number", "warm_up"]
