"""Kernel reports in scenarios: an unexpected BUG/Oops/WARN fails the case; an Oops stops
the script; kernel.panic_on_oops / kernel.panic_on_warn; `expect` says what happened."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from kmscript.runtime.machine import Machine, MachineConfig
from kmscript.runtime.printk import LogRecord
from kmscript.runtime.reports import FAILURE_CLASSES, classify
from kmscript.testing import runner

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from conftest import run_script  # noqa: E402

DOUBLE_FREE = "x = kmalloc(32, GFP_KERNEL)\nkfree(x)\nkfree(x)\n"
WRONG_CACHE = 'cache c = create(size=700)\nw = kmalloc(700, GFP_KERNEL)\nkmem_cache_free(c, w)\n'
SLEEP_IN_ATOMIC = "spin_lock(l)\np = kmalloc(64, GFP_KERNEL)\nspin_unlock(l)\n"


def run(*argv: str) -> tuple[int, list[str]]:
    lines: list[str] = []
    rc = runner.main(list(argv), out=lines.append)
    return rc, lines


def write(tmp: Path, name: str, text: str) -> str:
    p = tmp / name
    p.write_text(text)
    return str(p)


# ---------------------------------------------------------------------------- classification
def _records(script: str) -> list[LogRecord]:
    out, err, s = run_script(script)
    return list(s.machine.log.records)


@pytest.mark.parametrize(("script", "cls", "title"), [
    (DOUBLE_FREE, "oops", "kernel BUG at mm/slub.c:634!"),
    ("kfree(12345)\n", "oops", "BUG: unable to handle page fault for address: "),
    (WRONG_CACHE, "warn", "WARNING: CPU: 0 PID: 1000 at mm/slub.c:6766 kmem_cache_free"),
    (SLEEP_IN_ATOMIC, "might_sleep", "BUG: sleeping function called from invalid context at"),
    ("machine(slub_debug=\"FZ\")\nx = kmalloc(32, GFP_KERNEL)\nkfree(x)\nkfree(x)\n", "slub",
     "BUG kmalloc-32 (Not tainted): Object already free"),
    ("machine(mem=256M, cpus=1)\np = alloc_pages(GFP_KERNEL | __GFP_NORETRY, 11)\nq = alloc_pages(GFP_ATOMIC, 10)\n"
     "repeat 200 { r = alloc_pages(GFP_ATOMIC, 10) }\n", "alloc_fail", "page allocation failure"),
])
def test_classify_the_runtimes_own_reports(script: str, cls: str, title: str) -> None:
    reports = [classify(r) for r in _records(script) if r.kind != "info"]
    assert any(r.cls == cls and title in r.title for r in reports), [(r.cls, r.title) for r in reports]


def test_classes_of_headlines() -> None:
    def rec(text: str, kind: str) -> LogRecord:
        return LogRecord(0, kind, text, "[    0.000000]")
    assert classify(rec("BUG: KASAN: slab-use-after-free in f+0x1/0x2", "bug")).cls == "kasan"
    assert classify(rec("BUG: Bad page state in process a  pfn:01000", "bug")).cls == "bad_page"
    assert classify(rec("BUG: scheduling while atomic: a/1/0x00000002", "bug")).cls == "atomic_sleep"
    assert classify(rec("Kernel panic - not syncing: Fatal exception", "panic")).cls == "panic"
    assert classify(rec("min_free_kbytes is not updated to 1 because ...", "warn")).cls == "notice"
    assert classify(rec("Out of memory: Killed process 1 (a)", "oom")).cls == "oom"
    assert not classify(rec("hello", "info")).is_failure
    assert classify(rec("------------[ cut here ]------------\nmsg\nWARNING: CPU: 0 PID: 1 at f g", "warn")).title \
        == "WARNING: CPU: 0 PID: 1 at f g"


# ---------------------------------------------------------------------------- kmscript test
def test_an_unexpected_report_fails_the_case_and_shows_it(tmp_path: Path) -> None:
    f = write(tmp_path, "w.kms", "machine(cpus=1)\n" + WRONG_CACHE + "print(\"done\")\n")
    rc, lines = run(f)
    text = "\n".join(lines)
    assert rc == 1 and lines[0] == f"FAIL {f}"
    assert f"{f}:4: error: unexpected kernel report (a WARNING): WARNING: CPU: 0 PID: 1000 at mm/slub.c:6766 " \
           "kmem_cache_free" in text
    assert "cache_from_obj: Wrong slab cache. c but object is from kmalloc-1k" in text  # the report itself
    assert "`expect warn { ... }`" in text and "`# ALLOW: warn`" in text


def test_expected_and_allowed_reports_pass(tmp_path: Path) -> None:
    expected = write(tmp_path, "e.kms", 'cache c = create(size=700)\nw = kmalloc(700, GFP_KERNEL)\n'
                     'expect warn "Wrong slab cache" { kmem_cache_free(c, w) }\n')
    allowed = write(tmp_path, "a.kms", "# ALLOW: warn, might_sleep\n" + WRONG_CACHE + SLEEP_IN_ATOMIC)
    partly = write(tmp_path, "p.kms", "# ALLOW: warn\n" + WRONG_CACHE + SLEEP_IN_ATOMIC)
    rc, lines = run(expected, allowed)
    assert rc == 0, lines
    rc, lines = run(partly)
    assert rc == 1 and "(a sleeping-in-atomic report)" in "\n".join(lines)


def test_expect_of_another_kind_does_not_cover_a_report(tmp_path: Path) -> None:
    # The WARN inside `expect bug` is not what the block expected.
    f = write(tmp_path, "k.kms", 'cache conn = create(size=200, flags=SLAB_NO_MERGE)\na = kmem_cache_alloc(conn)\n'
              'expect bug "Objects remaining" { kmem_cache_destroy(conn) }\n')
    rc, lines = run(f)
    assert rc == 1 and "unexpected kernel report (a WARNING)" in "\n".join(lines)


def test_allow_directive_names_are_checked(tmp_path: Path) -> None:
    f = write(tmp_path, "x.kms", "# ALLOW: warnings\nx = 1\n")
    rc, lines = run(f)
    assert rc == 1
    assert "# ALLOW: unknown kernel report class 'warnings' (did you mean 'warn'?)" in "\n".join(lines)
    assert set(runner.parse_directives(["# ALLOW: all"]).allow) == set(FAILURE_CLASSES)


def test_a_report_in_a_block_fails_that_block_only(tmp_path: Path) -> None:
    f = write(tmp_path, "b.kms", 'machine(cpus=1)\ntest "clean" { x = 1 }\ntest "sleeps" {\n'
              + SLEEP_IN_ATOMIC + "}\n")
    rc, lines = run(f)
    assert rc == 1
    assert f"FAIL {f}::sleeps" in lines and f"PASS {f}::clean" in lines
    assert lines[-1] == "1 passed, 1 failed"


def test_an_oops_stops_the_case(tmp_path: Path) -> None:
    f = write(tmp_path, "o.kms", DOUBLE_FREE + 'print("after")\n')
    rc, lines = run("-v", f)
    text = "\n".join(lines)
    assert rc == 1 and "o.kms:3:1: oops: kernel BUG at mm/slub.c:634!" in text
    assert "after" not in text


# ---------------------------------------------------------------------------- kmscript FILE
def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kmscript", *args], capture_output=True, text=True, timeout=60)


def test_cli_an_oops_stops_the_script_with_exit_3() -> None:
    r = _cli("-c", "kfree(12345)\nprint(\"after\")")
    assert r.returncode == 3 and "after" not in r.stdout
    assert "<string>:1:1: oops: BUG: unable to handle page fault for address" in r.stderr
    assert "Oops: Oops: 0000 [#1] SMP NOPTI" in r.stdout
    r = _cli("-c", DOUBLE_FREE + 'print("after")')
    assert r.returncode == 3 and "after" not in r.stdout and "kernel BUG at mm/slub.c" in r.stdout


def test_an_expected_oops_ends_the_block_and_the_script_goes_on() -> None:
    out, err, s = run_script(DOUBLE_FREE.replace("kfree(x)\nkfree(x)", 'kfree(x)\nexpect bug "mm/slub.c:634" '
                                                 '{ kfree(x)\nprint("not reached") }\nprint("after")'))
    assert err is None
    assert "after" in out and "not reached" not in out
    assert s.unexpected_reports() == []
    assert "D" in s.machine.ctx.taint  # oops_end(): TAINT_DIE


def test_expect_failure_says_what_happened() -> None:
    out, err, s = run_script(DOUBLE_FREE.replace("kfree(x)\nkfree(x)", 'kfree(x)\nexpect bug "double free" '
                                                 '{ kfree(x) }'))
    assert err is not None and err.exit_status == 1
    assert err.message == ('expected a BUG report mentioning "double free" in this block; it produced an Oops: '
                           "kernel BUG at mm/slub.c:634!")
    out, err, s = run_script('expect oom { x = kmalloc(32, GFP_KERNEL) }')
    assert err is not None and err.message.endswith("it produced no kernel report")


# ---------------------------------------------------------------------------- panic_on_*
def test_panic_on_oops_panics_with_fatal_exception() -> None:
    out, err, s = run_script("sysctl kernel.panic_on_oops = 1\nkfree(12345)\n")
    assert err is not None and err.kind == "panic" and err.message == "Fatal exception"
    assert any("Kernel panic - not syncing: Fatal exception" in line for line in out)


def test_an_oops_in_interrupt_context_panics_even_without_panic_on_oops() -> None:
    out, err, s = run_script("irq < kfree(12345) >\n")
    assert err is not None and err.kind == "panic" and err.message == "Fatal exception in interrupt"
    out, err, s = run_script('expect panic "Fatal exception in interrupt" { irq < kfree(12345) > }\nprint("rebooted")\n')
    assert err is None and out[-1] == "rebooted" and s.unexpected_reports() == []


def test_panic_on_warn() -> None:
    out, err, s = run_script("sysctl kernel.panic_on_warn = 1\n" + WRONG_CACHE)
    assert err is not None and err.kind == "panic" and err.message == "kernel: panic_on_warn set ..."
    text = "\n".join(out)
    assert text.index("WARNING: CPU: 0") < text.index("Kernel panic - not syncing: kernel: panic_on_warn set ...")
    # a BUG that is not a WARNING (sleeping in atomic) does not panic
    out, err, s = run_script("sysctl kernel.panic_on_warn = 1\n" + SLEEP_IN_ATOMIC)
    assert err is None


def test_panic_sysctls_take_0_or_1() -> None:
    m = Machine(MachineConfig(mem=64 << 20, cpus=1))
    assert m.sysctls.get("kernel.panic_on_oops") == 0 and m.sysctls.get("kernel.panic_on_warn") == 0
    m.sysctls.set("kernel.panic_on_warn", 1)
    assert m.sysctls.get("kernel.panic_on_warn") == 1
    out, err, s = run_script("sysctl kernel.panic_on_oops = 2\n")
    assert err is not None and "expected 0 or 1" in err.message
