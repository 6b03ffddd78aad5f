"""Issue 14, items 3 and 5: REPL entries are atomic under Ctrl-C; echoed text cannot drive
the terminal.

Ctrl-C arrives as a real SIGINT at seeded random moments while an entry runs inside a
built-in (``f.write``, ``t.fault``, ``compact_memory``, ``vmalloc``) or a loop.  Whether
the soft stop or the forced interrupt ends it, the entry must be rolled back: the machine
equals the one before the entry and its invariants hold.

The moments are points of the entry's own progress, not of the wall clock: the signal is
sent when the work meter refills for the k-th time (every ``WorkMeter.CHUNK`` steps; the
first refill is the budget reset just before the entry starts running, a moment where
Ctrl-C is ignored).  A wall-clock timer made the test depend on the machine's load: under
load the signal landed in the snapshot window or after the entry, or a timer cancelled
too late fired into the next entry.
"""

from __future__ import annotations

import os
import random
import signal
import threading
from typing import Any, Iterator

import pytest
from prompt_toolkit.history import InMemoryHistory
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput

from kmscript.errors import KmsSyntaxError
from kmscript.lang.values import format_value
from kmscript.repl import Repl
from kmscript.repl import app as repl_app
from kmscript.runtime.limits import WorkMeter
from kmscript.session import Session
from kmscript.source import Source

SETUP = ('machine(mem=512M, cpus=2); file f = open("data"); task t = spawn("db"); '
         'keep = []; repeat 2000 { append(keep, kmalloc(192, GFP_KERNEL)) }; t.fault(8M)')
# each runs for 49 to 256 meter refills: the interrupts below land in the first 41
ENTRIES = [
    "f.write(96M)",
    "t.fault(96M)",
    "f.read(32M); compact_memory(); compact_memory()",
    "repeat 200000 { p = kmalloc(64, GFP_KERNEL); kfree(p) }",
    "v = vmalloc(64M); vfree(v); f.write(64M)",
]


def _stray(signum: int, frame: Any) -> None:
    """A SIGINT that lands just after an entry finished (the timer raced with it)."""


@pytest.fixture
def repl() -> Iterator[tuple[Repl, list[str]]]:
    out: list[str] = []
    old = signal.signal(signal.SIGINT, _stray)  # the REPL installs its own while an entry runs
    with create_pipe_input() as inp:
        r = Repl(Session(), input=inp, output=DummyOutput(), history=InMemoryHistory(), sink=out.append,
                 color=False)
        assert r.handle(SETUP) is False
        try:
            yield r, out
        finally:
            signal.signal(signal.SIGINT, old)


def state(s: Session) -> tuple[Any, ...]:
    m = s.machine
    files = {name: (f.nr_cached, f.nr_dirty, f.pos) for name, f in m.pagecache.files.items()}
    return (m.views.summary(), files, sorted((k, format_value(v)) for k, v in s.interp.globals.items()))


def check_invariants(s: Session) -> None:
    m = s.machine
    m.page_alloc.check_invariants()
    vm = m.vmstat
    lru = m.reclaim.lru
    assert lru.nr == [vm.nr_inactive_anon, vm.nr_active_anon, vm.nr_inactive_file, vm.nr_active_file]
    assert vm.nr_file_pages == sum(f.nr_cached for f in m.pagecache.files.values())
    assert vm.nr_anon_pages == sum(t.mm.anon for t in m.tasks if t.mm is not None and t.pid != 1)


LAST_TICK = 41  # the shortest entry refills its meter 49 times


class InterruptAtTick:
    """Sends a real SIGINT to the process at the k-th refill of the work meter (its
    ``tick``), once; ``sent`` says whether it went (the entry may end first)."""

    def __init__(self, s: Session, k: int) -> None:
        self.meter = s.meter
        self.k = k
        self.n = 0
        self.sent = False
        self.meter.tick = self._tick

    def _tick(self) -> None:
        self.n += 1
        if self.n == self.k and not self.sent:
            self.sent = True
            os.kill(os.getpid(), signal.SIGINT)

    def cancel(self) -> None:
        self.meter.tick = None


@pytest.mark.parametrize("seed", range(4))
def test_ctrl_c_at_random_points_rolls_the_entry_back(repl: tuple[Repl, list[str]], seed: int) -> None:
    r, out = repl
    rng = random.Random(seed)
    stopped = 0
    for i, entry in enumerate(ENTRIES):
        before = state(r.session)
        undo_depth = len(r.undo_stack)
        out.clear()
        # entry number *seed* gets its Ctrl-C while the snapshot is taken (ignored: the
        # entry completes and is one :undo step); the others somewhere in their run
        timer = InterruptAtTick(r.session, 1 if i == seed else rng.randint(2, LAST_TICK))
        try:
            r.handle(entry)
        except KeyboardInterrupt:  # before the entry started (the prompt loop's Ctrl-C)
            out.append("interrupted: rolled back")
        finally:
            timer.cancel()
        assert timer.sent, entry
        check_invariants(r.session)
        if any("interrupted" in line for line in out):
            assert any("rolled back" in line for line in out), out
            assert state(r.session) == before, entry
            stopped += 1
            assert len(r.undo_stack) == undo_depth  # nothing happened: nothing to undo
        else:  # the entry finished before the signal: it stays, and :undo goes back
            assert len(r.undo_stack) == undo_depth + 1
            r.undo()
            assert state(r.session) == before
    assert stopped == len(ENTRIES) - 1  # every entry outlasts its interrupt; the one at tick 1 ignores it
    assert signal.getsignal(signal.SIGINT) is _stray  # the REPL put the previous handler back


@pytest.mark.parametrize("seed", range(3))
def test_a_forced_interrupt_anywhere_is_rolled_back(repl: tuple[Repl, list[str]], seed: int,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    # A run that never reaches a safe point: the soft stop is ignored, so the REPL's
    # fallback interrupts it wherever it is (inside an allocator), and only the rollback
    # keeps the machine consistent.
    r, out = repl
    monkeypatch.setattr(WorkMeter, "interrupt", lambda self: None)
    # the forced interrupt follows the signal within about 10 ms of wall time: it lands
    # wherever the run is then; the entry has at least 8 meter refills (~100 ms) left
    monkeypatch.setattr(repl_app, "FORCE_AFTER", 0.0)
    monkeypatch.setattr(repl_app, "POKE_EVERY", 0.01)
    rng = random.Random(100 + seed)
    stopped = 0
    for entry in ENTRIES:
        before = state(r.session)
        out.clear()
        timer = InterruptAtTick(r.session, rng.randint(2, LAST_TICK))
        try:
            r.handle(entry)
        except KeyboardInterrupt:
            out.append("interrupted")
        finally:
            timer.cancel()
        assert timer.sent, entry
        check_invariants(r.session)
        if any("interrupted" in line for line in out):
            assert state(r.session) == before, entry
            stopped += 1
        else:
            r.undo()
    assert stopped >= 2


def test_the_soft_stop_ends_a_long_builtin_at_a_page_boundary() -> None:
    s = Session(quiet=True)
    s.run_text('machine(mem=1G); file f = open("a")')
    # Another thread asks for the stop once the write is under way (the meter's second
    # refill; the first is the budget reset before it starts), as the REPL's SIGINT
    # handler and its poker thread do.  (A fixed delay could fire before the reset,
    # which clears the request, when the machine was busy.)
    running = threading.Event()
    ticks = [0]

    def tick() -> None:
        ticks[0] += 1
        if ticks[0] == 2:
            running.set()
    s.meter.tick = tick
    stopper = threading.Thread(target=lambda: running.wait(60) and s.meter.interrupt())
    stopper.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            s.run_text("f.write(900M)")
    finally:
        running.set()
        stopper.join()
        s.meter.tick = None
    f = s.machine.pagecache.files["a"]
    assert 0 < f.nr_cached and f.pos == f.nr_cached * 4096  # stopped between two pages
    check_invariants(s)


# -- item 5: terminal safety ---------------------------------------------------------------
def test_error_lines_escape_control_characters() -> None:
    src = Source('x = "\x1b]0;pwned\x07" + 1\n', "t.kms")
    e = KmsSyntaxError("bad \x1b[2J thing", src.span_at(4), src)
    text = e.render()
    assert "\x1b" not in text and "\x07" not in text
    head, line, caret = text.split("\n")
    assert head == "t.kms:1:5: error: bad \\x1b[2J thing"
    assert line == '    x = "\\x1b]0;pwned\\x07" + 1'
    assert caret == "        ^"


def test_the_caret_points_past_escaped_characters() -> None:
    from kmscript.session import Session as S
    s = S(out=lambda line: None)
    with pytest.raises(Exception) as ei:
        s.run_text('y = "\x1b\x1b"; z = nope', "t.kms")
    text = ei.value.render()  # type: ignore[attr-defined]
    line, caret = text.split("\n")[1:3]
    assert line[caret.index("^"):].startswith("nope")


def test_the_repl_escapes_printed_text_and_errors(repl: tuple[Repl, list[str]]) -> None:
    r, out = repl
    out.clear()
    r.handle('print("\x1b]0;pwned\x07", "ok\\x9b2J")')
    r.handle('x = "\x1b[31m" + 1')
    shown = "\n".join(out)
    assert "\x1b" not in shown and "\x07" not in shown and "\x9b" not in shown
    assert "\\x1b]0;pwned\\x07 ok\\x9b2J" in shown
    assert '\\x1b[31m" + 1' in shown


def test_running_out_of_host_memory_rolls_the_entry_back(repl: tuple[Repl, list[str]],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    # MemoryError can strike inside an allocator; the REPL must not keep that state.
    r, out = repl
    before = state(r.session)
    pa = r.session.machine.page_alloc
    calls = {"n": 0}
    real = type(pa).alloc_pages

    def failing(self: Any, *a: Any, **k: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 700:
            raise MemoryError
        return real(self, *a, **k)
    monkeypatch.setattr(type(pa), "alloc_pages", failing)
    out.clear()
    r.handle("f.write(16M)")
    monkeypatch.setattr(type(pa), "alloc_pages", real)
    assert any("out of host memory: the entry was rolled back" in line for line in out), out
    assert state(r.session) == before
    check_invariants(r.session)


@pytest.mark.parametrize("where", ["error report", "panic note"])
def test_ctrl_c_while_an_error_is_reported_still_rolls_back(repl: tuple[Repl, list[str]], where: str,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    # A second Ctrl-C (or the forced one) can land after the entry failed but before its
    # handler finished printing the error.  The entry changed the machine before failing,
    # so it must still be rolled back, not kept half done.
    r, out = repl
    before = state(r.session)
    entry = ("t.fault(4M); q = kmalloc(64, GFP_KERNEL); no_such_name" if where == "error report"
             else "t.fault(4M); panic(\"stop\")")
    real = r.printer.lines if where == "error report" else r.printer.line

    def interrupted_once(*a: Any, **k: Any) -> None:
        monkeypatch.setattr(r.printer, real.__name__, real)
        raise KeyboardInterrupt

    monkeypatch.setattr(r.printer, real.__name__, interrupted_once)
    r.handle(entry)
    assert any("rolled back" in line for line in out), out
    assert state(r.session) == before
    check_invariants(r.session)
