"""Issue 14: bounded work and memory, kernel limits, no internal errors.

One regression test per reproduction of the issue.  Each run is bounded by a wall-clock
allowance far above what the fixed code needs (they take milliseconds), so a regression
shows up as a failure, not as a hung suite.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from kmscript.errors import KmsError, KmsLimitError, KmsSyntaxError
from kmscript.runtime.limits import FS_MAXBYTES, MAX_RW_COUNT, TASK_SIZE
from kmscript.runtime.machine import Machine
from kmscript.session import Session

ROOT = Path(__file__).resolve().parent.parent


def run(text: str, max_steps: int = 1000, **opts: Any) -> tuple[list[str], KmsError | None, Session]:
    out: list[str] = []
    s = Session(out=out.append, quiet=True, max_steps=max_steps, **opts)
    t0 = time.process_time()
    try:
        s.run_text(text, "t.kms")
        err = None
    except KmsError as e:
        err = e
    assert time.process_time() - t0 < 10, f"{text!r} took {time.process_time() - t0:.1f} s of CPU"
    return out, err, s


def check_machine(m: Machine) -> None:
    """The allocator and page-cache invariants after a call stopped or refused."""
    m.page_alloc.check_invariants()
    vm = m.vmstat
    files = list(m.pagecache.files.values())
    assert vm.nr_file_pages == sum(f.nr_cached for f in files) == sum(len(f.pages) for f in files)
    lru = m.reclaim.lru
    assert lru.nr == [vm.nr_inactive_anon, vm.nr_active_anon, vm.nr_inactive_file, vm.nr_active_file]
    tasks = [t for t in m.tasks if t.mm is not None and t.pid != 1]
    assert vm.nr_anon_pages == sum(t.mm.anon for t in tasks)
    assert vm.nr_mapped == sum(t.mm.file for t in tasks) == sum(sum(fm.present) for t in tasks
                                                                 for fm in t.mm.file_maps)


def kms(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kmscript", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=120)


# -- item 1: the kernel's own limits ------------------------------------------------------
def test_read_far_into_a_file_costs_one_page() -> None:
    out, err, s = run('machine(mem=64M); file f = open("a"); print(f.seek(1T)); print(f.read(4K)); '
                      'print(f.cached)')
    assert err is None and out == [str(1 << 40), "4096", "4096"]
    check_machine(s.machine)


def test_seek_beyond_the_filesystem_limit_is_einval() -> None:
    out, err, _ = run(f'file f = open("a"); print(f.seek({FS_MAXBYTES})); print(f.seek({FS_MAXBYTES + 1})); '
                      'print(f.read(4K)); print(f.write(1))')
    assert err is None and out == [str(FS_MAXBYTES), "-22", "0", "-27"]


def test_write_crossing_the_file_size_limit_is_shortened() -> None:
    out, err, _ = run(f'file f = open("a"); f.seek({FS_MAXBYTES - 100}); print(f.write(4K)); print(f.pos)')
    assert err is None and out == ["100", str(FS_MAXBYTES)]


def test_one_read_or_write_moves_at_most_max_rw_count(tmp_path: Path) -> None:
    # (2 GiB - 4 KiB of page cache costs 16 million steps: allowed here on a big machine)
    out, err, _ = run('machine(mem=16G); file f = open("a"); print(f.write(1 << 62))', max_steps=20_000_000)
    assert err is None and out == [str(MAX_RW_COUNT)]


@pytest.mark.parametrize("size", ["16T", str(1 << 44)])
def test_mmap_beyond_the_file_size_limit_is_eoverflow(size: str) -> None:
    out, err, s = run(f'machine(mem=64M); task t = spawn("a"); file x = open("x"); print(t.mmap(x, {size}))')
    assert err is None and out == ["-75"]
    check_machine(s.machine)


def test_mmap_and_fault_beyond_the_address_space_are_enomem() -> None:
    out, err, s = run(f'task t = spawn("a"); file x = open("x"); print(t.mmap(x, 1 << 60)); '
                      f'print(t.mmap(x, {TASK_SIZE + 4096})); print(t.fault(1 << 62)); print(t.fault(4K))')
    assert err is None and out == ["-12", "-12", "-12", "4096"]
    check_machine(s.machine)


@pytest.mark.parametrize("mem", ["1 << 52", "1 << 53", "1 << 60", "64T"])
def test_machine_beyond_the_physical_address_space_is_refused(mem: str) -> None:
    _, err, _ = run(f"machine(mem={mem})")
    assert err is not None and "64T of physical memory (MAX_PHYSMEM_BITS 46)" in err.message


def test_the_largest_machine_boots_cheaply() -> None:
    out, err, _ = run("machine(mem=63T); print(nr_free_pages() > 0)")
    assert err is None and out == ["true"]


# -- item 1: built-in work is charged to the step budget ----------------------------------
@pytest.mark.parametrize("script", [
    'machine(mem=64M); file f = open("a"); f.read(64G)',
    'machine(mem=64G); task t = spawn("a"); t.fault(64G)',
    'machine(mem=64G); x = vmalloc(32G)',
    'file f = open("a"); f.write(32G)',
    'machine(mem=64M); task t = spawn("a"); file x = open("x"); t.mmap(x, 8T)',
    'machine(mem=63T); compact_memory()',
])
def test_single_calls_are_bounded_by_the_step_budget(script: str) -> None:
    _, err, s = run(script, max_steps=100_000)
    assert isinstance(err, KmsLimitError) and "step budget exhausted" in err.message
    check_machine(s.machine)


def test_a_stopped_call_keeps_the_work_done_so_far() -> None:
    out, err, s = run('machine(mem=1G); file f = open("a"); f.write(64M)', max_steps=1000)
    assert isinstance(err, KmsLimitError)
    f = s.machine.pagecache.files["a"]
    assert 0 < f.nr_cached < 16384 and f.pos == f.nr_cached * 4096
    check_machine(s.machine)


def test_the_budget_allows_normal_work() -> None:
    out, err, _ = run('file f = open("a"); print(f.write(64M)); task t = spawn("b"); print(t.fault(64M))',
                      max_steps=2_000_000)
    assert err is None and out == [str(64 << 20), str(64 << 20)]


# -- item 1: values are capped ------------------------------------------------------------
@pytest.mark.parametrize("script, words", [
    ('s = "x"; repeat 31 { s = s + s }', "string too long"),
    ('a = [1]; repeat 31 { a = a + a }', "list too long"),
    ('a = range(4194304); append(a, 1)', "list too long"),
    ('x = 1 << 4096; repeat 18 { x = x * x }', "integer too large"),
    ('x = 1 << 4096; print(x*x*x*x)', "integer too large"),
    ('x = 1 << 8191; x += x', "integer too large"),
    ('x = 1 << 8191; y = x + x', "integer too large"),
    ('x = -(1 << 8191); y = ~(x + x + 1)', "integer too large"),
    ('s = "9999999999"; repeat 9 { s = s + s }; print(int(s))', "integer too large"),
    ('a = [[1, 2, 3, 4, 5, 6, 7, 8]]; repeat 30 { a = [a, a] }; print(a)', "longer than"),
])
def test_values_are_capped(script: str, words: str) -> None:
    _, err, _ = run(script, max_steps=100_000)
    assert isinstance(err, KmsLimitError) and words in err.message, err


def test_the_largest_values_still_work() -> None:
    out, err, _ = run('x = (1 << 8191) + ((1 << 8191) - 1); print(len(str(x)), x > 0, -x < 0)\n'
                      's = "x"; repeat 24 { s = s + s }; print(len(s))', max_steps=100_000)
    assert err is None and out == ["2467 true true", str(1 << 24)]


@pytest.mark.parametrize("text, words", [
    ('x = "' + "a" * 10_000_000 + '"', "script too long"),
    ("x = " + "9" * 4301, "this number is 4301 characters long"),
    ("print(" + "7" * 2500 + ")", "integer too large"),
    ("x" * 3000 + " = 1", "this name is 3000 characters long"),
])
def test_script_text_is_capped(text: str, words: str) -> None:
    _, err, _ = run(text)
    assert isinstance(err, (KmsSyntaxError, KmsLimitError)) and words in err.message, err


# -- item 1: the command line's host limits -----------------------------------------------
def test_max_memory_stops_a_script_cleanly() -> None:
    r = kms("--max-memory", "256M", "-c",
            'l = []; s = "x"; repeat 23 { s = s + s }; repeat 100 { append(l, s + "y") }')
    assert r.returncode == 3 and "out of host memory" in r.stderr and "Traceback" not in r.stderr


def test_max_time_stops_a_script() -> None:
    r = kms("--max-time", "0.5", "-c", "while true { }")
    assert r.returncode == 3 and "time limit exceeded" in r.stderr and "--max-time" in r.stderr


def test_limit_options_are_checked() -> None:
    r = kms("--max-memory", "12Q", "-c", "x = 1")
    assert r.returncode == 2 and "--max-memory 12Q" in r.stderr
    r = kms("--max-time", "-1", "-c", "x = 1")
    assert r.returncode == 2 and "--max-time" in r.stderr
    r = kms("--max-memory", "0", "--max-time", "0", "-c", "print(1)")
    assert r.returncode == 0 and r.stdout == "1\n"
