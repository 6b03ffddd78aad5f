"""The command line: exit statuses, input sources, --json, no tracebacks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def kms(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kmscript", *args], input=stdin if stdin is not None else "",
                          capture_output=True, text=True, cwd=ROOT, timeout=60)


def test_exit_statuses() -> None:
    assert kms("-c", "print(1 + 1)").returncode == 0
    r = kms("-c", "assert 1 == 2")
    assert r.returncode == 1 and "assertion failed: 1 == 2" in r.stderr
    r = kms("-c", "x = (")
    assert r.returncode == 2 and "<string>:1:" in r.stderr
    r = kms("-c", "x = 1 / 0")
    assert r.returncode == 3 and "division by zero" in r.stderr
    r = kms("no-such-file.kms")
    assert r.returncode == 2 and r.stderr.startswith("kmscript: error: cannot read no-such-file.kms")
    r = kms("--max-steps", "0", "-c", "x = 1")
    assert r.returncode == 2 and "--max-steps must be a positive number" in r.stderr
    for r in (kms("-c", "x = ("), kms("-c", "x = 1 / 0"), kms("no-such-file.kms")):
        assert "Traceback" not in r.stderr


def test_script_from_stdin_and_file(tmp_path: Path) -> None:
    r = kms(stdin="x = 6 * 7\nprint(x)\n")
    assert r.returncode == 0 and r.stdout == "42\n"
    f = tmp_path / "s.kms"
    f.write_text('print("from file")\n')
    r = kms(str(f))
    assert r.returncode == 0 and r.stdout == "from file\n"


def test_version_help_and_json() -> None:
    r = kms("--version")
    assert r.returncode == 0 and r.stdout.startswith("kmscript ")
    r = kms("--help")
    assert r.returncode == 0 and "examples:" in r.stdout and "exit status" in r.stdout
    r = kms("--json", "-c", "x = 5\nprint(x)")
    data = json.loads(r.stdout)
    assert data["exit_status"] == 0 and data["output"] == ["5"] and data["variables"]["x"] == "5"
    r = kms("--json", "-c", "p = alloc_pages(GFP_KERNEL, 0)")
    state = json.loads(r.stdout)["state"]
    assert [z["name"] for z in state["zones"]] == ["DMA", "DMA32", "Normal"]
    assert state["cpus"] == 4 and state["nr_free_pages"] < state["totalram_pages"]


def test_max_steps_option() -> None:
    r = kms("--max-steps", "100", "-c", "while true { }")
    assert r.returncode == 3 and "step budget" in r.stderr


def test_test_blocks_run_isolated_from_cli(tmp_path: Path) -> None:
    f = tmp_path / "t.kms"
    f.write_text('n = 1\ntest "sees setup" { assert n == 1; n = 5 }\ntest "isolated" { assert n == 1 }\n'
                 'test "fails" { assert n == 2 }\n')
    r = kms(str(f))
    assert r.returncode == 1
    assert "PASS sees setup" in r.stdout and "PASS isolated" in r.stdout and "FAIL fails" in r.stdout
    assert "assertion failed: 1 == 2" in r.stderr


def test_trace_and_quiet() -> None:
    r = kms("--trace", "-c", "p = alloc_pages(GFP_KERNEL, 0)\n__free_pages(p, 0)")
    assert r.returncode == 0
    assert "mm_page_alloc: page=" in r.stdout and "gfp_flags=GFP_KERNEL" in r.stdout
    assert "mm_page_free: page=" in r.stdout
    r = kms("-c", "p = alloc_pages(GFP_KERNEL, 11)\nprint(p)")
    assert "WARNING" in r.stdout and r.stdout.rstrip().endswith("NULL")
    r = kms("-q", "-c", "p = alloc_pages(GFP_KERNEL, 11)\nprint(p)")
    assert r.stdout == "NULL\n"


def test_leak_check_prints_the_objects_still_allocated(tmp_path: Path) -> None:
    f = tmp_path / "leak.kms"
    f.write_text("p = kmalloc(64)\nq = kmalloc(100)\nkfree(q)\n")
    r = kms("--leak-check", str(f))
    assert r.returncode == 0 and r.stderr == ""
    assert r.stdout.splitlines()[:2] == ["kmemleak: 1 new suspected memory leak (64 bytes) from 1 call site",
                                         "leak.kms:1: 1 object, 64 bytes (kmalloc-64)"]
    r = kms("--leak-check", "-c", "x = 1")      # no machine booted: nothing to report
    assert r.returncode == 0 and r.stdout == "" and r.stderr == ""
