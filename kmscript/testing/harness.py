"""Running one case's script in a fresh session, under a wall-clock limit.

A case runs in a ``Session`` subclass that can arm fail-nth fault injection and remembers
the script line of each failure-class kernel report.  Whatever happens in the script (a
kmscript error, a timeout, a bug in kmscript itself) ends as a ``_Run`` record: the harness
never lets an exception escape, so one broken case cannot stop a suite.  The wall-clock
limit is ITIMER_REAL, and a timer that someone else had set is given back afterwards.
"""

from __future__ import annotations


import signal
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable


class _Timeout(BaseException):
    """Raised from the timer signal; a BaseException so no interpreter handler swallows it."""


# ---------------------------------------------------------------------------- directives
class _Deadline:
    """A wall-clock limit via ITIMER_REAL when we are on the main thread of a Unix process."""

    def __init__(self, seconds: float | None) -> None:
        self.seconds = seconds if seconds and seconds > 0 else None
        self.armed = False
        self._old: Any = None
        self._outer: tuple[float, float] = (0.0, 0.0)
        self._armed_at = 0.0
        self.start = time.monotonic()

    def __enter__(self) -> "_Deadline":
        if (self.seconds is not None and hasattr(signal, "setitimer")
                and threading.current_thread() is threading.main_thread()):
            def on_alarm(signum: int, frame: Any) -> None:
                raise _Timeout()
            self._old = signal.signal(signal.SIGALRM, on_alarm)
            # The limit is for the whole file: each case gets what its predecessors left.
            left = self.seconds - (time.monotonic() - self.start)
            if left <= 0:
                signal.signal(signal.SIGALRM, self._old)
                raise _Timeout()
            # Remember a timer someone else (pytest-timeout, a harness) had set, to give it back.
            self._outer = signal.setitimer(signal.ITIMER_REAL, left)
            self._armed_at = time.monotonic()
            self.armed = True
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.armed:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, self._old)
            delay, interval = self._outer
            if delay > 0:
                left = delay - (time.monotonic() - self._armed_at)
                signal.setitimer(signal.ITIMER_REAL, max(left, 0.001), interval)
            self.armed = False

    def expired(self) -> bool:
        return self.seconds is not None and time.monotonic() - self.start > self.seconds


def _make_session_class() -> type:
    from ..session import Session

    class RunnerSession(Session):
        """A Session that arms fail-nth on its machine until an allocation has been asked."""

        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.fail_nth = 0
            self.force_kasan = False  # kmscript test --kasan
            self.armed: list[Any] = []
            self.injections: list[str] = []   # "attr: site at file:line" of each injected failure
            self.report_sites: dict[int, str] = {}

        def _on_log(self, rec: Any) -> None:
            n = len(self.reports)
            super()._on_log(rec)
            if len(self.reports) > n:  # a failure-class report: remember the script line
                self.report_sites[id(rec)] = _script_location()

        def boot(self, config: Any) -> Any:
            if self.force_kasan and not config.kasan:
                config = replace(config, kasan=True)
            m = super().boot(config)
            injections: list[str] = self.injections
            m.faults.on_inject = lambda attr, site: injections.append(
                f"{attr}: {site}" + (f" at {loc}" if (loc := _script_location()) else ""))
            if self.fail_nth and not any(fi.calls for fi in self.armed):
                fi = m.faults
                fi.failslab.ignore_gfp_wait = False
                fi.fail_page_alloc.ignore_gfp_wait = False
                fi.fail_page_alloc.ignore_gfp_highmem = False
                fi.fail_page_alloc.min_order = 0
                fi.failslab.verbose = fi.fail_page_alloc.verbose = 1
                fi.set_task_fail_nth(self.fail_nth)
                self.armed = [fi]
            return m

    return RunnerSession


@dataclass
class _Run:
    output: list[str]
    error: Any = None  # KmsError
    internal: str | None = None
    timed_out: bool = False
    injected: int = 0
    fault: str = ""
    duration: float = 0.0
    reports: list[Any] = field(default_factory=list)  # unexpected failure-class kernel reports
    fault_notes: list[str] = field(default_factory=list)  # armed faults that never fired
    report_sites: dict[int, str] = field(default_factory=dict)


def _run_session(make: Callable[[list[str]], Any], body: Callable[[Any], None], deadline: _Deadline,
                 setup_reports: bool = False) -> _Run:
    from ..errors import KmsError
    out: list[str] = []
    t0 = time.perf_counter()
    session = make(out)
    run = _Run(out)
    try:
        with deadline:
            body(session)
    except _Timeout:
        run.timed_out = True
    except KmsError as e:
        run.error = e
    except RecursionError:
        run.internal = "internal error: RecursionError (maximum recursion depth exceeded)"
    except Exception as e:  # a bug in kmscript: report it as this case's failure, keep going
        tb = traceback.format_exception(type(e), e, e.__traceback__)
        run.internal = f"internal error: {type(e).__name__}: {e}\n" + "".join(tb[-6:]).rstrip()
    run.duration = time.perf_counter() - t0
    run.reports = session.unexpected_reports(0 if setup_reports else session.block_reports_start)
    run.report_sites = dict(session.report_sites)
    if session.has_machine:
        fi = session.machine.faults
        run.fault_notes = list(fi.unfired_notes())
        run.injected = fi.injected
        injections = session.injections or fi.sites
        if injections:
            run.fault = injections[0]
    return run


def _script_location() -> str:
    """The script line of the built-in call being executed ("file.kms:12"), if any.

    Every built-in implementation receives the registry's ``Call`` as its ``call``
    argument; the innermost such frame is the script's call site.  Used only when a fault
    is injected, to say which allocation of the script failed.
    """
    from ..lang.builtins.registry import Call
    f = sys._getframe(1)
    while f is not None:
        c = f.f_locals.get("call")
        if isinstance(c, Call):
            return str(c.caller)
        f = f.f_back  # type: ignore[assignment]
    return ""


def _error_text(run: _Run, timeout: float | None) -> str | None:
    if run.timed_out:
        return f"error: timed out after {timeout:g}s (the file's # TIMEOUT:, or --timeout)"
    if run.internal is not None:
        return run.internal
    if run.error is not None:
        return str(run.error.render())
    return None


def _report_messages(run: _Run, allow: set[str], path: str, limit: int = 20) -> list[str]:
    """One message per unexpected kernel report of a run (not those of ``# ALLOW:``).

    A run that ended in an Oops or a panic is reported by that error alone.
    """
    from ..errors import KmsOops, KmsPanic
    from ..runtime.reports import classify
    if isinstance(run.error, (KmsOops, KmsPanic)):
        return []
    out = []
    for rec in run.reports:
        r = classify(rec)
        if r.cls in allow:
            continue
        site = run.report_sites.get(id(rec), "")
        # the call site is "base.kms:LINE"; in the file itself it is shown under its path
        name, _sep, line = site.rpartition(":")
        where = (f"{path}:{line}" if name == Path(path).name else site) if site else path
        kind = "panic" if r.cls == "panic" else "warn" if r.cls == "warn" else "kasan" if r.cls == "kasan" else "bug"
        lines = rec.lines()
        shown = lines[:limit] + ([f"... {len(lines) - limit} more lines"] if len(lines) > limit else [])
        out.append(f"{where}: error: unexpected kernel report ({r.what}): {r.title}\n"
                   + "\n".join("    " + ln for ln in shown)
                   + f"\n  note: expected ones go inside `expect {kind} {{ ... }}`; "
                     f"`# ALLOW: {r.cls}` accepts them in the whole file")
    return out


def _fault_note_lines(run: _Run) -> list[str]:
    """For a failing case: the armed faults that never fired (often why it failed)."""
    return [f"note: fault injection: {n}" for n in run.fault_notes]


def _crashed(run: _Run) -> bool:
    from ..errors import KmsAssertionError, KmsExpectationError
    if run.internal is not None:
        return True
    return run.error is not None and not isinstance(run.error, (KmsAssertionError, KmsExpectationError))


