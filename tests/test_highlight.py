"""The Pygments lexer: token types from the vocabulary, no error tokens on real scripts,
tokens that concatenate back to the input, and the `pygments.lexers` entry point."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pygments.token import Comment, Error, Keyword, Name, Number, Operator, Punctuation, String, _TokenType

from kmscript.highlight import KmscriptLexer, KmscriptStyle
from kmscript.lang import vocabulary

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = sorted(ROOT.glob("examples/*.kms")) + sorted(ROOT.glob("tests/scenarios/**/*.kms"))


def tokens(text: str) -> list[tuple[_TokenType, str]]:
    return [(t, v) for t, v in KmscriptLexer().get_tokens(text)]


def token_of(text: str, word: str) -> _TokenType:
    for t, v in tokens(text):
        if v == word:
            return t
    raise AssertionError(f"{word!r} not a token of {text!r}: {tokens(text)}")


@pytest.mark.parametrize("kw", vocabulary.keywords())
def test_every_keyword_is_a_keyword_token(kw: str) -> None:
    t = token_of(f"{kw} ", kw)
    assert t in Keyword or t is Operator.Word, t


def test_keyword_subtypes() -> None:
    assert token_of("x = NULL", "NULL") is Keyword.Constant
    assert token_of("x = true", "true") is Keyword.Constant
    assert token_of("a and b", "and") is Operator.Word
    assert token_of('d contains "x"', "contains") is Operator.Word
    assert token_of("cache c = create(size=64)", "cache") is Keyword.Declaration
    assert token_of("repeat 3 { }", "repeat") is Keyword


def test_every_builtin_is_a_builtin_token() -> None:
    reserved = set(vocabulary.keywords()) | set(vocabulary.constants())
    names = [n for n in list(vocabulary.builtins()) + list(vocabulary.values()) if n not in reserved]
    assert names, "the registry has built-ins"
    for name in names:
        assert token_of(f"x = {name}(1)", name) is Name.Builtin, name


def test_every_flag_is_a_constant_token() -> None:
    flags = vocabulary.gfp_flags() + vocabulary.slab_flags()
    assert "GFP_ATOMIC" in flags and "__GFP_ZERO" in flags and any(f.startswith("SLAB_") for f in flags)
    for flag in flags:
        assert token_of(f"x = {flag} | 1", flag) is Name.Constant, flag


def test_plain_names_views_attributes_sysctls() -> None:
    assert token_of("x = y", "y") is Name
    assert token_of("show buddyinfo", "buddyinfo") is Name.Function
    assert token_of("expect oom { }", "oom") is Name.Exception
    assert token_of("t.fault(4M)", "fault") is Name.Attribute
    assert token_of("fn add(a, b) { }", "add") is Name.Function
    assert token_of("sysctl vm.min_free_kbytes = 1", "vm.min_free_kbytes") is Name.Variable.Magic


@pytest.mark.parametrize("num,kind", [("42", Number.Integer), ("4K", Number.Integer), ("2M", Number.Integer),
                                      ("1G", Number.Integer), ("1T", Number.Integer), ("1_000", Number.Integer),
                                      ("0x3a1c", Number.Hex), ("0b1010", Number.Bin)])
def test_numbers_with_size_suffixes(num: str, kind: _TokenType) -> None:
    assert token_of(f"x = {num}", num) is kind


def test_malformed_number_is_one_error_token() -> None:
    assert token_of("x = 4X", "4X") is Error


def test_strings_comments_operators() -> None:
    assert token_of('print("a \\" b")', '"a \\" b"') in String
    assert token_of("s = 'x'", "'x'") in String
    assert token_of("x = 1  # a comment", "# a comment") in Comment
    for op in ("<<=", ">>=", "+=", "++", "==", "!=", "<=", "..", "&&", "||", "|", "^", "~"):
        assert token_of(f"a {op} b", op) in Operator, op
    assert token_of("f(a, b)", ",") is Punctuation


def test_unterminated_string_is_a_string_to_end_of_line() -> None:
    toks = tokens('x = "abc\ny = 1\n')
    assert (String.Double, '"abc') in toks
    assert token_of('x = "abc\ny = 1\n', "y") is Name


def test_unknown_character_is_an_error() -> None:
    assert token_of("x = $", "$") is Error


def test_cpu_block_closing_angle() -> None:
    text = "cpu 1 < x = a > b >\n"
    assert not [v for t, v in tokens(text) if t is Error]
    assert "".join(v for _, v in tokens(text)) == text


def test_there_are_scripts_to_lex() -> None:
    assert SCRIPTS, "examples/ and tests/scenarios/ hold .kms files"


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_scripts_lex_without_errors_and_round_trip(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    toks = tokens(text)
    errors = [v for t, v in toks if t in Error]
    assert not errors, f"error tokens in {path.name}: {errors[:5]}"
    assert "".join(v for _, v in toks) == text


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab_09xKGT \t\n#\"'\\.<>=+-*/%{}()[],;:$@!&|^~")), max_size=60))
def test_tokens_concatenate_back_to_any_input(text: str) -> None:
    assert "".join(v for _, v in tokens(text)) == text


def test_entry_point_registered() -> None:
    from pygments.lexers import get_lexer_by_name, get_lexer_for_filename
    assert isinstance(get_lexer_by_name("kmscript"), KmscriptLexer)
    assert isinstance(get_lexer_by_name("kms"), KmscriptLexer)
    assert isinstance(get_lexer_for_filename("oom.kms"), KmscriptLexer)


def test_pygmentize_renders_a_script() -> None:
    from pygments import highlight
    from pygments.formatters import TerminalFormatter
    out = highlight("x = kmalloc(50, GFP_ATOMIC)\n", KmscriptLexer(), TerminalFormatter())
    assert "\x1b[" in out and "GFP_ATOMIC" in out


def test_style_uses_no_fixed_black_or_white() -> None:
    # Readable on dark and light terminals: ANSI hues only (plus a mid grey), no backgrounds.
    for style in KmscriptStyle.styles.values():
        for part in style.split():
            assert not part.startswith("bg:")
            assert part not in ("ansiblack", "ansiwhite", "ansibrightblack", "ansibrightwhite", "#000000",
                                "#ffffff")
