"""Splitting an entry into the source text of its top-level statements (for ``:save``).

``:save`` writes the statements that ran successfully; an entry that failed half-way
contributes the statements before the failing one.  The text of each statement is cut
from the entry by the lexer's tokens, with the grammar's separator rules: a ``;`` or a
newline ends a statement only outside ``(...)``, ``[...]``, ``{...}`` and ``cpu N < ... >``
blocks; a newline before ``elif``/``else`` does not (the parser's post-lexer drops it);
a backslash-newline continues the line.  A ``>`` closes a ``cpu``/``irq`` block when the
grammar's CPU_CLOSE would match it: followed by blanks and then ``;``, a newline, ``}``,
``#``, the end, or (after a blank) another ``>``.

The caller checks the number of pieces against the parsed program and falls back to the
whole entry when they disagree, so a splitter mistake can never save wrong statements.
"""

from __future__ import annotations

import re

from pygments.token import Comment, Keyword, Operator, Punctuation, Text, Whitespace  # type: ignore[import-untyped]

from ..highlight import KmscriptLexer

_CPU_CLOSE = re.compile(r"[ \t]*(?:[;\n}#]|\r|$)|[ \t]+>")


def split_statements(text: str) -> list[str]:
    """The source text of each top-level statement of *text*, in order."""
    toks = list(KmscriptLexer().get_tokens_unprocessed(text))
    pieces: list[str] = []
    start: int | None = None
    depth = 0  # () [] {}
    ctx_depth = 0  # cpu/irq blocks
    want_ctx_open = 0  # `cpu`/`irq` seen, waiting for its '<' (at this bracket depth)
    last_end = 0

    def flush(end: int) -> None:
        nonlocal start
        if start is not None:
            piece = text[start:end].strip()
            if piece:
                pieces.append(piece)
        start = None

    for i, (pos, ttype, value) in enumerate(toks):
        end = pos + len(value)
        if ttype in Comment or (ttype in Text and value.startswith("\\")):
            continue
        if ttype in Whitespace or ttype in Text:
            if "\n" in value and depth == 0 and ctx_depth == 0 and start is not None:
                nxt = next((v for _, t, v in toks[i + 1:] if not (t in Whitespace or t in Comment)), "")
                if nxt not in ("elif", "else"):
                    flush(last_end)
            continue
        if ttype in Punctuation and value == ";" and depth == 0 and ctx_depth == 0:
            flush(last_end)
            continue
        if start is None:
            start = pos
        if ttype in Keyword and value in ("cpu", "irq"):
            want_ctx_open += 1
        elif ttype in Operator and value == "<" and want_ctx_open:
            want_ctx_open -= 1
            ctx_depth += 1
        elif ttype in Operator and value == ">" and ctx_depth and _CPU_CLOSE.match(text, end):
            ctx_depth -= 1
        elif ttype in Punctuation and value in "([{":
            depth += 1
        elif ttype in Punctuation and value in ")]}":
            depth = max(0, depth - 1)
        last_end = end
    flush(last_end)
    return pieces
