"""The Pygments lexer for kmscript (``pygmentize -l kmscript file.kms``) and its colour scheme.

Every word list comes from :mod:`kmscript.lang.vocabulary` - keywords from the grammar,
built-in names from the registry, GFP/SLAB flags from the runtime's tables - and is read
lazily, on first use, so built-ins registered by any runtime area are highlighted without
touching this file.

Token types:

- keywords ``Keyword``; ``cache``/``task``/``file``/``percpu``/``fn`` ``Keyword.Declaration``;
  ``true``/``false``/``NULL`` ``Keyword.Constant``; ``and``/``or``/``not``/``in``/``contains``
  ``Operator.Word``
- built-in functions and values (``kmalloc``, ``dmesg``) ``Name.Builtin``; a view after
  ``show`` ``Name.Function``; an event kind after ``expect`` ``Name.Exception``; a sysctl
  after ``sysctl`` ``Name.Variable.Magic``; an attribute or method after ``.``
  ``Name.Attribute``; a function name after ``fn`` ``Name.Function``
- GFP and SLAB flags and the other registered constants (``PAGE_SIZE``) ``Name.Constant``
- numbers ``Number.Hex``/``Number.Bin``/``Number.Integer`` (a size suffix ``4K`` stays part
  of the number)
- strings ``String`` (an unterminated string runs to the end of its line, so typing a string
  does not turn the rest of the line red), comments ``Comment.Single``
- operators ``Operator``, brackets and separators ``Punctuation``

Anything the language cannot contain (``$``, ``@``, a backtick...) is an ``Error`` token.
The lexer never loses text: the tokens always concatenate back to the input.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Iterator

# Pygments ships no type information (types-Pygments is not a dependency).
from pygments.lexer import RegexLexer, bygroups  # type: ignore[import-untyped]
from pygments.style import Style  # type: ignore[import-untyped]
from pygments.token import (Comment, Error, Keyword, Name, Number, Operator,  # type: ignore[import-untyped]
                            Punctuation, String, Text, Token, Whitespace, _TokenType)

__all__ = ["KmscriptLexer", "KmscriptStyle", "classify_name"]

_DECLARATION = frozenset({"cache", "task", "file", "percpu", "fn"})
_CONSTANT_WORDS = frozenset({"true", "false", "NULL"})
_WORD_OPERATORS = frozenset({"and", "or", "not", "in", "contains"})


@lru_cache(maxsize=1)
def _words() -> tuple[frozenset[str], frozenset[str], frozenset[str]]:
    """(keywords, built-in names, constant names), read once from the vocabulary."""
    from .lang import vocabulary

    keywords = frozenset(vocabulary.keywords())
    names = frozenset(vocabulary.builtins()) | frozenset(vocabulary.values())
    consts = frozenset(vocabulary.constants())
    return keywords, names, consts


def classify_name(word: str) -> _TokenType:
    """The token type of an identifier in ordinary position."""
    try:
        keywords, names, consts = _words()
    except Exception:
        # A broken built-in module must not take highlighting (and the REPL) down with it.
        return Name
    if word in keywords:
        if word in _CONSTANT_WORDS:
            return Keyword.Constant
        if word in _WORD_OPERATORS:
            return Operator.Word
        if word in _DECLARATION:
            return Keyword.Declaration
        return Keyword
    if word in consts:
        return Name.Constant
    if word in names:
        return Name.Builtin
    return Name


def _name_callback(lexer: RegexLexer, match: Any) -> Iterator[tuple[int, _TokenType, str]]:
    yield match.start(), classify_name(match.group(0)), match.group(0)


_IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
_NUMBER_END = r"(?![A-Za-z0-9_])"


class KmscriptLexer(RegexLexer):  # type: ignore[misc]
    """Lexer for kmscript, the Linux kernel memory scenario language."""

    name = "kmscript"
    aliases = ["kmscript", "kms"]
    filenames = ["*.kms"]
    mimetypes = ["text/x-kmscript"]
    url = "https://github.com/kmscript/kmscript"

    def __init__(self, **options: Any) -> None:
        # Keep the text exactly (no stripped or added newlines): the tokens concatenate
        # back to the input, which the REPL's highlighting relies on.
        options.setdefault("stripnl", False)
        options.setdefault("ensurenl", False)
        super().__init__(**options)

    tokens = {
        "root": [
            (r"\n", Whitespace),
            (r"[ \t\f\r]+", Whitespace),
            (r"\\[ \t]*\r?\n", Text),  # line continuation
            (r"#[^\n]*", Comment.Single),
            (r'"(\\.|[^"\\\n])*("|(?=\n)|\Z)', String.Double),
            (r"'(\\.|[^'\\\n])*('|(?=\n)|\Z)", String.Single),
            (r"0[xX][0-9a-fA-F](_?[0-9a-fA-F])*" + _NUMBER_END, Number.Hex),
            (r"0[bB][01](_?[01])*" + _NUMBER_END, Number.Bin),
            (r"[0-9](_?[0-9])*[KMGT]?" + _NUMBER_END, Number.Integer),
            # A malformed number (4X, 0x) is one error token, as the parser reports it.
            (r"[0-9][A-Za-z0-9_]*", Error),
            (r"(show)([ \t]+)(" + _IDENT + ")", bygroups(Keyword, Whitespace, Name.Function)),
            (r"(expect)([ \t]+)(" + _IDENT + ")", bygroups(Keyword, Whitespace, Name.Exception)),
            (r"(fn)([ \t]+)(" + _IDENT + ")", bygroups(Keyword.Declaration, Whitespace, Name.Function)),
            (r"(sysctl)([ \t]+)(" + _IDENT + r"(?:\." + _IDENT + ")*)",
             bygroups(Keyword, Whitespace, Name.Variable.Magic)),
            (r"(\.)(" + _IDENT + ")", bygroups(Punctuation, Name.Attribute)),
            (_IDENT, _name_callback),
            (r"<<=|>>=|\+=|-=|\*=|\|=|&=|\+\+|--|==|!=|<=|>=|<<|>>|&&|\|\||\.\.", Operator),
            (r"[-+*/%<>=!~&|^]", Operator),
            (r"[(){}\[\],;.]", Punctuation),
            (r".", Error),
        ],
    }

    def analyse_text(text: str) -> float:  # pygments calls it unbound (a static method)
        score = 0.0
        if "GFP_" in text:
            score += 0.3
        if "kmalloc(" in text or "alloc_pages(" in text:
            score += 0.3
        return min(score, 1.0)


class KmscriptStyle(Style):  # type: ignore[misc]
    """A scheme readable on dark and on light terminals.

    Only the terminal's own ANSI hues are used (so the user's palette decides the exact
    shade), never white, black or a background colour; comments use a mid grey that keeps
    contrast on both black and white backgrounds.
    """

    name = "kmscript"
    background_color = ""
    styles = {
        Token: "",
        Comment: "italic #888888",
        Keyword: "bold ansimagenta",
        Keyword.Constant: "ansimagenta",
        Operator: "",
        Operator.Word: "bold ansimagenta",
        Name.Builtin: "ansicyan",
        Name.Function: "bold ansicyan",
        Name.Exception: "bold ansired",
        Name.Attribute: "ansiblue",
        Name.Constant: "bold ansiblue",
        Name.Variable.Magic: "ansiblue",
        Number: "ansired",
        String: "ansigreen",
        Error: "bold ansired underline",
    }
