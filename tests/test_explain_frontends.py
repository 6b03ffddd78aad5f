"""`explain STATEMENT`, ``--explain`` (text and JSON) and the REPL's ``:explain``, through
their public interfaces (issue 21 item 1).  The trees' figures are checked in
tests/runtime/test_explain.py; here: what each front end shows, and when."""

from __future__ import annotations

import json
from typing import Any

import pytest

from kmscript.cli import main
from kmscript.errors import KmsAssertionError, KmsSyntaxError
from kmscript.lang import vocabulary
from kmscript.repl.commands import help_text
from kmscript.session import Session

from tests.repl.test_repl import drive, lines


def run(code: str, **kw: Any) -> tuple[list[str], Session]:
    out: list[str] = []
    s = Session(out=out.append, **kw)
    s.run_text(code)
    return out, s


def test_explain_statement_runs_the_statement_and_prints_its_tree() -> None:
    out, s = run("explain x = kmalloc(50, GFP_KERNEL)\ny = 1")
    x = s.interp.globals["x"]
    assert out[0] == "explain <input>:1: x = kmalloc(50, GFP_KERNEL)"
    assert out[1] == f"  kmalloc  size=50 gfp=GFP_KERNEL  -> {x.addr:#x}"
    assert out[2].startswith("    kmalloc_slab  index=6 size_class=size_index[(50 - 1) / 8] = 6 "
                             "kmalloc_type=KMALLOC_NORMAL")
    assert out[2].endswith("-> kmalloc-64")
    # only the explained statement has a record
    assert [e.statement for e in s.explanations] == ["x = kmalloc(50, GFP_KERNEL)"]
    assert s.interp.globals["y"] == 1


def test_explain_a_loop_and_a_statement_without_allocations() -> None:
    out, s = run("explain repeat 2 { kfree(kmalloc(8, GFP_KERNEL)) }\nexplain z = 1 + 1")
    tops = [st.func for st in s.explanations[0].recording.steps]
    assert tops == ["kmalloc", "kfree", "kmalloc", "kfree"]
    assert out[-2:] == ["explain <input>:2: z = 1 + 1", "  (no allocation or free)"]


def test_an_error_inside_explain_still_shows_what_was_decided() -> None:
    out: list[str] = []
    s = Session(out=out.append)
    with pytest.raises(KmsAssertionError):
        s.run_text('explain if true {\n  p = alloc_pages(GFP_KERNEL, 2)\n  assert false\n}')
    assert out[0] == "explain <input>:1: if true { p = alloc_pages(GFP_KERNEL, 2) assert false }"
    assert out[1].startswith("  __alloc_pages  order=2 gfp=GFP_KERNEL  -> pfn 0x")


def test_explain_needs_a_statement() -> None:
    with pytest.raises(KmsSyntaxError) as e:
        run("explain\nx = 1")
    assert "<input>:1:" in e.value.render() and "^" in e.value.render()


def test_explain_is_a_keyword_with_help() -> None:
    assert "explain" in vocabulary.keywords()
    assert "explain STATEMENT" in help_text("explain")
    assert ":explain" in help_text("")


def test_cli_explain_explains_every_top_level_statement(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--explain", "-c", "x = kmalloc(50, GFP_ATOMIC); kfree(x)\nfn f() { return 1 }\ny = f()"]) == 0
    out = capsys.readouterr().out.splitlines()
    heads = [ln for ln in out if ln.startswith("explain ")]
    assert heads == ["explain <string>:1: x = kmalloc(50, GFP_ATOMIC)", "explain <string>:1: kfree(x)",
                     "explain <string>:3: y = f()"]
    assert "    kmalloc_slab  index=6" in "\n".join(out)
    assert out[out.index("explain <string>:3: y = f()") + 1] == "  (no allocation or free)"


def _check_step(step: dict[str, Any]) -> int:
    """A JSON step's shape; returns the number of steps in it."""
    assert set(step) <= {"function", "numbers", "result", "steps"} and {"function", "numbers", "steps"} <= set(step)
    assert isinstance(step["function"], str) and step["function"]
    assert all(isinstance(k, str) and isinstance(v, (int, str, bool)) for k, v in step["numbers"].items())
    assert isinstance(step.get("result", ""), str)
    return 1 + sum(_check_step(c) for c in step["steps"])


def test_cli_json_carries_the_trees(capsys: pytest.CaptureFixture[str]) -> None:
    code = "explain p = alloc_pages(GFP_KERNEL, 3)\nq = vmalloc(8K)"
    assert main(["--json", "-c", code]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [e["statement"] for e in doc["explain"]] == ["p = alloc_pages(GFP_KERNEL, 3)"]
    assert not any(line.startswith("explain") for line in doc["output"])   # in the JSON, not the output
    assert main(["--json", "--explain", "-c", code]) == 0
    doc = json.loads(capsys.readouterr().out)
    entries = doc["explain"]
    assert [(e["where"], e["statement"]) for e in entries] == [("<string>:1", "p = alloc_pages(GFP_KERNEL, 3)"),
                                                               ("<string>:2", "q = vmalloc(8K)")]
    for e in entries:
        assert e["dropped"] == 0 and sum(_check_step(s) for s in e["steps"]) > 3
    top = entries[0]["steps"][0]
    assert top["function"] == "__alloc_pages" and top["numbers"] == {"order": 3, "gfp": "GFP_KERNEL"}
    assert top["result"] == "pfn " + doc["variables"]["p"].split()[1].removeprefix("pfn:")
    assert entries[1]["steps"][0]["function"] == "__vmalloc_node_range"


def test_repl_explain_shows_the_last_entry() -> None:
    out, _ = drive(lines(":explain", "x = kmalloc(50, GFP_KERNEL)", ":explain"))
    assert "nothing to explain: no statement has run yet" in out
    assert "explain <stdin>:1: x = kmalloc(50, GFP_KERNEL)" in out
    assert "  kmalloc  size=50 gfp=GFP_KERNEL  -> 0x" in out
    # the record is shown on demand only: once, by :explain
    assert out.count("kmalloc_slab") == 1


def test_repl_explain_of_a_loop_entry_says_why_there_is_no_record() -> None:
    out, _ = drive(lines("repeat 2 { kfree(kmalloc(8, GFP_KERNEL)) }", ":explain", "explain y = kmalloc(8, GFP_KERNEL)"))
    assert "the last entry was not recorded (it loops at top level" in out
    assert "explain <stdin>:1: y = kmalloc(8, GFP_KERNEL)" in out   # the statement form prints at once
