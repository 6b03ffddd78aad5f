"""The scenario runner: ``kmscript test [PATH...]``.

A *case* is one isolated run: the file's top level (case id ``path``) and each
``test "name" { ... }`` block (case id ``path::name``), each block on a fresh machine
after re-running the file's top-level set-up.  A file with test blocks is a case of its
own only when something is checked at the file level (a golden ``NAME.out`` or
``NAME.err``, ``# CHECK`` lines outside the blocks, ``# GOLDEN:``, ``# EXIT:`` or
``# XFAIL:``);
otherwise its top level is the blocks' shared set-up, as a module fixture is in pytest:
when it fails, each block is an ERROR (not run) showing the set-up's error, and a kernel
report it prints counts against every block.  ``list_cases`` and the runner agree on the
cases, so ``kmscript test`` and the pytest plugin count the same things.  A file runs in
one process; ``-j N`` spreads files over N worker processes (see ``iter_results``) and
prints results in discovery order, so the output never depends on scheduling.

What a case must satisfy
------------------------
- no error (assertion, expectation, runtime error, panic, internal error);
- for the file case: the golden ``NAME.out`` beside ``NAME.kms``, if present, equals the
  file's standard output exactly as ``kmscript [ARGS] NAME.kms`` prints it (top-level
  output, then for each block its output and a ``PASS name``/``FAIL name`` line); the
  ``# CHECK`` lines outside test blocks match the top-level output (see ``filecheck``);
- for the file case, when ``NAME.err`` exists beside it: the file is expected to stop with
  an error, and ``NAME.err`` holds the error as the CLI prints it on stderr (rendered under
  the file's base name) followed by ``exit status N`` (the format of tests/golden_errors);
- for a test block: the ``# CHECK`` lines inside the block match that block's own output
  (what it printed after the re-run top level);
- no unexpected kernel report: a BUG, Oops, panic, WARNING, SLUB error, bad page state,
  sleeping-in-atomic or KASAN report (runtime/reports.py) that no ``expect`` block matched
  fails the case that printed it, showing the report -- the rule syzkaller and KUnit live
  by.  ``# ALLOW: warn, might_sleep`` (report classes, or ``all``) relaxes it for a file.

Directives (comment lines in the leading comment block of a file; ``XFAIL``/``SKIP`` also
as a comment inside a test block, for that block only):

- ``# XFAIL: reason``  expected to fail: a failing case is XFAIL; if no case of the
  file fails, the file case is XPASS (a failure, as in LLVM lit)
- ``# SKIP: reason``   not run
- ``# ARGS: --seed 3 --max-steps 1000 --trace``  run options
- ``# TIMEOUT: 5s``    wall-clock limit for the whole file (``ms``, ``s`` or ``m``);
  exceeding it is a FAIL.  Enforced with a real-time interval timer (signal.setitimer)
  where available, always backed by the step budget.
- ``# ALLOW: CLASS, ...`` kernel report classes that do not fail the file's cases
  (``oops``, ``bug``, ``slub``, ``bad_page``, ``might_sleep``, ``atomic_sleep``, ``kasan``,
  ``warn``, ``panic``, or ``all``)
- ``# GOLDEN: what``   the file's output is checked by its golden ``NAME.out``, reviewed by
  hand for *what* (a scenario must state an expectation; this is one); a missing golden
  fails the file case, and ``--update`` writes it
- ``# EXIT: N``        the file case expects exit status N (as the CLI would return) instead
  of success, e.g. a scenario that demonstrates an error

Exit status: 0 when nothing failed (FAIL, ERROR or XPASS), 1 otherwise, 2 for usage errors.

``--update`` repairs expectations of output, and only those of the selected cases (``-k``)
that ran to their end (no error, no unexpected kernel report) and failed: a golden that
differs is rewritten (a ``# GOLDEN:`` one that is missing is written), and of the CHECK
lines only those that fail are rewritten (``filecheck.repair``).  On a passing suite it
changes nothing.

``--fail-nth FILE`` (syzkaller's fail-nth loop): run FILE with fault injection failing
the 1st, 2nd, ... eligible allocation (slab and page allocator, with the fault attributes
set as syzkaller sets them: ignore-gfp-wait=N, ignore-gfp-highmem=N, min-order=0) until a
run injects no failure; for each N report which cases break and whether any crashed (a
runtime error or internal error, as opposed to a failed assertion or expectation).
"""

from __future__ import annotations

import argparse
import difflib
import fnmatch
import os
import re
import sys
import time
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Generator, Iterable, Sequence

from ..progress import ProgressLine
from .filecheck import Check, CheckSyntaxError, match_checks, parse_checks, repair
from .harness import (_crashed, _Deadline, _error_text, _fault_note_lines, _make_session_class,
                      _report_messages, _Run, _run_session)
from .results import (ERROR, FAIL, FAILING, PASS, SKIP, XFAIL, XPASS, CaseResult, FileResult,
                      format_case, junit_xml, summary_line, tap_lines)

DEFAULT_TIMEOUT = 60.0  # seconds per file when neither --timeout nor # TIMEOUT: is given
DIRECTIVE_RE = re.compile(r"^\s*#\s*(XFAIL|SKIP|ARGS|TIMEOUT|EXIT|ALLOW|GOLDEN)\s*:\s*(.*?)\s*$")


# ---------------------------------------------------------------------------- data
@dataclass
class RunOptions:
    seed: int | None = None  # --seed passthrough (ARGS in the file win)
    max_steps: int | None = None
    timeout: float | None = DEFAULT_TIMEOUT  # None or 0: no wall-clock limit
    # The limit that replaces "no limit" (None, 0, or a file's ``# TIMEOUT: 0``): the pytest
    # plugin sets it, so no collected scenario can hang a test run.
    finite_timeout: float | None = None
    update: bool = False
    pattern: str | None = None  # -k: with update, only the selected cases are repaired
    fail_nth: int = 0  # arm /proc/self/fail-nth = N on each case's machine (0: off)
    kasan: bool = False  # --kasan: every machine of every case boots with kasan=true


@dataclass
class Directives:
    xfail: str | None = None
    skip: str | None = None
    args: list[str] = field(default_factory=list)
    timeout: float | None = None
    exit: int | None = None
    allow: set[str] = field(default_factory=set)  # kernel report classes that do not fail
    golden: str | None = None  # the file's output golden NAME.out was reviewed: what to look for
    errors: list[str] = field(default_factory=list)


def _parse_duration(text: str) -> float:
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*(ms|s|m|min)?", text.strip())
    if m is None:
        raise ValueError(f"bad duration {text!r} (like 5s, 500ms, 2m)")
    n = float(m.group(1))
    unit = m.group(2) or "s"
    return n / 1000 if unit == "ms" else n * 60 if unit in ("m", "min") else n


def parse_directives(lines: Iterable[str]) -> Directives:
    """Directives from comment lines (stops at the first line that is not a comment or blank)."""
    d = Directives()
    for raw in lines:
        s = raw.strip()
        if s and not s.startswith("#"):
            break
        m = DIRECTIVE_RE.match(raw)
        if m is None:
            continue
        key, val = m.group(1), m.group(2)
        if key == "XFAIL":
            d.xfail = val or "expected to fail"
        elif key == "SKIP":
            d.skip = val or "skipped"
        elif key == "ARGS":
            d.args += val.split()
        elif key == "TIMEOUT":
            try:
                d.timeout = _parse_duration(val)
            except ValueError as e:
                d.errors.append(f"# TIMEOUT: {e}")
        elif key == "GOLDEN":
            if not val:
                d.errors.append("# GOLDEN: say what a reader checked in NAME.out (e.g. # GOLDEN: the "
                                "order-3 split in buddyinfo)")
            d.golden = val
        elif key == "ALLOW":
            from ..errors import did_you_mean
            from ..runtime.reports import FAILURE_CLASSES
            for word in filter(None, re.split(r"[\s,]+", val)):
                if word == "all":
                    d.allow.update(FAILURE_CLASSES)
                elif word in FAILURE_CLASSES:
                    d.allow.add(word)
                else:
                    d.errors.append(f"# ALLOW: unknown kernel report class '{word}'"
                                    f"{did_you_mean(word, FAILURE_CLASSES + ('all',))} "
                                    f"(classes: {', '.join(FAILURE_CLASSES)}, all)")
        elif key == "EXIT":
            try:
                d.exit = int(val)
            except ValueError:
                d.errors.append(f"# EXIT: expected an integer exit status, got {val!r}")
    return d


def _block_directives(text_lines: list[str], first: int, last: int) -> Directives:
    """XFAIL/SKIP comment lines inside a test block (1-based inclusive line range)."""
    d = Directives()
    for raw in text_lines[first - 1:last]:
        m = DIRECTIVE_RE.match(raw)
        if m and m.group(1) == "XFAIL":
            d.xfail = m.group(2) or "expected to fail"
        elif m and m.group(1) == "SKIP":
            d.skip = m.group(2) or "skipped"
    return d


def _args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="# ARGS:", add_help=False, exit_on_error=False)
    p.add_argument("--seed", type=int)
    p.add_argument("--max-steps", type=int)
    p.add_argument("--trace", action="store_true")
    p.add_argument("-q", "--quiet", action="store_true")
    p.add_argument("--leak-check", action="store_true")
    return p


# ---------------------------------------------------------------------------- discovery
def discover(paths: Sequence[str]) -> list[str]:
    """*.kms files under *paths* (files are taken as given), sorted, without duplicates."""
    found: list[str] = []
    for p in paths:
        path = Path(p)
        if path.is_dir():
            for kms in sorted(path.rglob("*.kms")):
                rel = kms.relative_to(path)
                if any(part.startswith(".") or part == "__pycache__" for part in rel.parts[:-1]):
                    continue
                found.append(str(kms))
        elif path.exists():
            found.append(str(path))
        else:
            raise FileNotFoundError(p)
    seen: set[str] = set()
    out: list[str] = []
    for f in found:
        key = os.path.normpath(f)
        if key not in seen:
            seen.add(key)
            out.append(f)
    return out


def list_cases(path: str) -> list[tuple[str | None, int]]:
    """The cases of a file without running it: the file case (None, 1), if the file is one,
    then (block name, line) per block.

    A file that cannot be read or parsed has just its file case (running it reports the
    error).
    """
    from ..errors import KmsUsageError
    from ..lang.include import read_script
    try:
        text = read_script(path)
    except KmsUsageError:
        return [(None, 1)]
    file_case, blocks = _case_layout(Path(path), text)
    return ([(None, 1)] if file_case else []) + [(name, first) for name, first, _last in blocks]


def _static_blocks(text: str, name: str) -> list[tuple[str, int, int]] | None:
    """The file's own test blocks (name, first line, last line), or None if it does not parse."""
    from ..errors import KmsError
    from ..lang import ast
    from ..lang.parser import parse_source
    from ..source import Source
    try:
        program = parse_source(Source(text, name))
    except KmsError:
        return None
    return [(s.name, s.span.line, _block_end_line(text, s.span.start))
            for s in program.body if isinstance(s, ast.TestBlock)]


def _case_layout(file: Path, text: str) -> tuple[bool, list[tuple[str, int, int]]]:
    """Whether the file is a case of its own, and its test blocks (see the module docstring)."""
    blocks = _static_blocks(text, str(file))
    if not blocks:
        return True, []
    d = parse_directives(text.split("\n"))
    if (d.exit is not None or d.xfail is not None or d.errors or d.golden is not None
            or file.with_suffix(".out").exists()
            or file.with_suffix(".err").exists()):
        return True, blocks
    try:
        checks = parse_checks(text)
    except CheckSyntaxError:
        return True, blocks
    outside = any(not any(first <= c.line <= last for _n, first, last in blocks) for c in checks)
    return outside, blocks


def select(case_id: str, pattern: str | None) -> bool:
    """-k: a glob when the pattern has * ? or [, otherwise a substring of the case id."""
    if not pattern:
        return True
    if any(ch in pattern for ch in "*?["):
        return fnmatch.fnmatchcase(case_id, pattern) or fnmatch.fnmatchcase(case_id, f"*{pattern}*")
    return pattern in case_id


# ---------------------------------------------------------------------------- running
def run_file(path: str, opts: RunOptions | None = None, *, display: str | None = None) -> FileResult:
    """Run one scenario file: its top level and every test block, each in isolation.

    *display* is the name the file is reported under (default: *path* as given).
    """
    opts = opts or RunOptions()
    file = Path(path)
    path = display if display is not None else str(path)
    from ..errors import KmsUsageError
    from ..lang.include import read_script
    try:
        text = read_script(file)
    except KmsUsageError as e:
        # the same message and exit status as `kmscript FILE` (a usage error, 2)
        return FileResult(path, [CaseResult(path, None, FAIL, f"kmscript: error: {e.message}")], exit_status=2,
                          unreadable=True)
    text_lines = text.split("\n")
    d = parse_directives(text_lines)
    file_case, sblocks = _case_layout(file, text)

    def whole_file(status: str, message: str, exit_status: int = 0) -> FileResult:
        """Every case of the file with one outcome: skipped, or a problem found before running."""
        out = [CaseResult(path, None, status, message)] if file_case else []
        for name, first, _last in sblocks:
            if status == SKIP:
                out.append(CaseResult(path, name, SKIP, message, line=first))
            else:
                out.append(CaseResult(path, name, ERROR, f"not run: {message}", line=first))
        return FileResult(path, out, exit_status=exit_status)

    if d.skip is not None:
        return whole_file(SKIP, d.skip)
    if d.errors:
        return whole_file(FAIL, "\n".join(f"{path}: error: {e}" for e in d.errors), 2)
    try:
        a = _args_parser().parse_args(d.args)
    except (argparse.ArgumentError, SystemExit) as e:
        return whole_file(FAIL, f"{path}: error: bad # ARGS: {e}", 2)
    try:
        checks = parse_checks(text)
    except CheckSyntaxError as e:
        return whole_file(FAIL, f"{path}:{e.line}:1: error: {e.message}", 2)

    from ..errors import EXIT_ASSERT, EXIT_OK
    from ..session import DEFAULT_MAX_STEPS
    seed = a.seed if a.seed is not None else (opts.seed if opts.seed is not None else 0)
    max_steps = a.max_steps if a.max_steps is not None else (opts.max_steps or DEFAULT_MAX_STEPS)
    timeout = d.timeout if d.timeout is not None else opts.timeout
    if not timeout and opts.finite_timeout:
        timeout = opts.finite_timeout
    session_cls = _make_session_class()

    def make(out: list[str]) -> Any:
        s = session_cls(out=out.append, quiet=a.quiet, trace=a.trace, seed=seed, max_steps=max_steps)
        s.fail_nth = opts.fail_nth
        s.force_kasan = opts.kasan
        s.armed = []
        s.injections = []
        return s

    deadline = _Deadline(timeout)
    resolved = str(file.resolve())
    blocks: list[tuple[str, int, int]] = []  # name, first line, last line
    state: dict[str, Any] = {}

    def top(session: Any) -> None:
        state["session"] = session
        session.interp.include_stack = [resolved]
        session.run_text(text, path)

    top_run = _run_session(make, top, deadline)
    session = state.get("session")
    top_out = list(top_run.output)
    stdout = list(top_out)
    cases: list[CaseResult] = []
    block_runs: list[tuple[str, int, int, _Run]] = []
    exit_status = EXIT_OK
    top_err = _error_text(top_run, timeout)
    if top_err is not None:
        exit_status = top_run.error.exit_status if top_run.error is not None else 3
        # The blocks' shared set-up failed: none of them can run (pytest: a fixture error).
        for name, first, last in sblocks:
            bd = _block_directives(text_lines, first, last)
            if bd.skip is not None:
                cases.append(CaseResult(path, name, SKIP, bd.skip, 0.0, first))
            elif file_case:
                cases.append(CaseResult(path, name, ERROR, f"not run: the file's top level failed (see {path})",
                                        0.0, first))
            else:
                cases.append(CaseResult(path, name, ERROR, f"not run: the file's top level failed:\n{top_err}",
                                        0.0, first, list(top_run.output), crashed=_crashed(top_run)))
    elif session is not None and session.tests:
        from ..lang.parser import parse_source
        src = session.tests[0][3]
        program = parse_source(src)
        for i, (tname, _body, node, _src) in enumerate(list(session.tests)):
            span = node.span
            end_line = _block_end_line(text, span.start) if _src is src else span.end_line
            blocks.append((tname, span.line, end_line))
            bd = _block_directives(text_lines, span.line, end_line)
            if bd.skip is not None:
                block_runs.append((tname, span.line, i, _Run([], None)))
                continue

            def body(s: Any, i: int = i) -> None:
                s.interp.include_stack = [resolved]
                s.run_test(program, src, i)

            if deadline.expired():  # the file's time is up: the remaining blocks cannot run
                r = _Run([], timed_out=True)
            else:
                # Without a file case, a report from the set-up counts against each block.
                r = _run_session(make, body, deadline, setup_reports=not file_case)
            block_runs.append((tname, span.line, i, r))
            # The CLI prints the block's output (the re-run top level included), then PASS/FAIL.
            stdout += r.output
            failed = r.error is not None or r.internal is not None or r.timed_out
            stdout.append(f"{'FAIL' if failed else 'PASS'} {tname}")
            if failed:
                st = r.error.exit_status if r.error is not None else 3
                exit_status = max(exit_status, st if st != EXIT_OK else EXIT_ASSERT)
    if session is not None and a.leak_check and top_err is None and session.has_machine:
        leaks = session.machine.views.leak_report()
        if leaks:
            stdout += leaks.rstrip("\n").split("\n")

    # -- the file case ---------------------------------------------------------------------
    ranges = blocks if blocks else sblocks

    def in_block(c: Check) -> int | None:
        for k, (_n, first, last) in enumerate(ranges):
            if first <= c.line <= last:
                return k
        return None

    file_checks = [c for c in checks if in_block(c) is None]
    updated: list[str] = []
    line_changes: dict[int, str | None] = {}  # CHECK lines repaired by --update
    messages: list[str] = []

    def may_update(case_id: str, run: _Run, expected_error: bool = False) -> bool:
        """--update touches a case only if it is selected and its run ended as it should:
        expectations of output are repaired, never errors or kernel reports."""
        return (opts.update and select(case_id, opts.pattern) and not run.reports
                and run.internal is None and not run.timed_out and (run.error is None or expected_error))

    def check_scope(scope: list[Check], output: list[str], case_id: str, run: _Run, label: str,
                    expected_error: bool = False) -> str | None:
        fail = match_checks(scope, output)
        if fail is not None and may_update(case_id, run, expected_error):
            changed, fail = repair(scope, output)
            line_changes.update(changed)
        return None if fail is None else fail.render(path, output, label)

    err_golden = file.with_suffix(".err")
    expects_error = err_golden.exists() or (d.exit is not None and top_run.error is not None
                                            and exit_status == d.exit)
    if top_err is not None and not expects_error:
        messages.append(top_err)
    messages += _report_messages(top_run, d.allow, path)
    file_update = file_case and may_update(path, top_run, expects_error)
    if err_golden.exists():
        # NAME.err: what `kmscript NAME.kms` prints on stderr (the error rendered under the
        # file's base name) and its exit status, as tests/golden_errors holds them.
        actual_err = f"{_render_as(top_run.error, file.name)}\nexit status {exit_status}\n" \
            if top_run.error is not None else f"exit status {exit_status}\n"
        expected_err = err_golden.read_text(encoding="utf-8")
        if top_run.internal is not None or top_run.timed_out:
            messages.append(top_err or "")
        elif actual_err != expected_err:
            if file_update and top_run.error is not None:
                err_golden.write_text(actual_err, encoding="utf-8")
                updated.append(str(err_golden))
            else:
                diff = difflib.unified_diff(expected_err.splitlines(), actual_err.splitlines(),
                                            fromfile=str(err_golden), tofile="actual error", lineterm="")
                messages.append(f"{path}: error: the error differs from {err_golden} (--update rewrites it)\n"
                                + "\n".join(diff))
    if d.exit is not None and exit_status != d.exit:
        messages.append(f"{path}: error: expected exit status {d.exit} (# EXIT:), got {exit_status}")
    golden = file.with_suffix(".out")
    actual_text = "".join(line + "\n" for line in stdout)
    if golden.exists():
        expected_text = golden.read_text(encoding="utf-8")
        if expected_text != actual_text:
            if file_update:
                golden.write_text(actual_text, encoding="utf-8")
                updated.append(str(golden))
            else:
                diff = difflib.unified_diff(expected_text.splitlines(), actual_text.splitlines(),
                                            fromfile=str(golden), tofile="actual output", lineterm="")
                messages.append(f"{path}: error: output differs from {golden} (--update rewrites it)\n"
                                + "\n".join(diff))
    elif d.golden is not None:
        if file_update:
            golden.write_text(actual_text, encoding="utf-8")
            updated.append(str(golden))
        else:
            messages.append(f"{path}: error: {golden} is missing (# GOLDEN: {d.golden}); "
                            f"`kmscript test --update {path}` writes it: review it before committing")
    if file_checks:
        msg = check_scope(file_checks, top_out, path, top_run, "<top-level output>", expects_error)
        if msg is not None:
            messages.append(msg)
    status = FAIL if messages else PASS
    if messages:
        messages += _fault_note_lines(top_run)
    fcase = CaseResult(path, None, status, "\n\n".join(messages), top_run.duration, 1, top_out,
                       crashed=_crashed(top_run), fault=top_run.fault)
    if file_case:
        cases.insert(0, fcase)

    # -- block cases -----------------------------------------------------------------------
    nblock_top = len(top_out)
    for k, (tname, line, i, r) in enumerate(block_runs):
        first, last = blocks[k][1], blocks[k][2]
        bd = _block_directives(text_lines, first, last)
        if bd.skip is not None:
            cases.append(CaseResult(path, tname, SKIP, bd.skip, 0.0, line))
            continue
        own = r.output[nblock_top:] if r.output[:nblock_top] == top_out else r.output
        msgs = []
        err = _error_text(r, timeout)
        if err is not None:
            msgs.append(err)
        msgs += _report_messages(r, d.allow, path)
        bchecks = [c for c in checks if in_block(c) == k]
        if bchecks:
            msg = check_scope(bchecks, own, f"{path}::{tname}", r, f"<output of test \"{tname}\">")
            if msg is not None:
                msgs.append(msg)
        st = FAIL if msgs else PASS
        if msgs:
            msgs += _fault_note_lines(r)
        if bd.xfail is not None:
            st = XFAIL if st == FAIL else XPASS
            if st == XPASS:
                msgs = [f"unexpectedly passed (XFAIL: {bd.xfail})"]
            else:
                msgs = [bd.xfail] + msgs
        cases.append(CaseResult(path, tname, st, "\n\n".join(msgs), r.duration, line, own,
                                crashed=_crashed(r), fault=r.fault))

    if line_changes:
        new_lines = [line_changes.get(n, line) for n, line in enumerate(text_lines, start=1)]
        new_text = "\n".join(line for line in new_lines if line is not None)
        if new_text != text:
            file.write_text(new_text, encoding="utf-8")
            updated.append(path)

    # -- file-level XFAIL ---------------------------------------------------------------------
    if d.xfail is not None:
        if any(c.status in (FAIL, ERROR) for c in cases):
            for c in cases:
                if c.status in (FAIL, ERROR):
                    c.status = XFAIL
                    c.message = f"{d.xfail}\n{c.message}"
        else:
            fcase.status = XPASS
            fcase.message = f"unexpectedly passed (XFAIL: {d.xfail})"
    injected = top_run.injected + sum(r.injected for *_x, r in block_runs)
    return FileResult(path, cases, stdout, exit_status, injected, updated)


def _block_end_line(text: str, start: int) -> int:
    """The line of the ``}`` that closes the block whose ``{`` is the first one after *start*.

    Comments (``# CHECK:`` lines among them) and strings are skipped, so a block's range
    includes its trailing comment lines, which the AST spans do not.
    """
    depth = 0
    i = start
    n = len(text)
    while i < n:
        ch = text[i]
        if ch == "#":
            j = text.find("\n", i)
            i = n if j < 0 else j
            continue
        if ch == '"':
            i += 1
            while i < n and text[i] != '"' and text[i] != "\n":
                i += 2 if text[i] == "\\" else 1
        elif ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return text.count("\n", 0, i) + 1
        i += 1
    return text.count("\n") + 1


def _render_as(error: Any, name: str) -> str:
    """An error rendered as if its script had been run under *name*."""
    import copy
    from ..source import Source
    e = copy.copy(error)
    src = getattr(e, "source", None)
    if src is not None and src.name != name:
        e.source = Source(src.text, name)
    return str(e.render())


def run_fail_nth(path: str, opts: RunOptions, out: Callable[[str], None], limit: int,
                 progress: ProgressLine | None = None) -> int:
    """syzkaller's fail-nth loop over one file; returns the exit status.  *progress*
    shows the run under way on a terminal."""
    if progress is not None:
        progress.update(f"fail-nth {path}: baseline run", force=True)
    base = run_file(path, RunOptions(seed=opts.seed, max_steps=opts.max_steps, timeout=opts.timeout))
    bad = [c for c in base.cases if c.status in FAILING]
    baseline_bad = {c.id for c in bad}
    out(f"fail-nth {path}: baseline {summary_line(base.cases)}")
    for c in bad:
        out(f"  baseline {c.status} {c.id} (left out of the runs below)")
    runs_ok = runs_broken = crashed = 0
    n = 1
    while n <= limit:
        if progress is not None:
            progress.update(f"fail-nth {path}: nth={n} (of at most {limit}), {runs_ok} ok, {runs_broken} broken, "
                            f"{progress.elapsed():.0f} s")
        r = run_file(path, RunOptions(seed=opts.seed, max_steps=opts.max_steps, timeout=opts.timeout, fail_nth=n,
                                      kasan=opts.kasan))
        if r.injected == 0:
            out(f"nth={n}: no fault injected (the run reached fewer than {n} injection points); done")
            # Arming fail-nth can change a run even before it fires (it takes precedence
            # over the script's own `fail` settings, as /proc/self/fail-nth does).
            for c in r.cases:
                if c.status in FAILING and c.id not in baseline_bad:
                    out(f"  {'CRASH' if c.crashed else 'BREAKS'} {c.id}: "
                        f"{next((ln for ln in c.message.split(chr(10)) if ln.strip()), c.status)}")
            break
        # Only what the injected failure changed: cases that already fail are left out.
        broken = [c for c in r.cases if c.status in FAILING and c.id not in baseline_bad]
        where = "; ".join(sorted({c.fault for c in r.cases if c.fault})) or "fault injected"
        if not broken:
            runs_ok += 1
            out(f"nth={n}: ok ({where})")
        else:
            runs_broken += 1
            kinds = []
            for c in broken:
                first = next((ln for ln in c.message.split("\n") if ln.strip()), c.status)
                what = "CRASH" if c.crashed else "BREAKS"
                kinds.append(f"  {what} {c.id}: {first}")
                crashed += c.crashed
            out(f"nth={n}: {len(broken)} case{'s' if len(broken) != 1 else ''} broken ({where})")
            for k in kinds:
                out(k)
        n += 1
    else:
        out(f"stopped after --fail-nth-limit={limit} runs")
    out(f"{runs_ok} passed, {runs_broken} failed")
    return 1 if crashed else 0


# ---------------------------------------------------------------------------- main
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="kmscript test",
        description="Run kmscript regression scenarios: every *.kms file and test block in\n"
                    "isolation, checked against its golden NAME.out (stdout), NAME.err (an\n"
                    "expected error) and # CHECK: lines.",
        epilog="directives: # XFAIL: reason, # SKIP: reason, # ARGS: --seed 3, # TIMEOUT: 5s, # EXIT: N\n"
               "exit status: 0 nothing failed, 1 a case failed (or ERROR, XPASS), 2 usage error",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("paths", nargs="*", metavar="PATH", help="files or directories (default: tests/)")
    p.add_argument("-k", dest="pattern", metavar="PATTERN", help="run only cases whose id (path::name) "
                   "contains PATTERN (or matches it as a glob)")
    p.add_argument("-j", dest="jobs", type=int, default=1, metavar="N", help="run files in N processes")
    p.add_argument("-x", "--exitfirst", action="store_true", help="stop at the first failure")
    p.add_argument("--junit-xml", metavar="FILE", help="also write a JUnit XML report")
    p.add_argument("--tap", action="store_true", help="print TAP version 13 instead of PASS/FAIL lines")
    p.add_argument("--update", action="store_true", help="repair the expectations of the selected failing "
                   "cases from their output: golden .out/.err files, and only the CHECK lines that fail")
    p.add_argument("--seed", type=int, default=None, metavar="N", help="seed for every file (# ARGS: wins)")
    p.add_argument("--max-steps", type=int, default=None, metavar="N", help="step budget per run")
    p.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, metavar="SECONDS",
                   help=f"wall-clock limit per file (default {DEFAULT_TIMEOUT:g}; 0 = none; # TIMEOUT: wins)")
    p.add_argument("--fail-nth", action="store_true", help="fail the 1st, 2nd, ... allocation in turn "
                   "(syzkaller's fail-nth loop) and report what breaks")
    p.add_argument("--fail-nth-limit", type=int, default=1000, metavar="N", help="at most N fail-nth runs")
    p.add_argument("--kasan", action="store_true", help="boot every machine with kasan=true (generic KASAN): "
                   "an unexpected KASAN report fails the case")
    p.add_argument("-v", "--verbose", action="store_true", help="print each case's output")
    return p


def _worker(path: str, opts: RunOptions) -> FileResult:
    t0 = time.perf_counter()
    result = run_file(path, opts)
    result.duration = time.perf_counter() - t0
    return result


# ---------------------------------------------------------------------------- parallel runs
def _times_file() -> Path:
    """Where each file's last run time is kept, for slowest-first scheduling with -j."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "kmscript" / "test-times.json"


def _load_times() -> dict[str, float]:
    import json
    try:
        data = json.loads(_times_file().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {k: float(v) for k, v in data.items() if isinstance(k, str) and isinstance(v, (int, float))}


def _save_times(results: Sequence[FileResult], paths: Sequence[str]) -> None:
    """Remember how long each file took (best effort: a read-only home is fine)."""
    import json
    times = _load_times()
    for p, r in zip(paths, results):
        if r.duration > 0:
            times[os.path.abspath(p)] = round(r.duration, 4)
    f = _times_file()
    try:
        f.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = f.with_name(f"{f.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(times, sort_keys=True, indent=0), encoding="utf-8")
        os.replace(tmp, f)
    except OSError:
        pass


_WARM_UP = """machine(cpus=2, mem=256M)
p = kmalloc(50, GFP_KERNEL)
kfree(p)
q = alloc_pages(GFP_KERNEL, 1)
__free_pages(q, 1)
v = vmalloc(8K)
vfree(v)
task t = spawn("warm")
t.fault(64K)
t.exit()
show buddyinfo
"""


def _warm_up() -> None:
    """Import and exercise the language and every allocator once in this process, so that
    forked workers start with them loaded (and the parser tables built) instead of paying
    the imports once each."""
    from ..errors import KmsError
    from ..session import Session
    s = Session(out=lambda line: None, quiet=True)
    try:
        s.run_text(_WARM_UP, "<warm-up>")
    except KmsError:  # only slower workers; the real runs report real problems
        pass


def _pool(jobs: int) -> ProcessPoolExecutor:
    import multiprocessing
    methods = multiprocessing.get_all_start_methods()
    ctx = multiprocessing.get_context("fork") if "fork" in methods else None
    return ProcessPoolExecutor(max_workers=jobs, mp_context=ctx)


def iter_results(paths: list[str], opts: RunOptions, jobs: int) -> Generator[FileResult, None, None]:
    """Results in the order of *paths*, whatever order the workers finish in.

    With ``jobs > 1`` the files run in a pool of worker processes forked after a warm-up
    (so each worker starts with kmscript imported), started slowest first by the times
    of the previous run (``~/.cache/kmscript/test-times.json``) so that one long file does
    not finish alone at the end.
    """
    done: list[FileResult] = []
    try:
        if jobs <= 1 or len(paths) <= 1:
            for p in paths:
                r = _worker(p, opts)
                done.append(r)
                yield r
            return
        _warm_up()
        times = _load_times()
        order = sorted(range(len(paths)), key=lambda i: (-times.get(os.path.abspath(paths[i]), float("inf")), i))
        ex = _pool(min(jobs, len(paths)))
        try:
            futures: dict[int, Future[FileResult]] = {i: ex.submit(_worker, paths[i], opts) for i in order}
            for i, p in enumerate(paths):
                try:
                    r = futures[i].result()
                except Exception as e:  # a worker died: report it against its file
                    r = FileResult(p, [CaseResult(p, None, FAIL, f"{p}: error: worker failed: {e!r}")], exit_status=3)
                done.append(r)
                yield r
        finally:
            ex.shutdown(wait=True, cancel_futures=True)
    finally:
        if done:
            _save_times(done, paths[:len(done)])


def main(argv: Sequence[str] | None = None, out: Callable[[str], None] | None = None) -> int:
    """``kmscript test``: returns the exit status (0 nothing failed, 1 failures, 2 usage)."""
    try:
        return _main(argv, out)
    except KeyboardInterrupt:
        print("kmscript test: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (kmscript test | head): stop quietly, as Unix tools do;
        # stdout goes to /dev/null so that flushing it at exit cannot fail again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0


def _main(argv: Sequence[str] | None, out: Callable[[str], None] | None) -> int:
    # the progress line: on stderr when it is a terminal, cleared around every result line
    progress = ProgressLine(enabled=None if out is None else False)
    try:
        return _run(argv, progress, progress.wrap(out if out is not None else (lambda s: print(s, flush=True))))
    finally:
        progress.close()


def _run(argv: Sequence[str] | None, progress: ProgressLine, emit: Callable[[str], None]) -> int:
    parser = build_parser()
    try:
        ns = parser.parse_args(list(argv) if argv is not None else None)
    except SystemExit as e:
        return 0 if e.code in (0, None) else 2
    if ns.jobs < 1:
        print("kmscript test: -j needs a positive number", file=sys.stderr)
        return 2
    paths = ns.paths or ["tests"]
    try:
        files = discover(paths)
    except FileNotFoundError as e:
        print(f"kmscript test: no such file or directory: {e.args[0]}", file=sys.stderr)
        return 2
    if ns.pattern and not ns.fail_nth:
        # Parse (do not run) each file to see whether any of its cases can be selected.
        files = [f for f in files
                 if any(select(f if name is None else f"{f}::{name}", ns.pattern) for name, _ in list_cases(f))]
    opts = RunOptions(seed=ns.seed, max_steps=ns.max_steps, timeout=ns.timeout or None, update=ns.update,
                      pattern=ns.pattern, kasan=ns.kasan)
    if ns.fail_nth:
        if len(files) != 1:
            print("kmscript test --fail-nth: give exactly one scenario file", file=sys.stderr)
            return 2
        return run_fail_nth(files[0], opts, emit, ns.fail_nth_limit, progress)
    if ns.tap:
        emit("TAP version 13")
    gen = iter_results(files, opts, ns.jobs)
    try:
        return _report(ns, gen, emit, progress, len(files))
    finally:
        gen.close()  # stops the workers and saves the run times, also after an error


def _report(ns: argparse.Namespace, gen: Generator[FileResult, None, None], emit: Callable[[str], None],
            progress: ProgressLine | None = None, total: int = 0) -> int:
    """Print each case as its file's result arrives, then the summary; the exit status."""
    shown: list[CaseResult] = []
    results: list[FileResult] = []
    stop = False
    failed = 0
    if progress is not None:
        progress.update(f"kmscript test: 0/{total} files", force=True)
    for fr in gen:
        results.append(fr)
        failed += sum(1 for c in fr.cases if c.status in FAILING)
        if progress is not None:
            progress.update(f"kmscript test: {len(results)}/{total} files, {failed} failed, "
                            f"{progress.elapsed():.1f} s  {fr.path}")
        for c in fr.cases:
            if not select(c.id, ns.pattern):
                continue
            shown.append(c)
            if ns.tap:
                for ln in tap_lines(c, len(shown)):
                    emit(ln)
            else:
                for ln in format_case(c):
                    emit(ln)
                if ns.verbose and c.output:
                    for ln in c.output:
                        emit("    | " + ln)
            if ns.exitfirst and c.status in FAILING:
                stop = True
                break
        for u in fr.updated:
            if not ns.tap:
                emit(f"updated {u}")
        if stop:
            break
    if ns.tap:
        emit(f"1..{len(shown)}")
    if ns.junit_xml:
        try:
            Path(ns.junit_xml).write_text(junit_xml(results, shown), encoding="utf-8")
        except OSError as e:
            print(f"kmscript test: cannot write {ns.junit_xml}: {e.strerror or e}", file=sys.stderr)
            return 2
    emit(summary_line(shown))
    if any(r.unreadable for r in results):
        return 2  # a file that cannot be read is a usage error, as for `kmscript FILE`
    return 1 if any(c.status in FAILING for c in shown) else 0
