"""FileCheck-style matching: order, CHECK-NEXT, CHECK-NOT, CHECK-EMPTY, holes, variables, regeneration."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kmscript.testing.filecheck import CheckSyntaxError, match_checks, parse_checks, regenerate


def _m(checks: str, output: list[str]) -> str | None:
    f = match_checks(parse_checks(checks), output)
    return None if f is None else f"{f.check.kind}:{f.check.line}:{f.message}"


def test_check_in_order_substring() -> None:
    assert _m("# CHECK: b\n# CHECK: d", ["a", "xbx", "c", "d"]) is None
    assert _m("# CHECK: d\n# CHECK: b", ["a", "b", "c", "d"]) == "CHECK:2:expected string not found in output"


def test_two_checks_never_share_a_line() -> None:
    assert _m("# CHECK: a\n# CHECK: b", ["a b"]) is not None


def test_check_next_must_be_the_very_next_line() -> None:
    assert _m("# CHECK: a\n# CHECK-NEXT: b", ["a", "b"]) is None
    bad = match_checks(parse_checks("# CHECK: a\n# CHECK-NEXT: b"), ["a", "x", "b"])
    assert bad is not None and bad.hit == 1
    assert "matches output line 3" in bad.render("t.kms", ["a", "x", "b"])
    assert "without a previous" in (_m("# CHECK-NEXT: a", ["a"]) or "")


def test_check_not_between_matches_and_at_the_end() -> None:
    assert _m("# CHECK: a\n# CHECK-NOT: BUG\n# CHECK: c", ["a", "b", "c", "BUG"]) is None
    assert _m("# CHECK: a\n# CHECK-NOT: BUG\n# CHECK: c", ["a", "BUG", "c"]) == \
        "CHECK-NOT:2:excluded string found in output"
    assert _m("# CHECK: a\n# CHECK-NOT: BUG", ["BUG", "a", "ok"]) is None
    assert _m("# CHECK: a\n# CHECK-NOT: BUG", ["a", "BUG"]) is not None
    assert _m("# CHECK-NOT: oops", ["fine"]) is None


def test_check_empty() -> None:
    assert _m("# CHECK: a\n# CHECK-EMPTY:\n# CHECK-NEXT: b", ["a", "", "b"]) is None
    assert _m("# CHECK: a\n# CHECK-EMPTY:", ["a", "x"]) is not None


def test_regex_holes_and_whitespace() -> None:
    assert _m("# CHECK: order-{{[0-9]+}} done", ["order-3 done"]) is None
    assert _m("# CHECK: order-{{[0-9]+}} done", ["order-x done"]) is not None
    assert _m("# CHECK: Node 0, zone   DMA", ["Node 0, zone      DMA      1"]) is None
    assert _m("# CHECK: a.b", ["axb"]) is not None  # literal text is not a regex


def test_variables() -> None:
    text = "# CHECK: ptr=[[P:0x[0-9a-f]+]]\n# CHECK: freed [[P]]"
    assert _m(text, ["ptr=0xff12", "freed 0xff12"]) is None
    assert _m(text, ["ptr=0xff12", "freed 0xff13"]) is not None
    assert "undefined variable" in (_m("# CHECK: [[Q]]", ["x"]) or "")


def test_syntax_errors() -> None:
    with pytest.raises(CheckSyntaxError):
        parse_checks("# CHECK:\n")
    with pytest.raises(CheckSyntaxError):
        parse_checks("# CHECK-EMPTY: x\n")
    assert _m("# CHECK: {{(}}", ["("])is not None


def test_render_names_file_line_col_and_output() -> None:
    text = "x = 1\n  # CHECK: missing\n"
    f = match_checks(parse_checks(text), ["one", "two"])
    assert f is not None
    r = f.render("s.kms", ["one", "two"])
    assert r.startswith("s.kms:2:12: error: CHECK: expected string not found in output")
    assert "    # CHECK: missing\n             ^" in r
    assert ">    1| one" in r


def test_regenerate_keeps_holes_and_nots() -> None:
    checks = parse_checks("# CHECK: hello {{[0-9]+}}\n# CHECK-NOT: BUG\n# CHECK: gone\n# CHECK: tail [[V:x+]]")
    new = regenerate(checks, ["hello 7", "", "tail xx", "{{odd}}"], "  ")
    assert new == ["  # CHECK: hello {{[0-9]+}}", "  # CHECK-EMPTY:", "  # CHECK-NOT: BUG",
                   "  # CHECK-NEXT: tail [[V:x+]]", "  # CHECK-NEXT: {{\\{\\{}}odd}}"]
    # the regenerated lines match the output they came from
    assert match_checks(parse_checks("\n".join(new)), ["hello 7", "", "tail xx", "{{odd}}"]) is None


_line = st.text(alphabet=st.sampled_from(list("ab {}[]x.*()\t:#-0")), max_size=12)


@settings(max_examples=150, deadline=None)
@given(st.lists(_line, max_size=8))
def test_regenerated_checks_always_match_their_output(output: list[str]) -> None:
    """--update's regeneration round-trips: fresh CHECK lines match the output they came from."""
    new = regenerate([], output)
    checks = parse_checks("\n".join(new))
    assert len([c for c in checks if c.kind != "CHECK-NOT"]) == len(output)
    assert match_checks(checks, output) is None
