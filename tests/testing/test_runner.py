"""`kmscript test`: case lines, failure renderings, summary, exit codes, goldens, CHECK, options."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from kmscript import cli
from kmscript.testing import runner

SUMMARY = re.compile(r"^\d+ passed, \d+ failed(, \d+ skipped)?(, \d+ xfailed)?(, \d+ xpassed)?(, \d+ errors?)?$")


def run(*argv: str) -> tuple[int, list[str]]:
    lines: list[str] = []
    rc = runner.main(list(argv), out=lines.append)
    return rc, lines


def write(tmp: Path, name: str, text: str) -> str:
    p = tmp / name
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text)
    return str(p)


def test_passing_file(tmp_path: Path) -> None:
    f = write(tmp_path, "ok.kms", "x = kmalloc(50, GFP_ATOMIC)\nassert x != NULL\nprint(1)\n")
    rc, lines = run(f)
    assert rc == 0
    assert lines == [f"PASS {f}", "1 passed, 0 failed"]


def test_failing_assertion_renders_location(tmp_path: Path) -> None:
    f = write(tmp_path, "bad.kms", "x = 1\nassert x == 2, \"x is one\"\n")
    rc, lines = run(f)
    assert rc == 1
    assert lines[0] == f"FAIL {f}"
    assert lines[1].strip() == f"{f}:2:8: assertion failed: x is one (1 == 2)"
    assert "^" in lines[3]
    assert lines[-1] == "0 passed, 1 failed"


@pytest.mark.parametrize(("text", "needle"), [
    ("x = nosuchfn(1)\n", "unknown function 'nosuchfn'"),
    ("x = (1\n", "error:"),
    ("repeat 10 { x = 1 }\n", None),
])
def test_erroring_files(tmp_path: Path, text: str, needle: str | None) -> None:
    f = write(tmp_path, "e.kms", text)
    rc, lines = run(f)
    if needle is None:
        assert rc == 0
        return
    assert rc == 1 and lines[0] == f"FAIL {f}"
    assert any(needle in ln for ln in lines)


def test_test_blocks_are_isolated(tmp_path: Path) -> None:
    f = write(tmp_path, "t.kms", """machine(mem=1G, cpus=2)
fn helper(n) { return n * 2 }
x = 1
test "first" {
  x = 5
  p = kmalloc(100, GFP_ATOMIC)
  assert helper(x) == 10
}
test "second sees a fresh machine" {
  assert x == 1
  q = kmalloc(100, GFP_ATOMIC)
  assert q != NULL
}
test "failing" {
  assert x == 2
}
""")
    rc, lines = run(f)
    assert rc == 1
    # The top level only sets up the blocks: it is not a case of its own.
    assert lines[:2] == [f"PASS {f}::first", f"PASS {f}::second sees a fresh machine"]
    assert lines[2] == f"FAIL {f}::failing"
    assert f"{f}:15:10: assertion failed" in lines[3]
    assert lines[-1] == "2 passed, 1 failed"
    # both blocks got the same first kmalloc address: each ran on a fresh machine
    res = runner.run_file(f)
    assert [c.status for c in res.cases] == ["PASS", "PASS", "FAIL"]


def test_xfail_skip_xpass(tmp_path: Path) -> None:
    xf = write(tmp_path, "a_xfail.kms", "# XFAIL: bug 42\nassert 1 == 2\n")
    xp = write(tmp_path, "b_xpass.kms", "# XFAIL: bug 43\nassert 1 == 1\n")
    sk = write(tmp_path, "c_skip.kms", "# comment\n# SKIP: not yet\nassert nonsense(\n")
    rc, lines = run(str(tmp_path))
    assert lines[0] == f"XFAIL {xf} (bug 42)"
    assert lines[1] == f"XPASS {xp}"
    assert lines[2].strip() == "unexpectedly passed (XFAIL: bug 43)"
    assert lines[3] == f"SKIP {sk} (not yet)"
    assert lines[-1] == "0 passed, 0 failed, 1 skipped, 1 xfailed, 1 xpassed"
    assert rc == 1  # an unexpected pass is a failure
    rc, lines = run(xf, sk)
    assert rc == 0 and lines[-1] == "0 passed, 0 failed, 1 skipped, 1 xfailed"


def test_block_level_xfail_and_skip(tmp_path: Path) -> None:
    f = write(tmp_path, "b.kms", 'test "x" {\n  # XFAIL: known\n  assert false\n}\n'
                                 'test "y" {\n  # SKIP: slow\n  assert false\n}\n')
    rc, lines = run(f)
    assert rc == 0
    assert lines == [f"XFAIL {f}::x (known)", f"SKIP {f}::y (slow)", "0 passed, 0 failed, 1 skipped, 1 xfailed"]


def test_summary_is_alone_on_the_last_line(tmp_path: Path) -> None:
    write(tmp_path, "a.kms", "print(1)\n")
    write(tmp_path, "b.kms", "assert false\n")
    _rc, lines = run(str(tmp_path))
    assert SUMMARY.match(lines[-1])
    assert not any(SUMMARY.match(ln) for ln in lines[:-1])


def test_golden_match_mismatch_and_update(tmp_path: Path) -> None:
    f = write(tmp_path, "g.kms", 'print("a")\nprint("b")\n')
    golden = tmp_path / "g.out"
    golden.write_text("a\nb\n")
    assert run(f)[0] == 0
    golden.write_text("a\nc\n")
    rc, lines = run(f)
    assert rc == 1
    text = "\n".join(lines)
    assert f"--- {golden}" in text and "+++ actual output" in text
    assert "    -c" in lines and "    +b" in lines
    rc, lines = run("--update", f)
    assert rc == 0 and f"updated {golden}" in lines
    assert golden.read_text() == "a\nb\n"
    assert run(f)[0] == 0


def test_golden_holds_what_the_cli_prints(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = write(tmp_path, "cli.kms", 'print("top")\ntest "one" {\n  print("in one")\n}\n'
                                   'test "two" {\n  assert false\n}\n')
    cli.main(["--seed", "0", f])
    stdout = capsys.readouterr().out
    res = runner.run_file(f)
    assert "".join(ln + "\n" for ln in res.stdout) == stdout
    assert res.exit_status == 1


def test_kernel_log_lines_are_part_of_the_output(tmp_path: Path) -> None:
    f = write(tmp_path, "log.kms", "fail kmalloc nth=1 verbose=1\nx = kmalloc(64, GFP_ATOMIC)\n"
                                   "# CHECK: FAULT_INJECTION: forcing a failure.\n"
                                   "# CHECK-NEXT: name failslab, interval 1, probability 0, space 0, times {{-?[0-9]+}}\n")
    rc, lines = run(f)
    assert rc == 0, lines


def test_check_lines_pass_fail_and_update(tmp_path: Path) -> None:
    src = ('print("hello 1")\nprint("world")\n'
           '# CHECK: hello {{[0-9]+}}\n'
           '# CHECK-NEXT: wrld\n')
    f = write(tmp_path, "c.kms", src)
    rc, lines = run(f)
    assert rc == 1
    text = "\n".join(lines)
    assert f"{f}:4:15: error: CHECK-NEXT: expected string not found" in text
    rc, lines = run("--update", f)
    assert rc == 0 and f"updated {f}" in lines
    new = Path(f).read_text()
    assert new == ('print("hello 1")\nprint("world")\n'
                   '# CHECK: hello {{[0-9]+}}\n'
                   '# CHECK-NEXT: world\n')
    assert run(f)[0] == 0


def test_checks_inside_a_block_see_only_that_blocks_output(tmp_path: Path) -> None:
    f = write(tmp_path, "cb.kms", 'print("setup")\n'
                                  'test "t" {\n  print("mine")\n  # CHECK: mine\n  # CHECK-NOT: setup\n}\n'
                                  'test "u" {\n  print("other")\n  # CHECK: mine\n}\n')
    rc, lines = run(f)
    assert rc == 1
    assert lines[0] == f"PASS {f}::t"
    assert lines[1] == f"FAIL {f}::u"
    rc, lines = run("--update", f)
    assert rc == 0
    assert '  # CHECK: other\n' in Path(f).read_text()


def test_args_directive(tmp_path: Path) -> None:
    f = write(tmp_path, "args.kms", "# ARGS: --max-steps 50\nrepeat 1000 { x = 1 }\n")
    rc, lines = run(f)
    assert rc == 1 and any("step" in ln for ln in lines[1:-1])
    bad = write(tmp_path, "badargs.kms", "# ARGS: --bogus\nprint(1)\n")
    rc, lines = run(bad)
    assert rc == 1 and "bad # ARGS" in "\n".join(lines)


def test_seed_passthrough_and_args_seed(tmp_path: Path) -> None:
    script = "fail kmalloc probability=50 times=-1 verbose=0\nn = 0\n" \
             "repeat 64 { if kmalloc(8, GFP_ATOMIC) == NULL { n += 1 } }\nprint(n)\n"
    f = write(tmp_path, "s.kms", script)
    outs = {seed: runner.run_file(f, runner.RunOptions(seed=seed)).stdout for seed in (0, 0, 1)}
    g = write(tmp_path, "s3.kms", "# ARGS: --seed 1\n" + script)
    assert runner.run_file(g, runner.RunOptions(seed=0)).stdout == outs[1]
    assert outs[0] != outs[1]


def test_timeout_directive_is_enforced(tmp_path: Path) -> None:
    f = write(tmp_path, "slow.kms", "# TIMEOUT: 300ms\nx = 0\nwhile true { x += 1 }\n")
    rc, lines = run(f)
    assert rc == 1
    assert lines[0] == f"FAIL {f}"
    assert "timed out after 0.3s" in lines[1]


def test_exit_directive(tmp_path: Path) -> None:
    f = write(tmp_path, "x.kms", "# EXIT: 2\nx = (1\n")
    assert run(f)[0] == 0
    g = write(tmp_path, "y.kms", "# EXIT: 3\nprint(1)\n")
    rc, lines = run(g)
    assert rc == 1 and "expected exit status 3" in "\n".join(lines)


def test_k_pattern_and_exitfirst(tmp_path: Path) -> None:
    write(tmp_path, "a.kms", 'test "alpha" { assert true }\ntest "beta" { assert false }\n')
    write(tmp_path, "b.kms", "assert false\n")
    rc, lines = run("-k", "alpha", str(tmp_path))
    assert rc == 0 and lines == [f"PASS {tmp_path}/a.kms::alpha", "1 passed, 0 failed"]
    rc, lines = run("-k", "*::b*", str(tmp_path))
    assert lines[0] == f"FAIL {tmp_path}/a.kms::beta"
    rc, lines = run("-x", str(tmp_path))
    assert rc == 1 and lines[-1] == "1 passed, 1 failed"
    assert not any("b.kms" in ln for ln in lines)


def test_parallel_runs_give_the_same_results(tmp_path: Path) -> None:
    for i in range(6):
        write(tmp_path, f"f{i}.kms", f'print({i})\ntest "t{i}" {{ assert {i} % 2 == 0 }}\n')
    serial = run(str(tmp_path))
    parallel = run("-j", "3", str(tmp_path))
    assert serial == parallel
    assert serial[1][-1] == "3 passed, 3 failed"


def test_junit_xml_is_valid(tmp_path: Path) -> None:
    d = tmp_path / "s"
    write(d, "a.kms", 'test "t <&>" { assert false, "bad & worse" }\nprint("x\\x01")\n')
    write(d, "b.kms", "# SKIP: later\n")
    write(d, "c.kms", "# XFAIL: known\nassert false\n")
    write(d, "d.kms", "x = nosuch()\n")
    xml = tmp_path / "r.xml"
    rc, _ = run("--junit-xml", str(xml), str(d))
    assert rc == 1
    root = ET.parse(xml).getroot()
    assert root.tag == "testsuites"
    assert (root.get("tests"), root.get("failures"), root.get("errors"), root.get("skipped")) == ("4", "1", "1", "2")
    cases = root.findall(".//testcase")
    assert [c.get("name") for c in cases] == ["t <&>", "b.kms", "c.kms", "d.kms"]
    assert cases[3].find("error") is not None
    fail = cases[0].find("failure")
    assert fail is not None and "bad & worse" in (fail.text or "")
    assert cases[1].find("skipped") is not None


def test_tap_output(tmp_path: Path) -> None:
    write(tmp_path, "a.kms", 'test "ok" { assert true }\ntest "no" { assert false }\n')
    write(tmp_path, "b.kms", "# SKIP: why\n")
    rc, lines = run("--tap", str(tmp_path))
    assert rc == 1
    assert lines[0] == "TAP version 13"
    assert lines[1] == f"ok 1 - {tmp_path}/a.kms::ok"
    assert lines[2] == f"not ok 2 - {tmp_path}/a.kms::no"
    assert lines[3] == "  ---" and "  ..." in lines
    assert f"ok 3 - {tmp_path}/b.kms # SKIP why" in lines
    assert lines[-2] == "1..3"
    assert lines[-1] == "1 passed, 1 failed, 1 skipped"


def test_default_path_and_usage_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path, "tests/x/a.kms", "print(1)\n")
    write(tmp_path, "other/b.kms", "assert false\n")
    rc, lines = run()
    assert rc == 0 and lines == ["PASS tests/x/a.kms", "1 passed, 0 failed"]
    assert run("nope")[0] == 2
    assert run("-j", "0")[0] == 2


def test_cli_dispatches_to_the_runner(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = write(tmp_path, "a.kms", "assert 1 == 1\n")
    assert cli.main(["test", f]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "1 passed, 0 failed"


def test_internal_errors_do_not_stop_the_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from kmscript.session import Session

    def boom(self: Session, *args: object, **kw: object) -> None:
        raise ZeroDivisionError("boom")
    monkeypatch.setattr(Session, "run_text", boom)
    f = write(tmp_path, "a.kms", "print(1)\n")
    rc, lines = run(f)
    assert rc == 1 and "internal error: ZeroDivisionError: boom" in lines[1]


def test_fail_nth_loop(tmp_path: Path) -> None:
    f = write(tmp_path, "n.kms", "cache c = create(size=600)\n"
                                 "a = kmalloc(100, GFP_ATOMIC)\n"
                                 "b = kmem_cache_alloc(c, GFP_ATOMIC)\n"
                                 "assert b != NULL, \"c allocation failed\"\n")
    rc, lines = run("--fail-nth", f)
    again = run("--fail-nth", f)
    assert (rc, lines) == again  # deterministic
    assert lines[0] == f"fail-nth {f}: baseline 1 passed, 0 failed"
    assert lines[1] == "nth=1: ok (failslab: __kmalloc_cache_noprof kmalloc-128 at n.kms:2)"
    broken = [ln for ln in lines if "BREAKS" in ln]
    assert broken and "c allocation failed" in broken[0]
    assert "no fault injected" in lines[-2]
    assert SUMMARY.match(lines[-1])
    assert rc == 0  # assertions broke, nothing crashed
    g = write(tmp_path, "m.kms", "print(1)\n")
    assert run("--fail-nth", f, g)[0] == 2


def test_err_golden_expects_the_rendered_error(tmp_path: Path) -> None:
    f = write(tmp_path, "e.kms", "x = 1\nassert x == 2\n")
    err = tmp_path / "e.err"
    err.write_text("e.kms:2:8: assertion failed: 1 == 2\n    assert x == 2\n           ^~~~~~\nexit status 1\n")
    rc, lines = run(f)
    assert rc == 0, lines
    err.write_text("something else\nexit status 1\n")
    rc, lines = run(f)
    assert rc == 1 and "+e.kms:2:8: assertion failed: 1 == 2" in [ln.strip() for ln in lines]
    assert run("--update", f)[0] == 0
    assert err.read_text().startswith("e.kms:2:8: assertion failed")


def test_parallel_runs_start_the_slowest_file_first_and_remember_times(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    import json
    from concurrent.futures import Future
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    files = [write(tmp_path / "s", f"f{i}.kms", f"assert {i} == {i}\n") for i in range(3)]
    assert run("-j", "2", str(tmp_path / "s"))[0] == 0
    times = json.loads((tmp_path / "cache" / "kmscript" / "test-times.json").read_text())
    assert set(times) == {str(Path(f).resolve()) for f in files}
    # f1 was slowest last time: it is started first; the output order stays the discovery order
    times = {str(Path(f).resolve()): t for f, t in zip(files, (0.1, 5.0, 0.2))}
    (tmp_path / "cache" / "kmscript" / "test-times.json").write_text(json.dumps(times))
    submitted: list[str] = []

    class InlinePool:
        def submit(self, fn, path, opts):  # type: ignore[no-untyped-def]
            submitted.append(Path(path).name)
            fut: Future[runner.FileResult] = Future()
            fut.set_result(fn(path, opts))
            return fut

        def shutdown(self, **kw: object) -> None:
            pass

    monkeypatch.setattr(runner, "_pool", lambda jobs: InlinePool())
    rc, lines = run("-j", "2", str(tmp_path / "s"))
    assert submitted == ["f1.kms", "f2.kms", "f0.kms"]
    assert lines == [f"PASS {f}" for f in files] + ["3 passed, 0 failed"]


@pytest.mark.parametrize("extra", [[], ["--tap"], ["-j", "2"]])
def test_a_closed_pipe_ends_the_run_quietly(extra: list[str]) -> None:
    # kmscript test tests/scenarios | head -1
    import subprocess
    import sys
    root = Path(__file__).resolve().parent.parent.parent
    r = subprocess.run(f"{sys.executable} -m kmscript test {' '.join(extra)} tests/scenarios | head -1; "
                       "exit ${PIPESTATUS[0]}", shell=True, executable="/bin/bash", cwd=root,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stderr == "" and len(r.stdout.splitlines()) == 1


def test_a_failing_set_up_is_each_blocks_error_in_every_format(tmp_path: Path) -> None:
    f = write(tmp_path, "s.kms", 'x = nosuch()\ntest "a" { assert true }\ntest "b" {\n  # SKIP: later\n}\n')
    rc, lines = run(f)
    assert rc == 1
    assert lines[0] == f"ERROR {f}::a"
    assert lines[1] == "    not run: the file's top level failed:"
    assert f"{f}:1:5: error: unknown function 'nosuch'" in lines[2]
    assert f"SKIP {f}::b (later)" in lines and lines[-1] == "0 passed, 0 failed, 1 skipped, 1 error"
    rc, lines = run("--tap", f)
    assert f"not ok 1 - {f}::a" in lines and "  severity: error" in lines
    xml = tmp_path / "r.xml"
    run("--junit-xml", str(xml), f)
    root = ET.parse(xml).getroot()
    assert (root.get("tests"), root.get("errors"), root.get("failures"), root.get("skipped")) == ("2", "1", "0", "1")


def test_args_leak_check_appends_the_leak_report_to_the_output(tmp_path: Path) -> None:
    # the kmemleak-like report of the machine (Views.leak_report) follows the output: the
    # NAME.out golden holds it
    f = write(tmp_path, "leak.kms", "# ARGS: --leak-check\np = kmalloc(64)\nq = kmalloc(100)\nkfree(q)\n")
    report = ("kmemleak: 1 new suspected memory leak (64 bytes) from 1 call site\n"
              "leak.kms:2: 1 object, 64 bytes (kmalloc-64)\n"
              "  unreferenced object 0xffff888100001000 (size 64):\n"
              "    backtrace: leak.kms:2\n")
    golden = tmp_path / "leak.out"
    golden.write_text(report)
    rc, lines = run(f)
    assert rc == 0, lines
    golden.write_text("")                 # without the report the golden no longer matches
    rc, lines = run(f)
    assert rc == 1
    ok = write(tmp_path, "noleak.kms", "# ARGS: --leak-check\np = kmalloc(64)\nkfree(p)\n")
    (tmp_path / "noleak.out").write_text("kmemleak: 0 new suspected memory leaks\n")
    rc, lines = run(ok)
    assert rc == 0, lines
