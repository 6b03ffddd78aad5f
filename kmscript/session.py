"""Session: one simulated machine plus the interpreter state, shared by CLI, REPL and tests.

A session owns the current :class:`Machine` (booted lazily with the default
configuration, or by ``machine(...)``), the script's global variables, and where output
goes.  Everything a script prints reaches ``out`` as whole lines, in order: ``print``
output, ``show`` views, kernel log records (with dmesg timestamps, as they happen) and,
with ``trace=True``, trace events.  The REPL replaces the hooks to colour them.

Test blocks (``test "name" { ... }``) are collected while the top level runs; each is
then run by :meth:`run_test` in a fresh session (:meth:`fork_fresh`) that re-runs the
file's top-level set-up, so one case can never see another's machine.

Kernel reports: the session keeps every record that is a failure-class report
(runtime/reports.py) in ``reports``, across reboots, and ``expect`` blocks mark the ones
they expected (``expect_reports``); ``unexpected_reports()`` is what ``kmscript test``
fails a case on.

Explain: ``explain STATEMENT`` (and, with ``explain_all``, every top-level statement, as
``--explain`` and the REPL's ``:explain`` use) hands the session the statement's decision
record (runtime/explain.py); the session keeps them in ``explanations`` and writes each
as an indented tree (the ``explain`` view) unless ``explain_print`` is off (``--json``
puts them in the JSON instead) or, for the implicit ones, ``explain_print_all`` is off.

Work limits: the session owns one :class:`WorkMeter` (``max_steps``, ``max_time`` seconds
of CPU) that its interpreter and every machine it boots draw from; ``reset_budget``
starts a fresh budget (the REPL does so for each entry).
"""

from __future__ import annotations

import copy
import gc
from contextlib import contextmanager
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator

from .lang import ast
from .lang.compiler import Interpreter
from .lang.include import read_script
from .lang.parser import parse_source
from .lang.values import set_pointer_digits
from .runtime.limits import WorkMeter
from .runtime.config import MachineConfig
from .runtime.explain import Recording, recording_to_json, render_tree
from .runtime.printk import LogRecord
from .runtime.reports import is_failure
from .runtime.trace import format_line
from .source import Source

if TYPE_CHECKING:
    from .runtime.machine import Machine

DEFAULT_MAX_STEPS = 100_000_000
DEFAULT_MAX_TIME = 60.0  # seconds of CPU time per script (per REPL entry)

Out = Callable[[str], None]
MAX_KEPT_EXPLANATIONS = 1000


@dataclass
class Explanation:
    """The decision record of one explained statement."""
    where: str        # file:line
    statement: str    # its source text
    recording: Recording

    def render(self) -> str:
        tree = render_tree(self.recording)
        return f"explain {self.where}: {self.statement}\n" + "\n".join("  " + line for line in tree.split("\n"))

    def to_json(self) -> dict[str, Any]:
        return {"where": self.where, "statement": self.statement, **recording_to_json(self.recording)}


class Session:
    def __init__(self, *, out: Out | None = None, quiet: bool = False, trace: bool = False, seed: int = 0,
                 max_steps: int = DEFAULT_MAX_STEPS, config: MachineConfig | None = None,
                 max_time: float | None = DEFAULT_MAX_TIME, explain_all: bool = False,
                 explain_print: bool = True) -> None:
        self.out: Out = out if out is not None else print
        self.explain_all = explain_all
        self.explain_print = explain_print
        self.explain_print_all = True
        self.explanations: list[Explanation] = []
        self.quiet = quiet
        self.trace = trace
        self.seed = seed
        self.max_steps = max_steps
        self.max_time = max_time
        self.meter = WorkMeter(max_steps, max_time)
        self.base_config = config
        # Hooks the REPL replaces (colouring, ✓/✗ display).
        self.assert_hook: Callable[[ast.Assert, bool, str, str], None] | None = None
        self.kernel_hook: Callable[[LogRecord], None] | None = None
        self.view_hook: Callable[[str, str], None] | None = None
        # One-line notes (a historical name and its 6.18 equivalent): stderr unless replaced.
        self.note_hook: Callable[[str], None] | None = None
        self.notes: list[str] = []
        self._noted: set[str] = set()
        self.tests: list[tuple[str, Any, ast.TestBlock, Source]] = []
        # Every text run in this session, in order (the REPL's :save starts from them).
        self.sources: list[Source] = []
        # Failure-class kernel reports seen so far, and the ids of those an `expect` matched.
        self.reports: list[LogRecord] = []
        # (keyed by id, holding the record so that the id cannot be reused by a later one)
        self._expected_reports: dict[int, LogRecord] = {}
        self.block_reports_start = 0  # reports[:n] came from a test block's re-run top level
        # the machine once one is booted (``machine`` boots the default one on first use)
        self.current_machine: Machine | None = None
        # `--plot FILE`: where a bare `plot` (or the end of the run) writes the timeline chart
        self.plot_file: str | None = None
        self.plots_requested = 0   # `plot` statements that wrote (or tried to write) a chart file
        self.interp = Interpreter(self)

    @property
    def _machine(self) -> Machine | None:
        return self.current_machine

    @_machine.setter
    def _machine(self, m: Machine | None) -> None:
        self.current_machine = m
        if m is not None:
            set_pointer_digits(m.arch.ptr_digits)

    # -- the machine -------------------------------------------------------------------------
    @property
    def machine(self) -> Machine:
        m = self.current_machine
        if m is None:
            m = self.boot(self.base_config or MachineConfig(seed=self.seed))
        return m

    @machine.setter
    def machine(self, m: Machine) -> None:
        self._detach()
        self._machine = m
        self._attach()

    @property
    def has_machine(self) -> bool:
        return self._machine is not None

    def boot(self, config: MachineConfig) -> Machine:
        """Boot a fresh machine (``machine(...)``); the old one is discarded."""
        self._detach()
        self._machine = None
        from .runtime.machine import Machine  # the whole simulator: loaded when a script first needs it
        m = Machine(config, meter=self.meter)
        self._machine = m
        self._attach()
        return m

    def boot_with_options(self, options: dict[str, Any]) -> Machine:
        """``machine(...)``: boot from its keyword arguments (this session's seed unless given)."""
        if "seed" not in options:
            options = {**options, "seed": self.seed}
        return self.boot(config_from_options(options))

    def reboot_after_panic(self) -> None:
        self.boot(copy.copy(self.machine.config))

    def _on_log(self, rec: LogRecord) -> None:
        if rec.kind != "info" and is_failure(rec):
            self.reports.append(rec)
        if self.kernel_hook is not None:
            self.kernel_hook(rec)
        elif not self.quiet:
            for line in rec.lines():
                self.out(line)

    def expect_reports(self, records: Any) -> None:
        """Mark kernel log records as expected by an ``expect`` block."""
        self._expected_reports.update((id(r), r) for r in records if r.kind != "info")

    def unexpected_reports(self, start: int = 0) -> list[LogRecord]:
        """Failure-class reports from ``reports[start:]`` that no ``expect`` matched."""
        return [r for r in self.reports[start:] if id(r) not in self._expected_reports]

    def _on_trace(self, event: str, fields_: str) -> None:
        m = self._machine
        if m is None:
            return
        sec, rem = divmod(m.clock.ns, 1_000_000_000)
        task = m.ctx.current
        self.out(format_line(event, fields_, task.comm, task.pid, m.ctx.cpu, f"{sec}.{rem // 1000:06d}",
                             m.ctx.trace_flags()))

    def _attach(self) -> None:
        if self._machine is not None:
            self._machine.log.add_listener(self._on_log)
            if self.trace:
                self._machine.tracer.add_listener(self._on_trace)

    def _detach(self) -> None:
        if self._machine is not None:
            self._machine.log.remove_listener(self._on_log)
            self._machine.tracer.remove_listener(self._on_trace)

    def set_trace(self, on: bool) -> None:
        self._detach()
        self.trace = on
        self._attach()

    # -- output ------------------------------------------------------------------------------
    def write(self, text: str) -> None:
        for line in text.split("\n"):
            self.out(line)

    def write_view(self, name: str, text: str) -> None:
        if self.view_hook is not None:
            self.view_hook(name, text)
        else:
            self.write(text.rstrip("\n"))

    def explained(self, where: str, text: str, recording: Recording, implicit: bool = False) -> None:
        e = Explanation(where, " ".join(text.split()), recording)
        self.explanations.append(e)
        if self.explain_print and (self.explain_print_all or not implicit):
            self.write_view("explain", e.render())
            # printed ones are kept only for a while (the REPL's :explain reads the last
            # entry's); --json prints none and keeps them all for the JSON
            if len(self.explanations) > MAX_KEPT_EXPLANATIONS:
                del self.explanations[:-MAX_KEPT_EXPLANATIONS // 2]

    def plot(self, path: str | None) -> str | None:
        """``plot [FILE]``: the timeline chart to FILE, or to ``--plot FILE``, or (neither
        given) the timeline in the terminal.  Without matplotlib the chart is skipped with
        a one-line message on stderr and the run goes on.  Returns an error message when
        the file cannot be written (the statement reports it at its position)."""
        timeline = self.machine.timeline
        timeline.sample()     # the chart ends now
        target = path if path is not None else self.plot_file
        if target is None:
            self.write_view("timeline", timeline.render_text())
            return None
        from .plot import PlotUnavailable, write  # matplotlib only there, only now
        self.plots_requested += 1
        try:
            done = write(timeline, target)
        except PlotUnavailable as e:
            line = f"kmscript: note: plot {target!r} skipped: {e}"
            self.notes.append(line)
            if self.note_hook is not None:
                self.note_hook(line)
            else:  # (also with --quiet: the file the user asked for is not there)
                import sys
                print(line, file=sys.stderr)
            return None
        except (OSError, ValueError) as e:
            return f"plot: cannot write {target!r}: {e}"
        self.write(done)
        return None

    # -- running -------------------------------------------------------------------------------
    def note(self, line: str, key: str | None = None) -> None:
        """Report a ``file:line:col: note: ...`` line once per session and key (not part of
        the output): a historical name is explained where it is first used."""
        k = key if key is not None else line
        if k in self._noted:
            return
        self._noted.add(k)
        self.notes.append(line)
        if self.note_hook is not None:
            self.note_hook(line)
        elif not self.quiet:
            import sys
            print(line, file=sys.stderr)

    def run_text(self, text: str, name: str = "<input>", *, nested: bool = False,
                 on_result: Callable[[ast.Stmt, Any], None] | None = None) -> None:
        """Parse, compile and run a script (or a REPL entry) in this session."""
        source = Source(text, name)
        self.sources.append(source)
        with collector_paused():
            program = parse_source(source)
        self.run_program(program, source, on_result=on_result)

    def run_program(self, program: ast.Program, source: Source,
                    on_result: Callable[[ast.Stmt, Any], None] | None = None) -> None:
        interp = self.interp
        outer = interp.source
        if self.current_machine is not None:
            set_pointer_digits(self.current_machine.arch.ptr_digits)   # this session's pointer width
        try:
            with collector_paused():
                interp.check_program(program, source)
            with program_frozen():
                interp.run_statements(program, source, on_result)
        finally:
            interp.source = outer

    def run_file(self, path: str | Path) -> None:
        p = Path(path)
        text = read_script(p)
        self.interp.include_stack = [str(p.resolve())]
        self.run_text(text, str(path))

    # -- test blocks ---------------------------------------------------------------------------
    def fork_fresh(self) -> "Session":
        """A new session with the same options and no state."""
        return Session(out=self.out, quiet=self.quiet, trace=self.trace, seed=self.seed,
                       max_steps=self.max_steps, config=self.base_config, max_time=self.max_time,
                       explain_all=self.explain_all, explain_print=self.explain_print)

    def run_test(self, program: ast.Program, source: Source, index: int) -> None:
        """Re-run the top level (without registering tests), then test block *index*."""
        self.interp.register_tests = False
        self.run_program(program, source)
        self.interp.register_tests = True
        self.block_reports_start = len(self.reports)
        blocks = [s for s in program.body if isinstance(s, ast.TestBlock)]
        block = blocks[index]
        run = self.interp.compile_test_body(block, source)
        self.interp.guard(run, self.interp.globals, block.span)

    # -- snapshots (REPL :undo) ----------------------------------------------------------------
    def snapshot(self) -> tuple[Machine | None, dict[str, Any]]:
        # Machine and variables are copied together, so a handle held in a variable (a
        # cache, a task) stays the same object as the one inside the copied machine.  The
        # interpreter and the session are shared, not copied (user functions refer to them).
        self._detach()
        try:
            m, g = copy.deepcopy((self._machine, dict(self.interp.globals)), self._copy_memo())
        finally:
            self._attach()
        return m, g

    def restore(self, snap: tuple[Machine | None, dict[str, Any]]) -> None:
        self._detach()
        m, g = copy.deepcopy(snap, self._copy_memo())  # the snapshot stays reusable
        self._machine = m
        self._attach()
        self.interp.globals.clear()
        self.interp.globals.update(g)

    def _copy_memo(self) -> dict[int, Any]:
        return {id(self): self, id(self.interp): self.interp, id(self.meter): self.meter}

    def reset_budget(self) -> None:
        """A fresh step budget and CPU-time limit (each REPL entry gets one)."""
        self.meter.reset()

    def reset(self) -> None:
        self._detach()
        self._machine = None
        self.interp.globals.clear()
        self.tests.clear()


@contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off while a program is parsed and compiled.

    Parsing and compiling allocate a great many objects that all live as long as the
    program (AST nodes, spans, closures) and make no garbage cycles; with the collector
    on, every full collection rescans all of them, so a 100k-line script spent most of
    its time (and compiling was quadratic) in collections.  With the collector paused
    the cost per line is flat; it runs normally again while the program runs.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


_frozen_depth = 0


@contextmanager
def program_frozen() -> Iterator[None]:
    """While a program runs, the objects that exist when it starts (its AST, the session,
    the machine so far) are moved out of the collector's sight (``gc.freeze``), so that
    the collections the running script triggers do not rescan them: a long script's
    run costs the same per line as a short one's.  They are handed back to the collector
    when the outermost program ends (``gc.unfreeze``), so nothing is kept from it for
    good.  (An ``include`` runs inside its includer's freeze.)
    """
    global _frozen_depth
    if _frozen_depth:
        yield
        return
    _frozen_depth += 1
    gc.freeze()
    try:
        yield
    finally:
        _frozen_depth -= 1
        gc.unfreeze()


def config_from_options(options: dict[str, Any]) -> MachineConfig:
    """Build a MachineConfig from ``machine(...)`` keyword arguments, checking names and types."""
    from .errors import KmsTypeError, did_you_mean
    from .runtime.arch import ARCHES
    known = {f.name: f for f in fields(MachineConfig) if f.name != "extra"}
    values: dict[str, Any] = {}
    for key, val in options.items():
        f = known.get(key)
        if f is None:
            raise KmsTypeError(f"machine() has no option '{key}'{did_you_mean(key, known)} "
                                f"(options: {', '.join(known)})")
        t = str(f.type)
        if val is None and "None" in t:
            values[key] = None
            continue
        if t.startswith("bool"):
            if not isinstance(val, bool):
                raise KmsTypeError(f"machine(): '{key}' must be true or false")
        elif t.startswith("int"):
            if isinstance(val, bool) or not isinstance(val, int):
                raise KmsTypeError(f"machine(): '{key}' must be an integer")
            if val < 0:
                raise KmsTypeError(f"machine(): '{key}' must not be negative")
        elif t.startswith("str"):
            if not isinstance(val, str):
                raise KmsTypeError(f"machine(): '{key}' must be a string")
        if key == "arch" and val not in ARCHES:
            raise KmsTypeError(f"machine(): unknown arch '{val}'{did_you_mean(val, ARCHES)} "
                               f"(architectures: {', '.join(sorted(ARCHES))})")
        values[key] = val
    return MachineConfig(**values)
