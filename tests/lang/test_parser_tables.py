"""The parser runs on tables exported from Lark's analysis of the grammar; these tests
hold it to Lark itself.

- Lexing: the same tokens (type, text, line, column) as Lark's basic lexer followed by
  kmscript's newline rules, for every script in the repository and for random text.
- Parsing: a text is accepted exactly when Lark's own LALR parser (same grammar, same
  newline rules) accepts it, and where both reject it they stop at the same token.
- The tables are cached on disk, rebuilt when missing or unreadable, and a warm start
  never imports Lark.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lark import Lark, Token
from lark.exceptions import UnexpectedCharacters, UnexpectedInput

from kmscript.errors import KmsSyntaxError
from kmscript.lang import parser as P
from kmscript.lang.grammar import grammar_text

ROOT = Path(__file__).resolve().parents[2]
CORPUS = sorted(p for p in ROOT.rglob("*.kms") if ".git" not in p.parts)


class _NewlineRules:
    """kmscript's newline rules as a Lark post-lexer: newlines inside () and [] and a
    newline before elif/else are dropped (the reference the parser's lexer must match)."""

    always_accept = ("_NL",)

    def process(self, stream: Iterator[Token]) -> Iterator[Token]:
        depth = 0
        pending: Token | None = None
        for tok in stream:
            if tok.type == "_NL":
                if depth == 0 and pending is None:
                    pending = tok
                continue
            if pending is not None:
                if tok.type not in ("ELIF", "ELSE"):
                    yield pending
                pending = None
            if tok.type in ("LPAR", "LSQB"):
                depth += 1
            elif tok.type in ("RPAR", "RSQB"):
                depth = max(0, depth - 1)
            yield tok
        if pending is not None:
            yield pending


_LARK: dict[str, Lark] = {}


def lark_parser() -> Lark:
    if "p" not in _LARK:
        _LARK["p"] = Lark(grammar_text(), parser="lalr", lexer="basic", maybe_placeholders=True,
                          postlex=_NewlineRules())
    return _LARK["p"]


def lark_tokens(text: str) -> tuple[list[tuple[str, str, int, int]], bool]:
    out = []
    try:
        for tok in _NewlineRules().process(lark_parser().lex(text)):
            out.append((tok.type, str(tok), tok.line, tok.column))
    except UnexpectedCharacters:
        return out, False
    return out, True


def our_tokens(text: str) -> tuple[list[tuple[str, str, int, int]], bool]:
    toks, bad = P._lex(P._get_grammar(), text)
    return [(t[0], t[1], t[4], t[5]) for t in toks], bad is None


def lark_verdict(text: str) -> tuple[bool, Any]:
    """(accepted, where it stopped): the offending token's (line, column) or 'end'."""
    try:
        lark_parser().parse(text)
    except UnexpectedCharacters as e:
        return False, ("char", e.line, e.column)
    except UnexpectedInput as e:
        tok = getattr(e, "token", None)
        if tok is None or tok.type == "$END":
            return False, "end"
        return False, (tok.line, tok.column)
    return True, None


def our_verdict(text: str) -> tuple[bool, Any]:
    try:
        P.parse(text, "t.kms")
    except KmsSyntaxError as e:
        if e.incomplete:
            return False, "end"
        assert e.span is not None
        if e.message.startswith(("unexpected character", "unterminated string", "malformed number")):
            return False, ("char", e.span.line, e.span.column)
        return False, (e.span.line, e.span.column)
    return True, None


def _rejects_semantically(text: str) -> bool:
    """Errors the grammar cannot express (raised by the AST builders, not the table)."""
    try:
        P.parse(text, "t.kms")
    except KmsSyntaxError as e:
        return any(w in e.message for w in ("given twice", "appears twice", "after a keyword", "escape",
                                            "per-cpu variables support", "nested too deeply"))
    return False


def _mutations(text: str, rnd: random.Random, n: int) -> list[str]:
    out = []
    for _ in range(n):
        i = rnd.randrange(len(text) + 1)
        kind = rnd.randrange(3)
        if kind == 0:
            out.append(text[:i])
        elif kind == 1:
            out.append(text[:i] + text[i + 1:])
        else:
            out.append(text[:i] + rnd.choice("(){}[]<>=,;.+-*\n\"'@1xK ") + text[i:])
    return out


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_tokens_match_larks_lexer_on_every_script(path: Path) -> None:
    text = path.read_text()
    assert our_tokens(text) == lark_tokens(text)


def test_acceptance_and_error_position_match_lark_on_mutated_scripts() -> None:
    rnd = random.Random(2026)
    checked = 0
    for path in CORPUS:
        text = path.read_text()
        for t in [text] + _mutations(text, rnd, 12):
            if _rejects_semantically(t):
                continue
            assert our_verdict(t) == lark_verdict(t), (path.name, t)
            checked += 1
    assert checked > 500


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(list("ab1_ x0K\"'#\n\t\\{}()[]<>=!+-*.,;") + ["if ", " else", "elif ", "cpu ",
                                                                                "irq ", "\n> "]),
                max_size=30).map("".join))
def test_random_text_lexes_and_parses_like_lark(text: str) -> None:
    assert our_tokens(text) == lark_tokens(text)
    if not _rejects_semantically(text):
        assert our_verdict(text) == lark_verdict(text)


def _run_py(code: str, cache_home: Path) -> str:
    env = dict(os.environ, XDG_CACHE_HOME=str(cache_home))
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    return r.stdout.strip()


PROBE = ("import sys\nfrom kmscript.lang.parser import parse\n"
         "assert parse('x = 1 + 2').body\nprint('lark' in sys.modules)")


def test_tables_are_cached_and_a_warm_start_does_not_import_lark(tmp_path: Path) -> None:
    assert _run_py(PROBE, tmp_path) == "True"  # cold: Lark analyses the grammar
    files = list((tmp_path / "kmscript").glob("parser-*.tables"))
    assert len(files) == 1
    assert _run_py(PROBE, tmp_path) == "False"  # warm: tables only
    files[0].write_bytes(b"\x00garbage")
    assert _run_py(PROBE, tmp_path) == "True"  # unreadable: rebuilt
    assert _run_py(PROBE, tmp_path) == "False"
