"""The pytest11 plugin: test_*.kms files collected beside Python tests, failures rendered by kmscript."""

from __future__ import annotations

import importlib.util

import pytest

pytest_plugins = ["pytester"]

SCENARIO = '''machine(mem=1G, cpus=2)
x = 1
test "passes" {
  p = kmalloc(64, GFP_ATOMIC)
  assert p != NULL
}
test "fails" {
  assert x == 2, "x should be two"
}
test "known bug" {
  # XFAIL: not fixed
  assert false
}
'''


def _plugin_args() -> list[str]:
    # The plugin is loaded through the entry point; make sure it is, also when autoload is off.
    # (hypothesis is not needed by these runs and costs seconds to import in each one)
    import kmscript.testing.pytest_plugin as plugin
    return ["-p", "no:hypothesispytest", "-p", "no:benchmark"] + ([] if _autoloaded() else ["-p", plugin.__name__])


def _autoloaded() -> bool:
    import os
    return not os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD")


def test_collects_file_and_blocks(pytester: pytest.Pytester) -> None:
    pytester.makefile(".kms", test_demo=SCENARIO)
    pytester.makefile(".kms", test_checked='print("hi")\n# CHECK: hi\ntest "t" { assert true }\n')
    pytester.makefile(".kms", helper="print(1)\n")  # not test_*: not collected
    res = pytester.runpytest("--collect-only", "-q", *_plugin_args())
    out = res.stdout.str()
    for nodeid in ("test_demo.kms::passes", "test_demo.kms::fails", "test_demo.kms::known bug",
                   "test_checked.kms::file", "test_checked.kms::t"):
        assert nodeid in out
    # test_demo's top level only sets up its blocks: not an item of its own
    assert "test_demo.kms::file" not in out
    assert "helper" not in out


def test_outcomes_and_failure_rendering(pytester: pytest.Pytester) -> None:
    pytester.makefile(".kms", test_demo=SCENARIO)
    res = pytester.runpytest(*_plugin_args())
    res.assert_outcomes(passed=1, failed=1, xfailed=1)
    out = res.stdout.str()
    assert "test_demo.kms:8:10: assertion failed: x should be two (1 == 2)" in out
    assert "Traceback" not in out and "KmsCaseFailure" not in out


def test_golden_diff_and_update(pytester: pytest.Pytester) -> None:
    pytester.makefile(".kms", test_g='print("a")\n')
    pytester.makefile(".out", test_g="b\n")
    res = pytester.runpytest(*_plugin_args())
    res.assert_outcomes(failed=1)
    assert "+a" in res.stdout.str() and "-b" in res.stdout.str()
    res = pytester.runpytest("--kms-update", *_plugin_args())
    res.assert_outcomes(passed=1)
    assert (pytester.path / "test_g.out").read_text() == "a\n"


def test_broken_scenario_does_not_break_collection(pytester: pytest.Pytester) -> None:
    pytester.makefile(".kms", test_broken="x = (1\n")
    pytester.makepyfile(test_py="def test_ok():\n    assert True\n")
    res = pytester.runpytest(*_plugin_args())
    res.assert_outcomes(passed=1, failed=1)
    assert "test_broken.kms" in res.stdout.str()


def test_skip_directive(pytester: pytest.Pytester) -> None:
    pytester.makefile(".kms", test_s='# SKIP: later\nassert false\ntest "t" { assert false }\n')
    res = pytester.runpytest("-rs", *_plugin_args())
    res.assert_outcomes(skipped=1)
    assert "later" in res.stdout.str()


@pytest.mark.skipif(importlib.util.find_spec("xdist") is None, reason="pytest-xdist not installed")
def test_parallel_with_xdist(pytester: pytest.Pytester) -> None:
    for i in range(4):
        pytester.makefile(".kms", **{f"test_p{i}": SCENARIO})
    res = pytester.runpytest_subprocess("-n", "2", "-p", "no:cacheprovider", *_plugin_args())
    res.assert_outcomes(passed=4, failed=4, xfailed=4)


def test_runs_from_another_directory_and_ignore_option(pytester: pytest.Pytester) -> None:
    pytester.makefile(".kms", test_a="assert 1 == 2\n")
    sub = pytester.mkdir("sub")
    (sub / "test_b.kms").write_text("print(1)\n")
    pytester.makeini("[pytest]\nkmscript_collect_ignore = sub/*\n")
    res = pytester.runpytest(*_plugin_args())
    res.assert_outcomes(failed=1)
    assert "test_a.kms:1:8: assertion failed" in res.stdout.str()
    pytester.makeini("[pytest]\n")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(sub)
        res = pytester.runpytest(str(pytester.path), *_plugin_args())
    res.assert_outcomes(passed=1, failed=1)


HANG = "# TIMEOUT: 0\n# ARGS: --max-steps 1000000000000\nwhile true { }\n"


def test_timeout_zero_cannot_hang_the_run(pytester: pytest.Pytester) -> None:
    # `# TIMEOUT: 0` means "no limit" to `kmscript test`; under pytest the plugin's own
    # finite limit replaces it.
    pytester.makefile(".kms", test_hang=HANG)
    res = pytester.runpytest("--kms-timeout", "0.5", *_plugin_args())
    res.assert_outcomes(failed=1)
    assert "timed out after 0.5s" in res.stdout.str()


@pytest.mark.skipif(importlib.util.find_spec("xdist") is None, reason="pytest-xdist not installed")
def test_timeout_holds_in_xdist_workers(pytester: pytest.Pytester) -> None:
    pytester.makefile(".kms", test_hang=HANG)
    res = pytester.runpytest_subprocess("-n", "1", "-p", "no:cacheprovider", "--kms-timeout", "0.5",
                                        *_plugin_args(), timeout=120)
    res.assert_outcomes(failed=1)


def test_the_default_limit_applies_and_non_finite_ones_are_refused(pytester: pytest.Pytester,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    import kmscript.testing.runner as runner
    assert 0 < runner.DEFAULT_TIMEOUT < float("inf")
    monkeypatch.setattr(runner, "DEFAULT_TIMEOUT", 0.5)  # no --kms-timeout: the default holds
    pytester.makefile(".kms", test_hang=HANG)
    res = pytester.runpytest(*_plugin_args())
    res.assert_outcomes(failed=1)
    assert "timed out after 0.5s" in res.stdout.str()
    for bad in ("0", "-1", "inf", "soon"):
        res = pytester.runpytest("--kms-timeout", bad, *_plugin_args())
        assert res.ret == pytest.ExitCode.USAGE_ERROR, bad


COUNTED = {
    "test_setup_only.kms": SCENARIO,
    "test_broken_setup.kms": 'x = nosuch()\ntest "a" { assert true }\ntest "b" { assert true }\n',
    "test_top_checked.kms": 'print("hi")\n# CHECK: bye\ntest "a" { assert true }\n',
    "test_plain.kms": "assert 1 == 1\n",
    "test_skipped.kms": '# SKIP: later\ntest "a" { assert false }\ntest "b" { assert false }\n',
    "test_bad_directive.kms": '# TIMEOUT: soon\ntest "a" { assert true }\n',
    "test_syntax.kms": 'test "a" { assert true\n',
    "test_warns.kms": 'cache c = create(size=700)\nw = kmalloc(700, GFP_KERNEL)\nkmem_cache_free(c, w)\n'
                      'test "a" { assert true }\n',
}


def test_counts_match_kmscript_test(pytester: pytest.Pytester) -> None:
    # The same files give the same numbers under `kmscript test` and pytest.
    import re

    from kmscript.testing import runner
    for name, text in COUNTED.items():
        (pytester.path / name).write_text(text)
    lines: list[str] = []
    runner.main([str(pytester.path)], out=lines.append)
    summary = lines[-1]
    assert summary == "3 passed, 5 failed, 2 skipped, 1 xfailed, 3 errors", lines
    res = pytester.runpytest("-p", "no:cacheprovider", *_plugin_args())
    got = dict((w, int(n)) for n, w in re.findall(r"(\d+) (\w+)", summary))
    res.assert_outcomes(passed=got["passed"], failed=got["failed"], skipped=got["skipped"],
                        xfailed=got["xfailed"], errors=got["errors"])
