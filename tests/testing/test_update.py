"""`kmscript test --update` changes only what it was asked to (issue 15 item 1)."""

from __future__ import annotations

import shutil
from pathlib import Path

from hypothesis import HealthCheck, given, settings, strategies as st

from kmscript.testing import runner

ROOT = Path(__file__).resolve().parent.parent.parent


def run(*argv: str) -> tuple[int, list[str]]:
    lines: list[str] = []
    rc = runner.main(list(argv), out=lines.append)
    return rc, lines


GEOMETRY = '''machine(cpus=1)
cache inode = create(size=600)
test "inode geometry" {
  print(inode.objs_per_slab, inode.order)
  # CHECK: {{[0-9]+}} objects, order 9
}
test "survives a double free" {
  x = kmalloc(32, GFP_KERNEL)
  kfree(x)
  expect bug { kfree(x) }
  print("survived")
  # CHECK: survived
}
test "faults" {
  fail kmalloc probability=100 times=1 ignore_gfp_wait=false
  print(kmalloc(8, GFP_KERNEL) == NULL, kmalloc(8, GFP_KERNEL) == NULL, false)
  # CHECK: true false false
}
'''


def test_only_the_selected_failing_check_line_is_rewritten(tmp_path: Path) -> None:
    f = tmp_path / "g.kms"
    f.write_text(GEOMETRY)
    rc, lines = run(str(f))
    assert rc == 1 and lines[0] == f"FAIL {f}::inode geometry"
    assert lines[-1] == "2 passed, 1 failed"
    rc, lines = run("--update", "-k", "inode geometry", str(f))
    assert rc == 0 and f"updated {f}" in lines
    new = f.read_text()
    # one line changed: the passing blocks' CHECKs (and their dmesg / FAULT_INJECTION
    # output) are left alone
    diff = [(a, b) for a, b in zip(GEOMETRY.split("\n"), new.split("\n")) if a != b]
    assert len(GEOMETRY.split("\n")) == len(new.split("\n"))
    assert diff == [("  # CHECK: {{[0-9]+}} objects, order 9", "  # CHECK: 13 1")]
    assert run(str(f))[0] == 0
    # a second --update on the now passing file changes nothing
    assert run("--update", str(f))[0] == 0 and f.read_text() == new


def test_unselected_or_erroring_cases_are_not_touched(tmp_path: Path) -> None:
    f = tmp_path / "g.kms"
    f.write_text(GEOMETRY)
    rc, lines = run("--update", "-k", "faults", str(f))
    assert rc == 0 and f.read_text() == GEOMETRY  # inode geometry was not selected
    broken = GEOMETRY.replace('print("survived")', 'assert false\n  print("survived")').replace(
        "# CHECK: survived", "# CHECK: nope")
    f.write_text(broken)
    rc, lines = run("--update", "-k", "survives", str(f))
    # the case ended in an assertion: its output is incomplete, its CHECK stays
    assert rc == 1 and f.read_text() == broken


def test_update_writes_timestamps_as_holes(tmp_path: Path) -> None:
    f = tmp_path / "t.kms"
    src = ('x = kmalloc(32, GFP_KERNEL)\nkfree(x)\nexpect bug { kfree(x) }\n'
           '# CHECK: kernel BUG at mm/slub.c: wrong text\n')
    f.write_text(src)
    assert run("--update", str(f))[0] == 0
    assert f.read_text().endswith("# CHECK: [{{ *[0-9]+\\.[0-9]+}}] kernel BUG at mm/slub.c:634!\n")


def test_golden_directive_and_missing_out(tmp_path: Path) -> None:
    f = tmp_path / "g.kms"
    f.write_text("# GOLDEN: the order-0 free count of DMA32\nmachine(cpus=1, mem=64M)\nshow buddyinfo\n")
    out = tmp_path / "g.out"
    rc, lines = run(str(f))
    assert rc == 1 and f"{out} is missing (# GOLDEN: the order-0 free count of DMA32)" in "\n".join(lines)
    assert not out.exists()
    assert run("--update", "-k", "nothing-selected", str(f))[0] == 0 and not out.exists()
    rc, lines = run("--update", str(f))
    assert rc == 0 and f"updated {out}" in lines and out.read_text().startswith("Node 0, zone")
    assert run(str(f))[0] == 0
    f.write_text("# GOLDEN:\nx = 1\n")
    rc, lines = run(str(f))
    assert rc == 1 and "# GOLDEN: say what a reader checked" in "\n".join(lines)


def test_out_golden_is_rewritten_only_for_the_selected_file_case(tmp_path: Path) -> None:
    a, b = tmp_path / "a.kms", tmp_path / "b.kms"
    for f in (a, b):
        f.write_text('print("new")\n')
        f.with_suffix(".out").write_text("old\n")
    rc, lines = run("--update", "-k", "a.kms", str(tmp_path))
    assert a.with_suffix(".out").read_text() == "new\n" and b.with_suffix(".out").read_text() == "old\n"
    assert rc == 0 and not any("b.kms" in ln for ln in lines)  # b was not selected
    assert run(str(b))[0] == 1  # and still fails


def _snapshot(d: Path) -> dict[str, bytes]:
    return {str(p.relative_to(d)): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}


def _suite(tmp: Path) -> Path:
    d = tmp / "suite"
    if not d.exists():
        shutil.copytree(ROOT / "tests" / "scenarios", d / "scenarios")
        shutil.copytree(ROOT / "examples", d / "examples")
    return d


_CASE_IDS = sorted({f"{rel}::{name}" if name else rel
                    for kms in sorted((ROOT / "tests" / "scenarios").rglob("*.kms"))
                    for rel in [kms.relative_to(ROOT / "tests").as_posix()]
                    for name, _line in runner.list_cases(str(kms))})


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.none() | st.sampled_from(_CASE_IDS))
def test_update_on_the_passing_suite_is_byte_identical(tmp_path: Path, pattern: str | None) -> None:
    # The project's whole scenario suite (and the examples) pass, so --update -- with any
    # selection -- must leave every file exactly as it was.
    import os
    d = _suite(tmp_path)
    before = _snapshot(d)
    cwd = os.getcwd()
    os.chdir(d)
    try:
        rc, lines = run("--update", *(["-k", pattern] if pattern else []), "scenarios", "examples")
    finally:
        os.chdir(cwd)
    assert rc == 0, lines
    assert not [ln for ln in lines if ln.startswith("updated")]
    assert _snapshot(d) == before
