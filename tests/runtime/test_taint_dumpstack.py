"""kernel/panic.c print_tainted / print_tainted_verbose and lib/dump_stack.c's header."""

from __future__ import annotations

import pytest

from kmscript.runtime.dumpstack import dump_stack, dump_stack_print_info, show_stack
from kmscript.runtime.taint import TAINT_FLAGS_COUNT, Taint
from kmscript.session import Session


def test_not_tainted() -> None:
    t = Taint()
    assert t.print_tainted() == "Not tainted"
    assert dump_stack_print_info(0, 1, "swapper/0", t) == [
        "CPU: 0 UID: 0 PID: 1 Comm: swapper/0 Not tainted 6.18.44-fc-v1272 #1 PREEMPT(none) "]


def test_one_column_per_flag_untrimmed() -> None:
    t = Taint()
    t.add("W")
    assert TAINT_FLAGS_COUNT == 20
    assert t.print_tainted() == "Tainted: G        W          "
    t.add("B")
    assert t.print_tainted() == "Tainted: G    B   W          "
    assert len(t.print_tainted()) == len("Tainted: ") + 20
    assert t.print_tainted_verbose() == "Tainted: [B]=BAD_PAGE, [W]=WARN"
    t.add("J")
    assert t.print_tainted().endswith("W         J")
    assert t.print_tainted_verbose().endswith("[J]=FWCTL")


def test_unknown_flag() -> None:
    with pytest.raises(ValueError):
        Taint().add("Z")


def test_dump_stack_layout() -> None:
    t = Taint()
    t.add("B")
    assert dump_stack(1, 42, "a-very-long-command-name-here", t, ["dump_stack_lvl", "bad_page"]) == [
        "CPU: 1 UID: 0 PID: 42 Comm: a-very-long-command- Tainted: G    B               6.18.44-fc-v1272 #1 "
        "PREEMPT(none) ",
        "Tainted: [B]=BAD_PAGE",
        "Call Trace:", " <TASK>", " dump_stack_lvl", " bad_page", " </TASK>"]
    assert show_stack([]) == ["Call Trace:", " <TASK>", " </TASK>"]


def test_one_taint_for_every_report() -> None:
    """A SLUB report (taint B) shows in the next page-allocator and might_sleep reports."""
    s = Session(out=lambda line: None, quiet=True)
    s.run_text('machine(mem=1G, cpus=2, slub_debug="FZPU")\n'
               "x = kmalloc(64)\nkfree(x)\nexpect bug { kfree(x) }\n"
               "expect bug { cpu 0 < y = kmalloc(8, GFP_KERNEL) > }\n")
    text = s.machine.log.records[-1].text
    assert "Tainted: G    B   W          " in text
    assert "Tainted: [B]=BAD_PAGE, [W]=WARN" in text
    assert "no locks held by kmscript/1000." in text
    lines = text.splitlines()
    trace = lines[lines.index(" <TASK>") + 1:lines.index(" </TASK>")]
    assert trace == [" dump_stack_lvl", " __might_resched", " __kmalloc_noprof", " <input>:5"]
