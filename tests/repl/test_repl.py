"""The REPL driven through prompt_toolkit's pipe input (keys in, plain text out)."""

from __future__ import annotations

import io
import os
import re
import signal
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
from prompt_toolkit.auto_suggest import AutoSuggestFromHistory
from prompt_toolkit.completion import CompleteEvent
from prompt_toolkit.data_structures import Size
from prompt_toolkit.document import Document
from prompt_toolkit.enums import EditingMode
from prompt_toolkit.history import FileHistory, InMemoryHistory
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput
from prompt_toolkit.output.vt100 import Vt100_Output
from prompt_toolkit.validation import ValidationError

from kmscript.repl import Repl, run_repl
from kmscript.repl import app as repl_app
from kmscript.repl.commands import COMMANDS, help_text, help_topics
from kmscript.repl.completer import KmsCompleter, fuzzy_rank
from kmscript.repl.display import Printer
from kmscript.repl.toolbar import toolbar_fragments
from kmscript.session import Session

ENTER = "\r"
CTRL_C = "\x03"
CTRL_D = "\x04"
UP = "\x1b[A"
CTRL_R = "\x12"
TAB = "\t"


def drive(keys: str | list[str], session: Session | None = None, history: Any = None,
          before: dict[int, Callable[[Repl], bool]] | None = None, **kw: Any) -> tuple[str, Repl]:
    """Type *keys* into a REPL (then Ctrl-C Ctrl-D, so it always ends) and return what it
    printed and the Repl.  A list of chunks is typed 0.2 s apart (for asynchronous
    completion, which a human never outruns); ``before[i]``, where given, is a condition
    on the REPL that chunk i waits for (up to 60 s), so a test does not depend on how fast
    a loaded machine completes."""
    out: list[str] = []
    made: list[Repl] = []
    with create_pipe_input() as inp:
        if isinstance(keys, str):
            inp.send_text(keys + CTRL_C + CTRL_D)
        else:
            def typist() -> None:
                for i, chunk in enumerate(keys):
                    time.sleep(0.2)
                    ready = (before or {}).get(i)
                    deadline = time.monotonic() + 60
                    while ready is not None and time.monotonic() < deadline and not (made and ready(made[0])):
                        time.sleep(0.01)
                    inp.send_text(chunk)
                inp.send_text(CTRL_C + CTRL_D)
            threading.Thread(target=typist, daemon=True).start()
        repl = Repl(session if session is not None else Session(), input=inp, output=DummyOutput(),
                    history=history if history is not None else InMemoryHistory(), sink=out.append,
                    color=kw.pop("color", False), **kw)
        made.append(repl)
        assert repl.run() == 0
    return "\n".join(out), repl


def lines(*entries: str) -> str:
    return "".join(e + ENTER for e in entries)


# -- entries and results ---------------------------------------------------------------------
def test_statement_result_is_shown() -> None:
    out, repl = drive(lines("x = 1 + 2", "x * 2"))
    assert "x = 3" in out.splitlines()
    assert "6" in out.splitlines()
    assert repl.session.interp.globals["x"] == 3


def test_allocation_says_where_it_came_from() -> None:
    out, _ = drive(lines("x = kmalloc(50, GFP_ATOMIC)"))
    line = next(ln for ln in out.splitlines() if ln.startswith("x = "))
    assert re.match(r"x = 0xffff888[0-9a-f]{9}  kmalloc-64  slab pfn 0x[0-9a-f]+  obj \d+/64  GFP_ATOMIC$", line), line


def test_vmalloc_result_names_its_area() -> None:
    out, _ = drive(lines("v = vmalloc(16K)"))
    assert re.search(r"v = 0xffffc9[0-9a-f]+  vmalloc area 0x[0-9a-f]+-0x[0-9a-f]+  4 pages", out), out


def test_multi_line_entry_is_decided_by_the_parser() -> None:
    out, repl = drive("if 1 < 2 {" + ENTER + 'print("inside")' + ENTER + "}" + ENTER + "y = (1 +" + ENTER
                      + "2)" + ENTER)
    assert "inside" in out.splitlines()
    assert "y = 3" in out.splitlines()
    # the block ran once, as one entry (not line by line)
    assert out.count("inside") == 1
    assert repl.recorded[0][0] == "if 1 < 2 {\n    print(\"inside\")\n}"


def test_cpu_block_continues_until_closed() -> None:
    out, repl = drive("cpu 1 <" + ENTER + "x = 7" + ENTER + ">" + ENTER)
    assert repl.session.interp.globals["x"] == 7
    assert "error" not in out


def test_assertions_show_check_marks() -> None:
    out, _ = drive(lines("x = 3", "assert x == 3", "assert x == 4"))
    assert "✓ x == 3   3 == 3" in out
    assert "✗ x == 4   3 == 4" in out


def test_errors_do_not_end_the_loop() -> None:
    out, repl = drive(lines("z = nope", "kfree(12345)", "y = 2"))
    assert "unknown name 'nope'" in out
    assert "y = 2" in out.splitlines()
    assert "Traceback" not in out


def test_internal_error_is_one_line_and_the_loop_goes_on(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(self: Repl, stmt: Any, value: Any) -> Any:
        raise RuntimeError("formatter broke")
    monkeypatch.setattr(Repl, "result_fragments", boom)
    out, repl = drive(lines("x = 1", ":help"))
    assert "internal error: RuntimeError: formatter broke" in out
    assert "commands:" in out  # the next entry still ran
    assert repl.session.interp.globals["x"] == 1


def test_syntax_error_is_shown_before_running_with_the_cursor_on_it() -> None:
    out, repl = drive("x = 1 +)" + ENTER + CTRL_C + lines("y = 1"))
    err = repl.last_validation_error
    assert err is not None and not err.incomplete
    assert "x" not in repl.session.interp.globals  # never ran
    assert "y = 1" in out.splitlines()
    v = repl_app._EntryValidator(repl)
    with pytest.raises(ValidationError) as e:
        v.validate(Document("x = 1 +)"))
    assert e.value.cursor_position == 7


def test_ctrl_c_cancels_the_input() -> None:
    out, repl = drive("abc = nope_nope" + CTRL_C + lines("y = 5"))
    assert "y = 5" in out.splitlines()
    assert "nope_nope" not in out


@pytest.mark.parametrize("loop", ["while true { }", "repeat 1000000000 { }"])
def test_ctrl_c_interrupts_a_running_loop_and_keeps_the_state(loop: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # Ctrl-C arrives 0.2 s after the loop starts running (a SIGINT, as the terminal sends).
    # The `while` loop stops at its next iteration; `repeat`'s fast path never ticks, so the
    # REPL forces the interrupt after 0.5 s.
    real_run_text = Session.run_text
    timers: list[threading.Timer] = []

    def run_text(self: Session, text: str, *a: Any, **k: Any) -> None:
        if text == loop:
            t = threading.Timer(0.2, lambda: os.kill(os.getpid(), signal.SIGINT))
            timers.append(t)
            t.start()
        real_run_text(self, text, *a, **k)
    monkeypatch.setattr(Session, "run_text", run_text)
    try:
        out, repl = drive(lines("before = 1", loop, "after = 2"))
    finally:
        for t in timers:
            t.cancel()
    assert "interrupted" in out
    g = repl.session.interp.globals
    assert g["before"] == 1 and g["after"] == 2
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_kernel_messages_are_coloured_by_kind() -> None:
    s = Session()
    seen: list[list[tuple[str, str]]] = []
    with create_pipe_input() as inp:
        repl = Repl(s, input=inp, output=DummyOutput(), history=InMemoryHistory(), sink=lambda t: None)
        repl.printer.frags = seen.append  # type: ignore[method-assign]
        s.machine.log.printk("something odd", "warn")
        s.machine.log.printk("BUG: bad page state", "bug")
    kinds = [f[0][0] for f in seen]
    assert kinds == ["class:kernel.warn", "class:kernel.bug"]


def test_long_views_use_a_pager_only_when_they_do_not_fit(monkeypatch: pytest.MonkeyPatch) -> None:
    import pydoc
    paged: list[str] = []
    monkeypatch.setattr(pydoc, "pager", lambda text: paged.append(text))
    monkeypatch.setattr("shutil.get_terminal_size", lambda fallback=(80, 24): os.terminal_size((80, 24)))
    printed: list[str] = []
    p = Printer(color=False, sink=printed.append, pager=True)
    p.long_text("short\nview")
    assert printed == ["short", "view"] and not paged
    p.long_text("\n".join(f"line {i}" for i in range(100)))
    assert len(paged) == 1 and paged[0].startswith("line 0\n")


# -- meta-commands ---------------------------------------------------------------------------
def test_help_is_generated_from_the_registries() -> None:
    out, _ = drive(lines(":help", ":help kmalloc", ":help GFP_ATOMIC", ":help repeat", ":help kmaloc"))
    for name in COMMANDS:
        assert f":{name}" in out
    assert "kmalloc(size, gfp=GFP_KERNEL)" in out
    assert "GFP_ATOMIC  GFP flag = 0x" in out
    assert "repeat N {" in out
    assert "did you mean 'kmalloc'" in out


def test_every_builtin_has_a_help_topic() -> None:
    from kmscript.lang import vocabulary
    topics = set(help_topics())
    for name, b in vocabulary.builtins().items():
        assert name in topics
        assert b.signature() in help_text(name)
    for name in vocabulary.views():
        assert name in topics and "show " + name in help_text(name)


def test_reset_clears_machine_and_variables() -> None:
    out, repl = drive(lines("x = kmalloc(64)", ":reset", "x"))
    assert "machine and variables reset" in out
    assert "unknown name 'x'" in out


def test_undo_restores_machine_and_variables() -> None:
    out, repl = drive(lines("cache c = create(size=600, align=64)", "a = kmem_cache_alloc(c, GFP_KERNEL)",
                            "n = c.objects", ":undo", ":undo", "a", "c.objects"))
    assert "undone" in out
    g = repl.session.interp.globals
    assert "a" not in g and "n" not in g
    # the cache handle in the variable is the restored machine's cache, with no objects
    assert g["c"] is repl.session.machine.slab.by_name["c"]
    assert out.splitlines()[-1] == "0"


def test_save_writes_the_successful_statements_and_load_replays_them(tmp_path: Path) -> None:
    script = tmp_path / "scenario.kms"
    out, _ = drive(lines("a = 40", "b = nope", "if a > 1 {", "c = a + 2", "}", "a", f":save {script}"))
    text = script.read_text()
    assert "a = 40\n" in text and "nope" not in text and "c = a + 2" in text
    assert "\na\n" not in text  # looking at a value is not part of the scenario
    out2, repl2 = drive(lines(f":load {script}", "c"))
    assert repl2.session.interp.globals["c"] == 42
    assert out2.splitlines()[-1] == "42"


def test_trace_on_off() -> None:
    out, repl = drive(lines(":trace on", "x = kmalloc(8)", ":trace off", "y = kmalloc(8)"))
    assert "tracing on" in out and "tracing off" in out
    assert out.count("kmalloc: call_site=") == 1
    assert repl.session.trace is False


def test_machine_summary() -> None:
    out, _ = drive(lines("machine(mem=1G, cpus=2)", ":machine"))
    assert "machine: 1.0G RAM, 2 CPUs" in out
    assert re.search(r"zone Normal|zone DMA32", out)


def test_quit_ends_the_repl() -> None:
    out, repl = drive(lines(":quit", "x = 1"))
    assert "x" not in repl.session.interp.globals


def test_unknown_meta_command() -> None:
    out, _ = drive(lines(":hepl"))
    assert "unknown command ':hepl' (did you mean 'help'?)" in out


# -- completion ------------------------------------------------------------------------------
def complete(text: str, session: Session | None = None) -> list[Any]:
    from kmscript.repl import commands
    s = session or Session()
    c = KmsCompleter(lambda: s, commands.all_commands, commands.help_topics)
    return list(c.get_completions(Document(text, len(text)), CompleteEvent(completion_requested=True)))


def texts(cs: list[Any]) -> list[str]:
    return [c.text for c in cs]


def test_builtins_complete_with_their_signature() -> None:
    cs = complete("x = kmal")
    assert texts(cs)[0] == "kmalloc"
    assert cs[0].display_meta_text.startswith("kmalloc(size")


def test_keywords_flags_and_fuzzy_matching() -> None:
    assert "repeat" in texts(complete("rep"))
    assert texts(complete("kmalloc(64, GFP_AT"))[0] == "GFP_ATOMIC"
    assert "GFP_ATOMIC" in texts(complete("kmalloc(64, gfpatom"))  # subsequence, any case
    assert "SLAB_HWCACHE_ALIGN" in texts(complete("create(size=64, flags=SLAB_HW"))
    assert "GFP flag" in complete("x = GFP_KERNE")[0].display_meta_text


def test_views_after_show_and_sysctls_after_sysctl() -> None:
    from kmscript.lang import vocabulary
    views = texts(complete("show "))
    assert set(views) == set(vocabulary.views())
    s = Session()
    names = texts(complete("sysctl vm.min", s))
    assert "vm.min_free_kbytes" in names
    assert all(n.startswith("vm.") for n in names)


def test_expect_kinds_and_percpu_names() -> None:
    assert "oom" in texts(complete("expect "))
    s = Session()
    s.run_text("percpu hits = 0")
    assert texts(complete("percpu ", s)) == ["hits"]


def test_live_variables_and_attributes() -> None:
    s = Session()
    s.run_text("cache inode = create(size=600, align=64); t = spawn(\"worker\")")
    cs = complete("ino", s)
    assert cs[0].text == "inode" and cs[0].display_meta_text.startswith("cache = ")
    attrs = texts(complete("inode.", s))
    assert "objs_per_slab" in attrs and "object_size" in attrs
    objs = next(c for c in complete("inode.objs_p", s) if c.text == "objs_per_slab")
    assert objs.display_meta_text == "= 25"
    methods = complete("t.", s)
    assert "fault" in texts(methods)
    assert next(c for c in methods if c.text == "fault").display_meta_text.startswith("task.fault(")


def test_keyword_arguments_inside_a_call() -> None:
    assert texts(complete("cache c = create("))[:2] == ["name=", "size="] or "size=" in texts(complete("create("))


def test_meta_command_completion() -> None:
    assert texts(complete(":he"))[0] == ":help"
    assert "kmalloc" in texts(complete(":help kmal"))
    assert texts(complete(":trace o")) == ["on", "off"]


def test_nothing_inside_strings_or_comments() -> None:
    assert complete('print("kmal') == []
    assert complete("x = 1 # kmal") == []


def test_completer_never_raises() -> None:
    def broken() -> Any:
        raise RuntimeError("no session")
    c = KmsCompleter(broken)
    assert list(c.get_completions(Document("x = a", 5), CompleteEvent())) == []


def test_tab_completes_in_the_prompt() -> None:
    # Enter waits until the completion has been inserted (completion runs asynchronously)
    out, repl = drive(["x = GFP_ATOMI" + TAB, ENTER],
                      before={1: lambda r: r.prompt.default_buffer.text == "x = GFP_ATOMIC"})
    assert repl.session.interp.globals["x"] == 0x820


def test_fuzzy_rank_order() -> None:
    prefix, substring, subsequence = (fuzzy_rank("km", c) for c in ("kmalloc", "vmalloc_km", "kfree_mem"))
    assert prefix is not None and substring is not None and subsequence is not None
    assert prefix < substring < subsequence
    assert fuzzy_rank("zz", "kmalloc") is None


# -- history and input modes -----------------------------------------------------------------
def test_history_persists_and_up_recalls(tmp_path: Path) -> None:
    path = tmp_path / "history"
    drive(lines("x = 41"), history=FileHistory(str(path)))
    assert "x = 41" in path.read_text()
    out, repl = drive(UP + ENTER, history=FileHistory(str(path)))
    assert "x = 41" in out.splitlines()


def test_ctrl_r_searches_history(tmp_path: Path) -> None:
    path = tmp_path / "history"
    drive(lines("alpha = 1", "beta = 2", "gamma = 3"), history=FileHistory(str(path)))
    out, repl = drive(CTRL_R + "beta" + ENTER + ENTER, history=FileHistory(str(path)))
    assert "beta = 2" in out.splitlines()
    assert "alpha" not in repl.session.interp.globals


def test_auto_suggestion_and_vi_mode() -> None:
    _, repl = drive("")
    assert isinstance(repl.prompt.auto_suggest, AutoSuggestFromHistory)
    assert repl.prompt.editing_mode == EditingMode.EMACS
    _, vi = drive("", vi_mode=True)
    assert vi.prompt.editing_mode == EditingMode.VI


def test_history_path_follows_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    assert repl_app.history_path() == tmp_path / "kmscript" / "history"
    monkeypatch.delenv("XDG_STATE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert repl_app.history_path() == tmp_path / ".local" / "state" / "kmscript" / "history"


# -- colour ----------------------------------------------------------------------------------
def _vt100() -> tuple[Vt100_Output, io.StringIO]:
    buf = io.StringIO()
    return Vt100_Output(buf, lambda: Size(rows=24, columns=80), term="xterm-256color"), buf


_COLOUR = re.compile(r"\x1b\[[0-9;]*(3[0-9]|9[0-7]|4[0-9]|38;|48;)[0-9;]*m")


def test_no_color_means_no_colours(monkeypatch: pytest.MonkeyPatch) -> None:
    out, buf = _vt100()
    Printer(color=True, output=out).line("boom", "error")
    out.flush()
    assert _COLOUR.search(buf.getvalue())
    monkeypatch.setenv("NO_COLOR", "1")
    with create_pipe_input() as inp:
        out2, buf2 = _vt100()
        repl = Repl(Session(), input=inp, output=out2, history=InMemoryHistory())
        assert repl.color is False and repl.prompt.lexer is None
        repl.printer.line("boom", "error")
        repl._kernel(type("R", (), {"kind": "bug", "lines": lambda self: ["BUG: x"]})())
        out2.flush()
    assert "boom" in buf2.getvalue() and not _COLOUR.search(buf2.getvalue())


# -- toolbar ---------------------------------------------------------------------------------
def test_toolbar_shows_zones_slab_vmalloc_and_context() -> None:
    s = Session()
    s.run_text("x = kmalloc(64); v = vmalloc(1M)")
    text = "".join(t for _, t in toolbar_fragments(s))
    assert "Normal " in text and "slab " in text and "vmalloc 1.0M" in text and "cpu0 task" in text


def test_toolbar_never_raises() -> None:
    class Broken:
        has_machine = True

        @property
        def machine(self) -> Any:
            raise RuntimeError("gone")
    text = "".join(t for _, t in toolbar_fragments(Broken()))
    assert "unavailable" in text
    assert "no machine yet" in "".join(t for _, t in toolbar_fragments(Session()))


def test_toolbar_marks_a_zone_below_its_watermark() -> None:
    from kmscript.repl.toolbar import zone_fragments

    class Z:
        name, managed_pages, nr_free_pages, min, low, high = "Normal", 1000, 30, 40, 50, 60
    frags = zone_fragments(Z())
    assert ("class:toolbar.min", " <min") in frags


# -- the CLI routes ---------------------------------------------------------------------------
def test_cli_dash_i_runs_the_file_then_the_repl_with_its_state(monkeypatch: pytest.MonkeyPatch,
                                                                tmp_path: Path) -> None:
    from kmscript import cli
    import kmscript.repl as repl_pkg
    seen: dict[str, Any] = {}

    def fake(session: Any = None, session_options: Any = None, vi_mode: bool = False) -> int:
        seen.update(session=session, vi=vi_mode)
        return 0
    monkeypatch.setattr(repl_pkg, "run_repl", fake)
    f = tmp_path / "s.kms"
    f.write_text("kept = 7\n")
    assert cli.main(["-i", str(f), "--vi"]) == 0
    assert seen["session"].interp.globals["kept"] == 7 and seen["vi"] is True
    seen.clear()
    assert cli.main(["--repl"]) == 0
    assert seen["session"] is None


def test_run_repl_builds_a_session_from_options() -> None:
    out: list[str] = []
    with create_pipe_input() as inp:
        inp.send_text(lines("x = 1") + CTRL_D)
        assert run_repl(None, {"seed": 3}, False, input=inp, output=DummyOutput(), history=InMemoryHistory(),
                        sink=out.append) == 0
    assert out[0].startswith("kmscript ") and "x = 1" in out


@pytest.fixture(autouse=True)
def _no_user_history(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    # Nothing here may touch the user's real history file.
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    yield


# -- :save's statement texts -------------------------------------------------------------------
def test_split_statements_follows_the_grammar() -> None:
    from kmscript.lang.parser import parse
    from kmscript.repl.record import split_statements
    text = ('if 1 < 2 {\n    print(1)\n}\nelse { y = 2 }\nrepeat 3 { x = 1 }   # note\n'
            'for i in 0..3 { y = i }; while false { }\ncpu 1 < z = 1 >\ncpu 1 <\n  x = a > b\n>\n'
            'x = 1; assert x == 1, "m;"\ny = f(1,\n   2) \\\n   + 3\n')
    pieces = split_statements(text)
    assert len(pieces) == len(parse(text).body) == 9
    assert pieces[0] == "if 1 < 2 {\n    print(1)\n}\nelse { y = 2 }"
    assert pieces[5] == "cpu 1 <\n  x = a > b\n>"
    assert pieces[7] == 'assert x == 1, "m;"'


def test_a_failed_entry_saves_only_the_statements_before_the_error(tmp_path: Path) -> None:
    script = tmp_path / "s.kms"
    _, repl = drive(lines("a = 1; b = nope; c = 2", f":save {script}"))
    assert script.read_text().splitlines()[1:] == ["a = 1"]


def test_arguments_complete_with_what_fits_the_parameter() -> None:
    s = Session()
    s.run_text('cache inode = create(size=600, align=64); t = spawn("w"); percpu hits = 0')
    assert texts(complete("this_cpu_add(", s))[0] == "hits"
    assert texts(complete("zone(", s))[:3] == ["DMA", "DMA32", "Normal"]
    assert texts(complete("kmem_cache_alloc(", s))[0] == "inode"
    assert texts(complete("kmem_cache_alloc(inode, GFP_K", s))[0] == "GFP_KERNEL"
    assert texts(complete("show task ", s))[0] == "t"
    assert texts(complete("show slab ", s))[0] == "inode"
    assert "mem=" in texts(complete("machine(", s)) and "cpus=" in texts(complete("machine(mem=1G, ", s))
    assert texts(complete("cache ", s)) == []  # naming a new cache


def test_load_runs_quietly_and_a_file_run_before_the_repl_starts_the_saved_scenario(tmp_path: Path) -> None:
    setup = tmp_path / "setup.kms"
    setup.write_text("base = 5\nx = kmalloc(64)\n")
    out, repl = drive(lines(f":load {setup}", "base"))
    assert f"loaded {setup}" in out and "x = 0x" not in out and out.splitlines()[-1] == "5"
    s = Session()
    s.run_text("kept = 7\n", "first.kms")  # what kmscript -i first.kms did
    saved = tmp_path / "all.kms"
    drive(lines("more = kept + 1", f":save {saved}"), session=s)
    assert saved.read_text().splitlines()[1:] == ["kept = 7", "more = kept + 1"]


def test_a_broken_input_line_is_reported_and_the_repl_goes_on(monkeypatch: pytest.MonkeyPatch) -> None:
    from prompt_toolkit import PromptSession
    calls = {"n": 0}
    real = PromptSession.prompt

    def flaky(self: Any, *a: Any, **k: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("lexer exploded")
        return real(self, *a, **k)
    monkeypatch.setattr(PromptSession, "prompt", flaky)
    out, repl = drive(lines("x = 1"))
    assert "internal error: RuntimeError: lexer exploded" in out
    assert repl.session.interp.globals["x"] == 1


def test_ui_colours_read_on_dark_and_light_terminals() -> None:
    from kmscript.repl.display import UI_STYLE
    for style in UI_STYLE.values():
        for part in style.split():
            assert part in ("bg:default", "noreverse") or not part.startswith("bg:"), style
            assert part not in ("ansiblack", "ansiwhite", "ansibrightblack", "ansibrightwhite", "ansigray"), style


def test_two_empty_lines_in_an_open_block_say_what_is_open() -> None:
    out, repl = drive("repeat 2 {" + ENTER + ENTER + ENTER + CTRL_C + lines("y = 1"))
    err = repl.last_validation_error
    assert err is not None and err.incomplete and "'{' opened at 1:10 is not closed" in err.message
    assert "y = 1" in out.splitlines()


def test_meta_command_lines_are_not_lexed_as_kmscript() -> None:
    _, repl = drive("", color=True)
    lexer = repl.prompt.lexer
    assert lexer is not None
    assert lexer.lex_document(Document(":help kmalloc"))(0) == [("class:meta-command", ":help kmalloc")]
    frags = lexer.lex_document(Document("x = kmalloc(1)"))(0)
    assert any("pygments.name.builtin" in style for style, _ in frags)


_PIECES = ["x", "=", "kmalloc(", ")", "(", "64", "4K", ",", "GFP_ATOMIC", "|", "kfree(x)", "{", "}", "repeat 2",
           "if", "x.", "show", "slabinfo", ";", "\n", "cpu 1 <", ">", '"s"', "NULL", "vmalloc(1M)", "free_pages(",
           "alloc_pages(GFP_KERNEL, 2)", ":undo", "assert", "==", "p = ", "percpu c++",
           "sysctl vm.min_free_kbytes = 1", "expect oom", "machine(mem=64M)", ":help", "x++"]


def test_random_entries_never_end_the_repl_or_reach_internal_errors() -> None:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st
    out: list[str] = []
    with create_pipe_input() as inp:
        repl = Repl(Session(max_steps=10_000), input=inp, output=DummyOutput(), history=InMemoryHistory(),
                    sink=out.append, color=False)

        @settings(max_examples=100, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
        @given(st.lists(st.sampled_from(_PIECES), max_size=10))
        def entry(pieces: list[str]) -> None:
            out.clear()
            assert repl.handle(" ".join(pieces)) is False
            assert not [ln for ln in out if "internal error" in ln or "Traceback" in ln]
        entry()
