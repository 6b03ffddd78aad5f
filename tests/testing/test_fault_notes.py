"""Fault injection that tells you when it did nothing, and did-you-mean for `fail`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from kmscript.testing import runner

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from conftest import run_script  # noqa: E402

INODE = "cache inode = create(size=600)\nfail slab caches=inode times=1\n"


def notes(script: str) -> list[str]:
    out, err, s = run_script(script)
    assert err is None, err
    return list(s.machine.faults.unfired_notes())


def test_the_ignore_gfp_wait_trap_is_explained() -> None:
    got = notes(INODE + "x = kmem_cache_alloc(inode)\ny = kmem_cache_alloc(inode)\n")
    assert got == ["failslab was armed but never fired (2 allocations after it was armed): ignore-gfp-wait=Y "
                   "(the default) skipped 2 allocations that may sleep (GFP_KERNEL); ignore_gfp_wait=false "
                   "includes them"]


@pytest.mark.parametrize(("script", "why"), [
    (INODE + "x = kmalloc(64, GFP_ATOMIC)\n", "the cache filter (inode) skipped 1 allocation from other caches"),
    ("fail page_alloc probability=100\np = alloc_pages(GFP_ATOMIC, 0)\n",
     "min-order=1 skipped 1 page allocation of lower order (min_order=0 includes them)"),
    ("fail page_alloc probability=100\np = alloc_pages(GFP_KERNEL | __GFP_HIGHMEM, 2)\n",
     "ignore-gfp-highmem=Y skipped 1 page allocation with __GFP_HIGHMEM"),
    ("fail kmalloc probability=100 ignore_gfp_wait=false\ncache c = create(size=64)\nx = kmem_cache_alloc(c)\n",
     "kmalloc-only skipped 1 allocation from caches that are not kmalloc-*"),
    ("fail kmalloc nth=5\nx = kmalloc(8, GFP_ATOMIC)\n", "nth=4 has 4 eligible calls to go"),
    (INODE, "failslab was armed but never fired: no allocation was made after it was armed"),
])
def test_why_a_fault_never_fired(script: str, why: str) -> None:
    got = notes(script)
    assert len(got) == 1 and why in got[0], got


def test_no_note_once_it_fired_or_when_disarmed() -> None:
    assert notes("fail slab caches=inode times=1 ignore_gfp_wait=false\ncache inode = create(size=600)\n"
                 "fail slab caches=inode times=1 ignore_gfp_wait=false\nx = kmem_cache_alloc(inode)\n"
                 "assert x == NULL\n") == []
    assert notes(INODE + "fail off\nx = kmalloc(8, GFP_KERNEL)\n") == []
    assert notes("x = kmalloc(8, GFP_KERNEL)\n") == []


def test_the_cli_notes_it_at_the_end_of_a_run(tmp_path: Path) -> None:
    f = tmp_path / "f.kms"
    f.write_text(INODE + "x = kmem_cache_alloc(inode)\nprint(\"done\")\n")
    r = subprocess.run([sys.executable, "-m", "kmscript", str(f)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout == "done\n"
    assert r.stderr == (f"{f}: note: failslab was armed but never fired (1 allocation after it was armed): "
                        "ignore-gfp-wait=Y (the default) skipped 1 allocation that may sleep (GFP_KERNEL); "
                        "ignore_gfp_wait=false includes them\n")


def test_a_failing_case_shows_the_note_a_passing_one_does_not(tmp_path: Path) -> None:
    f = tmp_path / "t.kms"
    f.write_text(INODE + 'test "fails" { x = kmem_cache_alloc(inode)\nassert x == NULL }\n'
                 'test "passes" { x = kmem_cache_alloc(inode)\nassert x != NULL }\n')
    lines: list[str] = []
    assert runner.main([str(f)], out=lines.append) == 1
    text = "\n".join(lines)
    assert text.count("note: fault injection: failslab was armed but never fired") == 1
    assert text.index("note: fault injection") < text.index(f"PASS {f}::passes")


@pytest.mark.parametrize(("stmt", "hint"), [
    ("fail slab cahce=inode", "unknown option 'cahce' (did you mean 'cache'?)"),
    ("fail slab probabilty=5", "unknown option 'probabilty' (did you mean 'probability'?)"),
    ("fail slabb times=1", "unknown fault kind 'slabb' (did you mean 'slab'?)"),
    ("fail page_alloc min_ordr=0", "unknown option 'min_ordr' (did you mean 'min_order'?)"),
    ("fail any nht=2", "unknown option 'nht' (did you mean 'nth'?)"),
])
def test_fail_options_get_did_you_mean(stmt: str, hint: str) -> None:
    out, err, s = run_script(stmt + "\n")
    assert err is not None and hint in err.message
    assert err.render().startswith("t.kms:1:1: error: fail")
