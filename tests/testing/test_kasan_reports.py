"""KASAN in scripts and suites: `expect kasan "TYPE" { ... }`, `kmscript test --kasan`, and an
unexpected KASAN report failing a case."""

from __future__ import annotations

import pytest

import sys
from pathlib import Path

from kmscript.testing import runner

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from conftest import run_script  # noqa: E402

UAF = "# a use after free\nx = kmalloc(64, GFP_KERNEL)\nkfree(x)\nx[0] = 1\nassert true\n"


def run(*argv: str) -> tuple[int, list[str]]:
    lines: list[str] = []
    rc = runner.main(list(argv), out=lines.append)
    return rc, lines


def test_expect_kasan_matches_the_bug_type_and_runs_multi_shot() -> None:
    out, err, s = run_script(
        'machine(kasan=true, mem=256M, cpus=2)\nx = kmalloc(50, GFP_KERNEL)\n'
        'expect kasan "slab-out-of-bounds" { x[50] = 1 }\n'
        'expect kasan "slab-out-of-bounds" { x[64] = 1 }\n'   # a second report: multi-shot in the block
        'kfree(x)\nexpect kasan "slab-use-after-free" { v = x[0] }\n'
        'expect kasan "double-free" { kfree(x) }\n'
        'expect kasan "null-ptr-deref" { memset(NULL, 0, 8) }\n'
        'p = NULL\nexpect kasan "null-ptr-deref" { p[8] = 1 }\nprint("after")\n')
    assert err is None, err
    assert "after" in out
    assert s.unexpected_reports() == []
    assert s.machine.kasan is not None and not s.machine.kasan.multi_shot  # restored after each block


def test_expect_kasan_failures_say_what_happened() -> None:
    out, err, s = run_script('machine(kasan=true, mem=256M, cpus=2)\nx = kmalloc(50, GFP_KERNEL)\n'
                             'expect kasan "slab-use-after-free" { x[50] = 1 }\n')
    assert err is not None and err.message.startswith(
        'expected a KASAN report mentioning "slab-use-after-free" in this block; it produced a KASAN report: '
        "BUG: KASAN: slab-out-of-bounds in")
    out, err, s = run_script('x = kmalloc(50, GFP_KERNEL)\nexpect kasan { x[50] = 1 }\n')
    assert err is not None and err.message == ("expected a KASAN report in this block; it produced no kernel "
                                               "report (the machine was booted without kasan=true)")


def test_kasan_flag_boots_every_machine_with_kasan_and_fails_on_reports(tmp_path: Path) -> None:
    f = tmp_path / "uaf.kms"
    f.write_text(UAF)
    rc, lines = run(str(f))
    assert rc == 0, lines  # without KASAN nothing sees the bug (faithful)
    rc, lines = run("--kasan", str(f))
    text = "\n".join(lines)
    assert rc == 1
    # (the banner names the script line: the access is no built-in call the runner could point at)
    assert "error: unexpected kernel report (a KASAN report): BUG: KASAN: slab-use-after-free in uaf.kms:4" in text
    assert "`expect kasan { ... }`" in text
    f.write_text(UAF.replace("x[0] = 1", 'expect kasan "slab-use-after-free" { x[0] = 1 }'))
    rc, lines = run("--kasan", str(f))
    assert rc == 0, lines


def test_without_kasan_the_end_of_the_run_says_once_that_kasan_would_report(
        capsys: pytest.CaptureFixture[str]) -> None:
    from kmscript import cli
    script = ("x = kmalloc(50, GFP_KERNEL)\nx[10] = 1\nx[50] = 1\nkfree(x)\nx[0] = 1\nprint(x[0])\n")
    assert cli.main(["-c", script]) == 0
    captured = capsys.readouterr()
    assert captured.out == "1\n"  # nothing reported: faithful to a kernel without KASAN
    notes = [ln for ln in captured.err.splitlines() if "kasan=true" in ln]
    assert notes == ["<string>: note: <string>:3: wrote 1 byte at " + notes[0].split(" at ")[1].split(",")[0]
                     + ", 0 bytes past a 50-byte kmalloc-64 object; without KASAN nothing reports this (as in "
                     "the kernel): machine(kasan=true) or `kmscript test --kasan` would"]
    assert cli.main(["-c", "machine(kasan=true)\n" + script.replace("x[50] = 1\n", "").replace("x[0] = 1\n", "")
                     .replace("print(x[0])\n", "")]) == 0
    assert "kasan=true" not in capsys.readouterr().err
