"""FileCheck-style matching: order, CHECK-NEXT, CHECK-NOT, CHECK-EMPTY, holes, variables, regeneration."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kmscript.testing.filecheck import CheckSyntaxError, match_checks, parse_checks, pattern_for, repair


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


def _apply(text: str, changed: dict[int, str | None]) -> str:
    lines = text.split("\n")
    return "\n".join(changed.get(i, ln) for i, ln in enumerate(lines, 1) if changed.get(i, ln) is not None)


def test_repair_rewrites_only_the_failing_check() -> None:
    text = ("# CHECK: hello {{[0-9]+}}\n# CHECK-NOT: BUG\n# CHECK:    gone\n"
            "#   CHECK-NEXT: tail [[V:x+]]\n# CHECK: [[V]] again")
    output = ["hello 7", "", "gone soon", "tail xx", "xx again"]
    assert match_checks(parse_checks(text), output) is None
    changed, fail = repair(parse_checks(text), output)
    assert changed == {} and fail is None  # a passing scope is left alone
    output = ["hello 8", "", "went away", "tail xxx", "xxx again"]
    changed, fail = repair(parse_checks(text), output)
    assert fail is None
    # only the line that failed: its spacing is kept, holes and captures elsewhere too
    assert changed == {3: "# CHECK:    went away"}
    assert match_checks(parse_checks(_apply(text, changed)), output) is None


def test_repair_writes_timestamps_as_holes_and_drops_vanished_lines() -> None:
    text = "# CHECK: survived\n# CHECK-NEXT: [    0.000001] old report\n# CHECK-NEXT: tail"
    output = ["survived", "[    0.000009] new report"]
    changed, fail = repair(parse_checks(text), output)
    assert fail is None
    assert changed == {2: "# CHECK-NEXT: [{{ *[0-9]+\\.[0-9]+}}] new report", 3: None}
    new = _apply(text, changed)
    assert match_checks(parse_checks(new), ["survived", "[   12.345678] new report"]) is None


def test_repair_leaves_check_not_and_bad_patterns_to_the_author() -> None:
    changed, fail = repair(parse_checks("# CHECK: a\n# CHECK-NOT: BUG\n# CHECK: b"), ["a", "BUG x", "b"])
    assert changed == {} and fail is not None and fail.check.kind == "CHECK-NOT"
    changed, fail = repair(parse_checks("# CHECK: [[NOPE]]"), ["x"])
    assert changed == {} and fail is not None and "undefined variable" in fail.message


def test_repair_picks_the_most_similar_line_before_the_next_match() -> None:
    text = "# CHECK: start\n# CHECK: kmalloc-64 objects 12\n# CHECK: end"
    output = ["start", "noise", "kmalloc-64 objects 13", "more noise", "end"]
    changed, fail = repair(parse_checks(text), output)
    assert fail is None and changed == {2: "# CHECK: kmalloc-64 objects 13"}


_line = st.text(alphabet=st.sampled_from(list("ab {}[]x.*()\t:#-0")), max_size=12)


@settings(max_examples=150, deadline=None)
@given(st.lists(_line, max_size=8))
def test_pattern_for_matches_the_line_it_came_from(output: list[str]) -> None:
    """--update's patterns round-trip: a chain of checks made from the output matches it."""
    lines = []
    for i, line in enumerate(output):
        if not line.strip():
            lines.append("# CHECK: {{^\\s*$}}" if i == 0 else "# CHECK-EMPTY:")
        else:
            lines.append(f"# {'CHECK' if i == 0 else 'CHECK-NEXT'}: {pattern_for(line)}")
    checks = parse_checks("\n".join(lines))
    assert match_checks(checks, output) is None
    assert repair(checks, output) == ({}, None)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.text(alphabet="abc 0123", min_size=1, max_size=8).filter(str.strip), min_size=1, max_size=6),
       st.data())
def test_repair_changes_only_failing_lines_and_then_matches(output: list[str], data: st.DataObject) -> None:
    text = "\n".join(f"# {'CHECK' if i == 0 else 'CHECK-NEXT'}: {pattern_for(ln)}" for i, ln in enumerate(output))
    k = data.draw(st.integers(0, len(output) - 1))
    changed_output = list(output)
    changed_output[k] = changed_output[k] + " zz"
    changed, fail = repair(parse_checks(text), changed_output)
    assert fail is None
    assert match_checks(parse_checks(_apply(text, changed)), changed_output) is None
    # every check that still matched its line is untouched
    for i, ln in enumerate(output):
        if ln.strip() in changed_output[i]:
            assert i + 1 not in changed
