"""The ``kmscript`` command line.

    kmscript FILE...            run scripts (each in a fresh session)
    kmscript -c CODE            run a one-liner
    kmscript                    the REPL on a terminal; a script from stdin otherwise
    kmscript -i FILE            run FILE, then continue in the REPL with its state
    kmscript test [PATH...]     run regression scenarios (see ``kmscript test --help``)

Exit status: 0 success, 1 an assertion or expectation failed, 2 usage or syntax error,
3 runtime error (including a kernel panic and an exceeded limit).  No Python traceback
reaches the user unless ``--debug`` is given.

Host limits: a script may use ``--max-steps`` steps (loop iterations, calls, and
PAGE_WORK steps per page a built-in touches), ``--max-time`` seconds of CPU and
``--max-memory`` bytes of host memory (RLIMIT_DATA, so Python's own allocator fails
cleanly and the script stops with a limit error).
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from contextlib import contextmanager
from typing import Any, Iterator, Sequence

from . import __version__
from .errors import EXIT_OK, EXIT_RUNTIME, EXIT_USAGE, KmsError

EPILOG = """\
examples:
  kmscript examples/oom.kms                 run a scenario
  kmscript -c 'x = kmalloc(50, GFP_ATOMIC); print(x)'
  kmscript --trace -c 'p = alloc_pages(GFP_KERNEL, 3); __free_pages(p, 3)'
  kmscript --json examples/oom.kms          results and final state as JSON
  kmscript --explain -c 'x = kmalloc(50, GFP_ATOMIC)'   why each allocation took its path
  kmscript test tests/scenarios             run regression scenarios
  kmscript                                  interactive REPL (on a terminal)

exit status: 0 ok, 1 assertion/expectation failed, 2 usage or syntax error, 3 runtime error
"""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="kmscript",
        description="kmscript: script and explore how Linux manages physical memory "
                    "(a simulated x86_64 Linux 6.x kernel memory runtime).",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("files", nargs="*", metavar="FILE", help="scripts to run")
    p.add_argument("-c", dest="code", metavar="CODE", help="run CODE instead of a file")
    p.add_argument("-i", dest="interactive", action="store_true", help="stay in the REPL after running FILE")
    p.add_argument("--repl", action="store_true", help="start the REPL")
    p.add_argument("--trace", action="store_true", help="print kernel tracepoint-style events as they happen")
    p.add_argument("-q", "--quiet", action="store_true", help="do not print kernel log messages as they happen")
    p.add_argument("--json", action="store_true", help="print the run's results and final state as JSON")
    p.add_argument("--explain", action="store_true",
                   help="show why every allocation and free of each top-level statement took its path "
                        "(as if each were written `explain STATEMENT`; with --json, in the JSON)")
    p.add_argument("--seed", type=int, default=0, metavar="N", help="seed for the runtime's randomness (default 0)")
    p.add_argument("--max-steps", type=int, default=None, metavar="N",
                   help="stop after N loop iterations and calls (default 100,000,000)")
    p.add_argument("--max-time", type=float, default=None, metavar="SECONDS",
                   help="stop a script after SECONDS of CPU time (default 60; 0: no limit)")
    p.add_argument("--max-memory", default=None, metavar="SIZE",
                   help="host memory a script may use, like 512M or 2G (default 512M; 0: no limit)")
    p.add_argument("--plot", metavar="FILE", default=None,
                   help="write the run's timeline as a chart (.svg, .png; needs the plot extra) where the "
                        "script says `plot`, or at its end")
    p.add_argument("--leak-check", action="store_true", help="list objects still allocated at the end")
    p.add_argument("--vi", action="store_true", help="vi key bindings in the REPL")
    p.add_argument("--debug", action="store_true", help="show Python tracebacks for internal errors")
    p.add_argument("--version", action="version", version=f"kmscript {__version__}")
    return p


def _err(text: str) -> None:
    print(text, file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list and args_list[0] == "test":
        if importlib.util.find_spec("kmscript.testing.runner") is None:
            _err("kmscript: the test runner is not available in this build")
            return EXIT_USAGE
        from .testing.runner import main as test_main
        try:
            return test_main(args_list[1:])
        except BrokenPipeError:  # kmscript test ... | head
            return _reader_went_away()
    parser = build_parser()
    try:
        ns = parser.parse_args(args_list)
    except SystemExit as e:
        return int(e.code or 0) if e.code in (0, None) else EXIT_USAGE
    if ns.max_steps is not None and ns.max_steps < 1:
        _err("kmscript: --max-steps must be a positive number")
        return EXIT_USAGE
    if ns.max_time is not None and not ns.max_time >= 0:
        _err("kmscript: --max-time must be a number of seconds (0: no limit)")
        return EXIT_USAGE
    max_memory = parse_size(ns.max_memory) if ns.max_memory is not None else DEFAULT_MAX_MEMORY
    if max_memory is None:
        _err(f"kmscript: --max-memory {ns.max_memory}: give a size like 512M or 2G (0: no limit)")
        return EXIT_USAGE
    limit_host_memory(max_memory)
    try:
        return _run(ns)
    except KeyboardInterrupt:
        _err("kmscript: interrupted")
        return 130
    except MemoryError:
        _err("kmscript: error: out of host memory: the script needs more than --max-memory allows")
        return EXIT_RUNTIME
    except BrokenPipeError:
        return _reader_went_away()
    except Exception:  # an internal error: a bug in kmscript, never the user's fault
        if ns.debug:
            import traceback  # only with --debug: start-up does not pay for it
            traceback.print_exc()
        else:
            etype, evalue, _ = sys.exc_info()
            _err(f"kmscript: internal error: {etype.__name__ if etype else 'error'}: {evalue}")
            _err("This is a bug in kmscript; run again with --debug to see the details.")
        return EXIT_RUNTIME


DEFAULT_MAX_MEMORY = 512 << 20
SCRIPT_PROGRESS_DELAY = 1.0  # seconds a script runs before its progress line appears
_SUFFIX = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def parse_size(text: str) -> int | None:
    """``512M`` -> bytes (the suffixes of kmscript's size literals); None if malformed."""
    t = text.strip().upper().removesuffix("B")
    unit = t[-1:] if t[-1:] in "KMGT" else ""
    digits = t[:len(t) - len(unit)]
    if not digits.isdigit() or len(digits) > 15:
        return None
    return int(digits) * _SUFFIX[unit]


def limit_host_memory(limit: int) -> None:
    """Cap the process's data segment (RLIMIT_DATA: heap and private mappings, where every
    Python object lives): past it an allocation fails with MemoryError, which the
    interpreter reports as a limit error.  0 means no limit; a lower limit set by the
    user's shell is kept."""
    if limit <= 0:
        return
    try:
        import resource
    except ImportError:  # not on this platform: the step and time limits still hold
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_DATA)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    if soft == resource.RLIM_INFINITY or soft > limit:
        resource.setrlimit(resource.RLIMIT_DATA, (limit, hard))


@contextmanager
def cpu_time_limit(meter: Any, seconds: float | None) -> Iterator[None]:
    """A profiling timer (ITIMER_PROF: this process's CPU time) that expires *meter* after
    *seconds*: the script stops at its next step or page of work.  Only in the main
    thread, where signals are delivered; the meter's own periodic check is the fallback."""
    import signal
    import threading
    if not seconds or not hasattr(signal, "setitimer") or threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.signal(signal.SIGPROF, lambda signum, frame: meter.expire())
    signal.setitimer(signal.ITIMER_PROF, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.signal(signal.SIGPROF, old)


def _reader_went_away() -> int:
    """The reader of stdout went away (``kmscript ... | head``): stop quietly, as Unix tools
    do; stdout goes to /dev/null so that the interpreter's final flush cannot fail again."""
    import os
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    return EXIT_OK


def _session_options(ns: argparse.Namespace) -> dict[str, Any]:
    from .session import DEFAULT_MAX_STEPS, DEFAULT_MAX_TIME
    max_time = DEFAULT_MAX_TIME if ns.max_time is None else (ns.max_time or None)
    return {"quiet": ns.quiet, "trace": ns.trace, "seed": ns.seed,
            "max_steps": ns.max_steps if ns.max_steps is not None else DEFAULT_MAX_STEPS,
            "max_time": max_time, "explain_all": ns.explain, "explain_print": not ns.json}


def _run(ns: argparse.Namespace) -> int:
    from .session import Session

    if ns.code is not None and ns.files:
        _err("kmscript: give either -c CODE or files, not both")
        return EXIT_USAGE
    want_repl = ns.repl or ns.interactive or (ns.code is None and not ns.files and sys.stdin.isatty())
    if ns.interactive and len(ns.files) > 1:
        _err("kmscript: -i takes one file")
        return EXIT_USAGE
    if want_repl and not (ns.interactive and ns.files) and (ns.files or ns.code is not None) and not ns.interactive:
        want_repl = ns.repl
    if want_repl and not sys.stdin.isatty() and not ns.repl and not ns.interactive:
        want_repl = False

    captured: list[str] = []
    out = captured.append if ns.json else print
    opts = _session_options(ns)

    from .lang.include import read_stream, script_from_argument
    jobs: list[tuple[str, str | None]] = []
    try:
        if ns.code is not None:
            jobs.append(("<string>", script_from_argument(ns.code, "-c")))
        for f in ns.files:
            jobs.append((f, None))
        if not jobs and not want_repl:
            jobs.append(("<stdin>", read_stream(sys.stdin.buffer, "standard input")))
    except KmsError as e:
        _err(e.render())
        return e.exit_status

    status = EXIT_OK
    session: Session | None = None
    from .progress import ProgressLine
    for name, text in jobs:
        # a long script shows where it is on a terminal's stderr (after a second, so a
        # short one never flickers); never with --json, never before the REPL
        progress = ProgressLine(enabled=False if ns.json or want_repl else None, delay=SCRIPT_PROGRESS_DELAY)
        session = Session(out=progress.wrap(out), **opts)
        session.plot_file = ns.plot
        if progress.enabled:
            session.note_hook = progress.wrap(_err)
            session.meter.tick = _script_progress(progress, session)
        try:
            with cpu_time_limit(session.meter, opts["max_time"]):
                st = run_one(session, name, text, progress.wrap(out), ns, progress)
        finally:
            progress.close()
        status = max(status, st)
        if ns.json:
            _print_json(session, name, st, captured)
            captured.clear()
    if want_repl:
        if importlib.util.find_spec("kmscript.repl") is None:
            _err("kmscript: the REPL is not available in this build; run a script: kmscript FILE")
            return EXIT_USAGE
        if status != EXIT_OK and session is not None and ns.interactive:
            _err("kmscript: continuing in the REPL after the error above")
        from .repl import run_repl
        return int(run_repl(session=session, session_options=opts, vi_mode=ns.vi))
    return status


def _script_progress(progress: Any, session: Any) -> Any:
    """The meter's tick (every few thousand steps): where the script is."""
    def tick() -> None:
        where, line = session.interp.current_where
        progress.update(f"kmscript: {where}:{line}  {session.meter.used():,} steps  {progress.elapsed():.1f} s")
    return tick


def run_one(session: Any, name: str, text: str | None, out: Any, ns: argparse.Namespace,
            progress: Any = None) -> int:
    """Run one script, its test blocks and the leak check; returns the exit status."""
    from .session import Session
    status = EXIT_OK
    try:
        if text is None:
            session.run_file(name)
        else:
            session.run_text(text, name)
    except KmsError as e:
        if progress is not None:
            progress.close()
        _report(e, ns)
        _fault_notes(session, name, ns)
        _kasan_hint(session, name, ns)
        return e.exit_status
    if progress is not None:
        progress.close()
    _fault_notes(session, name, ns)
    _kasan_hint(session, name, ns)
    if session.tests:
        status = max(status, run_test_blocks(session, out, ns))
    if ns.plot is not None and session.plots_requested == 0 and session.has_machine:
        problem = session.plot(None)   # the script had no `plot`: the chart of the whole run
        if problem is not None:
            _err(f"kmscript: {problem}")
            status = max(status, EXIT_USAGE)
    if ns.leak_check and session.has_machine:   # (a script that booted nothing leaks nothing)
        text_out = session.machine.views.leak_report()
        if text_out:
            for line in text_out.rstrip("\n").split("\n"):
                out(line)
    del Session
    return status


def _kasan_hint(session: Any, name: str, ns: argparse.Namespace) -> None:
    """At the end of a run without KASAN: the first access KASAN would have reported, once."""
    if ns.json or not session.has_machine:
        return
    m = session.machine
    found = m.mem.unchecked_access if m.kasan is None else None
    if found:
        _err(f"{name}: note: {found}; without KASAN nothing reports this (as in the kernel): "
             "machine(kasan=true) or `kmscript test --kasan` would")


def _fault_notes(session: Any, name: str, ns: argparse.Namespace) -> None:
    """At the end of a run: each armed fault-injection attribute that never fired, and why."""
    if ns.json or not session.has_machine:
        return
    for note in session.machine.faults.unfired_notes():
        _err(f"{name}: note: {note}")


def run_test_blocks(session: Any, out: Any, ns: argparse.Namespace) -> int:
    """Run each collected test block in isolation; print one PASS/FAIL line per case."""
    from .errors import EXIT_ASSERT
    status = EXIT_OK
    src = session.tests[0][3]
    from .lang.parser import parse_source
    program = parse_source(src)
    for i, (tname, _body, _node, _source) in enumerate(list(session.tests)):
        fresh = session.fork_fresh()
        try:
            fresh.run_test(program, src, i)
        except KmsError as e:
            out(f"FAIL {tname}")
            _report(e, ns)
            status = max(status, e.exit_status if e.exit_status != EXIT_OK else EXIT_ASSERT)
            continue
        out(f"PASS {tname}")
    return status


def _report(e: KmsError, ns: argparse.Namespace) -> None:
    if ns.json:
        return
    _err(e.render())


def _print_json(session: Any, name: str, status: int, captured: list[str]) -> None:
    state: dict[str, Any] = {}
    if session.has_machine:
        m = session.machine
        state = m.views.summary()
        state["dmesg"] = [line for rec in m.log.records for line in rec.lines()]
    from .lang.compiler import UserFunction
    from .lang.values import format_value
    variables = {k: format_value(v) for k, v in session.interp.globals.items() if not isinstance(v, UserFunction)}
    import json  # only with --json
    doc: dict[str, Any] = {"script": name, "exit_status": status, "output": captured, "variables": variables,
                           "state": state}
    if session.explanations:
        doc["explain"] = [e.to_json() for e in session.explanations]
    print(json.dumps(doc, indent=2, default=str))
