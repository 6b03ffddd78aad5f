"""The interactive REPL: ``kmscript`` on a terminal, ``kmscript --repl``, ``kmscript -i FILE``.

One loop: read an entry (prompt_toolkit, highlighted by kmscript's own Pygments lexer),
run it in the Session, show each statement's result.  Decisions:

- Multi-line input is decided by the real parser: Enter on an entry the parser calls
  *incomplete* (an open ``{``, ``(``, ``[`` or ``cpu N <``, a trailing operator) inserts a
  newline with a continuation prompt (after two empty lines it is submitted, so the
  validator says what is still open); anything else is submitted.  A syntax error is
  caught by the validator before running: it is shown under the input and the cursor is
  moved to it; Esc Enter submits as is.
- Results: every top-level statement's value is shown (``x = 0xffff888003a1c040
  kmalloc-64 ...``); pointers say where they live through ``Machine.views.describe_address``.
  Kernel messages are coloured by kind; long views go through a pager only when they do
  not fit the screen.
- Robustness: a KmsError is rendered; any other exception from the interpreter, the
  runtime, a meta-command, the completer or the toolbar prints one "internal error" line
  and the loop goes on.  Ctrl-D on an empty line leaves.
- Entries are atomic.  Ctrl-C cancels the input; while an entry runs it asks the
  session's work meter to stop at its next safe point (a loop iteration, or between two
  pages inside a built-in: never inside an allocator's bookkeeping), and the entry is then
  rolled back to the snapshot taken before it, so the machine and the variables are as
  they were and every allocator invariant holds.  If no safe point comes within
  :data:`FORCE_AFTER` seconds (or on a second Ctrl-C) the run is interrupted where it
  is, and the same rollback discards whatever half-done state that left.
- ``:undo`` keeps snapshots (Session.snapshot) of the state before each of the last
  :data:`UNDO_DEPTH` entries.
"""

from __future__ import annotations

import dataclasses
import os
import re
import signal
import threading
import time
import _thread
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from prompt_toolkit import PromptSession
from prompt_toolkit.auto_suggest import AutoSuggestFromHistory
from prompt_toolkit.document import Document
from prompt_toolkit.enums import DEFAULT_BUFFER
from prompt_toolkit.filters import has_completions, has_focus, is_done
from prompt_toolkit.formatted_text import FormattedText
from prompt_toolkit.history import FileHistory, History, InMemoryHistory
from prompt_toolkit.input import Input
from prompt_toolkit.key_binding import KeyBindings, KeyPressEvent
from prompt_toolkit.formatted_text import StyleAndTextTuples
from prompt_toolkit.lexers import Lexer, PygmentsLexer
from prompt_toolkit.output import Output
from prompt_toolkit.validation import ValidationError, Validator

from .. import __version__
from ..errors import KmsError, KmsHostMemoryError, KmsPanic, KmsSyntaxError
from ..highlight import KmscriptLexer
from ..lang import ast
from ..lang.parser import parse, warm_up
from ..runtime.printk import LogRecord
from . import commands
from .completer import KmsCompleter
from .display import Fragments, Printer, human_bytes, no_color, value_fragments
from .record import split_statements
from .toolbar import toolbar_fragments

if TYPE_CHECKING:
    from ..session import Session

UNDO_DEPTH = 10
# Ctrl-C while an entry runs: re-ask the work meter to stop every POKE_EVERY seconds, and
# interrupt wherever the run is after FORCE_AFTER seconds without a safe point.
POKE_EVERY = 0.1
FORCE_AFTER = 2.0
_ALLOC_EVENTS = frozenset({"kmalloc", "kmem_cache_alloc", "mm_page_alloc"})
_PTR_FIELD = re.compile(r"\bptr=([0-9a-f]{16}|[0-9a-f]{8})\b")   # %p: 16 digits, 8 on i386
_PFN_FIELD = re.compile(r"\bpfn=0x([0-9a-f]+)")
_GFP_FIELD = re.compile(r"\bgfp_flags=(\S+)")
PROMPT = "kms> "
INDENT = "    "


def history_path() -> Path:
    """$XDG_STATE_HOME/kmscript/history, or ~/.local/state/kmscript/history."""
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "kmscript" / "history"


def open_history(path: Path | None) -> History:
    if path is None:
        path = history_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(exist_ok=True)
        return FileHistory(str(path))
    except OSError:
        return InMemoryHistory()  # a read-only home must not stop the REPL


def check_entry(text: str) -> KmsSyntaxError | None:
    """The syntax error in *text*, or None when it parses (or is a meta-command)."""
    if not text.strip() or text.lstrip().startswith(":"):
        return None
    try:
        parse(text, "<stdin>")
    except KmsSyntaxError as e:
        return e
    except Exception:
        return None  # the run will report it properly
    return None


class _EntryValidator(Validator):
    def __init__(self, repl: "Repl") -> None:
        self.repl = repl

    def validate(self, document: Document) -> None:
        err = check_entry(document.text)
        if err is None:
            return
        self.repl.last_validation_error = err
        pos = len(document.text)
        if err.span is not None:
            pos = min(max(0, err.span.start), len(document.text))
        raise ValidationError(cursor_position=pos, message=f"line {err.span.line if err.span else 1}: "
                                                           f"{err.message}  (Esc Enter runs it anyway)"
                              if not err.incomplete else f"{err.message}")


class _EntryLexer(Lexer):
    """kmscript's Pygments lexer, except for a ``:command`` line (not kmscript: its ':'
    would be an error token)."""

    def __init__(self) -> None:
        self.kms = PygmentsLexer(KmscriptLexer)

    def lex_document(self, document: Document) -> Callable[[int], StyleAndTextTuples]:
        if document.text.lstrip().startswith(":"):
            lines = document.lines
            return lambda i: [("class:meta-command", lines[i])] if i < len(lines) else []
        return self.kms.lex_document(document)


def _open_brackets(text: str) -> int:
    """How deep the last line is nested, for the continuation indent."""
    depth = 0
    for tok, val in KmscriptLexer().get_tokens(text):
        if val in ("{", "(", "["):
            depth += 1
        elif val in ("}", ")", "]"):
            depth = max(0, depth - 1)
    return depth


class Repl:
    def __init__(self, session: Session, *, vi_mode: bool = False, input: Input | None = None,
                 output: Output | None = None, history: History | None = None,
                 sink: Callable[[str], None] | None = None, color: bool | None = None,
                 pager: bool | None = None) -> None:
        self.session = session
        self.color = (not no_color()) if color is None else color
        self.printer = Printer(color=self.color, output=output, sink=sink, pager=pager)
        # Statements of each entry that ran successfully; a file run before the REPL
        # (kmscript -i FILE) is the start of the scenario :save writes.
        self.recorded: list[list[str]] = [[src.text.strip()] for src in session.sources
                                          if src.text.strip()]
        self.undo_stack: list[tuple[Any, int]] = []
        # the decision records of the last entry (:explain); None when it was not recorded
        self.last_explained: list[Any] | None = []
        self.last_validation_error: KmsSyntaxError | None = None
        self._toolbar: Fragments = []
        self._gfp_by_addr: dict[int, str] = {}
        self.entry_running = False  # an entry is running (Ctrl-C stops it); read by _Interruptible
        self._install_hooks()
        self.prompt = PromptSession[str](
            message=lambda: FormattedText([("class:prompt", PROMPT)]),
            multiline=True,
            prompt_continuation=self._continuation,
            lexer=_EntryLexer() if self.color else None,
            completer=KmsCompleter(lambda: self.session, commands.all_commands, commands.help_topics),
            complete_while_typing=False,
            auto_suggest=AutoSuggestFromHistory(),
            history=history if history is not None else open_history(None),
            enable_history_search=False,
            validator=_EntryValidator(self),
            validate_while_typing=False,
            bottom_toolbar=self._bottom_toolbar,
            style=self.printer.style,
            include_default_pygments_style=False,
            key_bindings=self._key_bindings(),
            vi_mode=vi_mode,
            input=input,
            output=output,
            color_depth=None if self.color else _depth_1(),
            mouse_support=False,
            search_ignore_case=True,
        )
        self.printer.output = self.prompt.output  # results print where the prompt is
        self.refresh_toolbar()

    # -- session hooks --------------------------------------------------------------------
    def _install_hooks(self) -> None:
        s = self.session
        s.out = self._out
        s.kernel_hook = self._kernel
        s.assert_hook = self._assert
        s.view_hook = self._view

    def _out(self, line: str) -> None:
        self.printer.line(line, "output")

    def _kernel(self, rec: LogRecord) -> None:
        if self.session.quiet:
            return
        cls = f"kernel.{rec.kind}"
        for ln in rec.lines():
            self.printer.line(ln, cls)

    def _assert(self, stmt: ast.Assert, ok: bool, source_text: str, detail: str) -> None:
        if ok:
            values = [("", "   "), ("class:note", detail)] if detail and detail != source_text else []
            self.printer.frags([("class:assert.ok", "✓ "), ("class:assert.ok", source_text)] + values)
        else:
            self.printer.frags([("class:assert.fail", "✗ "), ("class:assert.fail", source_text),
                                ("", "   "), ("class:error", detail)])

    def _view(self, name: str, text: str) -> None:
        self.printer.long_text(text)

    # -- prompt pieces ----------------------------------------------------------------------
    def _continuation(self, width: int, line_number: int, is_soft_wrap: int) -> FormattedText:
        return FormattedText([("class:continuation", "." * (width - 1) + " ")])

    def _bottom_toolbar(self) -> FormattedText:
        return FormattedText(self._toolbar)

    def refresh_toolbar(self) -> None:
        self._toolbar = toolbar_fragments(self.session)

    def _key_bindings(self) -> KeyBindings:
        kb = KeyBindings()
        editing = ~is_done & has_focus(DEFAULT_BUFFER)  # not while searching history (Ctrl-R)

        @kb.add("enter", filter=editing)
        def _enter(event: KeyPressEvent) -> None:
            buf = event.current_buffer
            if buf.complete_state is not None and buf.complete_state.current_completion is not None:
                buf.complete_state = None  # Enter picks the highlighted completion
                return
            text = buf.text
            err = check_entry(text)
            lines = text[: buf.cursor_position].split("\n")
            stuck = len(lines) >= 3 and not lines[-1].strip() and not lines[-2].strip()
            if err is not None and err.incomplete and not stuck:  # continue the entry (at the cursor)
                depth = _open_brackets(text[: buf.cursor_position])
                buf.insert_text("\n" + INDENT * depth)
                return
            buf.validate_and_handle()

        @kb.add("}", filter=editing)
        def _close_brace(event: KeyPressEvent) -> None:
            buf = event.current_buffer
            line = buf.document.current_line_before_cursor
            if line and not line.strip():
                buf.delete_before_cursor(min(len(line), len(INDENT)))
            buf.insert_text("}")

        @kb.add("c-space", filter=editing & ~has_completions)
        def _complete(event: KeyPressEvent) -> None:
            event.current_buffer.start_completion(select_first=False)

        return kb

    # -- the loop ---------------------------------------------------------------------------
    def banner(self) -> None:
        self.printer.frags([("class:help.title", f"kmscript {__version__}"),
                            ("", " - a simulated Linux kernel memory. "),
                            ("class:note", ":help for help, Tab completes, Ctrl-D leaves.")])

    def run(self) -> int:
        warm_up()
        failures = 0
        while True:
            try:
                text = self.prompt.prompt()
                failures = 0
            except KeyboardInterrupt:
                continue  # Ctrl-C cancels the entry being typed
            except EOFError:
                break
            except Exception as e:
                # Something in the input line itself broke (a lexer, completer or
                # key binding bug): report it and go on with a plain prompt.
                failures += 1
                self.internal_error(e)
                self.prompt.lexer = None
                self.prompt.completer = None
                if failures >= 3:
                    self.printer.line("the input line keeps failing; leaving the REPL", "internal")
                    return 3
                continue
            try:
                if self.handle(text):
                    break
            except KeyboardInterrupt:  # Ctrl-C in a meta-command (:load, :machine ...)
                self.printer.line("interrupted", "error")
            except Exception as e:  # a bug in the REPL itself: say so, keep going
                self.internal_error(e)
        return 0

    def handle(self, text: str) -> bool:
        """Run one entry (a meta-command or statements).  True ends the REPL."""
        if not text.strip():
            return False
        if text.lstrip().startswith(":"):
            try:
                return commands.dispatch(self, text.strip())
            finally:
                self.refresh_toolbar()
        self.run_entry(text, "<stdin>")
        return False

    def run_entry(self, text: str, name: str) -> bool:
        """Run *text* in the session, showing results; True when it ran without error."""
        program = _parse_or_none(text)
        if program is not None and not program.body:
            return True  # only comments
        if program is not None and all(_is_inspection(st) for st in program.body):
            # Looking at values (``x``, ``c.objects``) changes nothing: no undo step, not saved.
            return self._run(text, name, changing=False)
        return self._run(text, name, changing=True)

    def _run(self, text: str, name: str, *, changing: bool, show_results: bool = True) -> bool:
        done: list[ast.Stmt] = []  # top-level statements that completed
        ok = False
        interrupted = False
        why = ""
        snap = None
        tracer = None
        with self._interruptible() as guard:  # Ctrl-C is ignored while snapshots are copied
            snap = self._snapshot() if changing else None
            self.session.reset_budget()
            session = self.session
            recorded = False
            try:  # outer: a Ctrl-C that lands while a handler below reports an error
                # (a second Ctrl-C, or the forced one) still rolls the entry back
                try:
                    guard.running(True)
                    tracer = self._watch_allocations(text)
                    # :explain shows the last entry's decision records: kept for every entry the
                    # REPL watches anyway (no loop at top level), without printing them
                    recorded = tracer is not None and not session.explain_all
                    if recorded:
                        session.explain_all, session.explain_print_all = True, False
                    session.explanations.clear()
                    session.run_text(text, name, on_result=lambda st, v: self._result(st, v, done, show_results))
                    ok = True
                except KeyboardInterrupt:
                    interrupted = True
                    why = "interrupted"
                except KmsHostMemoryError as e:  # may have struck mid-update: roll back like Ctrl-C
                    self.printer.lines(e.render(), "error")
                    interrupted = True
                    why = "out of host memory"
                except KmsError as e:
                    self.printer.lines(e.render(), "error")
                    if isinstance(e, KmsPanic):
                        self.printer.line("the machine panicked: :undo goes back to before this entry, "
                                          ":reset boots a fresh machine", "note")
                except Exception as e:
                    self.internal_error(e)
            except KeyboardInterrupt:
                interrupted = True
                why = "interrupted"
            finally:
                guard.running(False)
                if recorded:
                    session.explain_all, session.explain_print_all = False, True
                self.last_explained = list(session.explanations) if recorded or session.explain_all else None
                session.explanations.clear()
                if tracer is not None:
                    tracer.remove_listener(self._on_trace)
                self._gfp_by_addr.clear()
            if interrupted and snap is not None:
                self.session.restore(snap)  # atomic entries: all or nothing
                self.printer.line(f"{why}: the entry was rolled back (the machine and variables are as "
                                  "before it)", "error")
            elif interrupted:
                self.printer.line(f"{why} (this state cannot be copied, so what the entry did so far "
                                  "is kept)", "error")
        if not (interrupted and snap is not None):
            # Even a failed entry may have changed the machine (statements before the
            # error), so every changing entry that was not rolled back is one :undo step.
            if changing:
                self.recorded.append(self._statement_texts(text, done, ok))
            if snap is not None:
                self.undo_stack.append((snap, len(self.recorded)))
            del self.undo_stack[:-UNDO_DEPTH]
        self.refresh_toolbar()
        return ok

    # -- which GFP flags made each result pointer (from the allocators' trace events) ----
    def _watch_allocations(self, text: str) -> Any:
        """Listen to the trace while *text* runs, unless it loops at top level (tracing
        costs each allocation a formatted event: about +40% in a kmalloc/kfree loop)."""
        program = _parse_or_none(text)
        if program is None:
            return None
        if any(isinstance(s, (ast.Repeat, ast.For, ast.While)) for s in program.body):
            return None
        if not self.session.has_machine and any(_calls_machine(s) for s in program.body):
            return None  # it boots its own machine: do not boot the default one first
        try:
            tracer = self.session.machine.tracer
            tracer.add_listener(self._on_trace)
            return tracer
        except Exception:
            return None

    def _on_trace(self, event: str, fields: str) -> None:
        if event not in _ALLOC_EVENTS:
            return
        g = _GFP_FIELD.search(fields)
        if g is None:
            return
        m = _PTR_FIELD.search(fields)
        if m is not None:
            addr = int(m.group(1), 16)
        else:
            p = _PFN_FIELD.search(fields)
            if p is None:
                return
            addr = self.session.machine.arch.page_address(int(p.group(1), 16))
        if len(self._gfp_by_addr) > 4096:
            self._gfp_by_addr.clear()
        self._gfp_by_addr[addr] = g.group(1)

    def _statement_texts(self, text: str, done: list[ast.Stmt], ok: bool) -> list[str]:
        """The source of the statements of *text* that completed (for :save)."""
        if not done:
            return []
        # Statements of an included file or :load-ed script report through the same
        # callback only at top level, so len(done) counts the entry's own statements.
        program = _parse_or_none(text)
        pieces = split_statements(text)
        if program is not None and len(pieces) == len(program.body) and len(done) <= len(pieces):
            return pieces[:len(done)]
        if ok:
            return [text.strip()]
        return [text[st.span.start:st.span.end] for st in done]

    def _snapshot(self) -> Any:
        try:
            return self.session.snapshot()
        except Exception:
            return None  # a machine that cannot be copied just cannot be undone

    def _result(self, stmt: ast.Stmt, value: Any, done: list[ast.Stmt], show: bool = True) -> None:
        done.append(stmt)
        if not show:
            return
        try:
            frags = self.result_fragments(stmt, value)
        except Exception as e:
            self.internal_error(e)
            return
        if frags:
            self.printer.frags(frags)

    def result_fragments(self, stmt: ast.Stmt, value: Any) -> Fragments:
        """How one top-level statement's result is shown (``x = 0xffff...  kmalloc-64 ...``)."""
        name: str | None = None
        if isinstance(stmt, ast.Decl):
            name = stmt.name
        elif isinstance(stmt, (ast.Assign, ast.AugAssign, ast.IncDec)):
            name = stmt.target.id if isinstance(stmt.target, ast.Name) else None
            if name is None:
                return []  # p[i] = v, obj.attr updates: nothing worth repeating
        elif not isinstance(stmt, ast.ExprStmt) or value is None:
            return []
        shown = value_fragments(self.session, value, self._gfp_by_addr.get)
        return ([("class:result.name", name), ("", " = ")] + shown) if name is not None else shown

    # -- Ctrl-C while running -------------------------------------------------------------
    class _Interruptible:
        """SIGINT while an entry runs: a soft stop through the work meter, repeated every
        POKE_EVERY seconds (a request can race with the meter's own update), then a hard
        KeyboardInterrupt after FORCE_AFTER seconds or at a second Ctrl-C.  While the
        snapshot is taken or restored (``running(False)``) Ctrl-C is ignored, so a
        rollback is never itself interrupted."""

        def __init__(self, repl: "Repl") -> None:
            self.repl = repl
            self.old: Any = None
            self.requested = False
            self.stop = threading.Event()
            self.poker: threading.Thread | None = None

        def __enter__(self) -> "Repl._Interruptible":
            if threading.current_thread() is threading.main_thread():
                self.old = signal.signal(signal.SIGINT, self._on_sigint)
            return self

        def running(self, on: bool) -> None:
            r = self.repl
            r.entry_running = on
            if not on:
                self.stop.set()
                if self.poker is not None:
                    self.poker.join()
                r.session.meter.stop_requested = False

        def _on_sigint(self, signum: int, frame: Any) -> None:
            r = self.repl
            if not r.entry_running:
                return  # a snapshot is being taken or restored: it must complete
            if self.requested:
                raise KeyboardInterrupt  # second Ctrl-C, or the forced one: stop here
            self.requested = True
            r.session.meter.interrupt()
            self.poker = threading.Thread(target=self._poke, daemon=True)
            self.poker.start()

        def _poke(self) -> None:
            meter = self.repl.session.meter
            deadline = time.monotonic() + FORCE_AFTER
            while not self.stop.wait(POKE_EVERY):
                if time.monotonic() >= deadline:
                    # no safe point came: interrupt where it is (through _on_sigint)
                    _thread.interrupt_main()
                    return
                meter.interrupt()

        def __exit__(self, *exc: Any) -> None:
            self.running(False)
            if self.old is not None:
                signal.signal(signal.SIGINT, self.old)

    def _interruptible(self) -> "Repl._Interruptible":
        return Repl._Interruptible(self)

    # -- meta-command actions ----------------------------------------------------------------
    def reset(self) -> None:
        self.session.reset()
        self.recorded.clear()
        self.undo_stack.clear()

    def undo(self) -> None:
        if not self.undo_stack:
            self.printer.line("nothing to undo", "note")
            return
        snap, n = self.undo_stack.pop()
        self.session.restore(snap)
        del self.recorded[n - 1:]
        self.printer.line("undone: machine and variables are back to before the last entry", "note")

    def load_file(self, path: str) -> None:
        p = Path(path).expanduser()
        try:
            text = p.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            self.printer.line(f"cannot read {path}: {getattr(e, 'strerror', None) or e}", "error")
            return
        self.session.interp.include_stack = [str(p.resolve())]
        if self._run(text, str(path), changing=True, show_results=False):
            self.printer.line(f"loaded {path}", "note")

    def save_file(self, path: str) -> None:
        stmts = [s for entry in self.recorded for s in entry]
        body = "# kmscript session saved from the REPL\n" + "".join(s.rstrip() + "\n" for s in stmts)
        try:
            Path(path).expanduser().write_text(body, encoding="utf-8")
        except OSError as e:
            self.printer.line(f"cannot write {path}: {e.strerror or e}", "error")
            return
        self.printer.line(f"wrote {len(stmts)} statement{'s' if len(stmts) != 1 else ''} to {path}", "note")

    def machine_summary(self) -> str:
        s = self.session
        m = s.machine
        cfg = m.config
        lines = [f"machine: {human_bytes(cfg.mem)} RAM, {cfg.cpus} CPUs, seed {cfg.seed}"
                 + ("" if cfg.thp else ", THP off") + (f", slub_debug={cfg.slub_debug}" if cfg.slub_debug else "")]
        for k, v in m.views.summary().items():
            lines.append(f"  {k}: {v}")
        for z in m.page_alloc.zones:
            if not z.managed_pages:
                continue
            free = z.nr_free_pages
            lines.append(f"  zone {z.name:<8} free {free:>9} pages ({human_bytes(free * 4096)})"
                         f"  min {z.min}  low {z.low}  high {z.high}  managed {z.managed_pages}")
        vm = m.vmstat
        slab = vm.nr_slab_reclaimable_b + vm.nr_slab_unreclaimable_b
        lines.append(f"  slab {human_bytes(slab)}  vmalloc {human_bytes(vm.nr_vmalloc_pages * 4096)}  "
                     f"percpu {human_bytes(vm.nr_percpu_pages * 4096)}  kernel stacks {vm.nr_kernel_stack_kb} kB")
        lines.append(f"  slab caches: {len(m.slab.caches)}")
        lines.append(f"  tasks: {', '.join(f'{t.comm}[{t.pid}]' for t in m.tasks)}")
        ctx = m.ctx
        lines.append(f"  current: cpu{ctx.cpu}" + (" in hardirq" if ctx.in_irq() else ""))
        g = s.interp.globals
        if g:
            lines.append(f"  variables: {', '.join(sorted(g))}")
        return "\n".join(lines)

    def internal_error(self, e: BaseException) -> None:
        self.printer.line(f"internal error: {type(e).__name__}: {e} (a bug in kmscript; the session goes on)",
                          "internal")


def _parse_or_none(text: str) -> ast.Program | None:
    try:
        return parse(text, "<stdin>")
    except Exception:
        return None


def _is_inspection(stmt: ast.Stmt) -> bool:
    """An expression statement without calls: reading names, attributes, arithmetic."""
    return isinstance(stmt, ast.ExprStmt) and not _has_call(stmt.expr)


def _has_call(node: Any) -> bool:
    if isinstance(node, ast.Call):
        return True
    if isinstance(node, tuple):
        return any(_has_call(n) for n in node)
    if dataclasses.is_dataclass(node):
        return any(_has_call(getattr(node, f.name)) for f in dataclasses.fields(node) if f.name != "span")
    return False


def _calls_machine(stmt: ast.Stmt) -> bool:
    expr = stmt.expr if isinstance(stmt, ast.ExprStmt) else stmt.value if isinstance(stmt, ast.Assign) else None
    return isinstance(expr, ast.Call) and isinstance(expr.func, ast.Name) and expr.func.id == "machine"


def _depth_1() -> Any:
    from prompt_toolkit.output import ColorDepth
    return ColorDepth.DEPTH_1_BIT


def run_repl(session: Any = None, session_options: dict[str, Any] | None = None, vi_mode: bool = False, *,
             input: Input | None = None, output: Output | None = None, history: History | None = None,
             sink: Callable[[str], None] | None = None, color: bool | None = None,
             banner: bool = True) -> int:
    """Run the REPL on *session* (a new one from *session_options* when None); returns 0."""
    from ..session import Session
    if session is None:
        session = Session(**(session_options or {}))
    repl = Repl(session, vi_mode=vi_mode, input=input, output=output, history=history, sink=sink, color=color)
    if banner:
        repl.banner()
    return repl.run()


__all__ = ["Repl", "run_repl", "history_path", "check_entry"]
