"""Caps on script values and script text, so no script can exhaust the host.

A script's loops are bounded by the work meter (runtime/limits.py), but one operator can
still do unbounded work on a big enough value: squaring a million-bit integer, doubling
a string of a gigabyte, lexing a ten-megabyte literal.  These caps keep every value small
enough that each operation is cheap, and each is a :class:`KmsLimitError` (or a syntax
error for the text) at the place that would exceed it:

- integers: ``MAX_INT_BITS`` bits (sign apart).  8192 bits hold any kernel quantity many
  times over and print in under 2,500 decimal digits, well inside Python's
  int-to-string limit (4,300 digits);
- strings: ``MAX_STR_LEN`` characters; lists: ``MAX_LIST_LEN`` items;
- script text: ``MAX_SCRIPT_CHARS`` characters per file or REPL entry, and no number or
  name longer than ``MAX_LITERAL_CHARS`` characters.

The checks sit where values grow (arithmetic, concatenation, ``append``, conversions),
never inside a loop that cannot grow a value.
"""

from __future__ import annotations

import re
from typing import Any

from ..errors import KmsLimitError, KmsSyntaxError
from ..source import Source, Span

MAX_INT_BITS = 8192
INT_LIMIT = 1 << MAX_INT_BITS  # |value| < INT_LIMIT
MAX_STR_LEN = 16 << 20
MAX_LIST_LEN = 4 << 20
# Big enough for a generated million-line script (about 6-7 MB: issue 13's scale target);
# its memory is bounded by --max-memory like everything else.
MAX_SCRIPT_CHARS = 8 << 20
MAX_LITERAL_CHARS = 2500

_LONG_WORD = re.compile(r"[0-9A-Za-z_]{%d,}" % (MAX_LITERAL_CHARS + 1))


def int_too_large(v: int, span: Span | None = None) -> KmsLimitError:
    return KmsLimitError(f"integer too large: {v.bit_length()} bits (kmscript integers have at most "
                         f"{MAX_INT_BITS} bits)", span)


def check_int(v: int, span: Span | None = None) -> int:
    if -INT_LIMIT < v < INT_LIMIT:
        return v
    raise int_too_large(v, span)


def check_concat(a: Any, b: Any, span: Span | None = None) -> None:
    """Raise before concatenating two strings or two lists that would be too long."""
    n = len(a) + len(b)
    if isinstance(a, str):
        if n > MAX_STR_LEN:
            raise KmsLimitError(f"string too long: {n} characters (at most {MAX_STR_LEN})", span)
    elif n > MAX_LIST_LEN:
        raise KmsLimitError(f"list too long: {n} items (at most {MAX_LIST_LEN})", span)


def check_list_len(n: int, span: Span | None = None) -> None:
    if n > MAX_LIST_LEN:
        raise KmsLimitError(f"list too long: {n} items (at most {MAX_LIST_LEN})", span)


def check_str_len(n: int, span: Span | None = None) -> None:
    if n > MAX_STR_LEN:
        raise KmsLimitError(f"string too long: {n} characters (at most {MAX_STR_LEN})", span)


def check_source(source: Source) -> None:
    """Refuse script text too big to lex cheaply (before the lexer sees it)."""
    text = source.text
    if len(text) > MAX_SCRIPT_CHARS:
        raise KmsSyntaxError(f"script too long: {len(text)} characters (at most {MAX_SCRIPT_CHARS}); "
                             "split it into files and include them", None, source)
    m = _LONG_WORD.search(text)
    if m is not None:
        what = "number" if m.group()[0].isdigit() else "name"
        span = source.span_at(m.start())
        raise KmsSyntaxError(f"this {what} is {m.end() - m.start()} characters long "
                             f"(at most {MAX_LITERAL_CHARS})", span, source)
